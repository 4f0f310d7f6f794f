package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"unicode/utf8"
)

// Seeds are real frames: the examples of the protocol description and
// frames the JavaScript client sends.
var (
	v2JSONSeeds = []string{
		`["3","3","room:lobby","phx_join",{"user":"ann"}]`,
		`["3","4","room:lobby","new_msg",{"body":"hi"}]`,
		`[null,"5","phoenix","heartbeat",{}]`,
		`["3","6","room:lobby","phx_leave",{}]`,
		`["3","3","room:lobby","phx_error",{"reason":"channel_crash"}]`,
		`["3","4","room:lobby","phx_reply",{"status":"ok","response":{"id":17}}]`,
		`[null,null,"room:lobby","presence_diff",{"joins":{"ann":{"metas":[{"phx_ref":"F1"}]}},"leaves":{}}]`,
		`[1,2,"t","e",[1,-2.5e3,true,false,null,"\u00e9\ud83d\ude00"],"extra"]`,
		` [ "1" , "2" , "a\"b" , "\n" , { } ] `,
		`[null,"1","t","e",{}`,
		`["1","1","t","e"]`,
	}
	v1Seeds = []string{
		`{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}`,
		`{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`,
		`{"topic":"room:lobby","event":"user_entered","payload":{"user":null},"ref":null}`,
		`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2","join_ref":null}`,
		`{"join_ref":"1","ref":2,"payload":[1],"event":"e","topic":"t","topic":"u","x":{}}`,
		`{"t\u006fpic":"t","event":"e","payload":"p","ref":"1"}`,
		`{"topic":"t","event":"e","payload":{}}`,
	}
	binarySeeds = []string{vectorClientPush, vectorServerPush, vectorReply, vectorBroadcast, "00 00 00 01 01 74 65", "00 01"}
)

// FuzzV2JSONDecode checks that decoding V2 text frames never panics, only
// accepts valid JSON, and gives messages that survive encoding.
func FuzzV2JSONDecode(f *testing.F) {
	for _, s := range v2JSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if got, want := validJSON(frame), json.Valid(frame) && utf8.Valid(frame); got != want {
			t.Fatalf("scanner accepts %q: %v, json.Valid and utf8.Valid: %v", frame, got, want)
		}
		m, err := V2.Decode(frame, false)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, want an error wrapping ErrMalformed", frame, err)
			}
			return
		}
		if !json.Valid(frame) {
			t.Fatalf("Decode accepts invalid JSON %q", frame)
		}
		checkReencode(t, m)
	})
}

// FuzzV2BinaryDecode checks that decoding V2 binary frames never panics,
// and that a decoded frame encodes back to itself.
func FuzzV2BinaryDecode(f *testing.F) {
	for _, s := range binarySeeds {
		f.Add(frameHex(f, s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := V2.Decode(frame, true)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(% x) = %v, want an error wrapping ErrMalformed", frame, err)
			}
			return
		}
		if again := clientV2Binary(m); !bytes.Equal(again, frame) {
			t.Fatalf("Decode(% x) = %s, which encodes as % x", frame, fmtMessage(m), again)
		}
		checkReencode(t, m)
	})
}

// FuzzV1Decode checks that decoding V1 frames never panics, only accepts
// valid JSON, and gives messages that survive encoding.
func FuzzV1Decode(f *testing.F) {
	for _, s := range v1Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := V1.Decode(frame, false)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, want an error wrapping ErrMalformed", frame, err)
			}
			return
		}
		if !json.Valid(frame) {
			t.Fatalf("Decode accepts invalid JSON %q", frame)
		}
		checkReencode(t, m)
	})
}

// checkReencode checks that a decoded message encodes, in every way that
// can carry it, into frames that decode back to it.
func checkReencode(t *testing.T, m Message) {
	t.Helper()
	if m.Payload.Binary {
		reencode(t, V2, m, clientV2Binary(m), true)
		// Text frames carry the same message with a JSON payload.
		m.Payload = EmptyObject
	}
	reencode(t, V2, m, clientV2JSON(m), false)
	reencode(t, V1, m, clientV1(m), false)

	// The server's encoders write valid JSON. V1 drops join_ref, V2 only
	// pushes objects.
	v1, _, err := V1.EncodeMessage(nil, &m)
	if err != nil || !json.Valid(v1) {
		t.Fatalf("V1.EncodeMessage(%s) = %q, %v", fmtMessage(m), v1, err)
	}
	want := m
	want.JoinRef = ""
	reencode(t, V1, want, v1, false)
	v2, _, err := V2.EncodeMessage(nil, &m)
	switch {
	case !m.Payload.IsObject():
		if !errors.Is(err, ErrPayloadNotObject) {
			t.Fatalf("V2.EncodeMessage(%s): %v, want ErrPayloadNotObject", fmtMessage(m), err)
		}
	case err != nil || !json.Valid(v2):
		t.Fatalf("V2.EncodeMessage(%s) = %q, %v", fmtMessage(m), v2, err)
	default:
		reencode(t, V2, m, v2, false)
	}
}

func reencode(t *testing.T, s Serializer, m Message, frame []byte, binary bool) {
	t.Helper()
	got, err := s.Decode(frame, binary)
	if err != nil {
		t.Fatalf("%s: %s encodes as %q, which does not decode: %v", s.Version(), fmtMessage(m), frame, err)
	}
	if !equalMessage(got, m) {
		t.Fatalf("%s: %s encodes as %q, which decodes as %s", s.Version(), fmtMessage(m), frame, fmtMessage(got))
	}
}

// semverRE is the regular expression semver.org suggests for semantic
// versions.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// FuzzNegotiate checks Negotiate against the semver.org grammar and the
// ~> 1.0.0 and ~> 2.0.0 requirements.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "1.0.0", "1.0.7", "2.0.0", "2.0.3", "2.0.1-rc.1", "1.1.0", "2.1.0", "123.1.1",
		"2.0.0-rc.1", "2", "2.0", "abc", "02.0.0", "2.0.0+build.1", "2.0.0-0a.b-c+x", "2.0.0-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, vsn string) {
		got, err := Negotiate(vsn)
		var want Serializer
		if vsn == "" {
			want = V1
		} else if sm := semverRE.FindStringSubmatch(vsn); sm != nil && sm[2] == "0" && (sm[3] != "0" || sm[4] == "") {
			switch sm[1] {
			case "1":
				want = V1
			case "2":
				want = V2
			}
		}
		if want == nil {
			if got != nil || !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("Negotiate(%q) = %v, %v; want ErrUnsupportedVersion", vsn, got, err)
			}
			return
		}
		if got != want || err != nil {
			t.Fatalf("Negotiate(%q) = %v, %v; want %s", vsn, got, err, want.Version())
		}
	})
}
