// Package wire reads and writes the frames of Phoenix's V2 JSON serializer
// with as little work as a load tool can get away with: a frame is split
// into the raw JSON text of its five elements, without decoding the
// payload, and the few payload fields the tools need are found by a
// targeted search.
//
// Split checks the array's structure (brackets, strings, element count) but
// not the full JSON grammar of the payload: it is meant for frames from a
// server under test, where a structural error is worth counting and a
// subtler one is the serializer's own tests' business.
package wire

import (
	"bytes"
	"errors"
	"strconv"
)

// Frame is one V2 message: [join_ref, ref, topic, event, payload]. Each
// field is the raw JSON text of its element, a slice of the frame that was
// split: strings keep their quotes, an absent ref is the text null.
type Frame struct {
	JoinRef []byte
	Ref     []byte
	Topic   []byte
	Event   []byte
	Payload []byte
}

// ErrMalformed is returned by Split for a frame that is not a JSON array of
// at least five elements.
var ErrMalformed = errors.New("wire: malformed V2 frame")

// maxDepth bounds the nesting Split follows in a payload.
const maxDepth = 64

// Split splits a V2 text frame into its elements. Extra elements after the
// payload are skipped, as Phoenix does. The slices of the result alias b.
func Split(b []byte) (Frame, error) {
	var f Frame
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return f, ErrMalformed
	}
	i++
	var elems [5][]byte
	for n := 0; ; n++ {
		i = skipSpace(b, i)
		end, ok := skipValue(b, i, 0)
		if !ok {
			return f, ErrMalformed
		}
		if n < len(elems) {
			elems[n] = b[i:end]
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return f, ErrMalformed
		}
		if b[i] == ']' {
			if n < len(elems)-1 {
				return f, ErrMalformed
			}
			break
		}
		if b[i] != ',' {
			return f, ErrMalformed
		}
		i++
	}
	if skipSpace(b, i+1) != len(b) {
		return f, ErrMalformed
	}
	f = Frame{JoinRef: elems[0], Ref: elems[1], Topic: elems[2], Event: elems[3], Payload: elems[4]}
	return f, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i].
// Scalars other than strings are taken as the run of bytes up to the next
// delimiter; their spelling is not checked.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		if depth >= maxDepth {
			return 0, false
		}
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, true
		}
		for {
			if closing == '}' {
				// A member: a string key, a colon, then the value.
				if i >= len(b) || b[i] != '"' {
					return 0, false
				}
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = skipSpace(b, i+1)
			}
			end, ok := skipValue(b, i, depth+1)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == closing {
				return i + 1, true
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipSpace(b, i+1)
		}
	case ',', ']', '}', ':':
		return 0, false
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', ']', '}', ':', ' ', '\t', '\n', '\r', '"', '[', '{':
			return i, i > start
		}
		i++
	}
	return i, i > start
}

// skipString returns the index just past the string whose opening quote is
// b[i]. A quote ends it unless an odd number of backslashes precede it.
func skipString(b []byte, i int) (int, bool) {
	start := i + 1
	for i = start; ; i++ {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, false
		}
		i += j
		k := i
		for k > start && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1, true
		}
	}
}

// IsNull reports whether tok is the JSON text null.
func IsNull(tok []byte) bool { return string(tok) == "null" }

// Unquote returns the contents of tok, a JSON string without escapes, and
// true; for any other token (null, a number, a string with escapes) it
// returns false. The result aliases tok.
func Unquote(tok []byte) ([]byte, bool) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return nil, false
	}
	s := tok[1 : len(tok)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	return s, true
}

// Is reports whether tok is the JSON string s, written without escapes.
func Is(tok []byte, s string) bool {
	return len(tok) == len(s)+2 && tok[0] == '"' && tok[len(tok)-1] == '"' && string(tok[1:len(tok)-1]) == s
}

// RefNumber returns the number in tok, a ref written as a JSON string of
// decimal digits (as the tools send them), and true; anything else gives
// false.
func RefNumber(tok []byte) (uint64, bool) {
	s, ok := Unquote(tok)
	if !ok {
		return 0, false
	}
	return parseUint(s)
}

