package cluster

import (
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec that does the rest
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// batchCodec is gRPC's codec on the connections between nodes. Every
// frame crosses them as a remote.MessageBatch, and the protobuf library
// takes it through reflection: on a node woken for each frame, with cold
// caches, that was a tenth of what a broadcast costs to cross, more than
// the relay's own work. A batch is a handful of strings, PIDs and byte
// strings, so it is written and read here by hand, in protobuf's wire
// format, byte for byte what proto.Marshal writes; anything else (a
// connect request, a header, a field this code does not know) goes to
// gRPC's proto codec. It keeps the proto codec's name, so that the
// content type on the wire is the same and a node without it reads what
// one with it sends, and the other way round.
type batchCodec struct {
	fallback encoding.CodecV2
}

func newBatchCodec() batchCodec {
	return batchCodec{fallback: encoding.GetCodecV2("proto")}
}

func (batchCodec) Name() string { return "proto" }

func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*remote.RemoteMessage)
	if !ok || !plainMessage(m) {
		return c.fallback.Marshal(v)
	}
	b := m.GetMessageBatch()
	n := batchSize(b)
	size := protowire.SizeTag(1) + protowire.SizeBytes(n)
	if mem.IsBelowBufferPoolingThreshold(size) {
		return mem.BufferSlice{mem.SliceBuffer(appendMessage(make([]byte, 0, size), b, n))}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	*buf = appendMessage((*buf)[:0], b, n)
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*remote.RemoteMessage)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	// One allocation: the envelopes' data are slices of it, which nothing
	// writes to (remote decodes each into a message of its own).
	buf := data.Materialize()
	if b, ok := parseMessage(buf); ok {
		m.MessageType = &remote.RemoteMessage_MessageBatch{MessageBatch: b}
		return nil
	}
	return proto.Unmarshal(buf, m)
}

// plainMessage says m is a batch this codec writes: no headers, nothing
// nil, no unknown fields (remote builds each batch afresh, so none has
// any, but one that did would lose them).
func plainMessage(m *remote.RemoteMessage) bool {
	b := m.GetMessageBatch()
	if b == nil || hasUnknown(m) || hasUnknown(b) {
		return false
	}
	for _, e := range b.Envelopes {
		if e == nil || e.MessageHeader != nil || hasUnknown(e) {
			return false
		}
	}
	return plainPIDs(b.Targets) && plainPIDs(b.Senders)
}

func plainPIDs(pids []*actor.PID) bool {
	for _, p := range pids {
		if p == nil || hasUnknown(p) {
			return false
		}
	}
	return true
}

func hasUnknown(m proto.Message) bool { return len(m.ProtoReflect().GetUnknown()) != 0 }

// Field numbers of remote.proto and actor.proto.
const (
	fieldMessageBatch = 1 // RemoteMessage.message_batch

	fieldTypeNames = 1 // MessageBatch
	fieldTargets   = 2
	fieldEnvelopes = 3
	fieldSenders   = 4

	fieldTypeID          = 1 // MessageEnvelope
	fieldMessageData     = 2
	fieldTarget          = 3
	fieldSender          = 4
	fieldSerializerID    = 5
	fieldTargetRequestID = 7
	fieldSenderRequestID = 8

	fieldAddress   = 1 // PID
	fieldID        = 2
	fieldRequestID = 3
)

// Sizes of fields as proto3 writes them: a zero scalar and an empty
// string or byte string are left out; an int32 is sign-extended to 64
// bits.
func sizeInt32(num protowire.Number, v int32) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(uint64(int64(v)))
}

func sizeUint32(num protowire.Number, v uint32) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(uint64(v))
}

func sizeString(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendInt32(b []byte, num protowire.Number, v int32) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(int64(v)))
}

func appendUint32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(v))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func pidSize(p *actor.PID) int {
	return sizeString(fieldAddress, len(p.Address)) + sizeString(fieldID, len(p.Id)) + sizeUint32(fieldRequestID, p.RequestId)
}

func envelopeSize(e *remote.MessageEnvelope) int {
	return sizeInt32(fieldTypeID, e.TypeId) + sizeString(fieldMessageData, len(e.MessageData)) +
		sizeInt32(fieldTarget, e.Target) + sizeInt32(fieldSender, e.Sender) + sizeInt32(fieldSerializerID, e.SerializerId) +
		sizeUint32(fieldTargetRequestID, e.TargetRequestId) + sizeUint32(fieldSenderRequestID, e.SenderRequestId)
}

// batchSize is the size of b's fields; repeated elements are written even
// when empty.
func batchSize(b *remote.MessageBatch) int {
	n := 0
	for _, s := range b.TypeNames {
		n += protowire.SizeTag(fieldTypeNames) + protowire.SizeBytes(len(s))
	}
	for _, p := range b.Targets {
		n += protowire.SizeTag(fieldTargets) + protowire.SizeBytes(pidSize(p))
	}
	for _, e := range b.Envelopes {
		n += protowire.SizeTag(fieldEnvelopes) + protowire.SizeBytes(envelopeSize(e))
	}
	for _, p := range b.Senders {
		n += protowire.SizeTag(fieldSenders) + protowire.SizeBytes(pidSize(p))
	}
	return n
}

