// Package registry is the topic registry of an endpoint: a set of
// shards, to which a topic belongs by hash. Each shard is an index of its topics' subscriptions, under a lock,
// and an actor. Changes made under the index's lock are atomic with what
// is written with them (a join reply, a socket's own topic). A change its
// maker waits for, a channel's join and its end, is made by the maker
// under the lock, as a Phoenix process registers in the PubSub's table
// itself: a round trip through a mailbox would cost the join two
// goroutine hand-offs and gain nothing. The rest, what nobody waits for
// (a channel's unsubscription as its actor stops, which Proto.Actor always
// lets it do, so the shard needs no watch on every subscriber) and what
// Socket.Subscribe asks, goes through the shard's actor. The index lives
// outside the actor, so a restarted shard loses nothing. Broadcasts are
// delivered by the publisher's own goroutine over the shard's index,
// under a read lock: a broadcast is encoded once per serializer and the
// same frame goes straight into the outbox of every subscriber that does
// not intercept the event (Phoenix's fastlane); to a topic of many
// subscribers, by several goroutines at once, each with its own part of
// them. Delivery is synchronous, so one publisher's broadcasts arrive
// in the order sent, and a channel's broadcast reaches its own client before
// the reply to the message that caused it, as in Phoenix.
//
// It knows no sockets or channels: a Subscriber says where a broadcast
// goes, and Messages makes what an actor is sent.
package registry

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/internal/keyshard"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Subscriber is one subscription of a topic: where its broadcasts go.
type Subscriber struct {
	// PID is the subscribing actor; its id tells subscriptions apart.
	PID *actor.PID
	// Conn and Ser: a channel's own topic. Broadcasts are written to Conn,
	// encoded once per serializer for every subscriber, but for the
	// events in Intercepts, which PID is sent as Messages.Out makes them.
	Conn       transport.Conn
	Ser        protocol.Serializer
	Intercepts []string
	// Notifier: a socket's own id topic, where only a "disconnect"
	// broadcast matters; it is told of every broadcast, at once.
	Notifier Notifier
	// With neither Conn nor Notifier, the subscription is one a channel
	// made to another topic: broadcasts are sent to PID as Messages.Info
	// makes them, never to a client. (A flag for it would take every
	// subscription, two per connection, to the next size class.)
}

// info reports whether broadcasts go to the subscriber's actor alone.
func (s *Subscriber) info() bool { return s.Conn == nil && s.Notifier == nil }

// Notifier is told of the broadcasts of a topic it subscribed to.
type Notifier interface {
	Notify(pid *actor.PID, event string)
}

// Messages makes what a subscriber's actor is sent for a broadcast: once
// per broadcast, for all the subscribers it goes to.
type Messages interface {
	// Out is for a subscriber that intercepts the event.
	Out(event string, payload protocol.Payload) any
	// Info is for a subscriber with neither Conn nor Notifier.
	Info(topic, event string, payload protocol.Payload) any
}

// Subscription adds Sub to Topic's subscribers. If Reply is set, it is
// written to Sub.Conn first, under the shard's lock: no broadcast that
// sees the subscription reaches the client before it, and none made after
// it is missed. If Closed is set and true when the lock is taken, nothing
// is done: its setter unsubscribes under the same lock. Done, if set, is
// closed once the subscription is in place.
type Subscription struct {
	quiet
	Topic       string
	Sub         *Subscriber
	Reply       []byte
	ReplyBinary bool
	Closed      *atomic.Bool
	Done        chan struct{}
	// Recovery, for the join of a topic that keeps a history, follows
	// Reply with the topic's position and what the client missed.
	Recovery *Recovery
}

// Unsubscription ends PID's subscription to Topic; Done, if set, is
// closed once it is out.
type Unsubscription struct {
	quiet
	Topic string
	PID   *actor.PID
	Done  chan struct{}
}

// quiet marks the registry's messages: one that meets an actor that has
// just stopped is dropped without the runtime's dead-letter log.
type quiet struct{}

func (quiet) IgnoreDeadLetterLogging() {}

// Config configures a Registry.
type Config struct {
	System     *actor.ActorSystem
	Dispatcher actor.Dispatcher
	Shards     int
	Messages   Messages
	Log        *slog.Logger
	// Crashed is told of every crash of a shard's actor, which is then
	// restarted, with how many times that shard has been.
	Crashed func(child *actor.PID, reason any, restarts int)
	// PartPanic makes what the publisher panics with when a part of a
	// split delivery panicked (value), on another goroutine (stack): the
	// panic carries the stack where it happened. Nil: value.
	PartPanic func(value any, stack []byte) any
	// History says how much of topic's broadcasts to keep, for clients
	// that reconnect to recover what they missed; nil for none. Nil
	// History: no topic keeps any.
	History func(topic string) *history.Config
	// HistoryBytes bounds what every history holds together: past it,
	// the histories appended to longest ago are cleared first. Zero: no
	// bound.
	HistoryBytes int64
}

