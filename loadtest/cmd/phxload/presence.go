package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

// presences is a topic's presence as a client keeps it: each key with the
// phx_ref of each of its metas, in order, keys and refs as symbols. The
// other fields of a meta are not kept: what the storm checks is who is
// there.
//
// Symbols rather than strings because thousands of clients hold the same
// presence: a room's state is parsed once per member, and numbers take
// neither an allocation per client nor the collector's time.
type presences map[symbol][]symbol

// presenceDiff is a presence_diff's payload.
type presenceDiff struct {
	joins, leaves presences
}

// errPresence is returned for a presence payload of the wrong shape.
var errPresence = errors.New("malformed presence payload")

// A symbol stands for a string of a symbols table.
type symbol uint32

// symbols numbers strings, the same string always the same number, from
// any goroutine.
type symbols struct {
	// The strings prefix+"0" … prefix+"<n-1>" are symbols 1 … n, found
	// without a lookup: the storm's members' keys, one in every meta.
	prefix string
	n      int

	seed   maphash.Seed
	last   atomic.Uint32 // the latest symbol given
	shards [64]symbolShard
}

type symbolShard struct {
	mu  sync.Mutex
	ids map[string]symbol
}

// newSymbols returns a table whose first n symbols are prefix followed
// by 0 … n-1 in decimal.
func newSymbols(prefix string, n int) *symbols {
	s := &symbols{prefix: prefix, n: n, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].ids = map[string]symbol{}
	}
	s.last.Store(uint32(n))
	return s
}

// of returns b's symbol, numbering it if it is new.
func (s *symbols) of(b []byte) symbol {
	if i, ok := s.numbered(b); ok {
		return symbol(i + 1)
	}
	sh := &s.shards[maphash.Bytes(s.seed, b)%uint64(len(s.shards))]
	sh.mu.Lock()
	id, ok := sh.ids[string(b)]
	if !ok {
		id = symbol(s.last.Add(1))
		sh.ids[string(b)] = id
	}
	sh.mu.Unlock()
	return id
}

// numbered returns i if b is prefix followed by i, written as strconv
// writes it, for i < n.
func (s *symbols) numbered(b []byte) (int, bool) {
	digits, ok := bytes.CutPrefix(b, []byte(s.prefix))
	if !ok || len(digits) == 0 || len(digits) > 9 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	i := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, i < s.n
}

// parsePresences reads a presence_state payload, or the joins or leaves of
// a presence_diff: {"key":{"metas":[{…,"phx_ref":"…"},…]},…}, in one pass.
// hint is the number of keys expected.
func parsePresences(obj []byte, syms *symbols, hint int) (presences, error) {
	s := wire.NewScanner(obj)
	ps := make(presences, hint)
	if !readPresences(s, syms, ps) || !s.Done() {
		return nil, errPresence
	}
	return ps, nil
}

// readPresences reads an object of presences into ps.
func readPresences(s *wire.Scanner, syms *symbols, ps presences) bool {
	return s.Object(func(k []byte) bool {
		key, ok := symbolOf(k, syms)
		if !ok {
			return false
		}
		var refs []symbol
		found := false
		if !s.Object(func(name []byte) bool {
			if !wire.Is(name, "metas") {
				return s.Skip()
			}
			found, refs = true, refs[:0]
			return s.Array(func() bool {
				ref, ok := readRef(s, syms)
				refs = append(refs, ref)
				return ok
			})
		}) || !found {
			return false
		}
		ps[key] = refs
		return true
	})
}

// readRef reads a meta and returns its phx_ref.
func readRef(s *wire.Scanner, syms *symbols) (symbol, bool) {
	var ref symbol
	found := false
	ok := s.Object(func(k []byte) bool {
		if !wire.Is(k, "phx_ref") {
			return s.Skip()
		}
		tok, ok := s.String()
		if ok {
			ref, ok = symbolOf(tok, syms)
		}
		found = true
		return ok
	})
	return ref, ok && found
}

// symbolOf returns the symbol of the JSON string tok.
func symbolOf(tok []byte, syms *symbols) (symbol, bool) {
	if s, ok := wire.Unquote(tok); ok {
		return syms.of(s), true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return 0, false
	}
	return syms.of([]byte(s)), true
}

// parseDiff reads a presence_diff's payload, {"joins":…,"leaves":…}.
func parseDiff(payload []byte, syms *symbols) (presenceDiff, error) {
	var d presenceDiff
	s := wire.NewScanner(payload)
	ok := s.Object(func(k []byte) bool {
		var into *presences
		switch {
		case wire.Is(k, "joins"):
			into = &d.joins
		case wire.Is(k, "leaves"):
			into = &d.leaves
		default:
			return s.Skip()
		}
		*into = presences{}
		return readPresences(s, syms, *into)
	})
	if !ok || !s.Done() || d.joins == nil || d.leaves == nil {
		return presenceDiff{}, errPresence
	}
	return d, nil
}

// syncState is phoenix.js's Presence.syncState: the state becomes
// newState, by way of the joins and leaves that lead there, so that what
// was known before a reconnect and is gone since leaves. newState is
// taken, and returned in place of state.
//
// Taken together, phoenix.js's joins and leaves leave a key that both
// states hold with its current metas that newState still has, in their
// order, then newState's other metas; a key whose metas all left is
// removed. Keys only state holds leave; keys only newState holds join.
func syncState(state, newState presences) presences {
	for key, newRefs := range newState {
		cur, ok := state[key]
		if !ok || !slices.ContainsFunc(cur, func(r symbol) bool { return slices.Contains(newRefs, r) }) {
			if ok && len(cur) > 0 && len(newRefs) == 0 {
				delete(newState, key) // its last metas left
			}
			continue // newRefs as they are: nothing current is kept
		}
		var kept []symbol
		for _, r := range cur {
			if slices.Contains(newRefs, r) {
				kept = append(kept, r)
			}
		}
		for _, r := range newRefs {
			if !slices.Contains(cur, r) {
				kept = append(kept, r)
			}
		}
		newState[key] = kept
	}
	return newState
}

// syncDiff is phoenix.js's Presence.syncDiff: a join replaces its key's
// metas by its own, after those of the key's current metas it does not
// repeat; a leave removes its metas, and the key with the last of them.
func syncDiff(state presences, d presenceDiff) presences {
	if state == nil {
		state = presences{}
	}
	for key, joined := range d.joins {
		metas := slices.Clone(joined)
		if cur, ok := state[key]; ok {
			var kept []symbol
			for _, r := range cur {
				if !slices.Contains(joined, r) {
					kept = append(kept, r)
				}
			}
			metas = append(kept, metas...)
		}
		state[key] = metas
	}
	for key, left := range d.leaves {
		cur, ok := state[key]
		if !ok {
			continue
		}
		// A new slice: left may be the very metas it removes.
		var kept []symbol
		for _, r := range cur {
			if !slices.Contains(left, r) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(state, key)
		} else {
			state[key] = kept
		}
	}
	return state
}
