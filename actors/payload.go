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
