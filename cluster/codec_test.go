package cluster

import (
	"bytes"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func batchMessage(b *remote.MessageBatch) *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}
}

// frameBatch is a batch as remote's writer makes it for n frames to a
// relay.
func frameBatch(n int, size int) *remote.RemoteMessage {
	b := &remote.MessageBatch{
		TypeNames: []string{bytesValueName},
		Targets:   []*actor.PID{{Address: "10.0.0.2:4370", Id: relayName}},
	}
	for i := range n {
		data, _ := proto.Marshal(&wrapperspb.BytesValue{Value: bytes.Repeat([]byte{byte(i)}, size)})
		b.Envelopes = append(b.Envelopes, &remote.MessageEnvelope{MessageData: data})
	}
	return batchMessage(b)
}

// codecCases are messages the codec writes itself, then messages it
// leaves to the proto codec.
func codecCases() (own, others []*remote.RemoteMessage) {
	own = []*remote.RemoteMessage{
		frameBatch(1, 200),
		frameBatch(32, 1000),
		frameBatch(1, 0),
		batchMessage(&remote.MessageBatch{}),
		batchMessage(&remote.MessageBatch{
			TypeNames: []string{"a.B", "", "héllo.Wörld"},
			Targets:   []*actor.PID{{Address: "x", Id: "y", RequestId: 7}, {}, {Id: "$1"}},
			Senders:   []*actor.PID{{Address: "s", Id: "t", RequestId: 1 << 31}},
			Envelopes: []*remote.MessageEnvelope{
				{TypeId: 2, MessageData: []byte{1, 2, 3}, Target: 1, Sender: 1, SerializerId: 1, TargetRequestId: 9, SenderRequestId: 1<<32 - 1},
				{TypeId: -1, Target: -2147483648, Sender: 2147483647, SerializerId: -5},
				{},
			},
		}),
	}
	unknown := frameBatch(1, 10)
	unknown.GetMessageBatch().Targets[0].ProtoReflect().SetUnknown([]byte{0x28, 0x01}) // field 5, varint 1
	others = []*remote.RemoteMessage{
		{},
		{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
			ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "id", Address: "a:1"}},
		}}},
		{MessageType: &remote.RemoteMessage_ConnectResponse{ConnectResponse: &remote.ConnectResponse{MemberId: "m", Blocked: true}}},
		{MessageType: &remote.RemoteMessage_DisconnectRequest{DisconnectRequest: &remote.DisconnectRequest{}}},
		batchMessage(&remote.MessageBatch{
			TypeNames: []string{"a.B"},
			Targets:   []*actor.PID{{Address: "x", Id: "y"}},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{1}, MessageHeader: &remote.MessageHeader{HeaderData: map[string]string{"k": "v"}}}},
		}),
		unknown,
	}
	return own, others
}

func marshal(t testing.TB, c encoding.CodecV2, m any) []byte {
	t.Helper()
	out, err := c.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Free()
	return out.Materialize()
}

// TestBatchCodecWritesWhatProtoWrites: a node with the codec and one
// without read each other, and the codec is only faster.
func TestBatchCodecWritesWhatProtoWrites(t *testing.T) {
	c := newBatchCodec()
	own, others := codecCases()
	for i, m := range append(own, others...) {
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := marshal(t, c, m); !bytes.Equal(got, want) {
			t.Errorf("case %d: wrote\n%x\nwant (proto.Marshal)\n%x", i, got, want)
		}
		var back remote.RemoteMessage
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(want)}, &back); err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if !proto.Equal(&back, m) {
			t.Errorf("case %d: read %v, want %v", i, &back, m)
		}
	}
	// Messages that are not remote's are the proto codec's.
	bv := &wrapperspb.BytesValue{Value: []byte("x")}
	var back wrapperspb.BytesValue
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshal(t, c, bv))}, &back); err != nil || !proto.Equal(&back, bv) {
		t.Errorf("BytesValue: %v, %v", &back, err)
	}
}

// TestBatchCodecRefusesWhatProtoRefuses: bytes that are no RemoteMessage
// fail as they fail with proto.Unmarshal, and none is taken for a batch.
func TestBatchCodecRefusesWhatProtoRefuses(t *testing.T) {
	c := newBatchCodec()
	good, _ := proto.Marshal(frameBatch(2, 20))
	bad := [][]byte{
		good[:len(good)-1],
		good[:3],
		{0x0a, 0x05, 0x0a, 0x03, 0xff, 0xfe, 0xfd}, // a type name that is not UTF-8
		{0x0a, 0x02, 0x12, 0x10},                   // a target longer than its batch
		{0x0a},
	}
	for i, b := range bad {
		var m remote.RemoteMessage
		if proto.Unmarshal(b, &m) == nil {
			t.Fatalf("case %d: proto takes it", i)
		}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &m); err == nil {
			t.Errorf("case %d: read %v", i, &m)
		}
	}
}

func FuzzBatchCodec(f *testing.F) {
	own, others := codecCases()
	for _, m := range append(own, others...) {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	c := newBatchCodec()
	f.Fuzz(func(t *testing.T, b []byte) {
		var want, got remote.RemoteMessage
		wantErr := proto.Unmarshal(b, &want)
		err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(append([]byte(nil), b...))}, &got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("codec: %v, proto: %v", err, wantErr)
		}
		if err == nil && !proto.Equal(&got, &want) {
			t.Fatalf("codec read %v, proto %v", &got, &want)
		}
	})
}

func TestIsBytesValue(t *testing.T) {
	for _, v := range [][]byte{nil, {}, []byte("frame"), bytes.Repeat([]byte{7}, 300)} {
		b, _ := proto.Marshal(&wrapperspb.BytesValue{Value: v})
		if !isBytesValue(b) {
			t.Errorf("%x: not taken", b)
		}
	}
	for _, b := range [][]byte{
		{0xff, 0xff, 0xff},
		{0x0a, 0x05, 'a'},       // shorter than it says
		{0x08, 0x01},            // field 1 as a number
		{0x12, 0x01, 'a'},       // field 2
		{0x0a, 0x01, 'a', 0x10}, // a tag with no value after the field
	} {
		if isBytesValue(b) {
			t.Errorf("%x: taken", b)
		}
	}
}

// BenchmarkBatchCodec writes and reads a batch of one frame as remote
// sends it, with the codec and with gRPC's proto codec.
func BenchmarkBatchCodec(b *testing.B) {
	m := frameBatch(1, 150)
	for _, bc := range []struct {
		name string
		c    encoding.CodecV2
	}{{"batch", newBatchCodec()}, {"proto", encoding.GetCodecV2("proto")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := bc.c.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				var back remote.RemoteMessage
				if err := bc.c.Unmarshal(out, &back); err != nil {
					b.Fatal(err)
				}
				out.Free()
			}
		})
	}
}
