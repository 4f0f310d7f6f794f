package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test vector of docs/protocol.md §6, computed in Elixir and in Python.
var (
	vecSecret   = strings.Repeat("a", 64)
	vecSignedAt = time.UnixMilli(1_700_000_000_000)
)

const (
	vecSalt     = "user socket"
	vecKey      = "a829241796f5908f5027dc39e02f1aee5889fb7f62df4198b00369defd2e9fad"
	vecToken42  = "SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.vS9_m3KrZklLiGW90qm-ecaOXJmcQDrOJHiay9rGJEo"
	vecTokenS42 = "SFMyNTY.g2gDbQAAAAI0Mm4GAABo5c-LAWIAAVGA.LL_iighky5U4_hAdJIrxBgXThK4U9-pHBrjWCoRIEr8"

	// The payload of vecToken42 under the other headers, signed in Python
	// with hmac.new(key, "H.P", sha384 / sha512).
	vecHS384 = "SFMzODQ.g2gDYSpuBgAAaOXPiwFiAAFRgA.SoP_c-oW54Q9M37ICZQrwKBC_rxl5OH8oLTYee8J5_dOG7jWXmyXDR5ec8A41MLG"
	vecHS512 = "SFM1MTI.g2gDYSpuBgAAaOXPiwFiAAFRgA.s485_lHvdmIPFcPgwCk4sFA6cB5fBM33_XLiwllStjTqbl0P4Q7SyHa5SYGYOku6ovCG3jdc-gBDfniWF62uow"
)

func vectorSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := New(vecSecret, vecSalt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// at is a clock stopped at t.
func at(t time.Time) Option {
	return WithClock(func() time.Time { return t })
}

// handToken signs a payload the way MessageVerifier does, with any digest,
// independently of Signer.
func handToken(key []byte, header string, h func() hash.Hash, payload []byte) string {
	hp := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(h, key)
	m.Write([]byte(hp))
	return hp + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDerivedKey(t *testing.T) {
	s := vectorSigner(t)
	if got := hex.EncodeToString(s.key); got != vecKey {
		t.Fatalf("derived key %s, want %s", got, vecKey)
	}
}

func TestVector(t *testing.T) {
	s := vectorSigner(t)
	tests := []struct {
		data  any
		token string
		want  any
	}{
		{42, vecToken42, int64(42)},
		{"42", vecTokenS42, "42"},
	}
	for _, tt := range tests {
		got, err := s.Sign(tt.data, WithSignedAt(vecSignedAt))
		if err != nil {
			t.Fatalf("Sign(%#v): %v", tt.data, err)
		}
		if got != tt.token {
			t.Errorf("Sign(%#v) =\n%s\nwant\n%s", tt.data, got, tt.token)
		}
		// The default max age embedded in the token is what Sign used.
		got, err = s.Sign(tt.data, WithSignedAt(vecSignedAt), WithMaxAge(DefaultMaxAge))
		if err != nil || got != tt.token {
			t.Errorf("Sign(%#v, WithMaxAge(DefaultMaxAge)) = %s, %v", tt.data, got, err)
		}
		// The clock may stand in for WithSignedAt.
		got, err = s.Sign(tt.data, at(vecSignedAt))
		if err != nil || got != tt.token {
			t.Errorf("Sign(%#v) with the clock at signed_at = %s, %v", tt.data, got, err)
		}
		v, err := s.Verify(tt.token, at(vecSignedAt.Add(time.Millisecond)))
		if err != nil || v != tt.want {
			t.Errorf("Verify(%s) = %#v, %v, want %#v", tt.token, v, err, tt.want)
		}
	}

	var (
		n   int
		n64 int64
		str string
	)
	now := at(vecSignedAt.Add(time.Minute))
	if err := s.VerifyInto(vecToken42, &n, now); err != nil || n != 42 {
		t.Errorf("VerifyInto(*int) = %d, %v", n, err)
	}
	if err := s.VerifyInto(vecToken42, &n64, now); err != nil || n64 != 42 {
		t.Errorf("VerifyInto(*int64) = %d, %v", n64, err)
	}
	if err := s.VerifyInto(vecTokenS42, &str, now); err != nil || str != "42" {
		t.Errorf("VerifyInto(*string) = %q, %v", str, err)
	}
}

// Verify accepts the HS384 and HS512 headers, keyed with the same derived
// key, as MessageVerifier.verify does.
func TestVerifyOtherDigests(t *testing.T) {
	s := vectorSigner(t)
	payload := mustHex(t, "836803612a6e06000068e5cf8b016200015180")
	tokens := map[string]string{
		"HS384 vector":  vecHS384,
		"HS512 vector":  vecHS512,
		"HS384 by hand": handToken(s.key, "SFMzODQ", sha512.New384, payload),
		"HS512 by hand": handToken(s.key, "SFM1MTI", sha512.New, payload),
		"HS256 by hand": handToken(s.key, "SFMyNTY", sha256.New, payload),
	}
	if tokens["HS384 by hand"] != vecHS384 || tokens["HS512 by hand"] != vecHS512 || tokens["HS256 by hand"] != vecToken42 {
		t.Fatalf("hand-made tokens differ from the vectors: %v", tokens)
	}
	for name, tok := range tokens {
		v, err := s.Verify(tok, at(vecSignedAt))
		if err != nil || v != int64(42) {
			t.Errorf("%s: Verify = %#v, %v", name, v, err)
		}
	}
	// A MAC of one digest under the header of another does not verify.
	mixed := "SFM1MTI" + vecHS384[len("SFMzODQ"):]
	if _, err := s.Verify(mixed, at(vecSignedAt)); !errors.Is(err, ErrInvalid) {
		t.Errorf("HS384 MAC under the HS512 header: %v, want ErrInvalid", err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := vectorSigner(t)
	type UserID int64
	big100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10) // 2^100
	negBig100 := new(big.Int).Neg(big100)
	huge := new(big.Int).Lsh(big.NewInt(1), 8*300) // needs LARGE_BIG_EXT
	n := 7
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"zero", 0, int64(0)},
		{"small int", 255, int64(255)},
		{"int", 256, int64(256)},
		{"negative", -1, int64(-1)},
		{"max int32", math.MaxInt32, int64(math.MaxInt32)},
		{"min int32", math.MinInt32, int64(math.MinInt32)},
		{"above int32", int64(math.MaxInt32) + 1, int64(math.MaxInt32) + 1},
		{"below int32", int64(math.MinInt32) - 1, int64(math.MinInt32) - 1},
		{"max int64", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"min int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"int8", int8(-5), int64(-5)},
		{"int16", int16(-300), int64(-300)},
		{"int32", int32(70000), int64(70000)},
		{"uint", uint(9), int64(9)},
		{"uint8", uint8(200), int64(200)},
		{"uint16", uint16(65535), int64(65535)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64 max", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
		{"uintptr", uintptr(3), int64(3)},
		{"big that fits", big.NewInt(-12), int64(-12)},
		{"big positive", big100, big100},
		{"big negative", negBig100, negBig100},
		{"large big", huge, huge},
		{"float64", 3.25, 3.25},
		{"negative float", -1e300, -1e300},
		{"float32", float32(1.5), 1.5},
		{"string", "héllo", "héllo"},
		{"empty string", "", ""},
		{"bytes", []byte{0, 1, 255}, "\x00\x01\xff"},
		{"atom", Atom("admin"), Atom("admin")},
		{"atom nil", Atom("nil"), nil},
		{"atom true", Atom("true"), true},
		{"unicode atom", Atom("été"), Atom("été")},
		{"tuple", Tuple{Atom("ok"), 1, "x"}, Tuple{Atom("ok"), int64(1), "x"}},
		{"empty tuple", Tuple{}, Tuple{}},
		{"large tuple", Tuple(make([]any, 300)), Tuple(make([]any, 300))},
		{"empty list", []any{}, []any{}},
		{"nil list", []any(nil), []any{}},
		{"byte list", []any{1, 2, 3}, []any{int64(1), int64(2), int64(3)}},
		{"list", []any{"a", 1000, nil, []any{true}}, []any{"a", int64(1000), nil, []any{true}}},
		{"string map", map[string]any{"id": 7, "name": "ann"}, map[any]any{"id": int64(7), "name": "ann"}},
		{"atom map", map[Atom]any{"id": 7, "role": Atom("admin")}, map[any]any{Atom("id"): int64(7), Atom("role"): Atom("admin")}},
		{"any map", map[any]any{1: "one", Atom("k"): nil, "s": Tuple{}, nil: 2.5, true: false},
			map[any]any{int64(1): "one", Atom("k"): nil, "s": Tuple{}, nil: 2.5, true: false}},
		{"empty map", map[string]any{}, map[any]any{}},
		{"named int", UserID(7), int64(7)},
		{"string slice", []string{"a", "b"}, []any{"a", "b"}},
		{"int slice", []int{1, 300}, []any{int64(1), int64(300)}},
		{"array", [2]int{1, 2}, []any{int64(1), int64(2)}},
		{"byte array", [2]byte{'h', 'i'}, "hi"},
		{"string map of strings", map[string]string{"k": "v"}, map[any]any{"k": "v"}},
		{"pointer", &n, int64(7)},
		{"nil pointer", (*int)(nil), nil},
		{"nil big", (*big.Int)(nil), nil},
		{"nested", map[string]any{"a": []any{Tuple{map[string]any{"b": []any{}}}}},
			map[any]any{"a": []any{Tuple{map[any]any{"b": []any{}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Sign(tt.in, WithSignedAt(vecSignedAt))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			got, err := s.Verify(tok, at(vecSignedAt))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !equalTerms(got, tt.want) {
				t.Fatalf("round trip of %#v gave %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// equalTerms is reflect.DeepEqual for decoded terms, comparing *big.Int by
// value.
func equalTerms(a, b any) bool {
	switch x := a.(type) {
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []any:
		y, ok := b.([]any)
		return ok && equalSlices(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSlices(x, y)
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if _, isBig := k.(*big.Int); isBig {
				found := false
				for k2, v2 := range y {
					if equalTerms(k, k2) && equalTerms(v, v2) {
						found = true
						break
					}
				}
				if !found {
					return false
				}
				continue
			}
			w, ok := y[k]
			if !ok || !equalTerms(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

func equalSlices(x, y []any) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !equalTerms(x[i], y[i]) {
			return false
		}
	}
	return true
}

func TestSignUnsupported(t *testing.T) {
	s := vectorSigner(t)
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := map[string]any{
		"struct":         struct{ A int }{1},
		"channel":        make(chan int),
		"func":           func() {},
		"NaN":            math.NaN(),
		"infinity":       math.Inf(-1),
		"long atom":      Atom(strings.Repeat("a", 256)),
		"invalid atom":   Atom("\xff"),
		"long atom key":  map[Atom]any{Atom(strings.Repeat("é", 256)): 1},
		"cyclic":         cyclic,
		"duplicate keys": map[any]any{1: "a", int64(1): "b"},
		"nested struct":  []any{1, struct{}{}},
		"struct key":     map[any]any{struct{}{}: 1},
		"complex":        complex(1, 2),
	}
	for name, data := range tests {
		if tok, err := s.Sign(data); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: Sign = %q, %v, want ErrUnsupported", name, tok, err)
		}
	}
	// Atoms of up to 255 characters are fine, even when longer than 255
	// bytes.
	for _, a := range []Atom{Atom(strings.Repeat("a", 255)), Atom(strings.Repeat("é", 255))} {
		tok, err := s.Sign(a, WithSignedAt(vecSignedAt))
		if err != nil {
			t.Fatalf("Sign(%d-byte atom): %v", len(a), err)
		}
		if v, err := s.Verify(tok, at(vecSignedAt)); err != nil || v != a {
			t.Fatalf("Verify(%d-byte atom) = %v, %v", len(a), v, err)
		}
	}
}

func TestAge(t *testing.T) {
	s := vectorSigner(t)
	const day = 24 * time.Hour
	sign := func(opts ...Option) string {
		t.Helper()
		tok, err := s.Sign("x", append([]Option{WithSignedAt(vecSignedAt)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
		now   time.Duration // after signed_at
		opts  []Option
		want  error
	}{
		{"just signed", vecTokenS42, 0, nil, nil},
		{"at max age", vecTokenS42, day, nil, nil},
		{"just after max age", vecTokenS42, day + time.Millisecond, nil, ErrExpired},
		{"signed in the future", vecTokenS42, -time.Millisecond, nil, ErrInvalid},
		{"override shorter", vecTokenS42, 10 * time.Second, []Option{WithMaxAge(10 * time.Second)}, nil},
		{"override shorter, past", vecTokenS42, 10*time.Second + time.Millisecond, []Option{WithMaxAge(10 * time.Second)}, ErrExpired},
		{"override longer", vecTokenS42, 2 * day, []Option{WithMaxAge(3 * day)}, nil},
		{"override zero", vecTokenS42, 0, []Option{WithMaxAge(0)}, ErrExpired},
		{"override negative", vecTokenS42, 0, []Option{WithMaxAge(-time.Second)}, ErrExpired},
		{"override sub-millisecond", vecTokenS42, time.Millisecond, []Option{WithMaxAge(time.Microsecond)}, ErrExpired},
		{"override infinity", vecTokenS42, 100 * 365 * day, []Option{WithMaxAge(Infinity)}, nil},
		{"override infinity, future", vecTokenS42, -day, []Option{WithMaxAge(Infinity)}, nil},
		{"override zero, future", vecTokenS42, -day, []Option{WithMaxAge(0)}, ErrExpired},
		{"embedded short", sign(WithMaxAge(time.Second)), 2 * time.Second, nil, ErrExpired},
		{"embedded short, overridden", sign(WithMaxAge(time.Second)), 2 * time.Second, []Option{WithMaxAge(time.Hour)}, nil},
		{"embedded fractional", sign(WithMaxAge(1500 * time.Millisecond)), 1500 * time.Millisecond, nil, nil},
		{"embedded fractional, past", sign(WithMaxAge(1500 * time.Millisecond)), 1501 * time.Millisecond, nil, ErrExpired},
		{"embedded zero", sign(WithMaxAge(0)), 0, nil, ErrExpired},
		{"embedded negative", sign(WithMaxAge(-time.Hour)), 0, nil, ErrExpired},
		{"embedded infinity", sign(WithMaxAge(Infinity)), 100 * 365 * day, nil, nil},
		{"embedded infinity, overridden", sign(WithMaxAge(Infinity)), 2 * day, []Option{WithMaxAge(day)}, ErrExpired},
		{"embedded huge", sign(WithMaxAge(math.MaxInt64 / time.Second * time.Second)), 100 * 365 * day, nil, nil},
	}
	for _, tt := range tests {
		opts := append([]Option{at(vecSignedAt.Add(tt.now))}, tt.opts...)
		v, err := s.Verify(tt.token, opts...)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Verify = %#v, %v, want error %v", tt.name, v, err, tt.want)
		}
		if err == nil && v != "x" && v != "42" {
			t.Errorf("%s: Verify = %#v", tt.name, v)
		}
	}
}

// TestVerifyMalformed checks every way a token can be damaged.
func TestVerifyMalformed(t *testing.T) {
	s := vectorSigner(t)
	now := at(vecSignedAt)
	tests := map[string]string{
		"no dots":                 "SFMyNTY",
		"junk":                    "not a token",
		"two segments":            "SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA",
		"four segments":           vecToken42 + ".x",
		"empty fourth segment":    vecToken42 + ".",
		"only dots":               "..",
		"empty segments":          "SFMyNTY..",
		"unknown header":          "SFMyNTZ" + vecToken42[7:],
		"lower-case header":       "sfmyNTY" + vecToken42[7:],
		"padded header":           "SFMyNTY=" + vecToken42[7:],
		"header none":             "bm9uZQ" + vecToken42[7:],
		"padded signature":        vecToken42 + "=",
		"standard base64 sig":     strings.NewReplacer("-", "+", "_", "/").Replace(vecTokenS42),
		"bad payload base64":      strings.Replace(vecToken42, "g2gD", "g2g*", 1),
		"newline in signature":    vecToken42[:60] + "\n" + vecToken42[60:],
		"newline in payload":      vecToken42[:12] + "\r\n" + vecToken42[12:],
		"signature too long":      vecToken42 + "AA",
		"signature too short":     vecToken42[:len(vecToken42)-2],
		"leading space":           " " + vecToken42,
		"trailing space":          vecToken42 + " ",
		"signature of the other":  vecToken42[:strings.LastIndexByte(vecToken42, '.')] + vecTokenS42[strings.LastIndexByte(vecTokenS42, '.'):],
		"HS512 header, HS256 MAC": "SFM1MTI" + vecToken42[7:],
	}
	for name, tok := range tests {
		if v, err := s.Verify(tok, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify(%q) = %#v, %v, want ErrInvalid", name, tok, v, err)
		}
	}
	if _, err := s.Verify("", now); err != ErrMissing {
		t.Errorf("Verify(\"\") = %v, want ErrMissing", err)
	}
}

// Changing any one character of a token, in any segment, invalidates it.
func TestVerifyForged(t *testing.T) {
	s := vectorSigner(t)
	for _, tok := range []string{vecToken42, vecTokenS42, vecHS512} {
		for i := range len(tok) {
			if tok[i] == '.' {
				continue
			}
			for _, c := range []byte{'A', 'B', 'g', '-', '_', '0'} {
				if c == tok[i] {
					continue
				}
				forged := tok[:i] + string(c) + tok[i+1:]
				if v, err := s.Verify(forged, at(vecSignedAt)); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify(%s) with byte %d set to %q = %#v, %v, want ErrInvalid", forged, i, c, v, err)
				}
			}
		}
	}
}

// Every proper prefix of a token is invalid.
func TestVerifyTruncated(t *testing.T) {
	s := vectorSigner(t)
	for _, tok := range []string{vecToken42, vecHS512} {
		for n := 1; n < len(tok); n++ {
			if v, err := s.Verify(tok[:n], at(vecSignedAt)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%q) = %#v, %v, want ErrInvalid", tok[:n], v, err)
			}
		}
	}
}

func TestWrongSecretOrSalt(t *testing.T) {
	signers := map[string][2]string{
		"wrong salt":       {vecSecret, "user sockets"},
		"empty salt":       {vecSecret, ""},
		"wrong secret":     {strings.Repeat("b", 64), vecSalt},
		"truncated secret": {vecSecret[:63], vecSalt},
	}
	for name, p := range signers {
		s, err := New(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		if v, err := s.Verify(vecToken42, at(vecSignedAt)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %#v, %v, want ErrInvalid", name, v, err)
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New(strings.Repeat("a", 19), "salt"); !errors.Is(err, ErrShortSecret) {
		t.Errorf("New with a 19-byte secret: %v, want ErrShortSecret", err)
	}
	if _, err := New(strings.Repeat("a", 20), "salt"); err != nil {
		t.Errorf("New with a 20-byte secret: %v", err)
	}
	if _, err := NewWithKey(nil); err == nil {
		t.Error("NewWithKey(nil) succeeded")
	}
	key := mustHex(t, vecKey)
	s, err := NewWithKey(key)
	if err != nil {
		t.Fatal(err)
	}
	key[0] ^= 1 // the Signer keeps its own copy
	if tok, err := s.Sign(42, WithSignedAt(vecSignedAt)); err != nil || tok != vecToken42 {
		t.Errorf("NewWithKey(vector key).Sign(42) = %s, %v", tok, err)
	}
}

// TestPayloadShapes covers the payloads Plug.Crypto accepts besides the one
// Sign makes, and payloads that authentic tokens could hold but that
// Verify refuses.
func TestPayloadShapes(t *testing.T) {
	s := vectorSigner(t)
	ms := vecSignedAt.UnixMilli()
	enc := func(v any) []byte {
		t.Helper()
		b, err := encodeETF(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hugePos := new(big.Int).Lsh(big.NewInt(1), 70)
	hugeNeg := new(big.Int).Neg(hugePos)
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		payload []byte
		now     time.Duration
		opts    []Option
		want    any
		wantErr error
	}{
		{"3-tuple", enc(Tuple{42, ms, 60}), time.Minute, nil, int64(42), nil},
		{"3-tuple, expired", enc(Tuple{42, ms, 60}), time.Minute + time.Millisecond, nil, nil, ErrExpired},
		{"2-tuple", enc(Tuple{42, ms}), day, nil, int64(42), nil},
		{"2-tuple, expired", enc(Tuple{42, ms}), day + time.Millisecond, nil, nil, ErrExpired},
		{"map", enc(map[Atom]any{"data": 42, "signed": ms}), day, nil, int64(42), nil},
		{"map, expired", enc(map[Atom]any{"data": 42, "signed": ms}), day + time.Millisecond, nil, nil, ErrExpired},
		{"map with extra keys", enc(map[any]any{Atom("data"): "d", Atom("signed"): ms, "x": 1}), 0, nil, "d", nil},
		{"map, nil data", enc(map[Atom]any{"data": nil, "signed": ms}), 0, nil, nil, nil},
		{"map with string keys", enc(map[string]any{"data": 42, "signed": ms}), 0, nil, nil, ErrInvalid},
		{"map without signed", enc(map[Atom]any{"data": 42}), 0, nil, nil, ErrInvalid},
		{"4-tuple", enc(Tuple{42, ms, 60, 1}), 0, nil, nil, ErrInvalid},
		{"1-tuple", enc(Tuple{42}), 0, nil, nil, ErrInvalid},
		{"bare data", enc(42), 0, nil, nil, ErrInvalid},
		{"list", enc([]any{42, ms, 60}), 0, nil, nil, ErrInvalid},
		{"float max age", enc(Tuple{1, ms, 0.5}), 500 * time.Millisecond, nil, int64(1), nil},
		{"float max age, expired", enc(Tuple{1, ms, 0.5}), 501 * time.Millisecond, nil, nil, ErrExpired},
		{"tiny float max age", enc(Tuple{1, ms, 1e-9}), 0, nil, int64(1), nil},
		{"huge float max age", enc(Tuple{1, ms, 1e300}), 100 * 365 * day, nil, int64(1), nil},
		{"negative float max age", enc(Tuple{1, ms, -0.5}), 0, nil, nil, ErrExpired},
		{"infinity", enc(Tuple{1, ms, Atom("infinity")}), 100 * 365 * day, nil, int64(1), nil},
		{"infinity, signed in the future", enc(Tuple{1, ms, Atom("infinity")}), -day, nil, int64(1), nil},
		{"infinity, bad signed_at", enc(Tuple{1, "yesterday", Atom("infinity")}), 0, nil, int64(1), nil},
		{"big max age", enc(Tuple{1, ms, hugePos}), 100 * 365 * day, nil, int64(1), nil},
		{"negative big max age", enc(Tuple{1, ms, hugeNeg}), 0, nil, nil, ErrExpired},
		{"string max age", enc(Tuple{1, ms, "60"}), 0, nil, nil, ErrInvalid},
		{"string max age, overridden", enc(Tuple{1, ms, "60"}), 0, []Option{WithMaxAge(time.Second)}, int64(1), nil},
		{"other atom max age", enc(Tuple{1, ms, Atom("forever")}), 0, nil, nil, ErrInvalid},
		{"nil max age", enc(Tuple{1, ms, nil}), 0, nil, nil, ErrInvalid},
		{"string signed_at", enc(Tuple{1, "now", 60}), 0, nil, nil, ErrInvalid},
		{"float signed_at", enc(Tuple{1, float64(ms), 60}), 0, nil, nil, ErrInvalid},
		{"big signed_at, future", enc(Tuple{1, hugePos, 60}), 0, nil, nil, ErrInvalid},
		{"big signed_at, past", enc(Tuple{1, hugeNeg, 60}), 0, nil, nil, ErrExpired},
		{"min int64 signed_at", enc(Tuple{1, int64(math.MinInt64), Atom("infinity")}), 0, nil, int64(1), nil},
		{"min int64 signed_at, finite", enc(Tuple{1, int64(math.MinInt64), 60}), 0, nil, nil, ErrExpired},
		{"signed_at zero, huge max age", enc(Tuple{1, 0, int64(math.MaxInt64)}), 0, nil, int64(1), nil},
		{"compressed", mustHex(t, "835000000012789ccb604ed4ca636360c8787abe9b31898131b001002fe40547"), 0, nil, int64(42), nil},
		{"executable", mustHex(t, "836803 71 77016d 770166 6101 6e06000068e5cf8b01 6200015180"), 0, nil, nil, ErrInvalid},
		{"pid", mustHex(t, "836803 58 77036e6f6e 00000001 00000000 00000000 6e06000068e5cf8b01 6200015180"), 0, nil, nil, ErrInvalid},
		{"trailing byte", append(enc(Tuple{1, ms, 60}), 0), 0, nil, nil, ErrInvalid},
		{"empty", nil, 0, nil, nil, ErrInvalid},
		{"no version", enc(Tuple{1, ms, 60})[1:], 0, nil, nil, ErrInvalid},
	}
	for _, tt := range tests {
		tok := s.sign(tt.payload)
		opts := append([]Option{at(vecSignedAt.Add(tt.now))}, tt.opts...)
		got, err := s.Verify(tok, opts...)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: Verify = %#v, %v, want %v", tt.name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !equalTerms(got, tt.want) {
			t.Errorf("%s: Verify = %#v, %v, want %#v", tt.name, got, err, tt.want)
		}
	}
}

func TestVerifyInto(t *testing.T) {
	s := vectorSigner(t)
	now := at(vecSignedAt)
	bigTok, err := s.Sign(uint64(math.MaxUint64), WithSignedAt(vecSignedAt))
	if err != nil {
		t.Fatal(err)
	}

	var str string
	if err := s.VerifyInto(vecToken42, &str, now); !errors.Is(err, ErrInvalid) || str != "" {
		t.Errorf("VerifyInto(42, *string) = %q, %v, want ErrInvalid", str, err)
	}
	var n int64 = -1
	if err := s.VerifyInto(vecTokenS42, &n, now); !errors.Is(err, ErrInvalid) || n != -1 {
		t.Errorf("VerifyInto(\"42\", *int64) = %d, %v, want ErrInvalid", n, err)
	}
	var i int
	if err := s.VerifyInto(bigTok, &i, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("VerifyInto(2^64-1, *int) = %d, %v, want ErrInvalid", i, err)
	}
	var v any
	if err := s.VerifyInto(bigTok, &v, now); err != nil || !equalTerms(v, new(big.Int).SetUint64(math.MaxUint64)) {
		t.Errorf("VerifyInto(2^64-1, *any) = %v, %v", v, err)
	}
	if err := s.VerifyInto(vecToken42, &n, at(vecSignedAt.Add(48*time.Hour))); !errors.Is(err, ErrExpired) {
		t.Errorf("VerifyInto of an expired token: %v, want ErrExpired", err)
	}
	if err := s.VerifyInto("", &n, now); !errors.Is(err, ErrMissing) {
		t.Errorf("VerifyInto(\"\"): %v, want ErrMissing", err)
	}
	var f float64
	for _, target := range []any{&f, nil, (*string)(nil), n, (*any)(nil)} {
		if err := s.VerifyInto(vecToken42, target, now); !errors.Is(err, ErrUnsupported) {
			t.Errorf("VerifyInto(%T): %v, want ErrUnsupported", target, err)
		}
	}
}

// A Signer is used by many goroutines at once; run with -race.
func TestConcurrent(t *testing.T) {
	s := vectorSigner(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tok, err := s.Sign(g*1000+i, WithSignedAt(vecSignedAt))
				if err != nil {
					t.Error(err)
					return
				}
				v, err := s.Verify(tok, at(vecSignedAt))
				if err != nil || v != int64(g*1000+i) {
					t.Errorf("Verify = %v, %v", v, err)
					return
				}
				if _, err := s.Verify(vecHS512, at(vecSignedAt)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSign(b *testing.B) {
	s := vectorSigner(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(42); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignMap(b *testing.B) {
	s := vectorSigner(b)
	data := map[string]any{"user_id": 123456, "role": Atom("admin"), "tags": []any{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := vectorSigner(b)
	now := at(vecSignedAt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(vecToken42, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyMap(b *testing.B) {
	s := vectorSigner(b)
	tok, err := s.Sign(map[string]any{"user_id": 123456, "role": Atom("admin"), "tags": []any{"a", "b"}}, WithSignedAt(vecSignedAt))
	if err != nil {
		b.Fatal(err)
	}
	now := at(vecSignedAt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyForged is the cost of refusing a token with a bad MAC.
func BenchmarkVerifyForged(b *testing.B) {
	s := vectorSigner(b)
	forged := vecToken42[:len(vecToken42)-1] + "A"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(forged); err == nil {
			b.Fatal("forged token verified")
		}
	}
}

// BenchmarkNew is the cost of deriving a key, which New pays once.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(vecSecret, vecSalt); err != nil {
			b.Fatal(err)
		}
	}
}
