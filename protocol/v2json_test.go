package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestV2JSONDecode(t *testing.T) {
	tests := []struct {
		frame string
		want  Message
	}{
		{
			`["3","3","room:lobby","phx_join",{"user":"ann"}]`,
			Message{JoinRef: `"3"`, Ref: `"3"`, Topic: "room:lobby", Event: "phx_join", Payload: JSON([]byte(`{"user":"ann"}`))},
		},
		{
			`["3","4","room:lobby","new_msg",{"body":"hi"}]`,
			Message{JoinRef: `"3"`, Ref: `"4"`, Topic: "room:lobby", Event: "new_msg", Payload: JSON([]byte(`{"body":"hi"}`))},
		},
		{
			`[null,"5","phoenix","heartbeat",{}]`,
			Message{Ref: `"5"`, Topic: "phoenix", Event: "heartbeat", Payload: JSON([]byte(`{}`))},
		},
		// Number refs are kept as numbers, exactly as written.
		{
			`[1,2.50,"t","e",{}]`,
			Message{JoinRef: `1`, Ref: `2.50`, Topic: "t", Event: "e", Payload: EmptyObject},
		},
		{
			`[-0,1e-7,"t","e",{}]`,
			Message{JoinRef: `-0`, Ref: `1e-7`, Topic: "t", Event: "e", Payload: EmptyObject},
		},
		// Escaped refs are kept escaped, to be echoed as sent.
		{
			`["\u0033","a\"b","t","e",{}]`,
			Message{JoinRef: `"\u0033"`, Ref: `"a\"b"`, Topic: "t", Event: "e", Payload: EmptyObject},
		},
		{`[null,null,"t","e",{}]`, Message{Topic: "t", Event: "e", Payload: EmptyObject}},
		{`["","","","",{}]`, Message{JoinRef: `""`, Ref: `""`, Payload: EmptyObject}},
		// Whitespace is allowed anywhere JSON allows it; the payload is
		// kept without the whitespace around it.
		{
			" \t\r\n[ null , \"1\" ,\n\"t\" , \"e\" , { \"a\" : [ 1 , 2 ] } ] \n",
			Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`{ "a" : [ 1 , 2 ] }`))},
		},
		// Clients may send any JSON value as payload.
		{`[null,"1","t","e","text"]`, Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`"text"`))}},
		{`[null,"1","t","e",null]`, Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`null`))}},
		{`[null,"1","t","e",[1,true,false]]`, Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`[1,true,false]`))}},
		{`[null,"1","t","e",-12.5e+3]`, Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`-12.5e+3`))}},
		// Elements past the fifth are ignored.
		{`[null,"1","t","e",{},{"x":[1]},"extra",null]`, Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: EmptyObject}},
		// Topics and events are unescaped.
		{
			`[null,null,"room:\"l\\o\/b\"\b\f\n\r\t","\u00e9\u20AC\ud83d\ude00é€😀",{}]`,
			Message{Topic: "room:\"l\\o/b\"\b\f\n\r\t", Event: "é€😀é€😀", Payload: EmptyObject},
		},
		// Lone surrogates become U+FFFD, as with encoding/json.
		{`[null,null,"\ud800x","\udc00\ud800\u0041",{}]`, Message{Topic: "\ufffdx", Event: "\ufffd\ufffdA", Payload: EmptyObject}},
	}
	for _, tt := range tests {
		got := decodeOK(t, V2, []byte(tt.frame), false)
		if !equalMessage(got, tt.want) {
			t.Errorf("Decode(%s)\n got %s\nwant %s", tt.frame, fmtMessage(got), fmtMessage(tt.want))
		}
	}
}

// A decoded payload shares its allocation with the text fields: writing
// to it, or appending to it, must not reach them.
func TestDecodedPayloadWritesStayInPayload(t *testing.T) {
	for _, frame := range []string{
		`["3","4","room:lobby","new_msg",{"body":"hi"}]`,
		`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":"4","join_ref":"3"}`,
	} {
		s := Serializer(V2)
		if frame[0] == '{' {
			s = V1
		}
		m := decodeOK(t, s, []byte(frame), false)
		data := m.Payload.Data
		for i := range data {
			data[i] = 'x'
		}
		_ = append(data, 'y') // in place, were its capacity to reach the text
		if m.JoinRef != `"3"` || m.Ref != `"4"` || m.Topic != "room:lobby" || m.Event != "new_msg" {
			t.Errorf("%s: after writing the payload, got %s", frame, fmtMessage(m))
		}
	}
}