// Int returns the integer value of the first member named key in a JSON
// object, found by a plain search for "key": (so a nested member of that
// name would match too: callers pick names that occur once), and true.
// A missing member or a non-integer value gives false.
func Int(obj []byte, key string) (int64, bool) {
	v, ok := member(obj, key)
	if !ok {
		return 0, false
	}
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	end := 0
	for end < len(v) && '0' <= v[end] && v[end] <= '9' {
		end++
	}
	n, ok := parseUint(v[:end])
	if !ok || n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// Status returns the status of a reply payload,
// {"status":"ok","response":…}, without its quotes.
func Status(payload []byte) ([]byte, bool) {
	v, ok := member(payload, "status")
	if !ok || len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 {
		return nil, false
	}
	return v[1 : 1+end], true
}

// Response returns the raw JSON text of a reply payload's response: what
// follows "response": up to the payload's closing brace. It relies on
// response being the last member, as every Phoenix server writes it.
func Response(payload []byte) ([]byte, bool) {
	v, ok := member(payload, "response")
	if !ok {
		return nil, false
	}
	v = bytes.TrimRight(v, " \t\r\n")
	if len(v) < 2 || v[len(v)-1] != '}' {
		return nil, false
	}
	return bytes.TrimRight(v[:len(v)-1], " \t\r\n"), true
}

// member returns what follows "key": in obj, spaces skipped.
func member(obj []byte, key string) ([]byte, bool) {
	for i := 0; i < len(obj); {
		j := bytes.Index(obj[i:], []byte(key))
		if j < 0 {
			return nil, false
		}
		j += i
		k := j + len(key)
		if j > 0 && obj[j-1] == '"' && k < len(obj) && obj[k] == '"' {
			k = skipSpace(obj, k+1)
			if k < len(obj) && obj[k] == ':' {
				return obj[skipSpace(obj, k+1):], true
			}
		}
		i = j + 1
	}
	return nil, false
}

// parseUint parses decimal digits without allocating.
func parseUint(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// AppendRef appends ref as a JSON string of decimal digits.
func AppendRef(dst []byte, ref uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, ref, 10)
	return append(dst, '"')
}

// AppendPush appends a client message
// ["joinRef","ref","topic","event",payload], refs as decimal strings. A
// joinRef of 0 is written as null, as for heartbeats.
func AppendPush(dst []byte, joinRef, ref uint64, topic, event string, payload []byte) []byte {
	dst = append(dst, '[')
	if joinRef == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = AppendRef(dst, joinRef)
	}
	dst = append(dst, ',')
	dst = AppendRef(dst, ref)
	dst = append(dst, ",\""...)
	dst = append(dst, topic...)
	dst = append(dst, "\",\""...)
	dst = append(dst, event...)
	dst = append(dst, "\","...)
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendHeartbeat appends [null,"ref","phoenix","heartbeat",{}].
func AppendHeartbeat(dst []byte, ref uint64) []byte {
	return AppendPush(dst, 0, ref, "phoenix", "heartbeat", []byte("{}"))
}

// A Scanner reads a JSON value in one pass: a reader of nested objects
// and arrays goes through each byte once, where splitting each level
// apart before reading into it would go through the innermost bytes once
// per level. Its methods read one value each, from where the last one
// ended, and report whether it was well formed; after a false, the
// Scanner is of no further use.
type Scanner struct {
	b []byte
	i int
}

// NewScanner returns a Scanner of b.
func NewScanner(b []byte) *Scanner { return &Scanner{b: b} }

// Skip reads past a value of any kind.
func (s *Scanner) Skip() bool {
	i := skipSpace(s.b, s.i)
	end, ok := skipValue(s.b, i, 1)
	s.i = end
	return ok
}

// String reads a string and returns its raw text, quotes included.
func (s *Scanner) String() ([]byte, bool) {
	i := skipSpace(s.b, s.i)
	if i >= len(s.b) || s.b[i] != '"' {
		return nil, false
	}
	end, ok := skipString(s.b, i)
	s.i = end
	return s.b[i:end], ok
}

// Object reads an object. It calls fn with the raw key (quotes included)
// of each member, in order; fn must read the member's value with one of
// the Scanner's methods and return whether it was well formed.
func (s *Scanner) Object(fn func(key []byte) bool) bool {
	return s.each('{', fn)
}

// Array reads an array. It calls fn for each element, which fn must read
// with one of the Scanner's methods, returning whether it was well
// formed.
func (s *Scanner) Array(fn func() bool) bool {
	return s.each('[', func([]byte) bool { return fn() })
}

// Done reports whether nothing but white space follows what was read.
func (s *Scanner) Done() bool { return skipSpace(s.b, s.i) == len(s.b) }

// each reads an object ('{') or an array ('[').
func (s *Scanner) each(open byte, fn func(key []byte) bool) bool {
	b := s.b
	i := skipSpace(b, s.i)
	if i >= len(b) || b[i] != open {
		return false
	}
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closing {
		s.i = i + 1
		return true
	}
	for {
		var key []byte
		if open == '{' {
			if i >= len(b) || b[i] != '"' {
				return false
			}
			end, ok := skipString(b, i)
			if !ok {
				return false
			}
			key = b[i:end]
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i++
		}
		s.i = i
		if !fn(key) {
			return false
		}
		i = skipSpace(b, s.i)
		if i >= len(b) {
			return false
		}
		if b[i] == closing {
			s.i = i + 1
			return true
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
}
