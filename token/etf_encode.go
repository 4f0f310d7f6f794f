package token

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"unicode/utf8"
)

// encodeETF returns term_to_binary(v) for the Go types listed on
// [Signer.Sign], appended to b.
func encodeETF(b []byte, v any) ([]byte, error) {
	return appendTerm(append(b, etfVersion), v, 0)
}

// appendTerm appends the encoding of v, without the version byte.
func appendTerm(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, errEncodeDepth
	}
	switch x := v.(type) {
	case nil:
		return appendAtom(b, "nil"), nil
	case bool:
		if x {
			return appendAtom(b, "true"), nil
		}
		return appendAtom(b, "false"), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int8:
		return appendInt(b, int64(x)), nil
	case int16:
		return appendInt(b, int64(x)), nil
	case int32:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case uint:
		return appendUint(b, uint64(x)), nil
	case uint8:
		return appendUint(b, uint64(x)), nil
	case uint16:
		return appendUint(b, uint64(x)), nil
	case uint32:
		return appendUint(b, uint64(x)), nil
	case uint64:
		return appendUint(b, x), nil
	case uintptr:
		return appendUint(b, uint64(x)), nil
	case *big.Int:
		if x == nil {
			return appendAtom(b, "nil"), nil
		}
		return appendBig(b, x), nil
	case float64:
		return appendFloat(b, x)
	case float32:
		return appendFloat(b, float64(x))
	case string:
		return appendBinary(b, x)
	case []byte:
		return appendBinary(b, x)
	case Atom:
		return appendAtomChecked(b, string(x))
	case Tuple:
		return appendTuple(b, x, depth)
	case []any:
		return appendList(b, len(x), func(i int) any { return x[i] }, depth)
	case map[string]any:
		// Binary keys sort like Go strings, bytewise, so these maps are
		// written in Erlang term order without encoding the keys first.
		if uint64(len(x)) > math.MaxUint32 {
			return b, errEncodeTooLarge
		}
		b = binary.BigEndian.AppendUint32(append(b, tagMap), uint32(len(x)))
		var err error
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if b, err = appendBinary(b, k); err != nil {
				return b, err
			}
			if b, err = appendTerm(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case map[Atom]any:
		if uint64(len(x)) > math.MaxUint32 {
			return b, errEncodeTooLarge
		}
		b = binary.BigEndian.AppendUint32(append(b, tagMap), uint32(len(x)))
		var err error
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if b, err = appendAtomChecked(b, string(k)); err != nil {
				return b, err
			}
			if b, err = appendTerm(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case map[any]any:
		return appendMap(b, len(x), func(yield func(k, v any) bool) {
			for k, v := range x {
				if !yield(k, v) {
					return
				}
			}
		}, depth)
	}
	return appendReflect(b, reflect.ValueOf(v), depth)
}

// appendReflect encodes values of named types (type UserID int64) and of
// composite types the type switch does not list ([]string, map[string]int),
// by their kind.
func appendReflect(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return appendTerm(b, rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return appendUint(b, rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(b, rv.Float())
	case reflect.String:
		return appendBinary(b, rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.Kind() == reflect.Slice {
				return appendBinary(b, rv.Bytes())
			}
			bs := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(bs), rv)
			return appendBinary(b, bs)
		}
		return appendList(b, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, depth)
	case reflect.Map:
		return appendMap(b, rv.Len(), func(yield func(k, v any) bool) {
			for it := rv.MapRange(); it.Next(); {
				if !yield(it.Key().Interface(), it.Value().Interface()) {
					return
				}
			}
		}, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return appendAtom(b, "nil"), nil
		}
		return appendTerm(b, rv.Elem().Interface(), depth+1)
	}
	if !rv.IsValid() {
		return appendAtom(b, "nil"), nil
	}
	return b, fmt.Errorf("%w: %s", ErrUnsupported, rv.Type())
}

// appendAtom appends an atom whose name is known to be short and valid.
func appendAtom(b []byte, name string) []byte {
	return append(append(b, tagSmallAtomUTF8, byte(len(name))), name...)
}

// appendAtomChecked appends an atom as term_to_binary does since OTP 26,
// refusing names that binary_to_term would refuse.
func appendAtomChecked(b []byte, name string) ([]byte, error) {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAtomChars {
		return b, errEncodeAtom
	}
	if len(name) <= math.MaxUint8 {
		return appendAtom(b, name), nil
	}
	// At most 255 characters of at most 4 bytes each: fits a u16.
	b = binary.BigEndian.AppendUint16(append(b, tagAtomUTF8), uint16(len(name)))
	return append(b, name...), nil
}

// appendInt appends an integer in the smallest encoding term_to_binary
// uses for it.
func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= math.MaxUint8:
		return append(b, tagSmallInt, byte(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, tagInt), uint32(n))
	}
	mag, sign := uint64(n), byte(0)
	if n < 0 {
		// Two's complement negation is exact for every int64, MinInt64
		// included, once read as unsigned.
		mag, sign = -mag, 1
	}
	return appendSmallBig(b, mag, sign)
}

