package protocol

import "fmt"

// v1 is the "1.0.0" serializer. Frames hold a JSON object
// {"topic":…,"event":…,"payload":…,"ref":…}; clients may add "join_ref",
// but the server never sends it. V1 has no binary frames.
type v1 struct{}

// Version returns "1.0.0".
func (v1) Version() string { return "1.0.0" }

// Decode decodes a text frame as a JSON object; it refuses binary frames.
func (v1) Decode(frame []byte, binary bool) (Message, error) {
	if binary {
		return Message{}, ErrBinaryUnsupported
	}
	return decodeV1(frame)
}

// v1Keys are the keys a V1 object must hold.
var v1Keys = [...]string{"topic", "event", "payload", "ref"}

// decodeV1 decodes a text frame: a JSON object with the keys topic, event,
// payload and ref, and optionally join_ref. Other keys are ignored. When a
// key is repeated the last value wins.
func decodeV1(frame []byte) (Message, error) {
	s := scanner{data: frame}
	if s.peek() != '{' {
		return Message{}, malformed("frame is not a JSON object")
	}
	s.pos++
	var f jsonFields
	var seen [len(v1Keys)]bool
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			key, escaped, err := s.key()
			if err != nil {
				return Message{}, err
			}
			if escaped {
				var buf [16]byte
				key = appendUnquoted(buf[:0], key)
			}
			v, err := s.rawValue(1)
			if err != nil {
				return Message{}, err
			}
			switch string(key) {
			case "topic":
				f.topic, seen[0] = v, true
			case "event":
				f.event, seen[1] = v, true
			case "payload":
				f.payload, seen[2] = v, true
			case "ref":
				f.ref, seen[3] = v, true
			case "join_ref":
				f.joinRef = v
			}
			c := s.peek()
			if c == ',' {
				s.pos++
				continue
			}
			if c != '}' {
				return Message{}, s.unexpected("after object value")
			}
			s.pos++
			break
		}
	}
	if err := s.end(); err != nil {
		return Message{}, err
	}
	for i, ok := range seen {
		if !ok {
			return Message{}, malformed(fmt.Sprintf("missing key %q", v1Keys[i]))
		}
	}
	return f.message()
}

// EncodeMessage appends {"topic":…,"event":…,"payload":…,"ref":…}.
// Unlike V2, it accepts any JSON payload, as Phoenix does.
func (v1) EncodeMessage(dst []byte, m *Message) ([]byte, bool, error) {
	if m.Payload.Binary {
		return dst, false, ErrBinaryUnsupported
	}
	if !m.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	dst = reserve(dst, len(m.Topic)+len(m.Event)+len(m.Payload.Data)+len(m.Ref))
	dst = appendV1Head(dst, m.Topic, m.Event)
	dst = appendPayload(dst, m.Payload)
	return appendV1Tail(dst, m.Ref), false, nil
}

// EncodeReply appends a message whose event is "phx_reply" and whose
// payload is {"status":status,"response":response}.
func (v1) EncodeReply(dst []byte, r *Reply) ([]byte, bool, error) {
	if r.Response.Binary {
		return dst, false, ErrBinaryUnsupported
	}
	if !r.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	dst = reserve(dst, len(r.Topic)+len(EventReply)+replyOverhead+len(r.Status)+len(r.Response.Data)+len(r.Ref))
	dst = appendV1Head(dst, r.Topic, EventReply)
	dst = appendReplyPayload(dst, r.Status, r.Response)
	return appendV1Tail(dst, r.Ref), false, nil
}

// EncodeBroadcast appends a message whose ref is the broadcast's, null
// unless it has a position.
func (v1) EncodeBroadcast(dst []byte, b *Broadcast) ([]byte, bool, error) {
	if b.Payload.Binary {
		return dst, false, ErrBinaryUnsupported
	}
	if !b.Ref.valid() {
		return dst, false, ErrInvalidRef
	}
	dst = reserve(dst, len(b.Topic)+len(b.Event)+len(b.Payload.Data)+len(b.Ref))
	dst = appendV1Head(dst, b.Topic, b.Event)
	dst = appendPayload(dst, b.Payload)
	return appendV1Tail(dst, b.Ref), false, nil
}

// appendV1Head appends a V1 object up to its payload:
// {"topic":"topic","event":"event","payload":
func appendV1Head(dst []byte, topic, event string) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendQuoted(dst, topic)
	dst = append(dst, `,"event":`...)
	dst = appendQuoted(dst, event)
	return append(dst, `,"payload":`...)
}

// appendV1Tail appends the end of a V1 object after its payload:
// ,"ref":ref}
func appendV1Tail(dst []byte, ref Ref) []byte {
	dst = append(dst, `,"ref":`...)
	dst = ref.appendJSON(dst)
	return append(dst, '}')
}
