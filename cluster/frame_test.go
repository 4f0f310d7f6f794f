package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/presence"
)

func encodeFrame(f *frame) []byte {
	e := &encoder{}
	e.header(&f.header)
	switch f.kind {
	case kindHeartbeat:
		e.heartbeat(&f.hb)
	case kindHello:
		e.hello(&f.hello)
	case kindRefuse:
		e.refusal(&f.refuse)
	case kindBroadcast:
		e.broadcast(&f.bc)
	case kindForward:
		e.forward(&f.bc)
	case kindSequenced:
		e.sequenced(&f.bc)
	case kindDelta:
		e.delta(&f.delta)
	case kindState:
		e.state(&f.state)
	}
	return e.b
}

func sampleFrames() []*frame {
	from, to := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	h := func(kind byte) header {
		return header{kind: kind, from: "n1", fromInc: from, to: "n2", toInc: to, seq: 300, flags: flagUp, ack: 299}
	}
	changes := []presence.Change{
		{Topic: "room:1", Key: "ann", Ref: "F_Zk2y9xLh4BAAEB", Meta: json.RawMessage(`{"phx_ref":"F_Zk2y9xLh4BAAEB"}`)},
		{Topic: "room:1", Key: "bob", LeftRef: "F_Zk3GVu8tIBAAEC"},
	}
	return []*frame{
		{header: h(kindHeartbeat), hb: heartbeat{addr: "127.0.0.1:7001", via: "10.0.0.9:7000", version: 9, peers: []peerAddr{{"n2", "127.0.0.1:7002"}}}},
		{header: header{kind: kindHello, from: "n1", fromInc: from}, hello: hello{addr: "127.0.0.1:7001", to: "10.0.0.9:7000"}},
		{header: h(kindRefuse), refuse: refusal{reason: refuseNameInUse, detail: "10.0.0.2:7000"}},
		{header: h(kindBroadcast), bc: broadcastFrame{topic: "room:1", event: "new_msg", payload: []byte(`{"body":"hi"}`)}},
		{header: h(kindBroadcast), bc: broadcastFrame{topic: "room:1", event: "bin", binary: true, payload: []byte{0, 1, 2}}},
		{header: h(kindForward), bc: broadcastFrame{topic: "room:1", event: "new_msg", payload: []byte(`{"body":"hi"}`), from: "$12"}},
		{header: h(kindSequenced), bc: broadcastFrame{topic: "room:1", event: "new_msg", payload: []byte(`{"body":"hi"}`),
			origin: "n3", from: "$12", at: seam.Position{Epoch: to, Seq: 1}, prev: seam.Position{Epoch: from, Seq: 1 << 40}}},
		{header: h(kindDelta), delta: delta{from: 3, to: 4, changes: changes}},
		{header: h(kindState), state: stateChunk{version: 4, index: 1, last: true, entries: changes[:1]}},
		{header: h(kindStateRequest)},
		{header: h(kindGoodbye)},
		{header: h(kindGoodbyeAck)},
		{header: h(kindAck)},
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

func TestMalformedFrames(t *testing.T) {
	hb := encodeFrame(sampleFrames()[0])
	empty := encodeFrame(&frame{header: header{kind: kindHeartbeat}}) // its last byte: no peers
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortFrame},
		{"version", append([]byte{1}, hb[1:]...), errFrameVersion},
		{"kind", append([]byte{frameVersion, 99}, hb[2:]...), errFrameKind},
		{"cut", hb[:len(hb)-3], errShortFrame},
		{"trailing", append(bytes.Clone(hb), 0), errTrailing},
		// A count of a billion peers in a frame of a few bytes.
		{"count", append(bytes.Clone(empty[:len(empty)-1]), 0x80, 0x94, 0xeb, 0xdc, 0x03), errShortFrame},
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
