package token

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
)

type (
	userID    int64
	uint8Kind uint8
	userName  string
	flag      bool
)

// The encodings below are those of :erlang.term_to_binary/1 (OTP 26 and
// later, which writes atoms as UTF-8).
func TestEncodeETF(t *testing.T) {
	pow := func(base int64, exp uint) *big.Int {
		return new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(exp)), nil)
	}
	largeBig := new(big.Int).Lsh(big.NewInt(1), 8*256) // 257 digits
	tests := []struct {
		name string
		in   any
		hex  string
	}{
		{"vector 42", Tuple{42, int64(1_700_000_000_000), 86400}, "836803612a6e06000068e5cf8b016200015180"},
		{"vector \"42\"", Tuple{"42", int64(1_700_000_000_000), 86400}, "8368036d0000000234326e06000068e5cf8b016200015180"},
		{"0", 0, "836100"},
		{"255", 255, "8361ff"},
		{"256", 256, "836200000100"},
		{"-1", -1, "8362ffffffff"},
		{"max int32", math.MaxInt32, "83627fffffff"},
		{"min int32", math.MinInt32, "836280000000"},
		{"2^31", int64(1) << 31, "836e040000000080"},
		{"-(2^31+1)", -(int64(1)<<31 + 1), "836e040101000080"},
		{"max int64", int64(math.MaxInt64), "836e0800ffffffffffffff7f"},
		{"min int64", int64(math.MinInt64), "836e08010000000000000080"},
		{"max uint64", uint64(math.MaxUint64), "836e0800ffffffffffffffff"},
		{"2^64", pow(2, 64), "836e0900000000000000000001"},
		{"-2^64", new(big.Int).Neg(pow(2, 64)), "836e0901000000000000000001"},
		{"big that fits", big.NewInt(-2), "8362fffffffe"},
		{"large big", largeBig, "836f00000101" + "00" + strings.Repeat("00", 256) + "01"},
		{"negative large big", new(big.Int).Neg(largeBig), "836f00000101" + "01" + strings.Repeat("00", 256) + "01"},
		{"1.5", 1.5, "83463ff8000000000000"},
		{"-0.0", math.Copysign(0, -1), "83468000000000000000"},
		{"binary", "42", "836d000000023432"},
		{"empty binary", "", "836d00000000"},
		{"bytes", []byte{1, 2}, "836d000000020102"},
		{"nil", nil, "8377036e696c"},
		{"true", true, "83770474727565"},
		{"false", false, "83770566616c7365"},
		{"atom", Atom("ok"), "8377026f6b"},
		{"atom over 255 bytes", Atom(strings.Repeat("é", 128)), "837601" + "00" + strings.Repeat("c3a9", 128)},
		{"empty tuple", Tuple{}, "836800"},
		{"tuple", Tuple{Atom("ok"), 1}, "8368027702" + "6f6b" + "6101"},
		{"large tuple", Tuple(make([]any, 256)), "836900000100" + strings.Repeat("77036e696c", 256)},
		{"empty list", []any{}, "836a"},
		{"byte list as string", []any{1, 2, 3}, "836b0003010203"},
		{"list", []any{1000}, "836c00000001620000" + "03e8" + "6a"},
		{"list with a negative", []any{1, -1}, "836c000000026101" + "62ffffffff" + "6a"},
		{"list of binaries", []any{"a"}, "836c000000016d00000001616a"},
		{"byte list of every integer kind", []any{int8(1), int16(2), int32(3), int64(4), uint(5), uint8(6), uint16(7), uint32(8), uint64(9), uintptr(10), big.NewInt(11), userID(12), uint8Kind(13)},
			"836b000d0102030405060708090a0b0c0d"},
		{"integers beyond a byte", []any{uint16(256), userID(-1), uint8Kind(1), big.NewInt(1000)},
			"836c00000004" + "620000" + "0100" + "62ffffffff" + "6101" + "62000003e8" + "6a"},
		{"big and long atom keys", map[any]any{uint64(math.MaxUint64): 1, Atom(strings.Repeat("é", 128)): 2, Atom("z"): 3},
			"837400000003" + "6e0800ffffffffffffffff" + "6101" +
				"77017a" + "6103" + // "z" < "é", by code point
				"7601" + "00" + strings.Repeat("c3a9", 128) + "6102"},
		{"named string slice", []userName{"ann"}, "836c000000016d00000003616e6e6a"},
		{"bool of a named type", []flag{true}, "836c0000000177047472756" + "56a"},
		{"string map, sorted", map[string]any{"b": 1, "a": 2}, "837400000002" + "6d0000000161" + "6102" + "6d0000000162" + "6101"},
		{"atom map, sorted", map[Atom]any{"role": 1, "id": 2}, "837400000002" + "77026964" + "6102" + "7704726f6c65" + "6101"},
		{"mixed map, term order", map[any]any{"a": nil, Atom("bb"): 1, Atom("a"): 3, 2: "x", true: 0, 1.5: 0},
			"837400000006" +
				"463ff8000000000000" + "6100" + // 1.5 => 0
				"6102" + "6d0000000178" + // 2 => "x"
				"770161" + "6103" + // :a => 3
				"77026262" + "6101" + // :bb => 1
				"770474727565" + "6100" + // true => 0
				"6d0000000161" + "77036e696c"}, // "a" => nil
	}
	for _, tt := range tests {
		got, err := encodeETF(nil, tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if want := mustHex(t, tt.hex); !bytes.Equal(got, want) {
			t.Errorf("%s: encodeETF(%#v) =\n%x\nwant\n%x", tt.name, tt.in, got, want)
		}
	}
}

