package protocol

import "errors"

// A Payload is the body of a message: JSON text, or raw bytes carried in a
// binary frame.
//
// A JSON payload is not validated when it is encoded: it is copied into the
// frame as is, so it must hold exactly one valid JSON value. An empty JSON
// payload (nil or zero-length Data) encodes as {}, the payload Phoenix uses
// when there is nothing to say.
type Payload struct {
	// Data is JSON text when Binary is false, and the raw bytes otherwise.
	Data []byte

	// Binary reports whether Data is raw bytes. Binary payloads travel in
	// binary frames, which only the V2 serializer supports.
	Binary bool
}

// EmptyObject is the payload {}.
var EmptyObject = Payload{Data: []byte("{}")}

// JSON returns a payload holding the JSON text raw. It does not copy raw.
func JSON(raw []byte) Payload {
	return Payload{Data: raw}
}

// Bytes returns a binary payload holding b. It does not copy b.
func Bytes(b []byte) Payload {
	return Payload{Data: b, Binary: true}
}

// IsObject reports whether p is JSON text that starts with '{', ignoring
// leading whitespace. It does not validate the rest of the text.
func (p Payload) IsObject() bool {
	if p.Binary {
		return false
	}
	for _, c := range p.Data {
		if !isSpace(c) {
			return c == '{'
		}
	}
	return false
}

// isEmpty reports whether p is a JSON payload without text, which encodes
// as {}.
func (p Payload) isEmpty() bool {
	return !p.Binary && len(p.Data) == 0
}

// pushable reports whether V2 may send p as the payload of a push or a
// broadcast: Phoenix only allows JSON objects and binaries there.
func (p Payload) pushable() bool {
	return p.Binary || p.isEmpty() || p.IsObject()
}

// ErrBinaryJSON is returned by MarshalJSON for a binary payload, which
// has no JSON form.
var ErrBinaryJSON = errors.New("protocol: a binary payload has no JSON form")

// MarshalJSON returns a JSON payload's text as it is, so that a payload
// can be nested in a value encoded with encoding/json; an empty one is
// {}, as in a frame. A binary payload is an error.
func (p Payload) MarshalJSON() ([]byte, error) {
	if p.Binary {
		return nil, ErrBinaryJSON
	}
	if len(p.Data) == 0 {
		return []byte("{}"), nil
	}
	return p.Data, nil
}
