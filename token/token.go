package token

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"math"
	"math/big"
	"strings"
	"sync"
	"time"
)

// DefaultMaxAge is Phoenix's default max age, 86,400 s (one day): the one
// Sign embeds unless told otherwise, and the one Verify assumes for the
// older payloads that embed none.
const DefaultMaxAge = 86400 * time.Second

// Infinity, given to [WithMaxAge], means no max age: Sign embeds the atom
// :infinity, as Phoenix.Token.sign does for max_age: :infinity, and Verify
// skips the age check, as Phoenix.Token.verify does.
const Infinity time.Duration = math.MaxInt64

// The key derivation of Plug.Crypto with its default options
// (key_iterations, key_length, key_digest).
const (
	keyIterations = 1000
	keyLength     = 32
	minSecretLen  = 20
)

// algorithm is one of the header values MessageVerifier accepts.
type algorithm struct {
	header string // base64url of "HS256", "HS384" or "HS512"
	size   int    // MAC length in bytes
	hash   func() hash.Hash
}

// algs lists the accepted headers; Sign always uses the first one, as
// Plug.Crypto.sign does.
var algs = [...]algorithm{
	{"SFMyNTY", sha256.Size, sha256.New},
	{"SFMzODQ", sha512.Size384, sha512.New384},
	{"SFM1MTI", sha512.Size, sha512.New},
}

const hs256 = 0

// b64 is unpadded base64url. Strict decoding refuses the non-canonical
// spellings that a lenient decoder maps to the same bytes, so one
// signature has one valid spelling, as with Elixir's Base.url_decode64.
var b64 = base64.RawURLEncoding.Strict()

// Signer signs and verifies tokens for one secret_key_base and salt, like
// the pair given to Phoenix.Token.sign and Phoenix.Token.verify. The key is
// derived once, in New. A Signer is safe for concurrent use; the zero value
// is not usable.
type Signer struct {
	key []byte // the derived key; never modified after New

	// macs holds, for each entry of algs, keyed HMAC states ready for
	// reuse, so that signing and verifying do not rebuild the HMAC's inner
	// and outer pads each time. A state taken from a pool belongs to one
	// goroutine until it is put back.
	macs [len(algs)]sync.Pool
}

// New returns a Signer for tokens that Phoenix.Token signs and verifies
// with the same secret_key_base and salt and its default key options. It
// derives the key as Plug.Crypto does: PBKDF2-HMAC-SHA256 of secretKeyBase
// with the salt, 1000 iterations, 32 bytes. It returns [ErrShortSecret] if
// secretKeyBase is shorter than 20 bytes, as Phoenix.Token refuses such
// a key.
func New(secretKeyBase, salt string) (*Signer, error) {
	if len(secretKeyBase) < minSecretLen {
		return nil, ErrShortSecret
	}
	key, err := pbkdf2.Key(sha256.New, secretKeyBase, []byte(salt), keyIterations, keyLength)
	if err != nil {
		return nil, fmt.Errorf("token: deriving the key: %w", err)
	}
	return &Signer{key: key}, nil
}