func TestDecodeETF(t *testing.T) {
	big2to64, _ := new(big.Int).SetString("18446744073709551616", 10)
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{"vector", "836803612a6e06000068e5cf8b016200015180", Tuple{int64(42), int64(1_700_000_000_000), int64(86400)}},
		{"compressed vector", "835000000012789ccb604ed4ca636360c8787abe9b31898131b001002fe40547", Tuple{int64(42), int64(1_700_000_000_000), int64(86400)}},
		{"negative int", "8362ffffff85", int64(-123)},
		{"small big zero digits", "836e0000", int64(0)},
		{"small big with zero high digits", "836e040105000000", int64(-5)},
		{"min int64", "836e08010000000000000080", int64(math.MinInt64)},
		{"-(2^63+1)", "836e08010100000000000080", new(big.Int).Neg(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 63), big.NewInt(1)))},
		{"2^64", "836e0900000000000000000001", big2to64},
		{"large big that fits", "836f000000020001" + "00", int64(1)},
		{"float", "83463ff8000000000000", 1.5},
		{"legacy atom", "836400026f6b", Atom("ok")},
		{"legacy small atom", "8373026f6b", Atom("ok")},
		{"legacy atom nil", "836400036e696c", nil},
		{"legacy small atom true", "83730474727565", true},
		{"legacy atom false", "8364000566616c7365", false},
		{"Latin-1 atom", "837302e974", Atom("ét")},
		{"UTF-8 atom", "837703c3a974", Atom("ét")},
		{"long UTF-8 atom", "837601" + "00" + strings.Repeat("c3a9", 128), Atom(strings.Repeat("é", 128))},
		{"binary", "836d000000026869", "hi"},
		{"invalid UTF-8 binary", "836d00000001ff", "\xff"},
		{"string ext", "836b0003010203", []any{int64(1), int64(2), int64(3)}},
		{"empty string ext", "836b0000", []any{}},
		{"nil", "836a", []any{}},
		{"list", "836c00000002610177026f6b6a", []any{int64(1), Atom("ok")}},
		{"list with string tail", "836c0000000161016b00020203", []any{int64(1), int64(2), int64(3)}},
		{"list with list tail", "836c0000000161016c0000000161026a", []any{int64(1), int64(2)}},
		{"large tuple", "83690000000261016102", Tuple{int64(1), int64(2)}},
		{"map", "837400000002" + "77026964" + "6107" + "6d0000000178" + "6a", map[any]any{Atom("id"): int64(7), "x": []any{}}},
		{"map with big key", "837400000001" + "6e0900000000000000000001" + "6101", map[any]any{big2to64: int64(1)}},
		{"map with float keys", "837400000002" + "463ff8000000000000" + "6101" + "6101" + "6102", map[any]any{1.5: int64(1), int64(1): int64(2)}},
	}
	for _, tt := range tests {
		got, err := decodeETF(mustHex(t, tt.hex))
		if err != nil {
			t.Errorf("%s: decodeETF(%s): %v", tt.name, tt.hex, err)
			continue
		}
		if !equalTerms(got, tt.want) {
			t.Errorf("%s: decodeETF(%s) = %#v, want %#v", tt.name, tt.hex, got, tt.want)
		}
	}
}

// compressed returns the COMPRESSED form of a term (without its version
// byte), declaring size as its uncompressed size.
func compressed(t testing.TB, term []byte, size uint32) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(term)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := binary.BigEndian.AppendUint32([]byte{etfVersion, tagCompressed}, size)
	return append(b, z.Bytes()...)
}

