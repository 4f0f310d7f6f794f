package presence

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The presence payloads are written here rather than by encoding/json's
// reflection: a storm of joins pushes a room's whole state to every
// newcomer, and encoding the maps by reflection (sorting their keys, then
// checking and compacting what each Presence wrote) took a quarter of a
// node's CPU. The bytes are those encoding/json writes: keys sorted, and
// escaped as it escapes them.

// MarshalJSON writes the state as a JSON object, its keys sorted.
func (s State) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return s.appendJSON(make([]byte, 0, 2+96*len(s)))
}

func (s State) appendJSON(b []byte) ([]byte, error) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		var err error
		if b, err = s[k].appendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON writes {"joins":…,"leaves":…}.
func (d Diff) MarshalJSON() ([]byte, error) {
	return d.appendJSON(make([]byte, 0, 32+96*(len(d.Joins)+len(d.Leaves))))
}

func (d Diff) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"joins":`...)
	if b, err = d.Joins.appendNullable(b); err != nil {
		return nil, err
	}
	b = append(b, `,"leaves":`...)
	if b, err = d.Leaves.appendNullable(b); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func (s State) appendNullable(b []byte) ([]byte, error) {
	if s == nil {
		return append(b, "null"...), nil
	}
	return s.appendJSON(b)
}

// appendJSON writes {"metas":[…]} followed by the Fields. The metas are
// written as they are: every one was encoded by a node, or checked when
// another node's came in.
func (p Presence) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"metas":[`...)
	for i, m := range p.Metas {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	b = append(b, ']')
	if len(p.Fields) > 0 {
		keys := make([]string, 0, len(p.Fields))
		for k := range p.Fields {
			if k == "metas" {
				return nil, ErrFieldNamedMetas
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			vb, err := json.Marshal(p.Fields[k])
			if err != nil {
				return nil, fmt.Errorf("presence: field %q: %w", k, err)
			}
			b = append(append(appendString(append(b, ','), k), ':'), vb...)
		}
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
