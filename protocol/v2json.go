package protocol

import (
	"fmt"
	"slices"
)

// v2 is the "2.0.0" serializer. Text frames hold the JSON array
// [join_ref, ref, topic, event, payload]; binary frames are described in
// v2binary.go.
type v2 struct{}

// Version returns "2.0.0".
func (v2) Version() string { return "2.0.0" }

// Decode decodes a text frame as a JSON array, and a binary frame as a
// kind 0 push.
func (v2) Decode(frame []byte, binary bool) (Message, error) {
	if binary {
		return decodeV2Binary(frame)
	}
	return decodeV2JSON(frame)
}

// decodeV2JSON decodes a text frame: a JSON array of at least five
// elements. Elements past the fifth are ignored, as Phoenix does, but the
// whole frame must be valid JSON.
func decodeV2JSON(frame []byte) (Message, error) {
	s := scanner{data: frame}
	if s.peek() != '[' {
		return Message{}, malformed("frame is not a JSON array")
	}
	s.pos++
	var f jsonFields
	n := 0 // number of elements read
	if s.peek() == ']' {
		s.pos++
	} else {
		for {
			v, err := s.rawValue(1)
			if err != nil {
				return Message{}, err
			}
			switch n {
			case 0:
				f.joinRef = v
			case 1:
				f.ref = v
			case 2:
				f.topic = v
			case 3:
				f.event = v
			case 4:
				f.payload = v
			}
			n++
			c := s.peek()
			if c == ',' {
				s.pos++
				continue
			}
			if c != ']' {
				return Message{}, s.unexpected("after array element")
			}
			s.pos++
			break
		}
	}
	if err := s.end(); err != nil {
		return Message{}, err
	}
	if n < 5 {
		return Message{}, malformed(fmt.Sprintf("array has %d elements, want at least 5", n))
	}
	return f.message()
}

// EncodeMessage appends [join_ref,ref,topic,event,payload], or a kind 0
// binary frame for a binary payload. A JSON payload must be an object.
func (v2) EncodeMessage(dst []byte, m *Message) ([]byte, bool, error) {
	if !m.JoinRef.valid() || !m.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	if m.Payload.Binary {
		return appendBinaryPush(dst, m)
	}
	if !m.Payload.pushable() {
		return dst, false, ErrPayloadNotObject
	}
	dst = reserve(dst, len(m.JoinRef)+len(m.Ref)+len(m.Topic)+len(m.Event)+len(m.Payload.Data))
	dst = appendV2Head(dst, m.JoinRef, m.Ref, m.Topic, m.Event)
	dst = appendPayload(dst, m.Payload)
	return append(dst, ']'), false, nil
}

// EncodeReply appends
// [join_ref,ref,topic,"phx_reply",{"status":status,"response":response}],
// or a kind 1 binary frame for a binary response.
func (v2) EncodeReply(dst []byte, r *Reply) ([]byte, bool, error) {
	if !r.JoinRef.valid() || !r.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	if r.Response.Binary {
		return appendBinaryReply(dst, r)
	}
	dst = reserve(dst, len(r.JoinRef)+len(r.Ref)+len(r.Topic)+len(EventReply)+replyOverhead+len(r.Status)+len(r.Response.Data))
	dst = appendV2Head(dst, r.JoinRef, r.Ref, r.Topic, EventReply)
	dst = appendReplyPayload(dst, r.Status, r.Response)
	return append(dst, ']'), false, nil
}

// EncodeBroadcast appends [null,ref,topic,event,payload], or a kind 2
// binary frame for a binary payload. A JSON payload must be an object.
func (v2) EncodeBroadcast(dst []byte, b *Broadcast) ([]byte, bool, error) {
	if b.Payload.Binary {
		return appendBinaryBroadcast(dst, b)
	}
	if !b.Payload.pushable() {
		return dst, false, ErrPayloadNotObject
	}
	if !b.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	dst = reserve(dst, len(b.Topic)+len(b.Event)+len(b.Payload.Data)+len(b.Ref))
	dst = appendV2Head(dst, "", b.Ref, b.Topic, b.Event)
	dst = appendPayload(dst, b.Payload)
	return append(dst, ']'), false, nil
}

// appendV2Head appends a V2 array up to its payload:
// [join_ref,ref,"topic","event",
func appendV2Head(dst []byte, joinRef, ref Ref, topic, event string) []byte {
	dst = append(dst, '[')
	dst = joinRef.appendJSON(dst)
	dst = append(dst, ',')
	dst = ref.appendJSON(dst)
	dst = append(dst, ',')
	dst = appendQuoted(dst, topic)
	dst = append(dst, ',')
	dst = appendQuoted(dst, event)
	return append(dst, ',')
}

// frameOverhead is what a text frame adds to the strings it carries: its
// brackets, commas, quotes and nulls, or V1's keys; replyOverhead is what
// a reply's payload adds to its status and response.
const (
	frameOverhead = 48
	replyOverhead = len(`{"status":"","response":}`)
)

// reserve makes room for a frame carrying n bytes of strings, so that it
// is encoded with one allocation rather than one per growth of dst. Only
// characters that need escaping can make it grow again.
func reserve(dst []byte, n int) []byte {
	return slices.Grow(dst, n+frameOverhead)
}

// appendPayload appends the JSON text of p, which must not be binary.
func appendPayload(dst []byte, p Payload) []byte {
	if p.isEmpty() {
		return append(dst, "{}"...)
	}
	return append(dst, p.Data...)
}

// appendReplyPayload appends the payload of a reply:
// {"status":status,"response":response}.
func appendReplyPayload(dst []byte, status string, response Payload) []byte {
	dst = append(dst, `{"status":`...)
	dst = appendQuoted(dst, status)
	dst = append(dst, `,"response":`...)
	dst = appendPayload(dst, response)
	return append(dst, '}')
}
