package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdlibQuote quotes s with encoding/json, without HTML escaping.
func stdlibQuote(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// appendQuoted escapes exactly as encoding/json does without HTML escaping.
func TestAppendQuotedMatchesStdlib(t *testing.T) {
	cases := append([]string(nil), escapingCases...)
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	cases = append(cases, "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "é"[:1], "\xc0\xaf", "ok\xffok\xfe")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "\n", "\x01", "é", "\u2028", "\u2029", "😀", "\xff", "\xe2\x80", "<"}
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		want := stdlibQuote(t, s)
		if got := string(appendQuoted(nil, s)); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
		if got := string(appendQuoted(nil, []byte(s))); got != want {
			t.Errorf("appendQuoted([]byte(%q)) = %s, want %s", s, got, want)
		}
		if utf8.ValidString(s) && needsQuoting([]byte(s)) != (want != `"`+s+`"`) {
			t.Errorf("needsQuoting(%q) = %v, but quoting gives %s", s, !(want != `"`+s+`"`), want)
		}
	}
}

// appendUnquoted reads JSON strings as encoding/json does.
func TestAppendUnquotedMatchesStdlib(t *testing.T) {
	cases := []string{
		`""`, `"abc"`, `"\"\\\/\b\f\n\r\t"`, `"\u0000\u001f\u0041\u00e9\u20ac\uFFFF"`,
		`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, `"\ude00\ud83d"`, `"\ud83d\\"`, `"\ud83d\\u0041"`, `"x\ud800\\"`, `"é😀\u2028"`, `"\\u0041"`,
	}
	for _, q := range cases {
		var want string
		if err := json.Unmarshal([]byte(q), &want); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", q, err)
		}
		end, _, reason := scanString(q, 0)
		if reason != "" || end != len(q) {
			t.Errorf("scanString(%s) = %d, %q", q, end, reason)
			continue
		}
		if got := string(appendUnquoted(nil, q[1:len(q)-1])); got != want {
			t.Errorf("appendUnquoted(%s) = %q, want %q", q, got, want)
		}
	}
}

// Unquoting what appendQuoted wrote gives back the string, once made valid
// UTF-8.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range append(escapingCases, "\xff", "a\xe2\x80b") {
		q := appendQuoted(nil, s)
		var want string
		if err := json.Unmarshal(q, &want); err != nil {
			t.Fatal(err)
		}
		if got := string(appendUnquoted(nil, q[1:len(q)-1])); got != want {
			t.Errorf("round trip of %q gives %q, want %q", s, got, want)
		}
	}
}
