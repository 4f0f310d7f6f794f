package token

import (
	"errors"
	"testing"
	"time"
)

// etfSeeds are payloads of real tokens, the other payload shapes, and
// encodings the encoder never makes (legacy atoms, string tails,
// non-normalized bigs, compressed terms), some of them cut short.
func etfSeeds(f *testing.F) [][]byte {
	hexSeeds := []string{
		"836803612a6e06000068e5cf8b016200015180",
		"8368036d0000000234326e06000068e5cf8b016200015180",
		"835000000012789ccb604ed4ca636360c8787abe9b31898131b001002fe40547",
		"836c0000000161016b00020203",
		"836c0000000161016102",
		"836f00000002000100",
		"836e0900000000000000000001",
		"836400026f6b",
		"8373026f6b",
		"837302e974",
		"83467ff8000000000000",
		"836900000002610161",
		"8371",
		"8350000000027801",
	}
	var seeds [][]byte
	for _, h := range hexSeeds {
		seeds = append(seeds, mustHex(f, h))
	}
	ms := vecSignedAt.UnixMilli()
	for _, v := range []any{
		Tuple{42, ms},
		map[Atom]any{"data": "d", "signed": ms},
		Tuple{map[any]any{Atom("id"): 7, "x": []any{1.5, nil, true}}, ms, Atom("infinity")},
		Tuple{Tuple{Atom("ok"), []any{1000, -1}}, ms, 0.5},
		Tuple{uint64(1) << 63, ms, 60},
	} {
		b, err := encodeETF(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzDecodeETF checks that decoding never panics, that every error wraps
// ErrInvalid, and that what decodes survives encoding and decoding again.
func FuzzDecodeETF(f *testing.F) {
	for _, seed := range etfSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeETF(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeETF(%x): %v does not wrap ErrInvalid", data, err)
			}
			return
		}
		b, err := encodeETF(nil, v)
		if err != nil {
			t.Fatalf("decodeETF(%x) = %#v, which does not encode: %v", data, v, err)
		}
		w, err := decodeETF(b)
		if err != nil {
			t.Fatalf("decodeETF(%x) = %#v, encoded as %x, which does not decode: %v", data, v, b, err)
		}
		if !equalTerms(v, w) {
			t.Fatalf("decodeETF(%x) = %#v, but after encoding (%x) and decoding: %#v", data, v, b, w)
		}
	})
}

// FuzzVerify checks that Verify never panics and returns only its three
// errors, for arbitrary tokens and for authentic tokens around arbitrary
// payloads, and that Sign accepts whatever Verify returns.
func FuzzVerify(f *testing.F) {
	for _, tok := range []string{vecToken42, vecTokenS42, vecHS384, vecHS512, "", "SFMyNTY..", "a.b.c"} {
		f.Add(tok, []byte{})
	}
	for _, seed := range etfSeeds(f) {
		f.Add("", seed)
	}
	s := vectorSigner(f)
	now := at(vecSignedAt.Add(time.Hour))
	f.Fuzz(func(t *testing.T, tok string, payload []byte) {
		check := func(tok string) {
			v, err := s.Verify(tok, now)
			if err != nil {
				if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrMissing) {
					t.Fatalf("Verify(%q): unexpected error %v", tok, err)
				}
				return
			}
			if _, err := s.Sign(v); err != nil {
				t.Fatalf("Verify(%q) = %#v, which Sign refuses: %v", tok, v, err)
			}
		}
		check(tok)
		check(s.sign(payload))
	})
}