func TestV2JSONDecodeErrors(t *testing.T) {
	tests := []struct {
		frame  string
		reason string // a substring of the DecodeError's Reason
	}{
		{``, "not a JSON array"},
		{`   `, "not a JSON array"},
		{`{"topic":"t","event":"e","payload":{},"ref":null}`, "not a JSON array"},
		{`"x"`, "not a JSON array"},
		{`[`, "unexpected end"},
		{`[]`, "0 elements"},
		{`["1","1","t","e"]`, "4 elements"},
		{`[null,"1","t",{}]`, "4 elements"},
		{`[null,"1","t","e",{}`, "unexpected end"},
		{`[null,"1","t","e",{}]]`, "after top-level value"},
		{`[null,"1","t","e",{}] x`, "after top-level value"},
		{`[null,"1","t","e",{}][]`, "after top-level value"},
		{`[null,"1","t","e",{},]`, "looking for a value"},
		{`[null,"1","t","e",{}`, "unexpected end"},
		{`[null "1","t","e",{}]`, "after array element"},
		{`[null,"1","t","e",{"a"}]`, "after object key"},
		{`[null,"1","t","e",{"a":}]`, "looking for a value"},
		{`[null,"1","t","e",{"a":1,}]`, "looking for an object key"},
		{`[null,"1","t","e",{a:1}]`, "looking for an object key"},
		{`[null,"1","t","e",{'a':1}]`, "looking for an object key"},
		{`[null,"1","t","e",{"a":1 "b":2}]`, "after object value"},
		{`[null,"1","t","e",[1 2]]`, "after array element"},
		{`[null,"1","t","e",tru]`, "invalid literal"},
		{`[null,"1","t","e",True]`, "looking for a value"},
		{`[nul,"1","t","e",{}]`, "invalid literal"},
		{`[null,"1","t","e",01]`, "after array element"},
		{`[null,"1","t","e",1.]`, "invalid number"},
		{`[null,"1","t","e",.5]`, "looking for a value"},
		{`[null,"1","t","e",1e]`, "invalid number"},
		{`[null,"1","t","e",-]`, "invalid number"},
		{`[null,"1","t","e",+1]`, "looking for a value"},
		{`[null,"1","t","e",NaN]`, "looking for a value"},
		{`[null,"1","t","e","\x"]`, "invalid escape"},
		{`[null,"1","t","e","\u12"]`, "invalid \\u escape"},
		{`[null,"1","t","e","\u12g4"]`, "invalid \\u escape"},
		{"[null,\"1\",\"t\",\"e\",\"a\tb\"]", "control character"},
		{"[null,\"1\",\"t\",\"e\",\"\xff\"]", "invalid UTF-8"},
		{"[null,\"1\",\"t\",\"e\",\"\xed\xa0\x80\"]", "invalid UTF-8"}, // an encoded surrogate
		{`[null,"1","t","e","abc]`, "unterminated string"},
		{`[null,"1","t","e","abc\"]`, "unterminated string"},
		{"\ufeff[null,\"1\",\"t\",\"e\",{}]", "not a JSON array"},
		{"[null,\"1\",\"t\",\"e\",{}]\x00", "after top-level value"},
		// Types of the fields.
		{`[null,"1",1,"e",{}]`, "topic is not a string"},
		{`[null,"1",null,"e",{}]`, "topic is not a string"},
		{`[null,"1",["t"],"e",{}]`, "topic is not a string"},
		{`[null,"1","t",null,{}]`, "event is not a string"},
		{`[null,"1","t",true,{}]`, "event is not a string"},
		{`[null,{},"t","e",{}]`, "ref is not a string, number or null"},
		{`[null,["1"],"t","e",{}]`, "ref is not a string, number or null"},
		{`[null,true,"t","e",{}]`, "ref is not a string, number or null"},
		{`[{"a":1},"1","t","e",{}]`, "join_ref is not a string, number or null"},
		{`[false,"1","t","e",{}]`, "join_ref is not a string, number or null"},
		// Nesting deeper than encoding/json allows.
		{`[null,"1","t","e",` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `]`, "nested too deeply"},
	}
	for _, tt := range tests {
		_, err := V2.Decode([]byte(tt.frame), false)
		checkDecodeError(t, tt.frame, err, tt.reason)
		if err != nil && json.Valid([]byte(tt.frame)) && !strings.Contains(tt.reason, "not a") &&
			!strings.Contains(tt.reason, "elements") && !strings.Contains(tt.reason, "UTF-8") {
			t.Errorf("frame %q is valid JSON but failed with %v", tt.frame, err)
		}
	}
}

