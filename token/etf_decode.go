package token

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"unicode/utf8"
)

// decodeETF decodes binary_to_term(data) for the subset of terms listed on
// [Signer.Verify]. Every error wraps ErrInvalid.
func decodeETF(data []byte) (any, error) {
	if len(data) < 2 || data[0] != etfVersion {
		return nil, errNotETF
	}
	if len(data) > maxTermSize+1 {
		return nil, errTooLarge
	}
	data = data[1:]
	if data[0] == tagCompressed {
		var err error
		if data, err = inflate(data[1:]); err != nil {
			return nil, err
		}
	}
	d := decoder{in: data, budget: uint64(len(data))}
	v, err := d.term()
	if err != nil {
		return nil, err
	}
	if len(d.in) != 0 {
		return nil, errTrailing
	}
	return v, nil
}

// inflate returns the term inside a COMPRESSED term: a u32 uncompressed
// size, then a zlib stream that must inflate to exactly that size and end
// the input.
func inflate(data []byte) ([]byte, error) {
	if len(data) < 4 {
		return nil, errTruncated
	}
	size := binary.BigEndian.Uint32(data)
	if size > maxTermSize {
		return nil, errTooLarge
	}
	// A *bytes.Reader is an io.ByteReader, so the inflater reads from it
	// byte by byte without buffering ahead, and src.Len() below is exactly
	// what follows the zlib stream.
	src := bytes.NewReader(data[4:])
	zr, err := zlib.NewReader(src)
	if err != nil {
		return nil, errCompressed
	}
	// Grow with the data actually inflated, not with the declared size, so
	// that a lying header costs nothing. Reading one byte past the declared
	// size detects streams that are longer than they claim; stopping short
	// of the limit means the stream ended and its checksum was verified.
	var out bytes.Buffer
	if _, err := out.ReadFrom(io.LimitReader(zr, int64(size)+1)); err != nil {
		return nil, errCompressed
	}
	if out.Len() != int(size) || src.Len() != 0 {
		return nil, errCompressed
	}
	return out.Bytes(), nil
}

// decoder reads one term from in, consuming it.
type decoder struct {
	in    []byte
	depth int // nesting of the term being read

	// budget is the number of elements that may still be reserved up
	// front for lists, tuples and maps. Every element is a term of at least
	// one byte of its own, so the lengths of a well-formed term add up to
	// less than its size, and reserving each declared length in full never
	// runs out. A hostile term can declare the whole input at every level
	// of nesting; once the budget is spent, reservations are capped at
	// maxPrealloc, so that it cannot cost more than the input allows.
	budget uint64
}

// take consumes n bytes.
func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.in)) {
		return nil, errTruncated
	}
	b := d.in[:n]
	d.in = d.in[n:]
	return b, nil
}

func (d *decoder) u8() (uint64, error) {
	b, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(b[0]), nil
}

func (d *decoder) u16() (uint64, error) {
	b, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint16(b)), nil
}

func (d *decoder) u32() (uint64, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint32(b)), nil
}

// term reads one term.
func (d *decoder) term() (any, error) {
	tag, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSmallInt:
		n, err := d.u8()
		return int64(n), err
	case tagInt:
		n, err := d.u32()
		return int64(int32(uint32(n))), err
	case tagSmallBig:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.bigInt(n)
	case tagLargeBig:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.bigInt(n)
	case tagNewFloat:
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errBadFloat
		}
		return f, nil
	case tagSmallAtomUTF8, tagSmallAtomL1:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.atom(n, tag == tagSmallAtomUTF8)
	case tagAtomUTF8, tagAtomLatin1:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.atom(n, tag == tagAtomUTF8)
	case tagBinary:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case tagNil:
		return emptyList, nil
	case tagString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		l := make([]any, len(b))
		for i, c := range b {
			l[i] = int64(c) // values below 256 box without allocating
		}
		return l, nil
	case tagList:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.list(n)
	case tagSmallTuple:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.tuple(n)
	case tagLargeTuple:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.tuple(n)
	case tagMap:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.mapTerm(n)
	case tagNewFun, tagExport, tagFun:
		// Plug.Crypto.non_executable_binary_to_term refuses these.
		return nil, errExecutable
	}
	return nil, fmt.Errorf("%w: unsupported term (tag %d)", ErrInvalid, tag)
}

