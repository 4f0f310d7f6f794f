package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestV1Decode(t *testing.T) {
	tests := []struct {
		frame string
		want  Message
	}{
		{
			`{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}`,
			Message{Ref: `"1"`, Topic: "room:lobby", Event: "phx_join", Payload: EmptyObject},
		},
		{
			`{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`,
			Message{Ref: `"1"`, Topic: "room:lobby", Event: "phx_reply", Payload: JSON([]byte(`{"status":"ok","response":{}}`))},
		},
		{
			`{"topic":"room:lobby","event":"user_entered","payload":{"user":null},"ref":null}`,
			Message{Topic: "room:lobby", Event: "user_entered", Payload: JSON([]byte(`{"user":null}`))},
		},
		// Any key order; join_ref is optional.
		{
			`{"ref":12,"join_ref":"11","payload":[1],"event":"e","topic":"t"}`,
			Message{JoinRef: `"11"`, Ref: `12`, Topic: "t", Event: "e", Payload: JSON([]byte(`[1]`))},
		},
		{
			`{"topic":"t","event":"e","payload":"p","ref":"1","join_ref":null}`,
			Message{Ref: `"1"`, Topic: "t", Event: "e", Payload: JSON([]byte(`"p"`))},
		},
		// Unknown keys are ignored, the last of repeated keys wins, and
		// keys may be escaped.
		{
			`{"topic":1,"extra":{"topic":"no"},"topic":"t","ev\u0065nt":"e","payload":{},"ref":{},"ref":"2"}`,
			Message{Ref: `"2"`, Topic: "t", Event: "e", Payload: EmptyObject},
		},
		{
			" {\n \"topic\" : \"t\\n\" , \"event\" : \"\\u00e9\" , \"payload\" : { } , \"ref\" : null } ",
			Message{Topic: "t\n", Event: "é", Payload: JSON([]byte(`{ }`))},
		},
	}
	for _, tt := range tests {
		got := decodeOK(t, V1, []byte(tt.frame), false)
		if !equalMessage(got, tt.want) {
			t.Errorf("Decode(%s)\n got %s\nwant %s", tt.frame, fmtMessage(got), fmtMessage(tt.want))
		}
	}
}

