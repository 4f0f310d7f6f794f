package token

// The Erlang External Term Format, as far as tokens need it: the types
// that stand for Erlang terms in Go, the tags, and the limits shared by
// the encoder (etf_encode.go) and the decoder (etf_decode.go).

import "fmt"

// Atom is an Erlang atom, such as :admin in Elixir. The atoms nil, true and
// false never appear as an Atom after decoding: they become nil, true and
// false, as they are null and booleans in Elixir.
type Atom string

// Tuple is an Erlang tuple, such as {:ok, 42} in Elixir. It is distinct from
// []any, which is an Erlang list.
type Tuple []any

// The tags of the Erlang External Term Format used here; the names are
// those of erts/emulator/beam/external.h.
const (
	etfVersion       = 131
	tagNewFloat      = 70  // NEW_FLOAT_EXT: float64, big-endian
	tagCompressed    = 80  // COMPRESSED: u32 size, then zlib data
	tagSmallInt      = 97  // SMALL_INTEGER_EXT: u8
	tagInt           = 98  // INTEGER_EXT: i32
	tagAtomLatin1    = 100 // ATOM_EXT: u16 length, Latin-1 (legacy)
	tagSmallTuple    = 104 // SMALL_TUPLE_EXT: u8 arity
	tagLargeTuple    = 105 // LARGE_TUPLE_EXT: u32 arity
	tagNil           = 106 // NIL_EXT: the empty list
	tagString        = 107 // STRING_EXT: u16 length, a list of bytes
	tagList          = 108 // LIST_EXT: u32 length, elements, tail
	tagBinary        = 109 // BINARY_EXT: u32 length
	tagSmallBig      = 110 // SMALL_BIG_EXT: u8 digits, sign, little-endian
	tagLargeBig      = 111 // LARGE_BIG_EXT: u32 digits, sign, little-endian
	tagNewFun        = 112 // NEW_FUN_EXT
	tagExport        = 113 // EXPORT_EXT: fun M:F/A
	tagSmallAtomL1   = 115 // SMALL_ATOM_EXT: u8 length, Latin-1 (legacy)
	tagMap           = 116 // MAP_EXT: u32 pairs
	tagFun           = 117 // FUN_EXT (obsolete)
	tagAtomUTF8      = 118 // ATOM_UTF8_EXT: u16 length
	tagSmallAtomUTF8 = 119 // SMALL_ATOM_UTF8_EXT: u8 length
)

const (
	// maxDepth bounds the nesting of lists, tuples and maps, on both sides:
	// decoding so that a hostile payload cannot exhaust the stack, encoding
	// so that a cyclic value fails instead of recursing forever.
	maxDepth = 1024

	// maxTermSize bounds the size of a payload, and the declared and actual
	// size of a compressed one (tag 80), so that a small token cannot
	// inflate into a large one. Phoenix has no such limit, but tokens
	// travel in URLs and headers, where a megabyte is already absurd.
	maxTermSize = 1 << 20

	// maxAtomChars is Erlang's limit on the length of an atom, in
	// characters; binary_to_term refuses longer ones.
	maxAtomChars = 255

	// maxPrealloc caps the capacity reserved for a list, tuple or map once
	// the decoder's budget (see decoder.budget) is spent.
	maxPrealloc = 64
)

// Decoding errors. Each wraps ErrInvalid, so a payload that cannot be
// decoded is an invalid token, as in Phoenix.
var (
	errNotETF       = fmt.Errorf("%w: payload is not an external term", ErrInvalid)
	errTruncated    = fmt.Errorf("%w: truncated term", ErrInvalid)
	errTrailing     = fmt.Errorf("%w: bytes after the term", ErrInvalid)
	errTooDeep      = fmt.Errorf("%w: term nested too deeply", ErrInvalid)
	errExecutable   = fmt.Errorf("%w: executable term", ErrInvalid)
	errBadFloat     = fmt.Errorf("%w: float is not finite", ErrInvalid)
	errBadAtom      = fmt.Errorf("%w: atom is not valid UTF-8 or longer than 255 characters", ErrInvalid)
	errBadBigSign   = fmt.Errorf("%w: big integer sign is neither 0 nor 1", ErrInvalid)
	errImproper     = fmt.Errorf("%w: improper list", ErrInvalid)
	errMapKey       = fmt.Errorf("%w: map key is a list, tuple or map", ErrInvalid)
	errDuplicateKey = fmt.Errorf("%w: duplicate map key", ErrInvalid)
	errTooLarge     = fmt.Errorf("%w: payload larger than 1 MiB", ErrInvalid)
	errCompressed   = fmt.Errorf("%w: corrupt compressed term", ErrInvalid)
)

// Encoding errors.
var (
	errEncodeDepth    = fmt.Errorf("%w: value nested more than %d levels deep (or cyclic)", ErrUnsupported, maxDepth)
	errEncodeFloat    = fmt.Errorf("%w: Erlang floats are finite", ErrUnsupported)
	errEncodeAtom     = fmt.Errorf("%w: atom is not valid UTF-8 or longer than 255 characters", ErrUnsupported)
	errEncodeDupKey   = fmt.Errorf("%w: two map keys encode to the same term", ErrUnsupported)
	errEncodeTooLarge = fmt.Errorf("%w: binary, list, tuple or map longer than 2^32-1", ErrUnsupported)
)

// emptyList is the decoded empty list. Sharing it avoids an allocation per
// [] and is safe: it has no capacity, so appending to it copies.
var emptyList any = []any{}
