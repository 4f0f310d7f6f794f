package protocol

import (
	"errors"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		vsn  string
		want Serializer // nil: refused
	}{
		// The table of Phoenix's serializer selection.
		{"", V1},
		{"1.0.0", V1},
		{"1.0.7", V1},
		{"2.0.0", V2},
		{"2.0.3", V2},
		{"2.0.1-rc.1", V2},
		{"1.1.0", nil},
		{"2.1.0", nil},
		{"123.1.1", nil},
		{"2.0.0-rc.1", nil},
		{"2", nil},
		{"2.0", nil},
		{"abc", nil},

		// Pre-releases and build metadata.
		{"1.0.1-alpha", V1},
		{"1.0.0-alpha", nil},
		{"2.0.0+build.7", V2},
		{"2.0.0+001", V2},
		{"2.0.0-rc.1+build", nil},
		{"2.0.9-0", V2},
		{"2.0.9-0a.x-y.1", V2},
		{"2.0.99999999999999999999999", V2},
		{"2.1.0-rc.1", nil}, // ~> never includes pre-releases of its upper bound
		{"0.9.0", nil},
		{"1.9.0", nil},
		{"3.0.0", nil},
		{"20.0.0", nil},

		// Not semantic versions.
		{"02.0.0", nil},
		{"2.00.0", nil},
		{"2.0.00", nil},
		{"2.0.0-", nil},
		{"2.0.0-rc..1", nil},
		{"2.0.0-rc.", nil},
		{"2.0.0-01", nil},
		{"2.0.0-rc.01", nil},
		{"2.0.0+", nil},
		{"2.0.0+a..b", nil},
		{"2.0.0-rc_1", nil},
		{"2.0.0-é", nil},
		{"2.0.0.0", nil},
		{" 2.0.0", nil},
		{"2.0.0 ", nil},
		{"v2.0.0", nil},
		{"-2.0.0", nil},
		{"2.-0.0", nil},
		{"2..0", nil},
		{"2.0.x", nil},
		{"+2.0.0", nil},
		{"２.0.0", nil},
	}
	for _, tt := range tests {
		got, err := Negotiate(tt.vsn)
		switch {
		case tt.want == nil && !errors.Is(err, ErrUnsupportedVersion):
			t.Errorf("Negotiate(%q) = %v, %v; want ErrUnsupportedVersion", tt.vsn, got, err)
		case tt.want != nil && (err != nil || got != tt.want):
			t.Errorf("Negotiate(%q) = %v, %v; want %s", tt.vsn, got, err, tt.want.Version())
		}
	}
}

func TestVersions(t *testing.T) {
	if V1.Version() != "1.0.0" || V2.Version() != "2.0.0" {
		t.Errorf("versions are %q and %q", V1.Version(), V2.Version())
	}
	for _, s := range []Serializer{V1, V2} {
		if got, err := Negotiate(s.Version()); got != s || err != nil {
			t.Errorf("Negotiate(%q) = %v, %v", s.Version(), got, err)
		}
	}
}