// checkDecodeError checks that err is a *DecodeError that wraps ErrMalformed
// and whose reason contains reason.
func checkDecodeError(t *testing.T, frame string, err error, reason string) {
	t.Helper()
	if len(frame) > 60 {
		frame = frame[:60] + "…"
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode(%q) = %v, want an error wrapping ErrMalformed", frame, err)
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Errorf("Decode(%q) = %v, want a *DecodeError", frame, err)
		return
	}
	if !strings.Contains(de.Reason, reason) {
		t.Errorf("Decode(%q) reason = %q, want it to contain %q", frame, de.Reason, reason)
	}
}

// The deepest nesting encoding/json accepts is accepted too.
func TestV2JSONDecodeMaxDepth(t *testing.T) {
	// The frame's own array is one level.
	n := maxDepth - 1
	frame := `[null,"1","t","e",` + strings.Repeat("[", n) + strings.Repeat("]", n) + `]`
	if !json.Valid([]byte(frame)) {
		t.Fatal("json.Valid refuses the frame")
	}
	decodeOK(t, V2, []byte(frame), false)
}

func TestV2JSONEncode(t *testing.T) {
	tests := []struct {
		name  string
		frame func() ([]byte, bool, error)
		want  string
	}{
		{
			"push",
			func() ([]byte, bool, error) {
				return V2.EncodeMessage(nil, &Message{JoinRef: StringRef("3"), Topic: "room:lobby", Event: "joined", Payload: JSON([]byte(`{"a":1}`))})
			},
			`["3",null,"room:lobby","joined",{"a":1}]`,
		},
		{
			"phx_error",
			func() ([]byte, bool, error) {
				return V2.EncodeMessage(nil, &Message{JoinRef: StringRef("3"), Ref: StringRef("3"), Topic: "room:lobby", Event: EventError, Payload: JSON([]byte(`{"reason":"channel_crash"}`))})
			},
			`["3","3","room:lobby","phx_error",{"reason":"channel_crash"}]`,
		},
		{
			"number refs",
			func() ([]byte, bool, error) {
				return V2.EncodeMessage(nil, &Message{JoinRef: "7", Ref: "-1.5e3", Topic: "t", Event: EventClose, Payload: EmptyObject})
			},
			`[7,-1.5e3,"t","phx_close",{}]`,
		},
		{
			"empty payload",
			func() ([]byte, bool, error) {
				return V2.EncodeMessage(nil, &Message{Topic: "t", Event: "e"})
			},
			`[null,null,"t","e",{}]`,
		},
		{
			"payload with whitespace",
			func() ([]byte, bool, error) {
				return V2.EncodeMessage(nil, &Message{Topic: "t", Event: "e", Payload: JSON([]byte(" \n{ }"))})
			},
			"[null,null,\"t\",\"e\", \n{ }]",
		},
		{
			"reply",
			func() ([]byte, bool, error) {
				return V2.EncodeReply(nil, &Reply{JoinRef: StringRef("3"), Ref: StringRef("4"), Topic: "room:lobby", Status: "ok", Response: JSON([]byte(`{"id":17}`))})
			},
			`["3","4","room:lobby","phx_reply",{"status":"ok","response":{"id":17}}]`,
		},
		{
			"heartbeat reply",
			func() ([]byte, bool, error) {
				return V2.EncodeReply(nil, &Reply{Ref: StringRef("5"), Topic: TopicPhoenix, Status: "ok"})
			},
			`[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]`,
		},
		{
			"reply with a string response",
			func() ([]byte, bool, error) {
				return V2.EncodeReply(nil, &Reply{Ref: `1`, Topic: "t", Status: "error", Response: JSON([]byte(`"nope"`))})
			},
			`[null,1,"t","phx_reply",{"status":"error","response":"nope"}]`,
		},
		{
			"reply with an array response",
			func() ([]byte, bool, error) {
				return V2.EncodeReply(nil, &Reply{Ref: `"1"`, Topic: "t", Status: "ok", Response: JSON([]byte(`[1,2]`))})
			},
			`[null,"1","t","phx_reply",{"status":"ok","response":[1,2]}]`,
		},
		{
			"reply with a null response",
			func() ([]byte, bool, error) {
				return V2.EncodeReply(nil, &Reply{Ref: `"1"`, Topic: "t", Status: "ok", Response: JSON([]byte(`null`))})
			},
			`[null,"1","t","phx_reply",{"status":"ok","response":null}]`,
		},
		{
			"broadcast",
			func() ([]byte, bool, error) {
				return V2.EncodeBroadcast(nil, &Broadcast{Topic: "room:lobby", Event: "user_entered", Payload: JSON([]byte(`{"user":null}`))})
			},
			`[null,null,"room:lobby","user_entered",{"user":null}]`,
		},
		{
			"broadcast at a position",
			func() ([]byte, bool, error) {
				return V2.EncodeBroadcast(nil, &Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: EmptyObject, Ref: StringRef("AZPJ.42")})
			},
			`[null,"AZPJ.42","room:lobby","new_msg",{}]`,
		},
		{
			"escaping",
			func() ([]byte, bool, error) {
				return V2.EncodeBroadcast(nil, &Broadcast{Topic: "a\"b\\c\x01\n", Event: "é\u2028\xff", Payload: EmptyObject})
			},
			`[null,null,"a\"b\\c\u0001\n","é\u2028\ufffd",{}]`,
		},
	}
	for _, tt := range tests {
		got, binary, err := tt.frame()
		if err != nil || binary || string(got) != tt.want {
			t.Errorf("%s: got %s, %v, %v; want %s, false, nil", tt.name, got, binary, err, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", tt.name, got)
		}
	}
}

