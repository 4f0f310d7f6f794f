package protocol

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// V2 binary frames carry one message whose payload is raw bytes. Byte 0 is
// the kind, then come one length byte per header field, the fields, and the
// payload, which runs to the end of the frame:
//
//	push, client to server:  0 jl rl tl el  join_ref ref topic event  payload
//	push, server to client:  0 jl tl el     join_ref topic event      payload
//	reply:                   1 jl rl tl sl  join_ref ref topic status payload
//	broadcast:               2 tl el        topic event               payload
//
// Refs travel as their unquoted value; an empty ref stands for null.
const (
	kindPush      = 0
	kindReply     = 1
	kindBroadcast = 2
)

// maxFieldLen is the longest header field a length byte can describe.
const maxFieldLen = 255

// decodeV2Binary decodes a binary frame from a client, which can only be a
// push.
func decodeV2Binary(frame []byte) (Message, error) {
	if len(frame) == 0 {
		return Message{}, malformed("empty binary frame")
	}
	switch kind := frame[0]; kind {
	case kindPush:
	case kindReply, kindBroadcast:
		return Message{}, malformed(fmt.Sprintf("binary kind %d is only sent by servers", kind))
	default:
		return Message{}, malformed(fmt.Sprintf("unknown binary kind %d", kind))
	}
	const headerLen = 5
	if len(frame) < headerLen {
		return Message{}, malformed("binary frame shorter than its header")
	}
	var fields [4][]byte // join_ref, ref, topic, event
	rest := frame[headerLen:]
	for i := range fields {
		n := int(frame[1+i])
		if len(rest) < n {
			return Message{}, malformed("binary frame shorter than its declared lengths")
		}
		fields[i], rest = rest[:n], rest[n:]
	}
	for i, name := range [...]string{"join_ref", "ref", "topic", "event"} {
		if !utf8.Valid(fields[i]) {
			return Message{}, malformed(name + " is not valid UTF-8")
		}
	}

	// As in decodeV2JSON, the text fields share one allocation. Refs are
	// stored as JSON strings, so that they are echoed as strings in text
	// frames.
	var b strings.Builder
	b.Grow(len(fields[0]) + len(fields[1]) + len(fields[2]) + len(fields[3]) + 4)
	if len(fields[0]) > 0 {
		writeQuoted(&b, fields[0])
	}
	i1 := b.Len()
	if len(fields[1]) > 0 {
		writeQuoted(&b, fields[1])
	}
	i2 := b.Len()
	b.Write(fields[2])
	i3 := b.Len()
	b.Write(fields[3])
	s := b.String()

	return Message{
		JoinRef: Ref(s[:i1]),
		Ref:     Ref(s[i1:i2]),
		Topic:   s[i2:i3],
		Event:   s[i3:],
		Payload: Payload{Data: bytes.Clone(rest), Binary: true},
	}, nil
}

// appendBinaryPush appends a server-to-client push frame. It has no ref:
// pushes from the server never answer anything.
func appendBinaryPush(dst []byte, m *Message) ([]byte, bool, error) {
	if err := checkLen("topic", m.Topic); err != nil {
		return dst, false, err
	}
	if err := checkLen("event", m.Event); err != nil {
		return dst, false, err
	}
	start := len(dst)
	frame := append(dst, kindPush, 0, byte(len(m.Topic)), byte(len(m.Event)))
	frame, err := appendRefField(frame, start+1, "join_ref", m.JoinRef)
	if err != nil {
		return dst, false, err
	}
	frame = append(frame, m.Topic...)
	frame = append(frame, m.Event...)
	return append(frame, m.Payload.Data...), true, nil
}

// appendBinaryReply appends a reply frame.
func appendBinaryReply(dst []byte, r *Reply) ([]byte, bool, error) {
	if err := checkLen("topic", r.Topic); err != nil {
		return dst, false, err
	}
	if err := checkLen("status", r.Status); err != nil {
		return dst, false, err
	}
	start := len(dst)
	frame := append(dst, kindReply, 0, 0, byte(len(r.Topic)), byte(len(r.Status)))
	frame, err := appendRefField(frame, start+1, "join_ref", r.JoinRef)
	if err != nil {
		return dst, false, err
	}
	frame, err = appendRefField(frame, start+2, "ref", r.Ref)
	if err != nil {
		return dst, false, err
	}
	frame = append(frame, r.Topic...)
	frame = append(frame, r.Status...)
	return append(frame, r.Response.Data...), true, nil
}

// appendBinaryBroadcast appends a broadcast frame.
func appendBinaryBroadcast(dst []byte, b *Broadcast) ([]byte, bool, error) {
	if err := checkLen("topic", b.Topic); err != nil {
		return dst, false, err
	}
	if err := checkLen("event", b.Event); err != nil {
		return dst, false, err
	}
	frame := append(dst, kindBroadcast, byte(len(b.Topic)), byte(len(b.Event)))
	frame = append(frame, b.Topic...)
	frame = append(frame, b.Event...)
	return append(frame, b.Payload.Data...), true, nil
}

// appendRefField appends the value of r to a frame and stores its length at
// frame[lenAt]. The length of an unquoted ref is only known once written.
func appendRefField(frame []byte, lenAt int, name string, r Ref) ([]byte, error) {
	n := len(frame)
	frame = r.appendValue(frame)
	if l := len(frame) - n; l > maxFieldLen {
		return frame, fieldTooLong(name, l)
	}
	frame[lenAt] = byte(len(frame) - n)
	return frame, nil
}

// checkLen checks that a header field fits its length byte.
func checkLen(name, s string) error {
	if len(s) > maxFieldLen {
		return fieldTooLong(name, len(s))
	}
	return nil
}

func fieldTooLong(name string, n int) error {
	return fmt.Errorf("%w: %s is %d bytes", ErrFieldTooLong, name, n)
}
