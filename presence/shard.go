package presence

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/protocol"
)

// entry is one tracked meta: a key tracked by one channel (its owner).
type entry struct {
	owner string          // the tracking channel's id; empty for another node's entry
	node  string          // the node the owner runs on
	ref   string          // phx_ref
	meta  json.RawMessage // the meta as sent, with phx_ref (and phx_ref_prev)
}

type topicState struct {
	keys map[string][]*entry // in the order tracked
	// pending gathers changes during a batch window; timer flushes them.
	pending *Diff
	timer   *time.Timer
	// newcomers asked for the topic's state (PushState) during the
	// window: they get it, encoded once for all of them, at the flush.
	newcomers []actors.SocketRef
}

type ownedKey struct{ topic, key string }

// shardState is a shard's presences: written by its actor only, read by
// List and Count under the read lock. It lives outside the actor so that it
// survives restarts.
type shardState struct {
	mu      sync.RWMutex
	topics  map[string]*topicState // guarded by mu
	byOwner map[string][]ownedKey  // owner → what it tracks; actor only
	// remote holds the entries of other nodes: node → phx_ref → where.
	remote  map[string]map[string]ownedKey // actor only
	feed    func(Change)                   // guarded by mu: this node's changes, for replication
	stopped bool                           // guarded by mu: no new batch timers
	// restarts counts the shard actor's restarts (it is permanent: it has
	// no budget, only a count).
	restarts atomic.Int64
	// pub delivers what the shard publishes.
	pub *publisher
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
	pushState struct {
		quiet
		topic string
		to    actors.SocketRef
	}
	// applyNode applies another node's changes (replace false) or sets
	// that node's entries of this shard to exactly the joins of changes
	// (replace true).
	applyNode struct {
		quiet
		node    string
		changes []Change
		replace bool
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
	// out gathers the diffs of the message being handled, by topic, when
	// changes are not batched: one diff per topic per message.
	out map[string]*Diff
}

func (s *shard) Receive(ctx actor.Context) {
	// A change's diff is queued before its maker hears back: a channel
	// that asks for its state after its Track finds its own join's diff
	// ahead of the state in the publisher's queue.
	switch m := ctx.Message().(type) {
	case *track:
		err := s.track(m)
		s.publish()
		ctx.Respond(reply{err})
	case *update:
		err := s.update(m)
		s.publish()
		ctx.Respond(reply{err})
	case *untrack:
		err := s.untrack(m)
		s.publish()
		if ctx.Sender() != nil {
			ctx.Respond(reply{err})
		}
	case *applyNode:
		s.applyNode(m)
	case *flush:
		s.flush(m.topic)
	case *pushState:
		s.pushState(m)
	case *crash:
		panic("presence shard crash requested")
	}
	s.publish()
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

func (s *shard) topic(name string) *topicState {
	ts := s.st.topics[name]
	if ts == nil {
		ts = &topicState{keys: make(map[string][]*entry)}
		s.st.topics[name] = ts
	}
	return ts
}

func (s *shard) track(m *track) error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if _, i := s.find(m.topic, m.key, m.owner); i >= 0 {
		return ErrAlreadyTracked
	}
	e := s.newEntry(m.owner, m.meta, "")
	ts := s.topic(m.topic)
	ts.keys[m.key] = append(ts.keys[m.key], e)
	s.st.byOwner[m.owner] = append(s.st.byOwner[m.owner], ownedKey{m.topic, m.key})
	s.changed(m.topic, ts, m.key, e, nil)
	s.feed(m.topic, m.key, e, nil)
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
	s.feed(m.topic, m.key, e, old)
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
	old := s.removeAt(ts, m.key, i)
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
	s.feed(m.topic, m.key, nil, old)
	s.dropIfEmpty(m.topic, ts)
	return nil
}

// removeAt removes the i-th entry of key and returns it.
func (s *shard) removeAt(ts *topicState, key string, i int) *entry {
	old := ts.keys[key][i]
	entries := append(ts.keys[key][:i:i], ts.keys[key][i+1:]...)
	if len(entries) == 0 {
		delete(ts.keys, key)
	} else {
		ts.keys[key] = entries
	}
	return old
}

func (s *shard) dropIfEmpty(topic string, ts *topicState) {
	if len(ts.keys) == 0 && ts.pending == nil {
		delete(s.st.topics, topic)
	}
}

// applyNode merges another node's entries. Each node is the only writer of
// its own entries, so there is nothing to resolve: a join adds an entry
// unless it is already there, a leave removes one if it is there, and a
// replacement makes the node's entries those it names. Every change
// reaches this node's clients as a presence_diff, sent by this node alone.
func (s *shard) applyNode(m *applyNode) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	have := s.st.remote[m.node]
	if have == nil {
		have = make(map[string]ownedKey)
		s.st.remote[m.node] = have
	}
	if m.replace {
		keep := make(map[string]bool, len(m.changes))
		for _, c := range m.changes {
			keep[c.Ref] = true
		}
		for ref, at := range have {
			if !keep[ref] {
				s.removeRemote(m.node, have, ref, at, nil)
			}
		}
	}
	for _, c := range m.changes {
		var joined *entry
		// Metas are sent to clients as they are: one that is not JSON,
		// from a peer gone wrong, is not taken.
		if c.Ref != "" && json.Valid(c.Meta) {
			if _, ok := have[c.Ref]; !ok {
				joined = &entry{node: m.node, ref: c.Ref, meta: c.Meta}
			}
		}
		if c.LeftRef != "" {
			if at, ok := have[c.LeftRef]; ok {
				s.removeRemote(m.node, have, c.LeftRef, at, joined)
				joined = nil
			}
		}
		if joined != nil {
			ts := s.topic(c.Topic)
			ts.keys[c.Key] = append(ts.keys[c.Key], joined)
			have[c.Ref] = ownedKey{c.Topic, c.Key}
			s.changed(c.Topic, ts, c.Key, joined, nil)
		}
	}
	if len(have) == 0 {
		delete(s.st.remote, m.node)
	}
}