// bigInt reads the sign and n little-endian digits of a big integer; the
// result is an int64 when it fits, a *big.Int otherwise.
func (d *decoder) bigInt(n uint64) (any, error) {
	sign, err := d.u8()
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, errBadBigSign
	}
	digits, err := d.take(n)
	if err != nil {
		return nil, err
	}
	// Trailing zero digits (leading in value) do not change the value.
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) <= 8 {
		var mag uint64
		for i := len(digits) - 1; i >= 0; i-- {
			mag = mag<<8 | uint64(digits[i])
		}
		switch {
		case sign == 0 && mag <= math.MaxInt64:
			return int64(mag), nil
		case sign == 1 && mag <= 1<<63:
			return int64(-mag), nil // wraps to MinInt64 for 1<<63, as intended
		}
	}
	be := slices.Clone(digits)
	slices.Reverse(be)
	x := new(big.Int).SetBytes(be)
	if sign == 1 {
		x.Neg(x)
	}
	return x, nil
}

// atom reads an atom name of n bytes, UTF-8 or Latin-1.
func (d *decoder) atom(n uint64, isUTF8 bool) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	var name string
	if isUTF8 {
		if !utf8.Valid(b) || utf8.RuneCount(b) > maxAtomChars {
			return nil, errBadAtom
		}
		switch string(b) { // no allocation: the compiler compares in place
		case "nil":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		name = string(b)
	} else {
		if len(b) > maxAtomChars {
			return nil, errBadAtom
		}
		// Latin-1 bytes are the first 256 code points.
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		name = string(r)
		switch name {
		case "nil":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return Atom(name), nil
}

// enter and leave track nesting.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return errTooDeep
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

// prealloc returns the capacity to reserve for n declared elements, n
// being no more than the remaining input.
func (d *decoder) prealloc(n uint64) int {
	if n <= d.budget {
		d.budget -= n
		return int(n)
	}
	return int(min(n, maxPrealloc))
}

// push appends v, doubling the capacity when it is full. Slices reach
// here with their full length reserved unless the budget was spent, in
// which case doubling keeps the garbage left by growth to the size of the
// result, where append's gentler growth for large slices leaves several
// times that.
func push[S ~[]any](s S, v any) S {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 1))
	}
	return append(s, v)
}

// list reads n elements and a tail. A tail that is itself a list (the
// empty list, a STRING_EXT or a LIST_EXT) still makes a proper list, which
// is returned flat; any other tail makes an improper list, which has no Go
// representation and is refused.
func (d *decoder) list(n uint64) (any, error) {
	// Each element and the tail take at least one byte.
	if n >= uint64(len(d.in)) {
		return nil, errTruncated
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	l := make([]any, 0, d.prealloc(n))
	for range n {
		v, err := d.term()
		if err != nil {
			return nil, err
		}
		l = push(l, v)
	}
	tail, err := d.term()
	if err != nil {
		return nil, err
	}
	rest, ok := tail.([]any)
	if !ok {
		return nil, errImproper
	}
	return append(l, rest...), nil
}

// tuple reads a tuple of arity n.
func (d *decoder) tuple(n uint64) (any, error) {
	if n > uint64(len(d.in)) {
		return nil, errTruncated
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	t := make(Tuple, 0, d.prealloc(n))
	for range n {
		v, err := d.term()
		if err != nil {
			return nil, err
		}
		t = push(t, v)
	}
	return t, nil
}

// mapTerm reads a map of n pairs into a map[any]any. Keys that Go cannot
// hash (lists, tuples, maps) are refused, and so are duplicate keys, as
// binary_to_term refuses them. Big-integer keys are kept as *big.Int, which
// a map compares by pointer: look them up by iterating.
func (d *decoder) mapTerm(n uint64) (any, error) {
	// Each key and each value take at least one byte.
	if n > uint64(len(d.in))/2 {
		return nil, errTruncated
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	m := make(map[any]any, d.prealloc(n))
	var bigKeys map[string]bool // made on the first big-integer key
	for range n {
		k, err := d.term()
		if err != nil {
			return nil, err
		}
		switch x := k.(type) {
		case []any, Tuple, map[any]any:
			return nil, errMapKey
		case *big.Int:
			// Pointers never collide in m, so compare values here.
			text := x.Text(16)
			if bigKeys[text] {
				return nil, errDuplicateKey
			}
			if bigKeys == nil {
				bigKeys = make(map[string]bool)
			}
			bigKeys[text] = true
		}
		v, err := d.term()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errDuplicateKey
		}
		m[k] = v
	}
	return m, nil
}
