package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The test vectors of Phoenix's serializer tests; the payload is "efg".
const (
	vectorClientPush = "00 02 03 05 05 | 31 32 | 31 32 33 | 74 6f 70 69 63 | 65 76 65 6e 74 | 65 66 67"
	vectorServerPush = "00 02 05 05 | 31 32 | 74 6f 70 69 63 | 65 76 65 6e 74 | 65 66 67"
	vectorReply      = "01 02 03 05 02 | 31 32 | 31 32 33 | 74 6f 70 69 63 | 6f 6b | 65 66 67"
	vectorBroadcast  = "02 05 05 | 74 6f 70 69 63 | 65 76 65 6e 74 | 65 66 67"
)

func TestV2BinaryVectors(t *testing.T) {
	got := decodeOK(t, V2, frameHex(t, vectorClientPush), true)
	want := Message{JoinRef: StringRef("12"), Ref: StringRef("123"), Topic: "topic", Event: "event", Payload: Bytes([]byte("efg"))}
	if !equalMessage(got, want) {
		t.Errorf("Decode(client push)\n got %s\nwant %s", fmtMessage(got), fmtMessage(want))
	}

	encodings := []struct {
		name  string
		frame func(dst []byte) ([]byte, bool, error)
		want  string
	}{
		{
			"push",
			func(dst []byte) ([]byte, bool, error) {
				// The ref is not part of a server push.
				return V2.EncodeMessage(dst, &Message{JoinRef: StringRef("12"), Ref: StringRef("123"), Topic: "topic", Event: "event", Payload: Bytes([]byte("efg"))})
			},
			vectorServerPush,
		},
		{
			"reply",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{JoinRef: StringRef("12"), Ref: StringRef("123"), Topic: "topic", Status: "ok", Response: Bytes([]byte("efg"))})
			},
			vectorReply,
		},
		{
			"reply with number refs",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{JoinRef: "12", Ref: "123", Topic: "topic", Status: "ok", Response: Bytes([]byte("efg"))})
			},
			vectorReply,
		},
		{
			"broadcast",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeBroadcast(dst, &Broadcast{Topic: "topic", Event: "event", Payload: Bytes([]byte("efg"))})
			},
			vectorBroadcast,
		},
	}
	for _, tt := range encodings {
		want := frameHex(t, tt.want)
		got, binary, err := tt.frame(nil)
		if err != nil || !binary || !bytes.Equal(got, want) {
			t.Errorf("%s: got % x, %v, %v; want % x, true, nil", tt.name, got, binary, err, want)
		}
		// Appending keeps what dst holds.
		got, _, _ = tt.frame([]byte("prefix"))
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%s: appending to a prefix gives % x", tt.name, got)
		}
	}
}

func TestV2BinaryDecode(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  Message
	}{
		{
			"null refs and empty payload",
			[]byte{0, 0, 0, 1, 1, 't', 'e'},
			Message{Topic: "t", Event: "e", Payload: Bytes([]byte{})},
		},
		{
			"empty topic and event",
			[]byte{0, 1, 1, 0, 0, 'a', 'b', 0xff, 0x00},
			Message{JoinRef: StringRef("a"), Ref: StringRef("b"), Payload: Bytes([]byte{0xff, 0x00})},
		},
		{
			"refs that need quoting",
			append([]byte{0, 3, 4, 1, 1, '"', '\\', '\n', 0xe2, 0x80, 0xa8, 'x', 't', 'e'}, "payload"...),
			Message{JoinRef: `"\"\\\n"`, Ref: `"\u2028x"`, Topic: "t", Event: "e", Payload: Bytes([]byte("payload"))},
		},
		{
			"unicode",
			append(append([]byte{0, 0, 0, 2, 3}, "é€"...), "payload"...),
			Message{Topic: "é", Event: "€", Payload: Bytes([]byte("payload"))},
		},
	}
	for _, tt := range tests {
		got := decodeOK(t, V2, tt.frame, true)
		if !equalMessage(got, tt.want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, fmtMessage(got), fmtMessage(tt.want))
		}
	}
}

func TestV2BinaryDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"empty", nil, "empty binary frame"},
		{"kind 1", frameHex(t, vectorReply), "binary kind 1"},
		{"kind 2", frameHex(t, vectorBroadcast), "binary kind 2"},
		{"kind 3", []byte{3, 0, 0, 0, 0}, "unknown binary kind 3"},
		{"kind 255", []byte{255}, "unknown binary kind 255"},
		{"invalid UTF-8 join_ref", []byte{0, 1, 0, 0, 0, 0xff}, "join_ref is not valid UTF-8"},
		{"invalid UTF-8 ref", []byte{0, 0, 1, 0, 0, 0xc3}, "ref is not valid UTF-8"},
		{"invalid UTF-8 topic", []byte{0, 0, 0, 1, 0, 0x80}, "topic is not valid UTF-8"},
		{"invalid UTF-8 event", []byte{0, 0, 0, 0, 3, 0xed, 0xa0, 0x80}, "event is not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := V2.Decode(tt.frame, true)
		checkDecodeError(t, tt.name, err, tt.reason)
	}

	// Every truncation of a valid frame is refused, except those that only
	// shorten the payload.
	frame := frameHex(t, vectorClientPush)
	payloadAt := len(frame) - len("efg")
	for n := range payloadAt {
		_, err := V2.Decode(frame[:n], true)
		reason := "shorter than its declared lengths"
		switch {
		case n == 0:
			reason = "empty binary frame"
		case n < 5:
			reason = "shorter than its header"
		}
		checkDecodeError(t, string(frame[:n]), err, reason)
	}
	for n := payloadAt; n <= len(frame); n++ {
		m := decodeOK(t, V2, frame[:n], true)
		if string(m.Payload.Data) != "efg"[:n-payloadAt] {
			t.Errorf("payload of a frame cut at %d = %q", n, m.Payload.Data)
		}
	}
}

