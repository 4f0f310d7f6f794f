package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/phxgo/phx/presence"
)

func encodeFrame(f *frame) []byte {
	e := &encoder{}
	e.header(f.header)
	switch f.kind {
	case kindHeartbeat:
		e.heartbeat(&f.hb)
	case kindBroadcast:
		e.broadcast(&f.bc)
	case kindDelta:
		e.delta(&f.delta)
	case kindState:
		e.state(&f.state)
	}
	return e.b
}

func sampleFrames() []*frame {
	h := func(kind byte) header { return header{kind: kind, node: "n1", inc: 1 << 62, seq: 300} }
	changes := []presence.Change{
		{Topic: "room:1", Key: "ann", Ref: "F_Zk2y9xLh4BAAEB", Meta: json.RawMessage(`{"phx_ref":"F_Zk2y9xLh4BAAEB"}`)},
		{Topic: "room:1", Key: "bob", LeftRef: "F_Zk3GVu8tIBAAEC"},
	}
	return []*frame{
		{header: h(kindHeartbeat), hb: heartbeat{addr: "127.0.0.1:7001", to: "127.0.0.1:7002", version: 9, peers: []peerAddr{{"n2", "127.0.0.1:7002"}}}},
		{header: h(kindBroadcast), bc: broadcastFrame{topic: "room:1", event: "new_msg", payload: []byte(`{"body":"hi"}`)}},
		{header: h(kindBroadcast), bc: broadcastFrame{topic: "room:1", event: "bin", binary: true, payload: []byte{0, 1, 2}}},
		{header: h(kindDelta), delta: delta{from: 3, to: 4, changes: changes}},
		{header: h(kindState), state: stateChunk{version: 4, index: 1, last: true, entries: changes[:1]}},
		{header: h(kindStateRequest)},
		{header: h(kindGoodbye)},
		{header: h(kindGoodbyeAck)},
	}
}

func TestFramesRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		got, err := decodeFrame(encodeFrame(f))
		if err != nil {
			t.Fatalf("kind %d: %v", f.kind, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("kind %d:\n got  %+v\n want %+v", f.kind, got, f)
		}
	}
}

func TestSealedFrames(t *testing.T) {
	key := []byte("secret")
	b := seal(key, encodeFrame(sampleFrames()[1]))
	if _, ok := unseal(key, b); !ok {
		t.Fatal("a sealed frame does not open")
	}
	if _, ok := unseal([]byte("other"), b); ok {
		t.Error("a frame opens with another key")
	}
	b[3] ^= 1
	if _, ok := unseal(key, b); ok {
		t.Error("a changed frame opens")
	}
	if _, ok := unseal(key, b[:10]); ok {
		t.Error("a frame shorter than its MAC opens")
	}
}

func TestMalformedFrames(t *testing.T) {
	hb := encodeFrame(sampleFrames()[0])
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortFrame},
		{"version", append([]byte{2}, hb[1:]...), errFrameVersion},
		{"kind", append([]byte{1, 99}, hb[2:]...), errFrameKind},
		{"cut", hb[:len(hb)-3], errShortFrame},
		{"trailing", append(bytes.Clone(hb), 0), errTrailing},
		// A count of a billion peers in a frame of a few bytes.
		{"count", []byte{1, kindHeartbeat, 0, 0, 0, 0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, errShortFrame},
	} {
		if _, err := decodeFrame(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzDecodeFrame: no input makes the decoder panic or allocate past its
// input, and what decodes encodes back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(encodeFrame(fr))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		if again := encodeFrame(fr); !bytes.Equal(again, b) {
			// Uvarints have one shortest form; a longer one decodes but
			// encodes shorter, so compare what the two decode to.
			fr2, err := decodeFrame(again)
			if err != nil || !reflect.DeepEqual(fr, fr2) {
				t.Fatalf("%x decodes to %+v, which encodes to %x", b, fr, again)
			}
		}
	})
}
