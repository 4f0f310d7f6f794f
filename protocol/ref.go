package protocol

// A Ref is a message reference held as the JSON text the client sent: `"3"`
// for a string (quotes included), `3` for a number, or "" for null or absent.
//
// Refs are opaque to the server. They are echoed verbatim, keeping their
// JSON type, and compared as text, so the string "1" and the number 1 are
// different refs, as the protocol requires.
type Ref string

// StringRef returns the ref whose value is the string s.
// For example, StringRef("3") is Ref(`"3"`). Invalid UTF-8 in s is replaced
// by U+FFFD, as encoding/json does.
func StringRef(s string) Ref {
	return Ref(appendQuoted(make([]byte, 0, len(s)+2), s))
}

// IsNull reports whether r is null.
func (r Ref) IsNull() bool {
	return r == ""
}

// Value returns the value of r without JSON quoting: "3" for both `"3"` and
// `3`, and "" for null. Binary frames carry refs in this form.
//
// The Value of a Ref that is not valid JSON string or number text is the
// text itself.
func (r Ref) Value() string {
	if len(r) < 2 || r[0] != '"' {
		return string(r)
	}
	end, escaped, reason := scanString(r, 0)
	switch {
	case reason != "" || end != len(r):
		return string(r)
	case !escaped:
		return string(r[1 : len(r)-1])
	}
	return string(appendUnquoted(nil, r[1:len(r)-1]))
}

// MarshalJSON returns the JSON text of r, or null. It lets a Ref be embedded
// in values passed to encoding/json.
func (r Ref) MarshalJSON() ([]byte, error) {
	if r == "" {
		return []byte("null"), nil
	}
	return []byte(r), nil
}

// valid reports whether r is null, or JSON string or number text.
func (r Ref) valid() bool {
	if r == "" {
		return true
	}
	var end int
	ok := true
	if r[0] == '"' {
		var reason string
		end, _, reason = scanString(r, 0)
		ok = reason == ""
	} else {
		end, ok = scanNumber(r, 0)
	}
	return ok && end == len(r)
}

// appendJSON appends r's JSON text, or null, to dst.
func (r Ref) appendJSON(dst []byte) []byte {
	if r == "" {
		return append(dst, "null"...)
	}
	return append(dst, r...)
}

// appendValue appends r's unquoted value to dst, without allocating.
// r must be valid.
func (r Ref) appendValue(dst []byte) []byte {
	if len(r) < 2 || r[0] != '"' {
		return append(dst, r...)
	}
	return appendUnquoted(dst, r[1:len(r)-1])
}
