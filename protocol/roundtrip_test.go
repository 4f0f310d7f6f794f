package protocol

import (
	"bytes"
	"strings"
	"testing"
)

// roundTripMessages returns messages that every format can carry, apart
// from the payload: string or null refs, any valid UTF-8 topic and event.
func roundTripMessages() []Message {
	refs := []Ref{"", StringRef("1"), StringRef("12300"), StringRef("a\"b\\c"), StringRef("é😀\u2028\n"), StringRef(strings.Repeat("9", 255))}
	texts := []string{"", "room:lobby", TopicPhoenix, EventJoin, "a \"quoted\" \\ topic", "\x00\x1f\x7f", "中文 😀 \u2029", strings.Repeat("t", 255)}
	var ms []Message
	for i, jr := range refs {
		for j, ref := range refs {
			for k, topic := range texts {
				event := texts[(i+j+k)%len(texts)]
				ms = append(ms, Message{JoinRef: jr, Ref: ref, Topic: topic, Event: event})
			}
		}
	}
	return ms
}

var jsonPayloads = []string{`{}`, `{"user":"ann","n":[1,2.5,-3e2,true,false,null]}`, `"text"`, `[]`, `null`, `0`, `{"nested":{"a":[{"b":"\u00e9\""}]}}`}

var binaryPayloads = [][]byte{{}, {0}, []byte("efg"), {0xff, 0xfe, 0x00, '"', '\\'}, bytes.Repeat([]byte{1, 2, 3}, 1000)}

// Decoding what a client encodes gives back the message, in every format.
func TestRoundTrip(t *testing.T) {
	for i, m := range roundTripMessages() {
		m.Payload = JSON([]byte(jsonPayloads[i%len(jsonPayloads)]))
		checkRoundTrip(t, V2, m, clientV2JSON(m), false)
		checkRoundTrip(t, V1, m, clientV1(m), false)
		if m.Payload.IsObject() {
			// The server's own V2 pushes decode back too.
			frame, _, err := V2.EncodeMessage(nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, V2, m, frame, false)
		}

		m.Payload = Bytes(binaryPayloads[i%len(binaryPayloads)])
		checkRoundTrip(t, V2, m, clientV2Binary(m), true)
	}

	// Number refs only exist in text frames.
	for _, r := range []Ref{"0", "-1", "17", "1.5", "1e3", "-0.0E+7"} {
		m := Message{JoinRef: r, Ref: r, Topic: "t", Event: "e", Payload: EmptyObject}
		checkRoundTrip(t, V2, m, clientV2JSON(m), false)
		checkRoundTrip(t, V1, m, clientV1(m), false)
	}
}

func checkRoundTrip(t *testing.T, s Serializer, m Message, frame []byte, binary bool) {
	t.Helper()
	got, err := s.Decode(frame, binary)
	if err != nil {
		t.Fatalf("%s Decode(%q): %v", s.Version(), frame, err)
	}
	if !equalMessage(got, m) {
		t.Fatalf("%s Decode(%q)\n got %s\nwant %s", s.Version(), frame, fmtMessage(got), fmtMessage(m))
	}
}

// Decoded messages do not alias the frame, whose buffer the caller reuses.
func TestDecodeDoesNotAlias(t *testing.T) {
	tests := []struct {
		s      Serializer
		frame  string
		binary bool
	}{
		{V2, `["3","4","room:lobby","new_msg",{"body":"hi"}]`, false},
		{V2, `["\u0033","4","room:\u006cobby","new_\u006dsg",{"body":"hi"}]`, false},
		{V2, string(frameHex(t, vectorClientPush)), true},
		{V1, `{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":"4","join_ref":"3"}`, false},
	}
	for _, tt := range tests {
		frame := []byte(tt.frame)
		m := decodeOK(t, tt.s, frame, tt.binary)
		want := Message{
			JoinRef: Ref(strings.Clone(string(m.JoinRef))),
			Ref:     Ref(strings.Clone(string(m.Ref))),
			Topic:   strings.Clone(m.Topic),
			Event:   strings.Clone(m.Event),
			Payload: Payload{Data: bytes.Clone(m.Payload.Data), Binary: m.Payload.Binary},
		}
		for i := range frame {
			frame[i] = 'X'
		}
		if !equalMessage(m, want) {
			t.Errorf("overwriting the frame changed the message:\n got %s\nwant %s", fmtMessage(m), fmtMessage(want))
		}
	}
}
