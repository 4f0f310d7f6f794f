package presence

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/keyshard"
	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/supervision"
)

// Events of the presence protocol.
const (
	EventState = "presence_state"
	EventDiff  = "presence_diff"
)

// Errors of Track, Update and Untrack.
var (
	ErrAlreadyTracked = errors.New("presence: this channel already tracks that key")
	ErrNotTracked     = errors.New("presence: this channel does not track that key")
	ErrMetaNotObject  = errors.New("presence: meta must encode to a JSON object")
)

// Config configures a Tracker. The zero value is ready to use.
type Config struct {
	// BatchWindow gathers a topic's changes for this long and broadcasts
	// them as one presence_diff. Zero broadcasts every change at once.
	BatchWindow time.Duration
	// Shards is the number of shard actors. Zero means 8.
	Shards int
	// Node names this node in entries and, hashed, in every phx_ref. Empty
	// means a random name.
	Node string
	// Fetch, when set, adds fields beside "metas" to the presences sent
	// to clients, as Phoenix.Presence's fetch/2 does: given a topic and
	// the keys of a presence_diff (its joins and leaves together) or of a
	// List, it returns each key's fields, e.g. {"user": {"name": "Ann"}}
	// loaded for all of them in one query. It is called once per diff,
	// whatever the number of clients, and once per List; keys it leaves
	// out go with their metas alone. It runs on the goroutine that
	// delivers a shard's diffs, which it holds up meanwhile (though not
	// Track and Untrack): keep it quick (a cache, one batched query), and
	// safe for concurrent use.
	Fetch func(topic string, keys []string) map[string]map[string]any
}

// Presence is one key of a presence list: its metas, one per channel that
// tracks the key, each with its "phx_ref", and the fields Config.Fetch
// adds beside them.
type Presence struct {
	Metas []json.RawMessage `json:"metas"`
	// Fields are encoded beside "metas", in the same object.
	Fields map[string]any `json:"-"`
}

// MarshalJSON writes {"metas":[…]} followed by the Fields, which may not
// be called "metas".
func (p Presence) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 64))
}

// ErrFieldNamedMetas: Config.Fetch returned a field called "metas".
var ErrFieldNamedMetas = errors.New(`presence: Fetch returned a field named "metas"`)

