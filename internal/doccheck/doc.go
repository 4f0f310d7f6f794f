// Package doccheck holds no code, only a test: every reference the
// repository makes to its own documents resolves, so that a reader who
// follows one, from a comment, a test or a page, finds what it names. See
// doccheck_test.go for what counts as a reference.
package doccheck