// appendUint appends a non-negative integer.
func appendUint(b []byte, n uint64) []byte {
	if n <= math.MaxInt64 {
		return appendInt(b, int64(n))
	}
	return appendSmallBig(b, n, 0)
}

// appendSmallBig appends a magnitude of up to 8 bytes as SMALL_BIG_EXT.
func appendSmallBig(b []byte, mag uint64, sign byte) []byte {
	n := 0
	for m := mag; m != 0; m >>= 8 {
		n++
	}
	b = append(b, tagSmallBig, byte(n), sign)
	for ; n > 0; n-- {
		b = append(b, byte(mag))
		mag >>= 8
	}
	return b
}

// appendBig appends a *big.Int, as an int64 when it fits so that a value
// has a single encoding whatever its Go type.
func appendBig(b []byte, x *big.Int) []byte {
	if x.IsInt64() {
		return appendInt(b, x.Int64())
	}
	digits := x.Bytes() // big-endian magnitude; ETF wants little-endian
	slices.Reverse(digits)
	sign := byte(0)
	if x.Sign() < 0 {
		sign = 1
	}
	if len(digits) <= math.MaxUint8 {
		b = append(b, tagSmallBig, byte(len(digits)), sign)
	} else {
		b = binary.BigEndian.AppendUint32(append(b, tagLargeBig), uint32(len(digits)))
		b = append(b, sign)
	}
	return append(b, digits...)
}

// appendFloat appends NEW_FLOAT_EXT, the encoding of every float since
// OTP 17. Erlang has no NaN or infinities.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errEncodeFloat
	}
	return binary.BigEndian.AppendUint64(append(b, tagNewFloat), math.Float64bits(f)), nil
}

// appendBinary appends BINARY_EXT, the encoding of Elixir strings.
func appendBinary[T string | []byte](b []byte, s T) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return b, errEncodeTooLarge
	}
	b = binary.BigEndian.AppendUint32(append(b, tagBinary), uint32(len(s)))
	return append(b, s...), nil
}

