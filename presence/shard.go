package presence

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// entry is one tracked meta: a key tracked by one channel (its owner).
type entry struct {
	owner string          // the tracking channel's id
	node  string          // the node the owner runs on
	ref   string          // phx_ref
	meta  json.RawMessage // the meta as sent, with phx_ref (and phx_ref_prev)
}

type topicState struct {
	keys map[string][]*entry // in the order tracked
	// pending gathers changes during a batch window; timer flushes them.
	pending *Diff
	timer   *time.Timer
}

type ownedKey struct{ topic, key string }

// shardState is a shard's presences: written by its actor only, read by
// List and Count under the read lock. It lives outside the actor so that it
// survives restarts.
type shardState struct {
	mu      sync.RWMutex
	topics  map[string]*topicState // guarded by mu
	byOwner map[string][]ownedKey  // owner → what it tracks; actor only
	stopped bool                   // guarded by mu: no new batch timers
}

// Messages of a presence shard.
type (
	track struct {
		quiet
		topic, key, owner string
		meta              map[string]json.RawMessage
	}
	update struct {
		quiet
		topic, key, owner string
		meta              map[string]json.RawMessage
	}
	untrack struct {
		quiet
		topic, key, owner string
		strict            bool // an error if not tracked (Untrack), not for cleanups
	}
	flush struct {
		quiet
		topic string
	}
	crash struct{ quiet }
	reply struct{ err error }
)

// quiet keeps the runtime from logging messages to a stopped shard.
type quiet struct{}

func (quiet) IgnoreDeadLetterLogging() {}

type shard struct {
	t  *Tracker
	st *shardState
}

func (s *shard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *track:
		ctx.Respond(reply{s.track(m)})
	case *update:
		ctx.Respond(reply{s.update(m)})
	case *untrack:
		err := s.untrack(m)
		if ctx.Sender() != nil {
			ctx.Respond(reply{err})
		}
	case *flush:
		s.flush(m.topic)
	case *crash:
		panic("presence shard crash requested")
	}
}

func (s *shard) find(topic, key, owner string) (*topicState, int) {
	ts := s.st.topics[topic]
	if ts == nil {
		return nil, -1
	}
	for i, e := range ts.keys[key] {
		if e.owner == owner {
			return ts, i
		}
	}
	return ts, -1
}

func (s *shard) track(m *track) error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if _, i := s.find(m.topic, m.key, m.owner); i >= 0 {
		return ErrAlreadyTracked
	}
	e := s.newEntry(m.owner, m.meta, "")
	ts := s.st.topics[m.topic]
	if ts == nil {
		ts = &topicState{keys: make(map[string][]*entry)}
		s.st.topics[m.topic] = ts
	}
	ts.keys[m.key] = append(ts.keys[m.key], e)
	s.st.byOwner[m.owner] = append(s.st.byOwner[m.owner], ownedKey{m.topic, m.key})
	s.changed(m.topic, ts, m.key, e, nil)
	return nil
}

func (s *shard) update(m *update) error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ts, i := s.find(m.topic, m.key, m.owner)
	if i < 0 {
		return ErrNotTracked
	}
	old := ts.keys[m.key][i]
	e := s.newEntry(m.owner, m.meta, old.ref)
	ts.keys[m.key][i] = e
	s.changed(m.topic, ts, m.key, e, old)
	return nil
}

func (s *shard) untrack(m *untrack) error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ts, i := s.find(m.topic, m.key, m.owner)
	if i < 0 {
		if m.strict {
			return ErrNotTracked
		}
		return nil
	}
	old := ts.keys[m.key][i]
	entries := append(ts.keys[m.key][:i:i], ts.keys[m.key][i+1:]...)
	if len(entries) == 0 {
		delete(ts.keys, m.key)
	} else {
		ts.keys[m.key] = entries
	}
	owned := s.st.byOwner[m.owner]
	for j, ok := range owned {
		if ok.topic == m.topic && ok.key == m.key {
			owned = append(owned[:j], owned[j+1:]...)
			break
		}
	}
	if len(owned) == 0 {
		delete(s.st.byOwner, m.owner)
	} else {
		s.st.byOwner[m.owner] = owned
	}
	s.changed(m.topic, ts, m.key, nil, old)
	if len(ts.keys) == 0 && ts.pending == nil {
		delete(s.st.topics, m.topic)
	}
	return nil
}

// newEntry builds an entry with a fresh phx_ref, and phx_ref_prev for an
// update.
func (s *shard) newEntry(owner string, meta map[string]json.RawMessage, prev string) *entry {
	e := &entry{owner: owner, node: s.t.node, ref: s.t.newRef()}
	m := make(map[string]json.RawMessage, len(meta)+2)
	for k, v := range meta {
		m[k] = v
	}
	m["phx_ref"], _ = json.Marshal(e.ref)
	if prev != "" {
		m["phx_ref_prev"], _ = json.Marshal(prev)
	}
	// encoding/json writes map keys sorted, as Phoenix's small maps are.
	e.meta, _ = json.Marshal(m)
	return e
}

// changed publishes one change of key: joined (or nil) and left (or nil),
// at once or into the topic's batch.
func (s *shard) changed(topic string, ts *topicState, key string, joined, left *entry) {
	d := ts.pending
	if d == nil {
		d = &Diff{Joins: State{}, Leaves: State{}}
	}
	if joined != nil {
		p := d.Joins[key]
		p.Metas = append(p.Metas, joined.meta)
		d.Joins[key] = p
	}
	if left != nil {
		p := d.Leaves[key]
		p.Metas = append(p.Metas, left.meta)
		d.Leaves[key] = p
	}
	if s.t.cfg.BatchWindow <= 0 {
		s.broadcast(topic, d)
		return
	}
	if ts.pending == nil && !s.st.stopped {
		ts.pending = d
		pid, sys := s.t.shardFor(topic).pid, s.t.ep.ActorSystem()
		ts.timer = time.AfterFunc(s.t.cfg.BatchWindow, func() { sys.Root.Send(pid, &flush{topic: topic}) })
	}
}

func (s *shard) flush(topic string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ts := s.st.topics[topic]
	if ts == nil || ts.pending == nil {
		return
	}
	d := ts.pending
	ts.pending, ts.timer = nil, nil
	s.broadcast(topic, d)
	if len(ts.keys) == 0 {
		delete(s.st.topics, topic)
	}
}

func (s *shard) broadcast(topic string, d *Diff) {
	if err := s.t.ep.Broadcast(topic, EventDiff, d); err != nil {
		s.t.ep.Logger().Error("presence: broadcasting a diff", "topic", topic, "error", err)
	}
}