func TestV1DecodeErrors(t *testing.T) {
	tests := []struct {
		frame  string
		reason string
	}{
		{``, "not a JSON object"},
		{`["1","1","t","e",{}]`, "not a JSON object"},
		{`"topic"`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{}`, `missing key "topic"`},
		{`{"event":"e","payload":{},"ref":"1"}`, `missing key "topic"`},
		{`{"topic":"t","payload":{},"ref":"1"}`, `missing key "event"`},
		{`{"topic":"t","event":"e","ref":"1"}`, `missing key "payload"`},
		{`{"topic":"t","event":"e","payload":{}}`, `missing key "ref"`},
		{`{"topic":"t","event":"e","payload":{},"join_ref":"1"}`, `missing key "ref"`},
		{`{"topic":"t","event":"e","payload":{},"Ref":"1"}`, `missing key "ref"`},
		{`{"topic":1,"event":"e","payload":{},"ref":"1"}`, "topic is not a string"},
		{`{"topic":"t","event":null,"payload":{},"ref":"1"}`, "event is not a string"},
		{`{"topic":"t","event":"e","payload":{},"ref":{}}`, "ref is not a string, number or null"},
		{`{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":[]}`, "join_ref is not a string, number or null"},
		{`{"topic":"t","event":"e","payload":{},"ref":"1"`, "unexpected end"},
		{`{"topic":"t","event":"e","payload":{},"ref":"1",}`, "looking for an object key"},
		{`{"topic":"t","event":"e","payload":{},"ref":"1"}{}`, "after top-level value"},
		{`{"topic":"t","event":"e","payload":{,"ref":"1"}`, "looking for an object key"},
		{`{"topic" "t","event":"e","payload":{},"ref":"1"}`, "after object key"},
		{`{"topic":"t" "event":"e","payload":{},"ref":"1"}`, "after object value"},
		{`{"topic":"t","event":"e","payload":{},"ref":"1\u"}`, "invalid \\u escape"},
	}
	for _, tt := range tests {
		_, err := V1.Decode([]byte(tt.frame), false)
		checkDecodeError(t, tt.frame, err, tt.reason)
	}
}

func TestV1DecodeBinary(t *testing.T) {
	_, err := V1.Decode(frameHex(t, vectorClientPush), true)
	if !errors.Is(err, ErrBinaryUnsupported) {
		t.Errorf("Decode(binary) = %v, want ErrBinaryUnsupported", err)
	}
}

func TestV1Encode(t *testing.T) {
	tests := []struct {
		name  string
		frame func() ([]byte, bool, error)
		want  string
	}{
		{
			"push",
			func() ([]byte, bool, error) {
				return V1.EncodeMessage(nil, &Message{JoinRef: StringRef("1"), Topic: "room:lobby", Event: "joined", Payload: JSON([]byte(`{"a":1}`))})
			},
			`{"topic":"room:lobby","event":"joined","payload":{"a":1},"ref":null}`,
		},
		{
			"phx_close",
			func() ([]byte, bool, error) {
				return V1.EncodeMessage(nil, &Message{JoinRef: StringRef("1"), Ref: StringRef("1"), Topic: "room:lobby", Event: EventClose, Payload: EmptyObject})
			},
			`{"topic":"room:lobby","event":"phx_close","payload":{},"ref":"1"}`,
		},
		{
			"V1 does not check payloads",
			func() ([]byte, bool, error) {
				return V1.EncodeMessage(nil, &Message{Ref: `7`, Topic: "t", Event: "e", Payload: JSON([]byte(`[1,"x"]`))})
			},
			`{"topic":"t","event":"e","payload":[1,"x"],"ref":7}`,
		},
		{
			"empty payload",
			func() ([]byte, bool, error) {
				return V1.EncodeMessage(nil, &Message{Topic: "t", Event: "e"})
			},
			`{"topic":"t","event":"e","payload":{},"ref":null}`,
		},
		{
			"reply",
			func() ([]byte, bool, error) {
				return V1.EncodeReply(nil, &Reply{JoinRef: StringRef("1"), Ref: StringRef("1"), Topic: "room:lobby", Status: "ok"})
			},
			`{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`,
		},
		{
			"reply with a number response",
			func() ([]byte, bool, error) {
				return V1.EncodeReply(nil, &Reply{Ref: `1`, Topic: "t", Status: "error", Response: JSON([]byte(`42`))})
			},
			`{"topic":"t","event":"phx_reply","payload":{"status":"error","response":42},"ref":1}`,
		},
		{
			"broadcast",
			func() ([]byte, bool, error) {
				return V1.EncodeBroadcast(nil, &Broadcast{Topic: "room:lobby", Event: "user_entered", Payload: JSON([]byte(`{"user":null}`))})
			},
			`{"topic":"room:lobby","event":"user_entered","payload":{"user":null},"ref":null}`,
		},
		{
			"broadcast at a position",
			func() ([]byte, bool, error) {
				return V1.EncodeBroadcast(nil, &Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: EmptyObject, Ref: StringRef("AZPJ.42")})
			},
			`{"topic":"room:lobby","event":"new_msg","payload":{},"ref":"AZPJ.42"}`,
		},
		{
			"broadcast of a non-object",
			func() ([]byte, bool, error) {
				return V1.EncodeBroadcast(nil, &Broadcast{Topic: "t", Event: "e\u2028", Payload: JSON([]byte(`"s"`))})
			},
			`{"topic":"t","event":"e\u2028","payload":"s","ref":null}`,
		},
	}
	for _, tt := range tests {
		got, binary, err := tt.frame()
		if err != nil || binary || string(got) != tt.want {
			t.Errorf("%s: got %s, %v, %v; want %s, false, nil", tt.name, got, binary, err, tt.want)
		}
	}
}

// Phoenix's own serializer test pins that V1 output never holds join_ref,
// even when every message carries one.
func TestV1NeverEncodesJoinRef(t *testing.T) {
	jr := StringRef("join_ref")
	var frames [][]byte
	for _, encode := range []func() ([]byte, bool, error){
		func() ([]byte, bool, error) {
			return V1.EncodeMessage(nil, &Message{JoinRef: jr, Ref: StringRef("2"), Topic: "t", Event: "e", Payload: EmptyObject})
		},
		func() ([]byte, bool, error) {
			return V1.EncodeReply(nil, &Reply{JoinRef: jr, Ref: StringRef("2"), Topic: "t", Status: "ok"})
		},
		func() ([]byte, bool, error) {
			return V1.EncodeBroadcast(nil, &Broadcast{Topic: "t", Event: "e", Payload: EmptyObject})
		},
	} {
		frame, _, err := encode()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame)
	}
	for _, frame := range frames {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(frame, &obj); err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		if _, ok := obj["join_ref"]; ok || bytes.Contains(frame, []byte("join_ref")) {
			t.Errorf("V1 frame holds join_ref: %s", frame)
		}
		if len(obj) != 4 {
			t.Errorf("V1 frame has %d keys, want topic, event, payload and ref: %s", len(obj), frame)
		}
	}
}

func TestV1RefusesBinaryPayloads(t *testing.T) {
	p := Bytes([]byte{1, 2})
	tests := []struct {
		name   string
		encode func(dst []byte) ([]byte, bool, error)
	}{
		{"push", func(dst []byte) ([]byte, bool, error) {
			return V1.EncodeMessage(dst, &Message{Topic: "t", Event: "e", Payload: p})
		}},
		{"reply", func(dst []byte) ([]byte, bool, error) {
			return V1.EncodeReply(dst, &Reply{Topic: "t", Status: "ok", Response: p})
		}},
		{"broadcast", func(dst []byte) ([]byte, bool, error) {
			return V1.EncodeBroadcast(dst, &Broadcast{Topic: "t", Event: "e", Payload: p})
		}},
	}
	for _, tt := range tests {
		frame, binary, err := tt.encode([]byte("keep"))
		if string(frame) != "keep" || binary || !errors.Is(err, ErrBinaryUnsupported) {
			t.Errorf("%s: %q, %v, %v; want dst unchanged and ErrBinaryUnsupported", tt.name, frame, binary, err)
		}
	}
}
