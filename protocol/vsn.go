package protocol

import (
	"fmt"
	"strings"
)

// Negotiate returns the serializer for the vsn query parameter of a
// connection request. An empty vsn means the parameter was absent, which
// Phoenix treats as "1.0.0".
//
// vsn must be a semantic version (https://semver.org). As in Phoenix, V1
// serves the requirement ~> 1.0.0 (at least 1.0.0, below 1.1.0) and V2 serves
// ~> 2.0.0. Pre-release versions order before their release, so
// "2.0.0-rc.1" matches neither while "2.0.1-rc.1" matches V2; build metadata
// is ignored. For any other vsn the error wraps [ErrUnsupportedVersion].
func Negotiate(vsn string) (Serializer, error) {
	if vsn == "" {
		return V1, nil
	}
	v, ok := parseVersion(vsn)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a semantic version", ErrUnsupportedVersion, vsn)
	}
	// ~> M.0.0 holds from M.0.0 included, so its pre-releases are out, up
	// to M.1.0 excluded, pre-releases of M.1.0 included.
	if v.minor == "0" && !(v.patch == "0" && v.pre != "") {
		switch v.major {
		case "1":
			return V1, nil
		case "2":
			return V2, nil
		}
	}
	return nil, fmt.Errorf("%w: %q matches neither ~> 1.0.0 nor ~> 2.0.0", ErrUnsupportedVersion, vsn)
}

// A version is a parsed semantic version. The numbers are kept as decimal
// text, which is all Negotiate needs and cannot overflow.
type version struct {
	major, minor, patch string
	pre                 string // pre-release identifiers, without the '-'
}

// parseVersion parses MAJOR.MINOR.PATCH[-PRE][+BUILD] as defined by
// semantic versioning 2.0.0.
func parseVersion(s string) (v version, ok bool) {
	s, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !validIdents(build, false) {
		return version{}, false
	}
	s, pre, hasPre := strings.Cut(s, "-")
	if hasPre && !validIdents(pre, true) {
		return version{}, false
	}
	v.pre = pre
	core := strings.Split(s, ".")
	if len(core) != 3 {
		return version{}, false
	}
	for _, n := range core {
		if !isNumeric(n) {
			return version{}, false
		}
	}
	v.major, v.minor, v.patch = core[0], core[1], core[2]
	return v, true
}

// validIdents reports whether s is a non-empty dot-separated list of
// non-empty identifiers made of [0-9A-Za-z-]. In a pre-release, purely
// numeric identifiers must not have leading zeros.
func validIdents(s string, pre bool) bool {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case isDigit(c):
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if pre && digits && !isNumeric(id) {
			return false
		}
	}
	return true
}

// isNumeric reports whether s is a decimal number without leading zeros.
func isNumeric(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