// fetch adds Config.Fetch's fields to the presences of states, once for
// all their keys.
func (t *Tracker) fetch(topic string, states ...State) {
	if t.cfg.Fetch == nil {
		return
	}
	var keys []string
	for _, st := range states {
		for k := range st {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	fields := t.cfg.Fetch(topic, keys)
	for _, st := range states {
		for k, p := range st {
			if f, ok := fields[k]; ok {
				p.Fields = f
				st[k] = p
			}
		}
	}
}

// State is a presence list, keyed by presence key, as pushed in
// presence_state.
type State map[string]Presence

// Diff is the payload of presence_diff.
type Diff struct {
	Joins  State `json:"joins"`
	Leaves State `json:"leaves"`
}

// Tracker tracks presences for the channels of one endpoint. Its methods
// are safe for concurrent use; Track, Update and Untrack take the channel's
// *actors.Socket and so are called from its callbacks.
type Tracker struct {
	ep       *actors.Endpoint
	system   *actor.ActorSystem // ep's
	cfg      Config
	node     string
	nodeTag  uint16
	refs     atomic.Uint32
	shards   []shardRef
	guardian actor.SupervisorStrategy
	// publishers counts the goroutines delivering the shards' diffs.
	publishers sync.WaitGroup
	quit       chan struct{} // closed when the tracker stops
}

// New starts a Tracker whose shard actors run in ep's actor system.
func New(ep *actors.Endpoint, cfg Config) *Tracker {
	if cfg.Shards <= 0 {
		cfg.Shards = 8
	}
	if cfg.Node == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Node = fmt.Sprintf("node-%x", b)
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(cfg.Node))
	hooks := seam.Of(ep)
	t := &Tracker{ep: ep, system: hooks.System, cfg: cfg, node: cfg.Node, nodeTag: uint16(h.Sum32()), quit: make(chan struct{})}
	t.guardian = permanent{t}
	for range cfg.Shards {
		st := &shardState{
			topics: make(map[string]*topicState), byOwner: make(map[string][]ownedKey), remote: make(map[string]map[string]ownedKey),
			pub: &publisher{t: t, open: make(map[string]int), states: make(map[string]int)},
		}
		props := actor.PropsFromProducer(func() actor.Actor { return &shard{t: t, st: st} }, actor.WithGuardian(t.guardian), actor.WithDispatcher(hooks.Dispatcher))
		t.shards = append(t.shards, shardRef{pid: t.system.Root.Spawn(props), st: st})
	}
	ep.OnShutdown(t.stop)
	return t
}

type shardRef struct {
	pid *actor.PID
	st  *shardState
}

func (t *Tracker) shardFor(topic string) shardRef {
	return t.shards[t.shardNumber(topic)]
}

func (t *Tracker) shardNumber(topic string) int { return keyshard.Of(topic, len(t.shards)) }

// newRef makes a phx_ref: base64url of 12 bytes, a nanosecond timestamp,
// the node's tag and a counter, as Phoenix's are.
func (t *Tracker) newRef() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint16(b[8:10], t.nodeTag)
	binary.BigEndian.PutUint16(b[10:12], uint16(t.refs.Add(1)))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Track adds key with meta to the channel's topic, for this channel. The
// entry lasts until Untrack or until the channel ends, however it ends.
// Every member of the topic gets a presence_diff.
func (t *Tracker) Track(s *actors.Socket, key string, meta any) error {
	m, err := objectJSON(meta)
	if err != nil {
		return err
	}
	topic, owner := s.Topic(), s.Self().ID()
	if err := t.call(topic, &track{topic: topic, key: key, owner: owner, meta: m}); err != nil {
		return err
	}
	s.Cleanup(func() { t.send(topic, &untrack{topic: topic, key: key, owner: owner}) })
	return nil
}

// Update replaces the meta of key tracked by this channel: the diff holds
// the new meta (with phx_ref_prev) in joins and the old one in leaves.
func (t *Tracker) Update(s *actors.Socket, key string, meta any) error {
	m, err := objectJSON(meta)
	if err != nil {
		return err
	}
	topic := s.Topic()
	return t.call(topic, &update{topic: topic, key: key, owner: s.Self().ID(), meta: m})
}

// Untrack removes key as tracked by this channel.
func (t *Tracker) Untrack(s *actors.Socket, key string) error {
	topic := s.Topic()
	return t.call(topic, &untrack{topic: topic, key: key, owner: s.Self().ID(), strict: true})
}

// List returns the presences of topic, in the shape of presence_state,
// with Config.Fetch's fields.
func (t *Tracker) List(topic string) State {
	out := t.list(topic)
	t.fetch(topic, out)
	return out
}

func (t *Tracker) list(topic string) State {
	st := t.shardFor(topic).st
	st.mu.RLock()
	defer st.mu.RUnlock()
	ts := st.topics[topic]
	if ts == nil {
		return State{}
	}
	return ts.state()
}

// state is the topic's presences; the caller holds its shard's lock.
func (ts *topicState) state() State {
	out := make(State, len(ts.keys))
	for key, entries := range ts.keys {
		p := Presence{Metas: make([]json.RawMessage, len(entries))}
		for i, e := range entries {
			p.Metas[i] = e.meta
		}
		out[key] = p
	}
	return out
}

// PushState sends the channel's client the presence_state of its topic:
// Phoenix's push(socket, "presence_state", Presence.list(socket)), for a
// channel that has joined (call it from HandleInfo, after Track, not
// from Join). It goes out with the diffs of the topic's shard, read and
// encoded once for every channel that asked meanwhile: a crowd joining a
// large room costs a few encodings of its state, not one per member.
// Without a batch window that is at once, or as soon as the diffs before
// it are delivered; with one, while the topic has changes gathering, with
// them, just before their diff.
func (t *Tracker) PushState(s *actors.Socket) error {
	topic := s.Topic()
	if t.cfg.BatchWindow <= 0 {
		t.shardFor(topic).st.pub.newcomer(topic, s.Ref())
		return nil
	}
	t.send(topic, &pushState{topic: topic, to: s.Ref()})
	return nil
}

// Count returns how many keys (users) are present in topic, without
// building the list.
func (t *Tracker) Count(topic string) int {
	st := t.shardFor(topic).st
	st.mu.RLock()
	defer st.mu.RUnlock()
	if ts := st.topics[topic]; ts != nil {
		return len(ts.keys)
	}
	return 0
}

// Stats is a snapshot of what a Tracker holds, this node's entries and
// those replicated from other nodes.
type Stats struct {
	// Topics counts the topics with anyone present, Presences the keys
	// present (a user in two topics counts twice), and Entries their
	// metas (a user with two tabs open in a topic counts twice).
	Topics, Presences, Entries int
}

// Stats counts what the tracker holds. It reads every shard under its
// read lock: its cost grows with the keys present, so it suits a metrics
// scrape rather than a hot path.
func (t *Tracker) Stats() Stats {
	var s Stats
	for _, sh := range t.shards {
		st := sh.st
		st.mu.RLock()
		for _, ts := range st.topics {
			if len(ts.keys) > 0 {
				s.Topics++ // a topic emptied may wait for its last diff
			}
			s.Presences += len(ts.keys)
			for _, entries := range ts.keys {
				s.Entries += len(entries)
			}
		}
		st.mu.RUnlock()
	}
	return s
}

// Node returns the name of this node, as set by Config.Node.
func (t *Tracker) Node() string { return t.node }

// Change is one change of a node's presence entries, as replicated between
// the nodes of a cluster: a join (Ref and Meta), a leave (LeftRef), or an
// update, both at once.
type Change struct {
	Topic, Key string
	// Ref is the phx_ref of the entry that joined; empty for a leave.
	Ref string
	// Meta is the joined entry's meta as clients see it, with its phx_ref.
	Meta json.RawMessage
	// LeftRef is the phx_ref of the entry that left; empty for a join.
	LeftRef string
}

// Replicate hands this node's presence changes to feed, for another
// node's ApplyNode: first a join for every entry this node holds, then
// every change as it is made, each entry's changes in order. feed runs on
// the shards' goroutines and must not block. A nil feed stops the feed.
func (t *Tracker) Replicate(feed func(Change)) {
	for _, sh := range t.shards {
		sh.st.mu.Lock()
		// Under the lock: no change of this shard falls between its
		// entries and the feed.
		if feed != nil {
			for topic, ts := range sh.st.topics {
				for key, entries := range ts.keys {
					for _, e := range entries {
						if e.owner != "" {
							feed(Change{Topic: topic, Key: key, Ref: e.ref, Meta: e.meta})
						}
					}
				}
			}
		}
		sh.st.feed = feed
		sh.st.mu.Unlock()
	}
}

// ApplyNode applies changes made on another node to this node's view:
// List and Count include them, and this node's clients get them as
// presence_diff. Applying a change twice, or a leave of an entry not held,
// does nothing. Changes are applied in the order given.
func (t *Tracker) ApplyNode(node string, changes []Change) {
	t.toShards(node, changes, false)
}

// ReplaceNode makes the entries of another node exactly entries (joins):
// those held and not named leave, those named and not held join. With no
// entries, every entry of node leaves: the node is down or gone.
func (t *Tracker) ReplaceNode(node string, entries []Change) {
	t.toShards(node, entries, true)
}

func (t *Tracker) toShards(node string, changes []Change, replace bool) {
	if node == t.node {
		return // this node's entries are written here alone
	}
	parts := make([][]Change, len(t.shards))
	for _, c := range changes {
		i := t.shardNumber(c.Topic)
		parts[i] = append(parts[i], c)
	}
	for i, sh := range t.shards {
		if len(parts[i]) == 0 && !replace {
			continue
		}
		t.system.Root.Send(sh.pid, &applyNode{node: node, changes: parts[i], replace: replace})
	}
}

// callTimeout bounds a request to a shard.
const callTimeout = 5 * time.Second

func (t *Tracker) call(topic string, msg any) error {
	res, err := t.system.Root.RequestFuture(t.shardFor(topic).pid, msg, callTimeout).Result()
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if e, ok := res.(reply); ok && e.err != nil {
		return e.err
	}
	return nil
}

func (t *Tracker) send(topic string, msg any) {
	t.system.Root.Send(t.shardFor(topic).pid, msg)
}

// stop cancels pending batch timers at endpoint shutdown.
func (t *Tracker) stop() {
	for _, sh := range t.shards {
		sh.st.mu.Lock()
		for _, ts := range sh.st.topics {
			if ts.timer != nil {
				ts.timer.Stop()
				ts.timer = nil
			}
		}
		sh.st.stopped = true
		sh.st.mu.Unlock()
		_ = t.system.Root.StopFuture(sh.pid).Wait()
	}
	for _, sh := range t.shards {
		sh.st.pub.stop()
	}
	close(t.quit)
	t.publishers.Wait()
}

// objectJSON encodes meta and checks it is an object.
func objectJSON(meta any) (map[string]json.RawMessage, error) {
	var raw []byte
	switch m := meta.(type) {
	case nil:
		return map[string]json.RawMessage{}, nil
	case json.RawMessage:
		raw = m
	default:
		b, err := json.Marshal(meta)
		if err != nil {
			return nil, fmt.Errorf("presence: encoding meta: %w", err)
		}
		raw = b
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, ErrMetaNotObject
	}
	return obj, nil
}

// permanent supervises presence shards: always restarted; their state is
// kept outside the actor and survives.
type permanent struct{ t *Tracker }

func (p permanent) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	err, ok := reason.(error)
	if !ok {
		err = fmt.Errorf("panic: %v", reason)
	}
	restarts := 0
	for _, sh := range p.t.shards {
		if sh.pid.Id == child.Id {
			restarts = int(sh.st.restarts.Add(1))
		}
	}
	p.t.ep.Logger().Error("presence shard crashed", "child", child.Id, "directive", "restart", "reason", err.Error())
	p.t.ep.Supervision().Publish(supervision.Event{
		Time: time.Now(), Child: child.Id, Kind: "presence", Reason: err,
		Directive: supervision.Restart, Restarts: restarts,
	})
	sup.RestartChildren(child)
}