// appendTuple appends a tuple.
func appendTuple(b []byte, t Tuple, depth int) ([]byte, error) {
	switch {
	case len(t) <= math.MaxUint8:
		b = append(b, tagSmallTuple, byte(len(t)))
	case uint64(len(t)) <= math.MaxUint32:
		b = binary.BigEndian.AppendUint32(append(b, tagLargeTuple), uint32(len(t)))
	default:
		return b, errEncodeTooLarge
	}
	var err error
	for _, e := range t {
		if b, err = appendTerm(b, e, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendList appends a proper list of n elements. Like term_to_binary, it
// writes a list of small integers (0 to 255) shorter than 65,536 as
// STRING_EXT, so that [1, 2, 3] has the same bytes as in Erlang.
func appendList(b []byte, n int, elem func(i int) any, depth int) ([]byte, error) {
	if n == 0 {
		return append(b, tagNil), nil
	}
	if n <= math.MaxUint16 {
		bytesOnly := true
		for i := 0; i < n && bytesOnly; i++ {
			_, bytesOnly = byteValue(elem(i))
		}
		if bytesOnly {
			b = binary.BigEndian.AppendUint16(append(b, tagString), uint16(n))
			for i := range n {
				c, _ := byteValue(elem(i))
				b = append(b, c)
			}
			return b, nil
		}
	}
	if uint64(n) > math.MaxUint32 {
		return b, errEncodeTooLarge
	}
	b = binary.BigEndian.AppendUint32(append(b, tagList), uint32(n))
	var err error
	for i := range n {
		if b, err = appendTerm(b, elem(i), depth+1); err != nil {
			return b, err
		}
	}
	return append(b, tagNil), nil
}

// byteValue reports whether v is an integer from 0 to 255, and its value.
func byteValue(v any) (byte, bool) {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint8:
		return x, true
	case uint, uint16, uint32, uint64, uintptr:
		u := reflect.ValueOf(x).Uint()
		return byte(u), u <= math.MaxUint8
	case *big.Int:
		if x == nil || !x.IsInt64() {
			return 0, false
		}
		n = x.Int64()
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n = rv.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u := rv.Uint()
			return byte(u), u <= math.MaxUint8
		default:
			return 0, false
		}
	}
	return byte(n), n >= 0 && n <= math.MaxUint8
}

// appendMap appends a map whose keys may be of any supported type. The
// keys are encoded first and written in a fixed order, so that equal maps
// give equal tokens: by Erlang's order of types (numbers, atoms, tuples,
// maps, lists, binaries), then atoms and binaries by name, other keys by
// their encoding. Two keys with the same encoding (int(1) and int64(1))
// are refused, as binary_to_term refuses duplicate keys.
func appendMap(b []byte, n int, pairs func(yield func(k, v any) bool), depth int) ([]byte, error) {
	if uint64(n) > math.MaxUint32 {
		return b, errEncodeTooLarge
	}
	type entry struct {
		key []byte
		val any
	}
	entries := make([]entry, 0, n)
	var err error
	pairs(func(k, v any) bool {
		var kb []byte
		if kb, err = appendTerm(nil, k, depth+1); err != nil {
			return false
		}
		entries = append(entries, entry{kb, v})
		return true
	})
	if err != nil {
		return b, err
	}
	slices.SortFunc(entries, func(x, y entry) int { return compareKeys(x.key, y.key) })
	for i := 1; i < len(entries); i++ {
		if bytes.Equal(entries[i-1].key, entries[i].key) {
			return b, errEncodeDupKey
		}
	}
	b = binary.BigEndian.AppendUint32(append(b, tagMap), uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.key...)
		if b, err = appendTerm(b, e.val, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// compareKeys orders encoded map keys; see appendMap.
func compareKeys(x, y []byte) int {
	if c := cmp.Compare(keyRank(x[0]), keyRank(y[0])); c != 0 {
		return c
	}
	return bytes.Compare(keyText(x), keyText(y))
}

// keyRank is the position of a term's type in Erlang's term order.
func keyRank(tag byte) int {
	switch tag {
	case tagSmallInt, tagInt, tagSmallBig, tagLargeBig, tagNewFloat:
		return 0
	case tagSmallAtomUTF8, tagAtomUTF8:
		return 1
	case tagSmallTuple, tagLargeTuple:
		return 2
	case tagMap:
		return 3
	case tagNil, tagString, tagList:
		return 4
	}
	return 5 // tagBinary
}

// keyText is the name of an encoded atom or binary, or else the whole
// encoding.
func keyText(k []byte) []byte {
	switch k[0] {
	case tagSmallAtomUTF8:
		return k[2:]
	case tagAtomUTF8:
		return k[3:]
	case tagBinary:
		return k[5:]
	}
	return k
}