// removeRemote removes another node's entry ref, at its place at, and
// publishes the leave; with joined (an update), the entry is replaced by
// joined in place and the diff carries both.
func (s *shard) removeRemote(node string, have map[string]ownedKey, ref string, at ownedKey, joined *entry) {
	delete(have, ref)
	ts := s.st.topics[at.topic]
	if ts == nil {
		return
	}
	for i, e := range ts.keys[at.key] {
		if e.node != node || e.ref != ref {
			continue
		}
		if joined != nil && joined.ref != "" {
			ts.keys[at.key][i] = joined
			have[joined.ref] = at
			s.changed(at.topic, ts, at.key, joined, e)
			return
		}
		s.removeAt(ts, at.key, i)
		s.changed(at.topic, ts, at.key, nil, e)
		s.dropIfEmpty(at.topic, ts)
		return
	}
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

// feed hands a change of this node's entries to the replication feed.
func (s *shard) feed(topic, key string, joined, left *entry) {
	if s.st.feed == nil {
		return
	}
	c := Change{Topic: topic, Key: key}
	if joined != nil {
		c.Ref, c.Meta = joined.ref, joined.meta
	}
	if left != nil {
		c.LeftRef = left.ref
	}
	s.st.feed(c)
}

// changed records one change of key: joined (or nil) and left (or nil),
// into the topic's batch, or into the diff this message publishes.
func (s *shard) changed(topic string, ts *topicState, key string, joined, left *entry) {
	var d *Diff
	if s.t.cfg.BatchWindow > 0 {
		d = s.batch(topic, ts)
	} else {
		if s.out == nil {
			s.out = make(map[string]*Diff)
		}
		d = s.out[topic]
		if d == nil {
			d = newDiff()
			s.out[topic] = d
		}
	}
	if joined != nil {
		addMeta(d.Joins, key, joined.meta)
	}
	if left != nil {
		addMeta(d.Leaves, key, left.meta)
	}
}

func newDiff() *Diff { return &Diff{Joins: State{}, Leaves: State{}} }

// batch returns the topic's diff gathering in the current window, and
// starts one, with its flush timer, if none is.
func (s *shard) batch(topic string, ts *topicState) *Diff {
	if ts.pending != nil {
		return ts.pending
	}
	d := newDiff()
	if !s.st.stopped {
		ts.pending = d
		pid, sys := s.t.shardFor(topic).pid, s.t.system
		ts.timer = time.AfterFunc(s.t.cfg.BatchWindow, func() { sys.Root.Send(pid, &flush{topic: topic}) })
	}
	return d
}

// publish hands the publisher the diffs made while handling a message.
func (s *shard) publish() {
	for topic, d := range s.out {
		s.st.pub.diff(topic, d)
		delete(s.out, topic)
	}
}

func (s *shard) flush(topic string) {
	s.st.mu.Lock()
	ts := s.st.topics[topic]
	if ts == nil || ts.pending == nil {
		s.st.mu.Unlock()
		return
	}
	d, newcomers := ts.pending, ts.newcomers
	ts.pending, ts.timer, ts.newcomers = nil, nil, nil
	var state State
	if len(newcomers) > 0 {
		state = ts.state()
	}
	if len(ts.keys) == 0 {
		delete(s.st.topics, topic)
	}
	// The newcomers get the state first: it holds the diff's joins
	// already, which their client then finds it has (same phx_ref).
	if len(newcomers) > 0 {
		s.st.pub.state(topic, state, newcomers)
	}
	s.st.pub.diff(topic, d)
	s.st.mu.Unlock()
}

// pushState sends a newcomer its topic's state with the topic's next
// flush, so that one encoding serves every newcomer of the window; at once
// for an empty topic.
func (s *shard) pushState(m *pushState) {
	s.st.mu.Lock()
	ts := s.st.topics[m.topic]
	if ts != nil && !s.st.stopped {
		// With the next flush, starting a window if none is gathering:
		// newcomers that ask one by one, each after its own join's diff
		// went out, still share one encoding.
		s.batch(m.topic, ts)
		ts.newcomers = append(ts.newcomers, m.to)
		s.st.mu.Unlock()
		return
	}
	state := State{}
	if ts != nil {
		state = ts.state()
	}
	s.st.pub.state(m.topic, state, []actors.SocketRef{m.to})
	s.st.mu.Unlock()
}

// sendState encodes state once and pushes it to each of to.
func (t *Tracker) sendState(topic string, state State, to []actors.SocketRef) {
	t.fetch(topic, state)
	b, err := state.MarshalJSON()
	if err != nil {
		t.ep.Logger().Error("presence: encoding a state", "topic", topic, "error", err)
		return
	}
	// Channels that ended meanwhile are skipped; the newcomers of a crowd
	// that joined alike share one frame.
	if err := actors.PushAll(to, EventState, protocol.JSON(b)); err != nil {
		t.ep.Logger().Warn("presence: pushing a state", "topic", topic, "error", err)
	}
}

// broadcast sends a diff to this node's subscribers: every node sends its
// own clients the diffs of the changes it learns of, its own and other
// nodes', so each client gets each diff once.
func (t *Tracker) broadcast(topic string, d *Diff) {
	t.fetch(topic, d.Joins, d.Leaves)
	b, err := d.MarshalJSON()
	if err == nil {
		err = t.ep.LocalBroadcast(topic, EventDiff, protocol.JSON(b))
	}
	if err != nil {
		t.ep.Logger().Error("presence: broadcasting a diff", "topic", topic, "error", err)
	}
}