// Header fields of 255 bytes fit, 256 bytes do not.
func TestV2BinaryFieldLimits(t *testing.T) {
	ok, long := strings.Repeat("x", 255), strings.Repeat("x", 256)
	okRef, longRef := StringRef(ok), StringRef(long)
	payload := Bytes([]byte{1, 2, 3})

	type encodeFunc func(dst []byte) ([]byte, bool, error)
	tests := []struct {
		field      string
		fits, over encodeFunc
	}{
		{
			"push join_ref",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{JoinRef: okRef, Topic: "t", Event: "e", Payload: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{JoinRef: longRef, Topic: "t", Event: "e", Payload: payload})
			},
		},
		{
			"push topic",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{Topic: ok, Event: "e", Payload: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{Topic: long, Event: "e", Payload: payload})
			},
		},
		{
			"push event",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{Topic: "t", Event: ok, Payload: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeMessage(dst, &Message{Topic: "t", Event: long, Payload: payload})
			},
		},
		{
			"reply join_ref",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{JoinRef: okRef, Topic: "t", Status: "ok", Response: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{JoinRef: longRef, Topic: "t", Status: "ok", Response: payload})
			},
		},
		{
			"reply ref", // a number, written as its digits
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Ref: Ref(strings.Repeat("1", 255)), Topic: "t", Status: "ok", Response: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Ref: Ref(strings.Repeat("1", 256)), Topic: "t", Status: "ok", Response: payload})
			},
		},
		{
			"reply topic",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Topic: ok, Status: "ok", Response: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Topic: long, Status: "ok", Response: payload})
			},
		},
		{
			"reply status",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Topic: "t", Status: ok, Response: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeReply(dst, &Reply{Topic: "t", Status: long, Response: payload})
			},
		},
		{
			"broadcast topic",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeBroadcast(dst, &Broadcast{Topic: ok, Event: "e", Payload: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeBroadcast(dst, &Broadcast{Topic: long, Event: "e", Payload: payload})
			},
		},
		{
			"broadcast event",
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeBroadcast(dst, &Broadcast{Topic: "t", Event: ok, Payload: payload})
			},
			func(dst []byte) ([]byte, bool, error) {
				return V2.EncodeBroadcast(dst, &Broadcast{Topic: "t", Event: long, Payload: payload})
			},
		},
	}
	for _, tt := range tests {
		if frame, binary, err := tt.fits(nil); err != nil || !binary || !bytes.Contains(frame, []byte{255}) {
			t.Errorf("%s of 255 bytes: % x, %v, %v", tt.field, frame, binary, err)
		}
		dst := []byte("keep")
		frame, _, err := tt.over(dst)
		if !errors.Is(err, ErrFieldTooLong) || string(frame) != "keep" {
			t.Errorf("%s of 256 bytes: %q, %v; want ErrFieldTooLong, dst unchanged", tt.field, frame, err)
		}
	}

	// A 255-byte topic decodes.
	frame := append([]byte{0, 0, 0, 255, 255}, ok+ok...)
	if m := decodeOK(t, V2, frame, true); m.Topic != ok || m.Event != ok {
		t.Errorf("255-byte fields decode as %s", fmtMessage(m))
	}
}

// The length of a ref in a binary frame is that of its unquoted value.
func TestV2BinaryEscapedRef(t *testing.T) {
	r := Ref(`"\u00e9\n"`)
	frame, _, err := V2.EncodeMessage(nil, &Message{JoinRef: r, Topic: "t", Event: "e", Payload: Bytes(nil)})
	want := []byte{0, 3, 1, 1, 0xc3, 0xa9, '\n', 't', 'e'}
	if err != nil || !bytes.Equal(frame, want) {
		t.Errorf("got % x, %v; want % x", frame, err, want)
	}
	// 128 two-byte characters written as \u escapes are 256 bytes.
	r = Ref(`"` + strings.Repeat(`\u00e9`, 128) + `"`)
	if _, _, err := V2.EncodeMessage(nil, &Message{JoinRef: r, Topic: "t", Event: "e", Payload: Bytes(nil)}); !errors.Is(err, ErrFieldTooLong) {
		t.Errorf("join_ref of 256 bytes once unquoted: %v, want ErrFieldTooLong", err)
	}
}