// Registry is an endpoint's topic registry. Its methods are safe for
// concurrent use.
type Registry struct {
	system    *actor.ActorSystem
	msgs      Messages
	log       *slog.Logger
	partPanic func(value any, stack []byte) any
	shards    []shardRef

	historyOf   func(topic string) *history.Config
	histMax     int64
	histBytes   atomic.Int64 // what every history holds
	histCleared atomic.Uint64
	trimming    atomic.Bool
	sweepMu     sync.Mutex
	sweepStop   chan struct{} // guarded by sweepMu
	sweepDone   chan struct{} // guarded by sweepMu
	stopped     bool          // guarded by sweepMu
}

// New starts the shards' actors.
func New(cfg Config) *Registry {
	r := &Registry{system: cfg.System, msgs: cfg.Messages, log: cfg.Log, partPanic: cfg.PartPanic,
		historyOf: cfg.History, histMax: cfg.HistoryBytes}
	if r.partPanic == nil {
		r.partPanic = func(value any, _ []byte) any { return value }
	}
	// A pointer: the runtime keys its guardians by the strategy.
	guardian := &shardGuardian{r: r, crashed: cfg.Crashed}
	for range cfg.Shards {
		idx := &shardIndex{topics: make(map[string]*topicSubs)}
		props := actor.PropsFromProducer(func() actor.Actor { return &shard{r: r, idx: idx} },
			actor.WithGuardian(guardian), actor.WithDispatcher(cfg.Dispatcher))
		r.shards = append(r.shards, shardRef{pid: cfg.System.Root.Spawn(props), idx: idx})
	}
	return r
}

// Stop stops the shards' actors and the histories' sweep; the index
// stays readable.
func (r *Registry) Stop() {
	r.stopSweep()
	for _, sh := range r.shards {
		_ = r.system.Root.StopFuture(sh.pid).Wait()
	}
}

func (r *Registry) shardFor(topic string) shardRef {
	return r.shards[keyshard.Of(topic, len(r.shards))]
}

// Subscribe makes m's change at once, under the shard's lock, and closes
// m.Done if set.
func (r *Registry) Subscribe(m *Subscription) {
	r.subscribe(r.shardFor(m.Topic).idx, m)
	if m.Done != nil {
		close(m.Done)
	}
}

// Unsubscribe ends pid id's subscription to topic at once: once it
// returns, no broadcast reaches it.
func (r *Registry) Unsubscribe(topic, id string) {
	r.shardFor(topic).idx.unsubscribe(topic, id)
}

// Post hands a *Subscription or an *Unsubscription to the shard's actor,
// for a change nobody waits for, or one waited for on its Done.
func (r *Registry) Post(m any) {
	var topic string
	switch m := m.(type) {
	case *Subscription:
		topic = m.Topic
	case *Unsubscription:
		topic = m.Topic
	default:
		panic("registry: Post of a " + fmtType(m))
	}
	r.system.Root.Send(r.shardFor(topic).pid, m)
}

func fmtType(v any) string { return fmt.Sprintf("%T", v) }

// Count returns how many subscriptions topic has.
func (r *Registry) Count(topic string) int {
	idx := r.shardFor(topic).idx
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	if ts := idx.topics[topic]; ts != nil {
		return len(ts.subs)
	}
	return 0
}

// Capacity returns the capacity of topic's list of subscribers and
// whether it is indexed by a map: what a topic that shrank still holds.
func (r *Registry) Capacity(topic string) (int, bool) {
	idx := r.shardFor(topic).idx
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	if ts := idx.topics[topic]; ts != nil {
		return cap(ts.subs), ts.index != nil
	}
	return 0, false
}

// Crash makes the actor of topic's shard panic: tests check with it that
// a shard's restart loses no subscription.
func (r *Registry) Crash(topic string) {
	r.system.Root.Send(r.shardFor(topic).pid, &crashShard{})
}

// Stall keeps the actor of topic's shard busy until release is closed:
// tests check with it that what must not wait for the shard's mailbox
// does not.
func (r *Registry) Stall(topic string, release <-chan struct{}) {
	r.system.Root.Send(r.shardFor(topic).pid, &stallShard{release: release})
}
