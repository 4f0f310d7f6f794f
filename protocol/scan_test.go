package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// validJSON reports whether the scanner accepts data as one JSON value.
func validJSON(data []byte) bool {
	s := scanner{data: data}
	return s.value(0) == nil && s.end() == nil
}

// The scanner accepts what json.Valid accepts, bar invalid UTF-8.
func TestScannerMatchesJSONValid(t *testing.T) {
	cases := []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1`, `-1`, `10`, `01`, `-01`, `1.5`, `1.`, `.5`, `1e5`, `1E+5`,
		`1e-5`, `1e`, `1e+`, `-`, `--1`, `+1`, `0x10`, `1.5.5`, `0.0e0`, `-0.0E-0`, `Infinity`, `NaN`,
		`true`, `false`, `null`, `tru`, `nul`, `True`, `nulll`, `true false`,
		`"abc"`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\a"`, `"\u"`, `"\u123"`, `"\u123g"`, `"\uABCD"`, "\"\t\"", "\"\x7f\"",
		`[1,2,3]`, `[1,2,]`, `[,]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[]]`, `{"a":1}`, `{"a":1,}`, `{"a"}`,
		`{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `{"a":{"b":[{"c":null}]}}`, ` {"a" : [ 1 , { } ] } `,
		"\ufeff{}", "{}\x00", "\x00", " \t\r\n1\n", "\f1", `{"a":1}{}`, `[1]x`,
		"\"é😀\u2028\"", `"` + strings.Repeat("x", 100) + `"`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, c := range cases {
		want := json.Valid([]byte(c))
		if got := validJSON([]byte(c)); got != want {
			t.Errorf("scanner accepts %.40q: %v, json.Valid: %v", c, got, want)
		}
	}
	// Invalid UTF-8 is refused even where json.Valid accepts it.
	for _, c := range []string{"\"\xff\"", "\"\xed\xa0\x80\"", "[\"\xc3\"]", "{\"\x80\":1}"} {
		if !json.Valid([]byte(c)) || utf8.ValidString(c) {
			t.Fatalf("bad case %q", c)
		}
		if validJSON([]byte(c)) {
			t.Errorf("scanner accepts %q", c)
		}
	}
}

func TestScanNumber(t *testing.T) {
	tests := []struct {
		s   string
		end int
		ok  bool
	}{
		{"0", 1, true}, {"-0", 2, true}, {"123", 3, true}, {"1.25e-3", 7, true}, {"01", 1, true},
		{"1x", 1, true}, {"-", 0, false}, {"", 0, false}, {"1.", 0, false}, {"1e", 0, false}, {"x", 0, false},
	}
	for _, tt := range tests {
		end, ok := scanNumber(tt.s, 0)
		if end != tt.end || ok != tt.ok {
			t.Errorf("scanNumber(%q) = %d, %v; want %d, %v", tt.s, end, ok, tt.end, tt.ok)
		}
	}
}
