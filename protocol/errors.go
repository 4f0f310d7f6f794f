package protocol

import "errors"

// Errors returned by the serializers and by [Negotiate].
var (
	// ErrMalformed is wrapped by every error that Decode returns for a frame
	// that is not a well-formed message. Phoenix closes the connection on such
	// frames; callers are expected to do the same.
	ErrMalformed = errors.New("protocol: malformed message")

	// ErrBinaryUnsupported is returned when a binary frame reaches the V1
	// serializer, or when V1 is asked to encode a binary payload.
	ErrBinaryUnsupported = errors.New("protocol: serializer does not support binary payloads")

	// ErrFieldTooLong is wrapped by the error returned when a join_ref, ref,
	// topic, event or status does not fit in the one-byte length of a V2
	// binary frame header.
	ErrFieldTooLong = errors.New("protocol: field longer than 255 bytes")

	// ErrPayloadNotObject is returned when V2 is asked to encode a push or a
	// broadcast whose JSON payload is not an object. Phoenix raises in the
	// same case; replies are exempt.
	ErrPayloadNotObject = errors.New("protocol: push and broadcast payloads must be JSON objects or binary")

	// ErrUnsupportedVersion is wrapped by the error [Negotiate] returns for a
	// vsn that no serializer accepts.
	ErrUnsupportedVersion = errors.New("protocol: unsupported serializer version")

	// ErrInvalidRef is returned when a message to encode holds a [Ref] whose
	// text is neither a JSON string nor a JSON number. Refs obtained from
	// Decode or [StringRef] are always valid.
	ErrInvalidRef = errors.New("protocol: ref is not a JSON string or number")
)

// A DecodeError describes why a frame could not be decoded.
// It wraps [ErrMalformed].
type DecodeError struct {
	// Reason is a short human-readable description of the problem,
	// such as "topic is not a string".
	Reason string
}

// Error returns the reason prefixed with the text of [ErrMalformed].
func (e *DecodeError) Error() string {
	return "protocol: malformed message: " + e.Reason
}

// Unwrap returns [ErrMalformed], so that errors.Is(err, ErrMalformed) holds
// for every decoding failure.
func (e *DecodeError) Unwrap() error {
	return ErrMalformed
}

// malformed returns a *DecodeError with the given reason.
func malformed(reason string) error {
	return &DecodeError{Reason: reason}
}