func TestDecodeETFRefused(t *testing.T) {
	deepList := "83" + strings.Repeat("6c00000001", maxDepth+1) + "6a" + strings.Repeat("6a", maxDepth+1)
	deepTuple := "83" + strings.Repeat("6801", 100_000) + "6a"
	deepMap := "83" + strings.Repeat("74000000016101", maxDepth+1) + "6a"
	okDeep := "83" + strings.Repeat("6801", maxDepth) + "6a"
	if _, err := decodeETF(mustHex(t, okDeep)); err != nil {
		t.Fatalf("nesting of %d: %v", maxDepth, err)
	}

	zeros := make([]byte, 2*maxTermSize)
	bomb := append([]byte{tagBinary}, binary.BigEndian.AppendUint32(nil, uint32(len(zeros)))...)
	bomb = append(bomb, zeros...)
	small := mustHex(t, "6101")
	trailing := append(compressed(t, small, 2), 0)
	corrupt := compressed(t, small, 2)
	corrupt[len(corrupt)-1] ^= 1 // the Adler-32 checksum

	tests := []struct {
		name string
		in   []byte
		want error // wrapped by the error; all wrap ErrInvalid
	}{
		{"empty", nil, errNotETF},
		{"version only", []byte{131}, errNotETF},
		{"wrong version", mustHex(t, "8261"+"01"), errNotETF},
		{"truncated int", mustHex(t, "836200"), errTruncated},
		{"truncated float", mustHex(t, "8346000000"), errTruncated},
		{"trailing bytes", mustHex(t, "83610100"), errTrailing},
		{"improper list", mustHex(t, "836c0000000161016102"), errImproper},
		{"improper list, tuple tail", mustHex(t, "836c00000001610168006a"), errImproper},
		{"NaN", mustHex(t, "83467ff8000000000000"), errBadFloat},
		{"infinity", mustHex(t, "83467ff0000000000000"), errBadFloat},
		{"big sign 2", mustHex(t, "836e010201"), errBadBigSign},
		{"invalid UTF-8 atom", mustHex(t, "837701ff"), errBadAtom},
		{"atom of 256 characters", mustHex(t, "837601"+"00"+strings.Repeat("61", 256)), errBadAtom},
		{"Latin-1 atom of 256 characters", mustHex(t, "83640100"+strings.Repeat("61", 256)), errBadAtom},
		{"list key", mustHex(t, "837400000001"+"6a"+"6101"), errMapKey},
		{"tuple key", mustHex(t, "837400000001"+"6800"+"6101"), errMapKey},
		{"map key", mustHex(t, "837400000001"+"7400000000"+"6101"), errMapKey},
		{"string-ext key", mustHex(t, "837400000001"+"6b000101"+"6101"), errMapKey},
		{"duplicate key", mustHex(t, "837400000002"+"6101"+"6101"+"6101"+"6102"), errDuplicateKey},
		{"duplicate atom key", mustHex(t, "837400000002"+"77016b"+"6101"+"73016b"+"6102"), errDuplicateKey},
		{"duplicate big key", mustHex(t, "837400000002"+"6e0900000000000000000001"+"6101"+"6f0000000900000000000000000001"+"6102"), errDuplicateKey},
		{"new fun", mustHex(t, "83700000"), errExecutable},
		{"export", mustHex(t, "837177016d7701666101"), errExecutable},
		{"old fun", mustHex(t, "837500000000"), errExecutable},
		{"pid", mustHex(t, "835877036e6f6e000000010000000000000000"), ErrInvalid},
		{"reference", mustHex(t, "835a000177036e6f6e0000000000000001"), ErrInvalid},
		{"bit binary", mustHex(t, "834d000000010401"), ErrInvalid},
		{"old float", mustHex(t, "8363"+strings.Repeat("30", 31)), ErrInvalid},
		{"nested compressed", mustHex(t, "83"+"6801"+"5000000002"), ErrInvalid},
		{"atom cache ref", mustHex(t, "835200"), ErrInvalid},
		{"huge list", mustHex(t, "836cffffffff"), errTruncated},
		{"huge list, some input", mustHex(t, "836c00000010"+strings.Repeat("61", 16)), errTruncated},
		{"huge binary", mustHex(t, "836dffffffff00"), errTruncated},
		{"huge string ext", mustHex(t, "836bffff00"), errTruncated},
		{"huge tuple", mustHex(t, "8369ffffffff6a"), errTruncated},
		{"huge map", mustHex(t, "8374ffffffff6a6a"), errTruncated},
		{"huge large big", mustHex(t, "836fffffffff00"), errTruncated},
		{"huge atom", mustHex(t, "8376ffff"), errTruncated},
		{"deep lists", mustHex(t, deepList), errTooDeep},
		{"deep tuples", mustHex(t, deepTuple), errTooDeep},
		{"deep maps", mustHex(t, deepMap), errTooDeep},
		{"compressed, no size", mustHex(t, "835000"), errTruncated},
		{"compressed, declared over 1 MiB", compressed(t, small, maxTermSize+1), errTooLarge},
		{"compressed, longer than declared", compressed(t, small, 1), errCompressed},
		{"compressed, shorter than declared", compressed(t, small, 3), errCompressed},
		{"compressed, bad checksum", corrupt, errCompressed},
		{"compressed, trailing bytes", trailing, errCompressed},
		{"compressed, not zlib", mustHex(t, "8350000000020102"), errCompressed},
		{"compressed bomb", compressed(t, bomb, maxTermSize), errCompressed},
		{"compressed, bad term inside", compressed(t, mustHex(t, "6c0000000161016102"), 9), errImproper},
	}
	for _, tt := range tests {
		v, err := decodeETF(tt.in)
		if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: decodeETF = %#v, %v, want %v", tt.name, v, err, tt.want)
		}
	}
}