// Phoenix refuses to push or broadcast a payload that is not an object.
func TestV2RefusesNonObjectPayloads(t *testing.T) {
	for _, p := range []string{`[]`, `[{}]`, `"s"`, `1`, `null`, `true`, ` "{"`, " \t"} {
		payload := JSON([]byte(p))
		dst := []byte("keep")
		got, _, err := V2.EncodeMessage(dst, &Message{Topic: "t", Event: "e", Payload: payload})
		if !errors.Is(err, ErrPayloadNotObject) || string(got) != "keep" {
			t.Errorf("EncodeMessage(payload %q) = %q, %v; want ErrPayloadNotObject, dst unchanged", p, got, err)
		}
		got, _, err = V2.EncodeBroadcast(dst, &Broadcast{Topic: "t", Event: "e", Payload: payload})
		if !errors.Is(err, ErrPayloadNotObject) || string(got) != "keep" {
			t.Errorf("EncodeBroadcast(payload %q) = %q, %v; want ErrPayloadNotObject, dst unchanged", p, got, err)
		}
		// Replies take any response.
		if _, _, err := V2.EncodeReply(nil, &Reply{Topic: "t", Status: "ok", Response: payload}); err != nil {
			t.Errorf("EncodeReply(response %q): %v", p, err)
		}
	}
}

func TestEncodeInvalidRef(t *testing.T) {
	for _, r := range []Ref{`abc`, `"3`, `3"`, `"3"x`, `01`, `null`, `{}`, " 3", `"a` + "\x01" + `"`} {
		for _, s := range []Serializer{V1, V2} {
			if _, _, err := s.EncodeMessage(nil, &Message{Ref: r, Topic: "t", Event: "e"}); !errors.Is(err, ErrInvalidRef) {
				t.Errorf("%s EncodeMessage with ref %#q: %v, want ErrInvalidRef", s.Version(), string(r), err)
			}
			if _, _, err := s.EncodeReply(nil, &Reply{Ref: r, Topic: "t", Status: "ok"}); !errors.Is(err, ErrInvalidRef) {
				t.Errorf("%s EncodeReply with ref %#q: %v, want ErrInvalidRef", s.Version(), string(r), err)
			}
		}
		if _, _, err := V2.EncodeMessage(nil, &Message{JoinRef: r, Topic: "t", Event: "e", Payload: Bytes(nil)}); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("binary EncodeMessage with join_ref %#q: %v, want ErrInvalidRef", string(r), err)
		}
	}
}

// Topics and events survive encoding: encoding/json reads them back, and so
// does Decode.
func TestV2EscapingRoundTrip(t *testing.T) {
	for _, s := range escapingCases {
		frame, _, err := V2.EncodeMessage(nil, &Message{Ref: StringRef(s), Topic: s, Event: s, Payload: EmptyObject})
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		if err := json.Unmarshal(frame, &got); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", frame, err)
		}
		if got[1] != s || got[2] != s || got[3] != s {
			t.Errorf("encoding/json reads %q, %q, %q from %s; want %q", got[1], got[2], got[3], frame, s)
		}
		m := decodeOK(t, V2, frame, false)
		if m.Topic != s || m.Event != s || m.Ref.Value() != s {
			t.Errorf("Decode(%s) = %s; want topic, event and ref %q", frame, fmtMessage(m), s)
		}
	}
}

