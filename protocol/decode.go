package protocol

import (
	"bytes"
	"strings"
	"unsafe"
)

// jsonFields holds the JSON text of the values of a message, as found in a
// text frame. A nil field was absent.
type jsonFields struct {
	joinRef, ref, topic, event, payload []byte
}

// message checks the types of the fields and copies them out of the frame.
//
// A payload of up to sharedPayloadMax bytes and the text fields share one
// allocation: the payload first, its capacity ending where the text
// starts, and the fields strings over the text, which nothing can reach
// to write. A larger payload has an allocation of its own, so that a
// topic kept for a channel's life does not keep its join's payload too.
func (f *jsonFields) message() (Message, error) {
	joinRef, err := jsonRef(f.joinRef, "join_ref")
	if err != nil {
		return Message{}, err
	}
	ref, err := jsonRef(f.ref, "ref")
	if err != nil {
		return Message{}, err
	}
	topic, err := jsonString(f.topic, "topic")
	if err != nil {
		return Message{}, err
	}
	event, err := jsonString(f.event, "event")
	if err != nil {
		return Message{}, err
	}

	// Unescaping never makes a string longer, so this is enough room.
	text := len(joinRef) + len(ref) + len(topic) + len(event)
	var payload, buf []byte
	if n := len(f.payload); n > 0 && n <= sharedPayloadMax {
		buf = make([]byte, n, n+text)
		copy(buf, f.payload)
		payload, buf = buf[:n:n], buf[n:]
	} else {
		payload = bytes.Clone(f.payload)
		buf = make([]byte, 0, text)
	}
	buf = append(buf, joinRef...)
	i1 := len(buf)
	buf = append(buf, ref...)
	i2 := len(buf)
	buf = appendField(buf, topic)
	i3 := len(buf)
	buf = appendField(buf, event)
	var s string
	if len(buf) > 0 {
		// buf is never written again: the only other slice of its array
		// is the payload, whose capacity ends before it.
		s = unsafe.String(unsafe.SliceData(buf), len(buf))
	}

	return Message{
		JoinRef: Ref(s[:i1]),
		Ref:     Ref(s[i1:i2]),
		Topic:   s[i2:i3],
		Event:   s[i3:],
		Payload: Payload{Data: payload},
	}, nil
}

// appendField appends the value of the JSON string whose text between the
// quotes is body: most topics and events have no escape, and are found
// so by a search much quicker than unquoting's walk.
func appendField(dst, body []byte) []byte {
	if bytes.IndexByte(body, '\\') < 0 {
		return append(dst, body...)
	}
	return appendUnquoted(dst, body)
}

// sharedPayloadMax is the largest payload decoded into the same
// allocation as its message's text fields.
const sharedPayloadMax = 512

// jsonRef returns the text of the valid JSON value v if it is a ref: a
// string or a number. It returns nil for null.
func jsonRef(v []byte, name string) ([]byte, error) {
	switch {
	case v == nil || string(v) == "null":
		return nil, nil
	case v[0] == '"' || v[0] == '-' || isDigit(v[0]):
		return v, nil
	}
	return nil, malformed(name + " is not a string, number or null")
}

// jsonString returns the text between the quotes of the valid JSON value v
// if it is a string.
func jsonString(v []byte, name string) ([]byte, error) {
	if len(v) == 0 || v[0] != '"' {
		return nil, malformed(name + " is not a string")
	}
	return v[1 : len(v)-1], nil
}

// writeQuoted writes s to b as a JSON string. s must be valid UTF-8.
func writeQuoted(b *strings.Builder, s []byte) {
	if needsQuoting(s) {
		var buf [64]byte
		b.Write(appendQuoted(buf[:0], s))
		return
	}
	b.WriteByte('"')
	b.Write(s)
	b.WriteByte('"')
}