// Declared lengths cost little until the data behind them is there. The
// bounds are the worst cases: 16 bytes per element actually decoded, and
// a hostile term that declares the whole input at every level of nesting.
func TestDecodeETFHostileAllocation(t *testing.T) {
	const size = maxTermSize - 8
	// A thousand nested lists that each declare nearly the whole input,
	// over a run of empty lists that fills the innermost one, after which
	// its parent runs out of input.
	var deep []byte
	deep = append(deep, etfVersion)
	for range 1000 {
		deep = binary.BigEndian.AppendUint32(append(deep, tagList), size-6000)
	}
	deep = append(deep, bytes.Repeat([]byte{tagNil}, size-len(deep))...)
	tests := []struct {
		name  string
		in    []byte
		want  error
		limit uint64
	}{
		{"huge list", mustHex(t, "836cfffffffe"+strings.Repeat("6a", 64)), errTruncated, 1 << 20},
		{"huge map", mustHex(t, "8374fffffffe"+strings.Repeat("6a", 64)), errTruncated, 1 << 20},
		{"huge tuple", mustHex(t, "8369fffffffe"+strings.Repeat("6a", 64)), errTruncated, 1 << 20},
		{"compressed, declared 1 MiB", mustHex(t, "835000100000789c"), errCompressed, 1 << 20},
		// A million elements that are there, then a tail with an unknown tag.
		{"long list", append(binary.BigEndian.AppendUint32([]byte{etfVersion, tagList}, size-7),
			append(bytes.Repeat([]byte{tagNil}, size-7), 0xff)...), ErrInvalid, 24 << 20},
		{"deep declarations", deep, errTruncated, 64 << 20},
		{"over 1 MiB", append(binary.BigEndian.AppendUint32([]byte{etfVersion, tagBinary}, maxTermSize), make([]byte, maxTermSize)...), errTooLarge, 1 << 20},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := decodeETF(tt.in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: decodeETF: %v, want %v", tt.name, err, tt.want)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > tt.limit {
			t.Errorf("%s: decodeETF allocated %d bytes for %d bytes of input, want at most %d", tt.name, grown, len(tt.in), tt.limit)
		}
	}
}

// Decoding what was encoded gives the value back, for values whose
// decoded type is their own.
func TestETFRoundTrip(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64),
		new(big.Int).Lsh(big.NewInt(-3), 2000), 0.1, "", "s", Atom("a"),
		[]any{}, []any{int64(255), int64(0)}, []any{int64(256)}, Tuple{}, Tuple{[]any{Tuple{}}},
		map[any]any{}, map[any]any{int64(1): map[any]any{"k": Tuple{nil}}, 2.5: []any{}, Atom("x"): "y"},
	}
	for _, v := range values {
		b, err := encodeETF(nil, v)
		if err != nil {
			t.Fatalf("encodeETF(%#v): %v", v, err)
		}
		got, err := decodeETF(b)
		if err != nil || !equalTerms(got, v) {
			t.Errorf("decodeETF(encodeETF(%#v)) = %#v, %v", v, got, err)
		}
	}
}

func TestEncodeDepth(t *testing.T) {
	var v any = "x" // not an integer: a list of integers is not nested
	for range maxDepth {
		v = []any{v}
	}
	b, err := encodeETF(nil, v)
	if err != nil {
		t.Fatalf("encoding %d nested lists: %v", maxDepth, err)
	}
	if _, err := decodeETF(b); err != nil {
		t.Fatalf("decoding %d nested lists: %v", maxDepth, err)
	}
	if _, err := encodeETF(nil, []any{v}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("encoding %d nested lists: %v, want ErrUnsupported", maxDepth+1, err)
	}
}

func BenchmarkDecodeETF(b *testing.B) {
	payload := mustHex(b, "836803612a6e06000068e5cf8b016200015180")
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := decodeETF(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeETF(b *testing.B) {
	data := map[string]any{"user_id": 123456, "role": Atom("admin"), "tags": []any{"a", "b"}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = encodeETF(buf[:0], data); err != nil {
			b.Fatal(err)
		}
	}
}
