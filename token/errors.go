package token

import (
	"errors"
	"fmt"
)

// Errors returned by [Signer.Verify], one per error atom of
// Phoenix.Token.verify: {:error, :invalid}, {:error, :expired} and
// {:error, :missing}. Verify may return an error that wraps ErrInvalid
// with a reason ("token: invalid: signature mismatch"); test with
// errors.Is, and do not show the reason to clients.
var (
	// ErrInvalid means the token is malformed, its signature does not
	// match, its payload cannot be decoded, or it was signed in the future.
	ErrInvalid = errors.New("token: invalid")

	// ErrExpired means the token is authentic but older than its max age,
	// or the max age is zero or negative.
	ErrExpired = errors.New("token: expired")

	// ErrMissing means the token is empty, like a nil token in Phoenix.
	ErrMissing = errors.New("token: missing")
)

var (
	// ErrUnsupported is wrapped by the error [Signer.Sign] returns for data
	// that has no Erlang term: a struct, a channel, a NaN, an invalid atom,
	// a cyclic value.
	ErrUnsupported = errors.New("token: value has no Erlang term")

	// ErrShortSecret is returned by [New] for a secret_key_base shorter than
	// 20 bytes, which Phoenix.Token refuses too.
	ErrShortSecret = errors.New("token: secret_key_base shorter than 20 bytes")
)

// Reasons for ErrInvalid found before the payload is decoded. They are
// built once so that refusing a token does not allocate.
var (
	errSegments  = fmt.Errorf("%w: not three dot-separated segments", ErrInvalid)
	errHeader    = fmt.Errorf("%w: unknown algorithm header", ErrInvalid)
	errEncoding  = fmt.Errorf("%w: segment is not unpadded base64url", ErrInvalid)
	errSignature = fmt.Errorf("%w: signature mismatch", ErrInvalid)
	errShape     = fmt.Errorf("%w: payload is not {data, signed_at, max_age}", ErrInvalid)
	errSignedAt  = fmt.Errorf("%w: signed_at is not an integer", ErrInvalid)
	errFuture    = fmt.Errorf("%w: signed in the future", ErrInvalid)
	errMaxAge    = fmt.Errorf("%w: embedded max_age is not a number or :infinity", ErrInvalid)
)
