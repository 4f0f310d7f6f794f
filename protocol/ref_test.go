package protocol

import (
	"encoding/json"
	"testing"
)

func TestStringRef(t *testing.T) {
	tests := []struct {
		s    string
		want Ref
	}{
		{"3", `"3"`},
		{"", `""`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\x00", `"\n\u0000"`},
		{"é\u2028", `"é\u2028"`},
		{"\xff", `"\ufffd"`},
	}
	for _, tt := range tests {
		if got := StringRef(tt.s); got != tt.want {
			t.Errorf("StringRef(%q) = %#q, want %#q", tt.s, string(got), string(tt.want))
		}
	}
}

func TestRefValue(t *testing.T) {
	tests := []struct {
		r    Ref
		want string
	}{
		{"", ""},
		{`"3"`, "3"},
		{`3`, "3"},
		{`-1.5e3`, "-1.5e3"},
		{`""`, ""},
		{`"a\"b\\c\u00e9\ud83d\ude00"`, "a\"b\\cé😀"},
		// Not valid JSON: the text itself.
		{`"3`, `"3`},
		{`"`, `"`},
		{`"a"b"`, `"a"b"`},
		{`abc`, "abc"},
	}
	for _, tt := range tests {
		if got := tt.r.Value(); got != tt.want {
			t.Errorf("Ref(%#q).Value() = %q, want %q", string(tt.r), got, tt.want)
		}
	}
}

func TestRefIsNull(t *testing.T) {
	if !Ref("").IsNull() {
		t.Error(`Ref("").IsNull() = false`)
	}
	for _, r := range []Ref{`""`, `0`, `"null"`} {
		if r.IsNull() {
			t.Errorf("Ref(%#q).IsNull() = true", string(r))
		}
	}
}

// Refs keep their JSON type when marshaled by encoding/json.
func TestRefMarshalJSON(t *testing.T) {
	v := struct {
		A, B, C Ref
	}{StringRef("1"), Ref("1"), Ref("")}
	got, err := json.Marshal(v)
	if want := `{"A":"1","B":1,"C":null}`; err != nil || string(got) != want {
		t.Errorf("json.Marshal = %s, %v; want %s", got, err, want)
	}
}

// Refs compare strictly: the string "1" is not the number 1.
func TestRefStrictComparison(t *testing.T) {
	s := decodeOK(t, V2, []byte(`["1","1","t","e",{}]`), false)
	n := decodeOK(t, V2, []byte(`[1,1,"t","e",{}]`), false)
	if s.Ref == n.Ref || s.JoinRef == n.JoinRef {
		t.Errorf("string ref %#q equals number ref %#q", string(s.Ref), string(n.Ref))
	}
	if s.Ref != StringRef("1") || n.Ref != Ref("1") {
		t.Errorf("refs are %#q and %#q", string(s.Ref), string(n.Ref))
	}
}

// Refs are echoed verbatim: a reply carries them exactly as they came.
func TestRefsEchoedVerbatim(t *testing.T) {
	tests := []struct {
		frame string
		v2    string
		v1    string
	}{
		{
			`["3","4","t","e",{}]`,
			`["3","4","t","phx_reply",{"status":"ok","response":{}}]`,
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"4"}`,
		},
		{
			`[3,4,"t","e",{}]`,
			`[3,4,"t","phx_reply",{"status":"ok","response":{}}]`,
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":4}`,
		},
		{
			`[1.0,-0,"t","e",{}]`,
			`[1.0,-0,"t","phx_reply",{"status":"ok","response":{}}]`,
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":-0}`,
		},
		{
			`["\u0031","x\/y","t","e",{}]`,
			`["\u0031","x\/y","t","phx_reply",{"status":"ok","response":{}}]`,
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"x\/y"}`,
		},
		{
			`[null,null,"t","e",{}]`,
			`[null,null,"t","phx_reply",{"status":"ok","response":{}}]`,
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":null}`,
		},
	}
	for _, tt := range tests {
		m := decodeOK(t, V2, []byte(tt.frame), false)
		r := &Reply{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok"}
		if got, _, err := V2.EncodeReply(nil, r); err != nil || string(got) != tt.v2 {
			t.Errorf("V2 reply to %s = %s, %v; want %s", tt.frame, got, err, tt.v2)
		}
		if got, _, err := V1.EncodeReply(nil, r); err != nil || string(got) != tt.v1 {
			t.Errorf("V1 reply to %s = %s, %v; want %s", tt.frame, got, err, tt.v1)
		}
	}
}
