package main

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

// presences is a topic's presence as a client keeps it: each key with the
// phx_ref of each of its metas, in order. The other fields of a meta are
// not kept: what the storm checks is who is there.
type presences map[string][]string

// presenceDiff is a presence_diff's payload.
type presenceDiff struct {
	joins, leaves presences
}

// errPresence is returned for a presence payload of the wrong shape.
var errPresence = errors.New("malformed presence payload")

// parsePresences reads a presence_state payload, or the joins or leaves of
// a presence_diff: {"key":{"metas":[{…,"phx_ref":"…"},…]},…}. intern, when
// not nil, returns a string for a key, so that the same key held by many
// clients takes its memory once.
func parsePresences(obj []byte, intern func([]byte) string) (presences, error) {
	ps := presences{}
	var err error
	ok := wire.Members(obj, func(k, v []byte) bool {
		key, kerr := jsonString(k, intern)
		if kerr != nil {
			err = kerr
			return false
		}
		var refs []string
		found := false
		if !wire.Members(v, func(name, metas []byte) bool {
			if !wire.Is(name, "metas") {
				return true
			}
			found = wire.Elements(metas, func(meta []byte) bool {
				ref, rerr := metaRef(meta)
				if rerr != nil {
					err = rerr
					return false
				}
				refs = append(refs, ref)
				return true
			}) && err == nil
			return false
		}) || !found {
			if err == nil {
				err = errPresence
			}
			return false
		}
		ps[key] = refs
		return err == nil
	})
	if !ok && err == nil {
		err = errPresence
	}
	return ps, err
}

// metaRef returns the phx_ref of a meta.
func metaRef(meta []byte) (string, error) {
	var ref string
	var err error
	found := false
	ok := wire.Members(meta, func(k, v []byte) bool {
		if !wire.Is(k, "phx_ref") {
			return true
		}
		found = true
		ref, err = jsonString(v, nil)
		return false
	})
	if err == nil && (!ok || !found) {
		err = errPresence
	}
	return ref, err
}

// jsonString decodes the JSON string tok.
func jsonString(tok []byte, intern func([]byte) string) (string, error) {
	if s, ok := wire.Unquote(tok); ok {
		if intern != nil {
			return intern(s), nil
		}
		return string(s), nil
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", errPresence
	}
	return s, nil
}

// parseDiff reads a presence_diff's payload, {"joins":…,"leaves":…}.
func parseDiff(payload []byte, intern func([]byte) string) (presenceDiff, error) {
	var d presenceDiff
	var err error
	ok := wire.Members(payload, func(k, v []byte) bool {
		switch {
		case wire.Is(k, "joins"):
			d.joins, err = parsePresences(v, intern)
		case wire.Is(k, "leaves"):
			d.leaves, err = parsePresences(v, intern)
		}
		return err == nil
	})
	if err == nil && (!ok || d.joins == nil || d.leaves == nil) {
		err = errPresence
	}
	return d, err
}

// syncState is phoenix.js's Presence.syncState: the state becomes
// newState, by way of the joins and leaves that lead there, so that what
// was known before a reconnect and is gone since leaves.
func syncState(state, newState presences) presences {
	joins, leaves := presences{}, presences{}
	for key, refs := range state {
		if _, ok := newState[key]; !ok {
			leaves[key] = refs
		}
	}
	for key, newRefs := range newState {
		cur, ok := state[key]
		if !ok {
			joins[key] = newRefs
			continue
		}
		var joined, left []string
		for _, r := range newRefs {
			if !slices.Contains(cur, r) {
				joined = append(joined, r)
			}
		}
		for _, r := range cur {
			if !slices.Contains(newRefs, r) {
				left = append(left, r)
			}
		}
		if len(joined) > 0 {
			joins[key] = joined
		}
		if len(left) > 0 {
			leaves[key] = left
		}
	}
	return syncDiff(state, presenceDiff{joins: joins, leaves: leaves})
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
			var kept []string
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
		var kept []string
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
