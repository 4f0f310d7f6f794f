package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// Frames of a typical chat message.
var (
	benchV2JSON = []byte(`["3","42","room:lobby","new_msg",{"body":"hello, world","user":"ann","at":1718000000,"tags":["a","b"]}]`)
	benchV1     = []byte(`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hello, world","user":"ann","at":1718000000,"tags":["a","b"]},"ref":"42","join_ref":"3"}`)
	benchBinary = append([]byte{kindPush, 1, 2, 10, 7, '3', '4', '2', 'r', 'o', 'o', 'm', ':', 'l', 'o', 'b', 'b', 'y', 'n', 'e', 'w', '_', 'm', 's', 'g'}, make([]byte, 64)...)

	benchObject = []byte(`{"body":"hello, world","user":"ann","at":1718000000,"tags":["a","b"]}`)
	benchBytes  = make([]byte, 64)
)

func benchDecode(b *testing.B, s Serializer, frame []byte, binary bool) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := s.Decode(frame, binary); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV2JSON(b *testing.B)   { benchDecode(b, V2, benchV2JSON, false) }
func BenchmarkDecodeV2Binary(b *testing.B) { benchDecode(b, V2, benchBinary, true) }
func BenchmarkDecodeV1(b *testing.B)       { benchDecode(b, V1, benchV1, false) }

// BenchmarkStdlibJSONDecodeV2 is the baseline for BenchmarkDecodeV2JSON:
// encoding/json splitting the same frame into raw elements, which does less
// than Decode (no type checks, no unescaping of topic and event).
func BenchmarkStdlibJSONDecodeV2(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchV2JSON)))
	for b.Loop() {
		var elems []json.RawMessage
		if err := json.Unmarshal(benchV2JSON, &elems); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEncode measures an encoder that appends to a reused buffer, as a
// connection's writer does; it must not allocate.
func benchEncode(b *testing.B, encode func(dst []byte) ([]byte, bool, error)) {
	b.ReportAllocs()
	buf, _, err := encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf, _, _ = encode(buf[:0])
	}
}

func BenchmarkEncodeMessageV2(b *testing.B) {
	m := &Message{JoinRef: StringRef("3"), Topic: "room:lobby", Event: "new_msg", Payload: JSON(benchObject)}
	b.Run("json", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeMessage(dst, m) })
	})
	mb := *m
	mb.Payload = Bytes(benchBytes)
	b.Run("binary", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeMessage(dst, &mb) })
	})
}

func BenchmarkEncodeReplyV2(b *testing.B) {
	r := &Reply{JoinRef: StringRef("3"), Ref: StringRef("42"), Topic: "room:lobby", Status: "ok", Response: JSON([]byte(`{"id":17}`))}
	b.Run("json", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeReply(dst, r) })
	})
	rb := *r
	rb.Response = Bytes(benchBytes)
	b.Run("binary", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeReply(dst, &rb) })
	})
}

func BenchmarkEncodeBroadcastV2(b *testing.B) {
	bc := &Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: JSON(benchObject)}
	b.Run("json", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeBroadcast(dst, bc) })
	})
	bb := *bc
	bb.Payload = Bytes(benchBytes)
	b.Run("binary", func(b *testing.B) {
		benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V2.EncodeBroadcast(dst, &bb) })
	})
}

func BenchmarkEncodeBroadcastV1(b *testing.B) {
	bc := &Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: JSON(benchObject)}
	benchEncode(b, func(dst []byte) ([]byte, bool, error) { return V1.EncodeBroadcast(dst, bc) })
}

// Encoding must not allocate once the buffer is large enough; this keeps
// the benchmarks' promise checked by go test.
func TestEncodeDoesNotAllocate(t *testing.T) {
	m := &Message{JoinRef: Ref(`"\u00e93"`), Ref: `7`, Topic: "room:\"lobby\"\u2028", Event: "new_msg\n", Payload: JSON(benchObject)}
	mb := *m
	mb.Payload = Bytes(benchBytes)
	r := &Reply{JoinRef: m.JoinRef, Ref: StringRef("42"), Topic: m.Topic, Status: "ok"}
	rb := *r
	rb.Response = Bytes(benchBytes)
	bc := &Broadcast{Topic: m.Topic, Event: m.Event, Payload: JSON(benchObject)}
	bb := *bc
	bb.Payload = Bytes(benchBytes)

	encoders := map[string]func(dst []byte) ([]byte, bool, error){
		"V2 push":             func(dst []byte) ([]byte, bool, error) { return V2.EncodeMessage(dst, m) },
		"V2 binary push":      func(dst []byte) ([]byte, bool, error) { return V2.EncodeMessage(dst, &mb) },
		"V2 reply":            func(dst []byte) ([]byte, bool, error) { return V2.EncodeReply(dst, r) },
		"V2 binary reply":     func(dst []byte) ([]byte, bool, error) { return V2.EncodeReply(dst, &rb) },
		"V2 broadcast":        func(dst []byte) ([]byte, bool, error) { return V2.EncodeBroadcast(dst, bc) },
		"V2 binary broadcast": func(dst []byte) ([]byte, bool, error) { return V2.EncodeBroadcast(dst, &bb) },
		"V1 push":             func(dst []byte) ([]byte, bool, error) { return V1.EncodeMessage(dst, m) },
		"V1 reply":            func(dst []byte) ([]byte, bool, error) { return V1.EncodeReply(dst, r) },
		"V1 broadcast":        func(dst []byte) ([]byte, bool, error) { return V1.EncodeBroadcast(dst, bc) },
	}
	for name, encode := range encoders {
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() { buf, _, _ = encode(buf[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
}

// Decoding a JSON frame allocates once when its payload is small: the
// payload and the text fields share the allocation. A larger payload, or
// a binary frame's, has one of its own.
func TestDecodeAllocations(t *testing.T) {
	large := []byte(`["3","4","room:lobby","new_msg",{"body":"` + strings.Repeat("x", sharedPayloadMax) + `"}]`)
	tests := []struct {
		name   string
		s      Serializer
		frame  []byte
		binary bool
		want   float64
	}{
		{"V2 JSON", V2, benchV2JSON, false, 1},
		{"V2 binary", V2, benchBinary, true, 2},
		{"V1", V1, benchV1, false, 1},
		{"V2 JSON escaped", V2, []byte(`["\u0033","4","room:\u006cobby","new_\"msg\"",{}]`), false, 1},
		{"V1 escaped keys", V1, []byte(`{"\u0074opic":"t","event":"e","payload":{},"ref":"1"}`), false, 1},
		{"V2 JSON large payload", V2, large, false, 2},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, func() { tt.s.Decode(tt.frame, tt.binary) }); n != tt.want {
			t.Errorf("%s: %v allocations per decode, want %v", tt.name, n, tt.want)
		}
	}
}
