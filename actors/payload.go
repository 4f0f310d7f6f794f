package actors

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/phxgo/phx/protocol"
)

// Payload is the body of a message: JSON text, or raw bytes when the client
// sent a binary frame.
type Payload = protocol.Payload

// Binary is a payload sent as raw bytes (a binary frame) rather than JSON.
type Binary []byte

// ErrBinaryPayload is returned by Decode for a binary payload.
var ErrBinaryPayload = errors.New("actors: payload is binary, not JSON")

// Decode unmarshals a JSON payload into v.
func Decode(p Payload, v any) error {
	if p.Binary {
		return ErrBinaryPayload
	}
	return json.Unmarshal(p.Data, v)
}

// toPayload turns what an application hands to Push, Broadcast or a reply
// into a Payload: a Payload or json.RawMessage as it is, Binary as bytes,
// nil as {}, anything else through encoding/json.
func toPayload(v any) (Payload, error) {
	switch p := v.(type) {
	case nil:
		return protocol.EmptyObject, nil
	case Payload:
		return p, nil
	case *Payload:
		return *p, nil
	case Binary:
		return protocol.Bytes(p), nil
	case json.RawMessage:
		if !json.Valid(p) {
			return Payload{}, fmt.Errorf("actors: invalid JSON payload")
		}
		return protocol.JSON(p), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Payload{}, fmt.Errorf("actors: encoding payload: %w", err)
	}
	return protocol.JSON(b), nil
}

// Validator is a payload type that checks itself once decoded:
// WithPayload replies {"reason": <the error's text>} when Validate fails.
type Validator interface {
	Validate() error
}

// invalidPayload is the response WithPayload replies with, status error,
// when a payload does not decode into the type its handler declares.
var invalidPayload = protocol.JSON([]byte(`{"reason":"invalid payload"}`))

// WithPayload decodes p into a T and hands it to handle, so that an event
// declares the shape of its payload rather than decoding it by hand:
//
//	case "new_msg":
//		return actors.WithPayload(p, func(m NewMessage) actors.Reply {
//			return r.post(m.Body, s)
//		})
//
// A payload that does not decode into T (not JSON, or JSON of other
// types than T's fields) is answered error {"reason":"invalid payload"},
// without calling handle. Fields of T the payload lacks keep their zero
// value and keys T lacks are ignored, as encoding/json does; when T (or
// *T) is a Validator, its Validate decides the rest, and an error is
// answered {"reason": err.Error()}. A T of Payload takes the payload as
// it is, and a T of Binary or []byte takes a binary one's bytes.
func WithPayload[T any](p Payload, handle func(T) Reply) Reply {
	var v T
	switch t := any(&v).(type) {
	case *Payload:
		*t = p
	case *Binary:
		if !p.Binary {
			return ReplyError(invalidPayload)
		}
		*t = Binary(p.Data)
	case *[]byte:
		if !p.Binary {
			return ReplyError(invalidPayload)
		}
		*t = p.Data
	default:
		if Decode(p, &v) != nil {
			return ReplyError(invalidPayload)
		}
	}
	var check any = v
	if _, ok := check.(Validator); !ok {
		check = &v
	}
	if val, ok := check.(Validator); ok {
		if err := val.Validate(); err != nil {
			return ReplyError(map[string]string{"reason": err.Error()})
		}
	}
	return handle(v)
}