// appendMessage appends a RemoteMessage holding b, whose size is n.
func appendMessage(buf []byte, b *remote.MessageBatch, n int) []byte {
	buf = protowire.AppendTag(buf, fieldMessageBatch, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(n))
	for _, s := range b.TypeNames {
		buf = protowire.AppendString(protowire.AppendTag(buf, fieldTypeNames, protowire.BytesType), s)
	}
	buf = appendPIDs(buf, fieldTargets, b.Targets)
	for _, e := range b.Envelopes {
		buf = protowire.AppendTag(buf, fieldEnvelopes, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(envelopeSize(e)))
		buf = appendInt32(buf, fieldTypeID, e.TypeId)
		if len(e.MessageData) > 0 {
			buf = protowire.AppendBytes(protowire.AppendTag(buf, fieldMessageData, protowire.BytesType), e.MessageData)
		}
		buf = appendInt32(buf, fieldTarget, e.Target)
		buf = appendInt32(buf, fieldSender, e.Sender)
		buf = appendInt32(buf, fieldSerializerID, e.SerializerId)
		buf = appendUint32(buf, fieldTargetRequestID, e.TargetRequestId)
		buf = appendUint32(buf, fieldSenderRequestID, e.SenderRequestId)
	}
	return appendPIDs(buf, fieldSenders, b.Senders)
}

func appendPIDs(buf []byte, num protowire.Number, pids []*actor.PID) []byte {
	for _, p := range pids {
		buf = protowire.AppendTag(buf, num, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(pidSize(p)))
		buf = appendString(buf, fieldAddress, p.Address)
		buf = appendString(buf, fieldID, p.Id)
		buf = appendUint32(buf, fieldRequestID, p.RequestId)
	}
	return buf
}

// parseMessage reads a RemoteMessage that holds a batch and nothing this
// codec does not know; ok is false for anything else, which
// proto.Unmarshal then reads (or refuses) as it would have.
func parseMessage(buf []byte) (b *remote.MessageBatch, ok bool) {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 || num != fieldMessageBatch || typ != protowire.BytesType {
			return nil, false
		}
		buf = buf[n:]
		v, n := protowire.ConsumeBytes(buf)
		if n < 0 {
			return nil, false
		}
		buf = buf[n:]
		if b == nil {
			b = &remote.MessageBatch{}
		}
		// A field that comes twice is merged, as protobuf does.
		if !parseBatch(v, b) {
			return nil, false
		}
	}
	return b, b != nil
}

func parseBatch(buf []byte, b *remote.MessageBatch) bool {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		buf = buf[n:]
		v, n := protowire.ConsumeBytes(buf)
		if n < 0 {
			return false
		}
		buf = buf[n:]
		switch num {
		case fieldTypeNames:
			if !utf8.Valid(v) {
				return false
			}
			b.TypeNames = append(b.TypeNames, intern(v, bytesValueName))
		case fieldTargets, fieldSenders:
			p := &actor.PID{}
			if !parsePID(v, p) {
				return false
			}
			if num == fieldTargets {
				b.Targets = append(b.Targets, p)
			} else {
				b.Senders = append(b.Senders, p)
			}
		case fieldEnvelopes:
			e := &remote.MessageEnvelope{}
			if !parseEnvelope(v, e) {
				return false
			}
			b.Envelopes = append(b.Envelopes, e)
		default:
			return false
		}
	}
	return true
}

// intern returns common when b spells it, which every frame's batch
// does, without allocating.
func intern(b []byte, common string) string {
	if string(b) == common {
		return common
	}
	return string(b)
}

func parsePID(buf []byte, p *actor.PID) bool {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return false
		}
		buf = buf[n:]
		switch {
		case (num == fieldAddress || num == fieldID) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 || !utf8.Valid(v) {
				return false
			}
			buf = buf[n:]
			if num == fieldAddress {
				p.Address = string(v)
			} else {
				p.Id = intern(v, relayName)
			}
		case num == fieldRequestID && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return false
			}
			buf = buf[n:]
			p.RequestId = uint32(v)
		default:
			return false
		}
	}
	return true
}

func parseEnvelope(buf []byte, e *remote.MessageEnvelope) bool {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return false
		}
		buf = buf[n:]
		if num == fieldMessageData {
			if typ != protowire.BytesType {
				return false
			}
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return false
			}
			buf = buf[n:]
			e.MessageData = v[:len(v):len(v)]
			continue
		}
		if typ != protowire.VarintType {
			return false // a header, or a field this code does not know
		}
		v, n := protowire.ConsumeVarint(buf)
		if n < 0 {
			return false
		}
		buf = buf[n:]
		switch num {
		case fieldTypeID:
			e.TypeId = int32(v)
		case fieldTarget:
			e.Target = int32(v)
		case fieldSender:
			e.Sender = int32(v)
		case fieldSerializerID:
			e.SerializerId = int32(v)
		case fieldTargetRequestID:
			e.TargetRequestId = uint32(v)
		case fieldSenderRequestID:
			e.SenderRequestId = uint32(v)
		default:
			return false
		}
	}
	return true
}