// escapingCases are valid UTF-8 strings that need care when quoted.
var escapingCases = []string{
	"",
	"room:lobby",
	`"quoted"`,
	`back\slash`,
	"/slash/",
	"\x00\x01\x1f\x7f",
	"\b\f\n\r\t",
	"<html>&amp;",
	"é ü ß 中文 日本語",
	"😀🎉 \U0010ffff",
	"\u2028\u2029",
	"\ufeff\ufffd",
	"mixed \"é\"\n\u2028😀\\",
}

// A frame encoded into nil costs one allocation, not one per growth.
func TestEncodeAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	payload := JSON([]byte(`{"body":"a message of ordinary length, as a chat sends"}`))
	m := &Message{JoinRef: "12", Ref: "345", Topic: "room:lobby", Event: "new_msg", Payload: payload}
	r := &Reply{JoinRef: "12", Ref: "345", Topic: "room:lobby", Status: "ok", Response: payload}
	b := &Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: payload}
	for _, ser := range []Serializer{V1, V2} {
		for name, encode := range map[string]func() ([]byte, bool, error){
			"message":   func() ([]byte, bool, error) { return ser.EncodeMessage(nil, m) },
			"reply":     func() ([]byte, bool, error) { return ser.EncodeReply(nil, r) },
			"broadcast": func() ([]byte, bool, error) { return ser.EncodeBroadcast(nil, b) },
		} {
			if _, _, err := encode(); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() { _, _, _ = encode() }); n != 1 {
				t.Errorf("%s %s: %v allocations, want 1", ser.Version(), name, n)
			}
		}
	}
}

// upper is a Serializer of another package's kind: V2 with its topics in
// capitals.
type upper struct{ Serializer }

func (u upper) EncodeMessage(dst []byte, m *Message) ([]byte, bool, error) {
	c := *m
	c.Topic = strings.ToUpper(c.Topic)
	return u.Serializer.EncodeMessage(dst, &c)
}

func (u upper) EncodeReply(dst []byte, r *Reply) ([]byte, bool, error) {
	c := *r
	c.Topic = strings.ToUpper(c.Topic)
	return u.Serializer.EncodeReply(dst, &c)
}

// AppendMessage and AppendReply encode as EncodeMessage and EncodeReply
// do, with any serializer, and a message or reply made in their call
// costs the frame alone with this package's serializers.
func TestAppendMessageAndReply(t *testing.T) {
	payload := JSON([]byte(`{"n":1}`))
	m := &Message{JoinRef: "12", Ref: "345", Topic: "room:lobby", Event: "new_msg", Payload: payload}
	r := &Reply{JoinRef: "12", Ref: "345", Topic: "bench:echo", Status: "ok", Response: payload}
	type encoder func(s Serializer, dst []byte) ([]byte, bool, error)
	pairs := []struct {
		name           string
		append, encode encoder
	}{
		{"AppendMessage",
			func(s Serializer, dst []byte) ([]byte, bool, error) { return AppendMessage(s, dst, m) },
			func(s Serializer, dst []byte) ([]byte, bool, error) { return s.EncodeMessage(dst, m) }},
		{"AppendReply",
			func(s Serializer, dst []byte) ([]byte, bool, error) { return AppendReply(s, dst, r) },
			func(s Serializer, dst []byte) ([]byte, bool, error) { return s.EncodeReply(dst, r) }},
	}
	for _, ser := range []Serializer{V1, V2, upper{V2}} {
		for _, p := range pairs {
			want, wantBin, err := p.encode(ser, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, gotBin, err := p.append(ser, []byte("x"))
			if err != nil || gotBin != wantBin || string(got) != "x"+string(want) {
				t.Errorf("%T %s: %q %v %v, want %q %v", ser, p.name, got, gotBin, err, "x"+string(want), wantBin)
			}
		}
	}
	if raceEnabled {
		return // the race detector allocates on its own
	}
	for _, ser := range []Serializer{V1, V2} {
		for name, encode := range map[string]func(){
			"AppendMessage": func() {
				_, _, _ = AppendMessage(ser, nil, &Message{JoinRef: "12", Ref: "345", Topic: "room:lobby", Event: "new_msg", Payload: payload})
			},
			"AppendReply": func() {
				_, _, _ = AppendReply(ser, nil, &Reply{JoinRef: "12", Ref: "345", Topic: "bench:echo", Status: "ok", Response: payload})
			},
		} {
			if n := testing.AllocsPerRun(100, encode); n != 1 {
				t.Errorf("%s %s: %v allocations, want 1 (the frame)", ser.Version(), name, n)
			}
		}
	}
}