// NewWithKey returns a Signer that uses key as the derived key. It serves
// Phoenix apps that change Phoenix.Token's key_iterations, key_length or
// key_digest options: derive the key with [pbkdf2.Key] and the same
// options. It returns an error if key is empty, which Plug.Crypto refuses.
func NewWithKey(key []byte) (*Signer, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("token: empty key")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Option tunes one call of [Signer.Sign] or [Signer.Verify].
type Option func(*options)

type options struct {
	now         func() time.Time // nil: time.Now
	maxAge      time.Duration
	hasMaxAge   bool
	signedAt    time.Time
	hasSignedAt bool
}

// WithClock makes Sign and Verify read the current time from now instead
// of time.Now. Tests use it to sign and verify at chosen instants.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithMaxAge sets the max age. For Sign, it is the max age embedded in the
// token (default [DefaultMaxAge]); whole seconds are embedded as an integer
// and other durations as a float, which Phoenix accepts. For Verify, it
// overrides the embedded max age, as the max_age option of
// Phoenix.Token.verify does: a max age of zero or less makes every token
// expired, and [Infinity] skips the check.
func WithMaxAge(d time.Duration) Option {
	return func(o *options) { o.maxAge, o.hasMaxAge = d, true }
}

// WithSignedAt makes Sign record t as the signing time instead of the
// current time, like the signed_at option of Phoenix.Token.sign. The time
// is kept to the millisecond. Verify ignores it.
func WithSignedAt(t time.Time) Option {
	return func(o *options) { o.signedAt, o.hasSignedAt = t, true }
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

func (o *options) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

// Sign returns a token for data that Phoenix.Token.verify accepts with the
// same secret_key_base and salt, as does [Signer.Verify]. Like
// Phoenix.Token.sign, it signs with HMAC-SHA256 (header "SFMyNTY") the
// Erlang term {data, signed_at_ms, max_age_s}.
//
// Data is converted to the Erlang term Elixir code expects:
//
//   - nil: the atom nil; a bool: the atoms true and false
//   - integers of every Go kind and *big.Int: integers, in the smallest
//     encoding that holds them
//   - float64 and float32: floats (finite only)
//   - string and []byte: binaries, which are Elixir strings
//   - [Atom]: an atom; [Tuple]: a tuple
//   - []any and other slices or arrays: lists
//   - map[string]any (string keys), map[Atom]any (atom keys), map[any]any
//     and other maps: maps, keys in a fixed order
//   - named types by their kind (type UserID int64 is an integer), and
//     pointers by what they point to (nil: the atom nil)
//
// Other data (structs, channels, functions, NaN, cyclic values) makes Sign
// return an error wrapping [ErrUnsupported].
func (s *Signer) Sign(data any, opts ...Option) (string, error) {
	o := collect(opts)
	signedAt := o.signedAt
	if !o.hasSignedAt {
		signedAt = o.clock()
	}
	maxAge := DefaultMaxAge
	if o.hasMaxAge {
		maxAge = o.maxAge
	}
	payload := make([]byte, 0, 64)
	payload = append(payload, etfVersion, tagSmallTuple, 3)
	payload, err := appendTerm(payload, data, 1)
	if err != nil {
		return "", err
	}
	payload = appendInt(payload, signedAt.UnixMilli())
	payload = appendMaxAge(payload, maxAge)
	return s.sign(payload), nil
}

// appendMaxAge appends the max age as Phoenix would have it: :infinity,
// whole seconds as an integer, or seconds as a float.
func appendMaxAge(b []byte, d time.Duration) []byte {
	switch {
	case d == Infinity:
		return appendAtom(b, "infinity")
	case d%time.Second == 0:
		return appendInt(b, int64(d/time.Second))
	}
	b, _ = appendFloat(b, d.Seconds()) // always finite
	return b
}

// sign returns H.P.S for the payload, with H = HS256.
func (s *Signer) sign(payload []byte) string {
	a := &algs[hs256]
	out := make([]byte, 0, len(a.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(a.size))
	out = append(out, a.header...)
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	var sum [sha512.Size]byte
	mac := s.mac(hs256, sum[:0], out)
	out = append(out, '.')
	out = b64.AppendEncode(out, mac)
	return string(out)
}

// mac appends to dst the MAC of msg with algorithm algs[alg]. Every
// algorithm is keyed with the same derived key, as MessageVerifier uses
// the one secret Plug.Crypto derives whatever the header.
func (s *Signer) mac(alg int, dst, msg []byte) []byte {
	h, _ := s.macs[alg].Get().(hash.Hash)
	if h == nil {
		h = hmac.New(algs[alg].hash, s.key)
	} else {
		h.Reset()
	}
	h.Write(msg)
	dst = h.Sum(dst)
	s.macs[alg].Put(h)
	return dst
}

// Verify checks a token signed by Phoenix.Token.sign or [Signer.Sign] with
// the same secret_key_base and salt, and returns its data. It follows
// Phoenix.Token.verify:
//
//   - an empty token gives [ErrMissing];
//   - a token that is not three base64url segments, whose header is not
//     HS256, HS384 or HS512, whose signature does not match (compared in
//     constant time), or whose payload cannot be decoded gives an error
//     wrapping [ErrInvalid];
//   - the max age is the one of [WithMaxAge] if given, else the one
//     embedded in the token: zero or less gives [ErrExpired], [Infinity]
//     (or an embedded :infinity) accepts any signing time;
//   - a token signed after the current time gives an error wrapping
//     [ErrInvalid], with no allowance for clock skew;
//   - a token signed more than max age ago gives [ErrExpired].
//
// Accepted payloads are {data, signed_at_ms, max_age_s}, the
// {data, signed_at_ms} of Plug.Crypto 1.1 and the map
// %{data: data, signed: signed_at_ms} of early Phoenix (extra keys
// ignored); the last two have a max age of 86,400 s.
//
// The data is decoded from Erlang terms as follows: the atoms nil, true
// and false give nil, true and false; other atoms an [Atom]; integers an
// int64, or a *big.Int if they do not fit; floats a float64; binaries a
// string; lists a []any (a list of bytes sent as a string, like 'abc', a
// []any of int64); tuples a [Tuple]; maps a map[any]any. Maps whose keys
// are lists, tuples or maps, improper lists, and terms outside this set
// (functions, pids, references, ports, bit strings) give an error
// wrapping [ErrInvalid]. Compressed terms (Phoenix.Token.sign with
// compressed: true) are accepted. Payloads larger than 1 MiB, compressed or
// not, are refused, which Phoenix does not do but no real token comes near.
func (s *Signer) Verify(token string, opts ...Option) (any, error) {
	if token == "" {
		return nil, ErrMissing
	}
	payload, err := s.open(token)
	if err != nil {
		return nil, err
	}
	term, err := decodeETF(payload)
	if err != nil {
		return nil, err
	}
	data, signed, embedded, err := unpack(term)
	if err != nil {
		return nil, err
	}
	o := collect(opts)
	var lim limit
	if o.hasMaxAge {
		lim = overrideLimit(o.maxAge)
	} else if lim, err = embeddedLimit(embedded); err != nil {
		return nil, err
	}
	if err := checkAge(signed, lim, o.clock().UnixMilli()); err != nil {
		return nil, err
	}
	return data, nil
}

// open checks the format and signature of a token and returns its
// decoded payload.
func (s *Signer) open(token string) ([]byte, error) {
	i := strings.IndexByte(token, '.')
	if i < 0 {
		return nil, errSegments
	}
	j := strings.IndexByte(token[i+1:], '.')
	if j < 0 {
		return nil, errSegments
	}
	j += i + 1
	if strings.IndexByte(token[j+1:], '.') >= 0 {
		return nil, errSegments
	}
	alg := -1
	for k := range algs {
		if token[:i] == algs[k].header {
			alg = k
		}
	}
	if alg < 0 {
		return nil, errHeader
	}
	// Go's base64 decoder skips CR and LF even when strict; Elixir's does
	// not, so a token holding them is not one Phoenix would accept.
	if strings.ContainsAny(token, "\r\n") {
		return nil, errEncoding
	}
	// Refuse oversized payloads before spending time on their MAC.
	if b64.DecodedLen(j-i-1) > maxTermSize+1 {
		return nil, errTooLarge
	}
	a := &algs[alg]
	// A signature of the wrong length cannot match; checking the length
	// first also bounds the buffer below.
	if len(token)-j-1 != b64.EncodedLen(a.size) {
		return nil, errSignature
	}
	buf := []byte(token)
	var sig, sum [sha512.Size]byte
	if _, err := b64.Decode(sig[:a.size], buf[j+1:]); err != nil {
		return nil, errEncoding
	}
	payload := make([]byte, b64.DecodedLen(j-i-1))
	n, err := b64.Decode(payload, buf[i+1:j])
	if err != nil {
		return nil, errEncoding
	}
	if !hmac.Equal(s.mac(alg, sum[:0], buf[:j]), sig[:a.size]) {
		return nil, errSignature
	}
	return payload[:n], nil
}

// unpack splits a decoded payload into data, signing time and embedded
// max age, for the three shapes Plug.Crypto accepts.
func unpack(term any) (data, signed, maxAge any, err error) {
	switch t := term.(type) {
	case Tuple:
		switch len(t) {
		case 3:
			return t[0], t[1], t[2], nil
		case 2:
			return t[0], t[1], int64(DefaultMaxAge / time.Second), nil
		}
	case map[any]any:
		data, hasData := t[Atom("data")]
		signed, hasSigned := t[Atom("signed")]
		if hasData && hasSigned {
			return data, signed, int64(DefaultMaxAge / time.Second), nil
		}
	}
	return nil, nil, nil, errShape
}

// limit is a max age resolved to milliseconds.
type limit struct {
	ms       int64
	infinite bool // skip the check
	expired  bool // max age ≤ 0: every token is expired
}

// overrideLimit resolves the max age given to Verify.
func overrideLimit(d time.Duration) limit {
	switch {
	case d == Infinity:
		return limit{infinite: true}
	case d <= 0:
		return limit{expired: true}
	}
	return limit{ms: int64(d / time.Millisecond)}
}

// embeddedLimit resolves the max age found in a token: seconds as an
// integer or a float (truncated to the millisecond, as Plug.Crypto does),
// or :infinity. It is only looked at when Verify is given no max age, as
// in Plug.Crypto.
func embeddedLimit(v any) (limit, error) {
	switch x := v.(type) {
	case int64:
		switch {
		case x <= 0:
			return limit{expired: true}, nil
		case x > math.MaxInt64/1000:
			return limit{ms: math.MaxInt64}, nil
		}
		return limit{ms: x * 1000}, nil
	case *big.Int:
		if x.Sign() <= 0 {
			return limit{expired: true}, nil
		}
		return limit{ms: math.MaxInt64}, nil
	case float64:
		switch ms := x * 1000; {
		case x <= 0:
			return limit{expired: true}, nil
		case ms >= math.MaxInt64:
			return limit{ms: math.MaxInt64}, nil
		default:
			return limit{ms: int64(ms)}, nil
		}
	case Atom:
		if x == "infinity" {
			return limit{infinite: true}, nil
		}
	}
	return limit{}, errMaxAge
}

// checkAge applies Plug.Crypto's validate_age: a token signed after now is
// invalid, one signed more than lim.ms before now is expired.
func checkAge(signed any, lim limit, now int64) error {
	if lim.infinite {
		return nil
	}
	if lim.expired {
		return ErrExpired
	}
	var at int64
	switch x := signed.(type) {
	case int64:
		at = x
	case *big.Int:
		// Beyond int64 milliseconds: either far in the future or so far in
		// the past that any max age has run out.
		if x.Sign() > 0 {
			return errFuture
		}
		return ErrExpired
	default:
		return errSignedAt
	}
	if at > now {
		return errFuture
	}
	// now ≥ at, so the unsigned difference is exact even when now-at
	// overflows int64.
	if uint64(now)-uint64(at) > uint64(lim.ms) {
		return ErrExpired
	}
	return nil
}

// VerifyInto is Verify followed by a conversion of the data for the common
// cases: v may be a *string (the data must be a binary), an *int64 or an
// *int (an integer that fits), or an *any (anything). If the data has
// another type, VerifyInto returns an error wrapping [ErrInvalid] and
// leaves *v unchanged; for another kind of v, an error wrapping
// [ErrUnsupported].
func (s *Signer) VerifyInto(token string, v any, opts ...Option) error {
	var ok bool
	switch p := v.(type) {
	case *string:
		ok = p != nil
	case *int64:
		ok = p != nil
	case *int:
		ok = p != nil
	case *any:
		ok = p != nil
	}
	if !ok {
		return fmt.Errorf("%w: VerifyInto needs a non-nil *string, *int64, *int or *any, not %T", ErrUnsupported, v)
	}
	data, err := s.Verify(token, opts...)
	if err != nil {
		return err
	}
	switch p := v.(type) {
	case *string:
		if x, ok := data.(string); ok {
			*p = x
			return nil
		}
	case *int64:
		if x, ok := data.(int64); ok {
			*p = x
			return nil
		}
	case *int:
		if x, ok := data.(int64); ok && int64(int(x)) == x {
			*p = int(x)
			return nil
		}
	case *any:
		*p = data
		return nil
	}
	return fmt.Errorf("%w: data is a %T, not a %T", ErrInvalid, data, v)
}
