package protocol

import (
	"fmt"
	"unicode/utf8"
)

// The decoders use a hand-written JSON scanner instead of encoding/json: they
// only need to locate five values in a frame and to copy them out, which is
// far cheaper than building a value tree. The scanner accepts exactly the
// texts that json.Valid accepts, except that it also rejects invalid UTF-8
// inside strings, which RFC 8259 forbids and WebSocket text frames cannot
// carry.

// text is the type of the JSON text read by the scanning functions: frames
// are []byte, refs are strings.
type text interface {
	~string | ~[]byte
}

// maxDepth limits the nesting of arrays and objects in a frame, as
// encoding/json does, so that a hostile frame cannot exhaust the stack.
const maxDepth = 10000

// plain reports the bytes that may appear unescaped and unexamined inside a
// JSON string: ASCII other than control characters, '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}

// unhex returns the value of the hexadecimal digit c, or -1.
func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 returns the value of the four hexadecimal digits at s[i:], or -1.
func hex4[T text](s T, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	a, b, c, d := unhex(s[i]), unhex(s[i+1]), unhex(s[i+2]), unhex(s[i+3])
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return -1
	}
	return a<<12 | b<<8 | c<<4 | d
}

// scanString reads the JSON string whose opening quote is s[i]. It returns
// the index just past the closing quote and whether the string holds
// escapes, or a reason why the string is invalid.
func scanString[T text](s T, i int) (end int, escaped bool, reason string) {
	i++
	for i < len(s) {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, escaped, ""
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				return 0, false, "unterminated string"
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(s, i+2) < 0 {
					return 0, false, "invalid \\u escape in string"
				}
				i += 6
			default:
				return 0, false, fmt.Sprintf("invalid escape %q in string", "\\"+string(s[i+1]))
			}
		case c < 0x20:
			return 0, false, "control character in string"
		default:
			// Converting at most utf8.UTFMax bytes keeps the conversion on
			// the stack when s is a []byte.
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				return 0, false, "invalid UTF-8 in string"
			}
			i += size
		}
	}
	return 0, false, "unterminated string"
}

// scanNumber reads the JSON number starting at s[i]. It returns the index
// just past it, or false if there is no valid number at s[i].
func scanNumber[T text](s T, i int) (end int, ok bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return 0, false
	case s[i] == '0':
		i++
	case isDigit(s[i]):
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, true
}

// A scanner walks the JSON text of one frame.
type scanner struct {
	data []byte
	pos  int // index of the next unread byte
}

// skipSpace advances past JSON whitespace.
func (s *scanner) skipSpace() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end of the
// data.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// unexpected returns the error for the byte at the current position.
func (s *scanner) unexpected(context string) error {
	if s.pos >= len(s.data) {
		return malformed("unexpected end of JSON input " + context)
	}
	return malformed(fmt.Sprintf("invalid character %q at offset %d %s", s.data[s.pos], s.pos, context))
}

// str reads the string at the current position, which must start with a
// quote. It returns the text between the quotes and whether it holds
// escapes.
func (s *scanner) str() (body []byte, escaped bool, err error) {
	start := s.pos
	end, escaped, reason := scanString(s.data, start)
	if reason != "" {
		return nil, false, malformed(fmt.Sprintf("%s at offset %d", reason, start))
	}
	s.pos = end
	return s.data[start+1 : end-1], escaped, nil
}

// value reads one JSON value, validating it. depth is the number of arrays
// and objects that enclose it.
func (s *scanner) value(depth int) error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.number()
	}
	return s.unexpected("looking for a value")
}

// rawValue reads one JSON value like value, and returns its text.
func (s *scanner) rawValue(depth int) ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.value(depth); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// number reads the number at the current position.
func (s *scanner) number() error {
	end, ok := scanNumber(s.data, s.pos)
	if !ok {
		return malformed(fmt.Sprintf("invalid number at offset %d", s.pos))
	}
	s.pos = end
	return nil
}

// literal reads the literal lit, which must be at the current position.
func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return malformed(fmt.Sprintf("invalid literal at offset %d", s.pos))
	}
	s.pos += len(lit)
	return nil
}

// array reads the array whose '[' is at the current position.
func (s *scanner) array(depth int) error {
	if depth > maxDepth {
		return malformed("arrays and objects nested too deeply")
	}
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.unexpected("after array element")
		}
	}
}

// object reads the object whose '{' is at the current position.
func (s *scanner) object(depth int) error {
	if depth > maxDepth {
		return malformed("arrays and objects nested too deeply")
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if _, _, err := s.key(); err != nil {
			return err
		}
		if err := s.value(depth); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.unexpected("after object value")
		}
	}
}

// key reads an object key and the colon after it, and returns the key's
// text between the quotes.
func (s *scanner) key() (body []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.unexpected("looking for an object key")
	}
	if body, escaped, err = s.str(); err != nil {
		return nil, false, err
	}
	if s.peek() != ':' {
		return nil, false, s.unexpected("after object key")
	}
	s.pos++
	return body, escaped, nil
}

// end checks that nothing but whitespace follows the current position.
func (s *scanner) end() error {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.unexpected("after top-level value")
	}
	return nil
}
