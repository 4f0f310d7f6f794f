package protocol

import (
	"bytes"
	"strings"
)

// jsonFields holds the JSON text of the values of a message, as found in a
// text frame. A nil field was absent.
type jsonFields struct {
	joinRef, ref, topic, event, payload []byte
}

// message checks the types of the fields and copies them out of the frame.
//
// The text fields share one allocation and the payload has its own, so
// decoding costs two allocations; only unescaping a topic or event longer
// than 64 bytes needs a third.
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
	var b strings.Builder
	b.Grow(len(joinRef) + len(ref) + len(topic) + len(event))
	b.Write(joinRef)
	i1 := b.Len()
	b.Write(ref)
	i2 := b.Len()
	writeUnquoted(&b, topic)
	i3 := b.Len()
	writeUnquoted(&b, event)
	s := b.String()

	return Message{
		JoinRef: Ref(s[:i1]),
		Ref:     Ref(s[i1:i2]),
		Topic:   s[i2:i3],
		Event:   s[i3:],
		Payload: Payload{Data: bytes.Clone(f.payload)},
	}, nil
}

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

// writeUnquoted writes the value of a JSON string to b. body is the text
// between the quotes, validated by scanString.
func writeUnquoted(b *strings.Builder, body []byte) {
	if bytes.IndexByte(body, '\\') < 0 {
		b.Write(body)
		return
	}
	var buf [64]byte
	b.Write(appendUnquoted(buf[:0], body))
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
