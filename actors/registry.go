package actors

import (
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// The topic registry is a set of shards; a topic belongs to one shard by
// hash. Each shard is an index of its topics' subscriptions, under a lock,
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

// subscriber is one subscription of a topic.
type subscriber struct {
	pid        *actor.PID
	conn       transport.Conn
	ser        protocol.Serializer
	intercepts []string
	// sock is set on a socket's subscription to its own id topic: only a
	// "disconnect" broadcast matters there, and it goes to the socket.
	sock *socketActor
	// info marks a channel's subscription made with Socket.Subscribe:
	// broadcasts go to its HandleInfo, not to its client.
	info bool
}

type (
	// subscribe adds a subscription and, if reply is set, writes reply to the
	// subscriber's connection first; then closes done, when set. A channel
	// waits on done rather than on a Proto.Actor future, whose registration
	// in the process registry left its maps larger after every join.
	subscribe struct {
		quiet
		topic       string
		sub         *subscriber
		reply       []byte
		replyBinary bool
		done        chan struct{}
		// closed, when set and true, cancels the subscription: checked
		// under the index's lock, as its setter unsubscribes under it.
		closed *atomic.Bool
	}
	unsubscribe struct {
		quiet
		topic string
		pid   *actor.PID
		done  chan struct{} // closed once removed, when set
	}
	// socketDisconnect reaches a socket actor through its id topic.
	socketDisconnect struct{ quiet }
)

type topicSubs struct {
	subs []*subscriber
	// index maps pid id → position in subs, once the topic has more than
	// indexAbove subscribers; smaller topics (every socket's own id topic,
	// most rooms) are scanned, which saves each a map.
	index map[string]int
}

const indexAbove = 16

// find returns the position of the subscription of pid id.
func (ts *topicSubs) find(id string) (int, bool) {
	if ts.index != nil {
		i, ok := ts.index[id]
		return i, ok
	}
	for i, sub := range ts.subs {
		if sub.pid.Id == id {
			return i, true
		}
	}
	return -1, false
}

// shardIndex is a shard's subscriptions: written by the shard actor, and
// by a socket being opened (its id topic, which must hold before the
// client can act on the upgrade); read by every publisher. It lives
// outside the actor so that it survives the actor's restarts.
type shardIndex struct {
	mu       sync.RWMutex
	topics   map[string]*topicSubs // guarded by mu
	restarts atomic.Int64          // how often the shard actor was restarted
}

// shardRef is how publishers and channels reach a shard.
type shardRef struct {
	pid *actor.PID
	idx *shardIndex
}

// shard is the actor that owns a shardIndex. Its state lives in the index,
// so a restarted shard carries on with every subscription.
type shard struct {
	ep  *Endpoint
	idx *shardIndex
}

// crashShard makes a shard panic: tests use it to check that a shard's
// restart loses no subscription.
type crashShard struct{ quiet }

// stallShard keeps a shard's actor busy until release is closed: tests
// use it to check that what must not wait for the shard's mailbox does
// not.
type stallShard struct {
	quiet
	release <-chan struct{}
}

func newShard(ep *Endpoint, idx *shardIndex) actor.Actor {
	return &shard{ep: ep, idx: idx}
}

func (s *shard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *subscribe:
		s.idx.subscribe(m)
		if m.done != nil {
			close(m.done)
		}
	case *unsubscribe:
		s.idx.unsubscribe(m.topic, m.pid.Id)
		if m.done != nil {
			close(m.done)
		}
	case *crashShard:
		panic("registry shard crash requested")
	case *stallShard:
		<-m.release
	}
}

// subscribe adds m's subscription, and first writes m's reply, if any,
// under the lock: no broadcast that sees the subscription can reach the
// client before the reply, and none made after it is missed.
func (idx *shardIndex) subscribe(m *subscribe) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if m.closed != nil && m.closed.Load() {
		return
	}
	if m.reply != nil {
		_ = m.sub.conn.Send(m.reply, m.replyBinary)
	}
	idx.add(m.topic, m.sub)
}

// unsubscribe ends pid id's subscription to topic: once it returns, no
// broadcast reaches it.
func (idx *shardIndex) unsubscribe(topic, id string) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	idx.remove(topic, id)
}

// add subscribes sub to topic; mu must be held for writing.
func (idx *shardIndex) add(topic string, sub *subscriber) {
	ts := idx.topics[topic]
	if ts == nil {
		ts = &topicSubs{}
		idx.topics[topic] = ts
	}
	id := sub.pid.Id
	if i, ok := ts.find(id); ok {
		ts.subs[i] = sub
		return
	}
	ts.subs = append(ts.subs, sub)
	switch {
	case ts.index != nil:
		ts.index[id] = len(ts.subs) - 1
	case len(ts.subs) > indexAbove:
		ts.index = make(map[string]int, len(ts.subs))
		for i, sub := range ts.subs {
			ts.index[sub.pid.Id] = i
		}
	}
}

// remove ends pid id's subscription to topic; mu must be held for writing.
func (idx *shardIndex) remove(topic, id string) {
	ts := idx.topics[topic]
	if ts == nil {
		return
	}
	i, ok := ts.find(id)
	if !ok {
		return
	}
	last := len(ts.subs) - 1
	if i != last {
		ts.subs[i] = ts.subs[last]
		if ts.index != nil {
			ts.index[ts.subs[i].pid.Id] = i
		}
	}
	ts.subs[last] = nil
	ts.subs = ts.subs[:last]
	if ts.index != nil {
		delete(ts.index, id)
	}
	if len(ts.subs) == 0 {
		delete(idx.topics, topic)
		return
	}
	ts.shrink()
}

// shrink gives back the memory of a topic that has lost most of its
// subscribers: a slice keeps its peak capacity and a Go map its peak
// buckets, so a room that once held 100,000 members and now holds ten
// would hold their room forever. Each shrink halves what it keeps at most
// every time the topic loses three quarters, so its cost is amortized.
func (ts *topicSubs) shrink() {
	n := len(ts.subs)
	if c := cap(ts.subs); c > 2*indexAbove && n < c/4 {
		ts.subs = slices.Clone(ts.subs)
		if ts.index != nil {
			ts.index = nil
			if n > indexAbove {
				ts.index = make(map[string]int, n)
				for i, sub := range ts.subs {
					ts.index[sub.pid.Id] = i
				}
			}
		}
	}
}

// frameCache holds a broadcast's encoding for each serializer met, so each
// is encoded once however many subscribers share it.
type frameCache struct {
	n       int
	entries [2]struct {
		ser    protocol.Serializer
		frame  []byte
		binary bool
		err    error
	}
}

func (c *frameCache) get(ser protocol.Serializer, b *protocol.Broadcast) ([]byte, bool, error) {
	for i := 0; i < c.n; i++ {
		if c.entries[i].ser == ser {
			e := &c.entries[i]
			return e.frame, e.binary, e.err
		}
	}
	frame, bin, err := ser.EncodeBroadcast(nil, b)
	if c.n < len(c.entries) {
		c.entries[c.n].ser, c.entries[c.n].frame, c.entries[c.n].binary, c.entries[c.n].err = ser, frame, bin, err
		c.n++
	}
	return frame, bin, err
}

// dispatch delivers a broadcast to the subscribers of its topic, on the
// caller's goroutine, and returns once every subscriber has it. from, when
// set, is skipped (broadcast_from).
//
// A topic of more than subsPerWriter subscribers has its delivery split
// into a part per subsPerWriter, up to one per processor, each written by
// a goroutine of its own: one goroutine writing to 10,000 sockets took
// most of the tenth of a second between two broadcasts of the load test,
// so that a slow one made the next ones queue. Each subscriber is in one part, and dispatch
// returns only when all are done, so a publisher's broadcasts still
// arrive in order everywhere.
func (ep *Endpoint) dispatch(topic, event string, payload Payload, from *actor.PID) {
	idx := ep.shardFor(topic).idx
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	ts := idx.topics[topic]
	if ts == nil {
		return
	}
	d := delivery{ep: ep, b: protocol.Broadcast{Topic: topic, Event: event, Payload: payload}, from: from}
	subs := ts.subs
	parts := min(runtime.GOMAXPROCS(0), (len(subs)+subsPerWriter-1)/subsPerWriter)
	if parts <= 1 {
		ep.deliveries.Add(uint64(d.deliver(subs)))
		return
	}
	// Encoded once, before the parts copy the cache.
	d.warm(subs)
	size := (len(subs) + parts - 1) / parts
	var wg sync.WaitGroup
	defer wg.Wait() // also when the publisher's own part panics: under the lock
	var delivered atomic.Uint64
	var crash atomic.Pointer[PanicError]
	for lo := size; lo < len(subs); lo += size {
		part := subs[lo:min(lo+size, len(subs))]
		d := d // a cache of its own
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					crash.CompareAndSwap(nil, &PanicError{Value: r, Stack: debug.Stack()})
				}
			}()
			delivered.Add(uint64(d.deliver(part)))
		})
	}
	n := d.deliver(subs[:size])
	wg.Wait()
	ep.deliveries.Add(delivered.Load() + uint64(n))
	if c := crash.Load(); c != nil {
		// Where a panic of the delivery would have happened had it not been
		// split: on the publisher's goroutine.
		panic(c)
	}
}

// subsPerWriter is the fewest subscribers worth a goroutine of their own
// in a broadcast's delivery.
const subsPerWriter = 256

// delivery is one broadcast on its way to a topic's subscribers.
type delivery struct {
	ep    *Endpoint
	b     protocol.Broadcast
	from  *actor.PID
	cache frameCache
	out   *outMsg
	info  *infoMsg
}

// warm encodes the broadcast for the first subscriber written to straight.
func (d *delivery) warm(subs []*subscriber) {
	for _, sub := range subs {
		if sub.sock == nil && !sub.info && sub.conn != nil {
			_, _, _ = d.cache.get(sub.ser, &d.b)
			return
		}
	}
}

// deliver delivers the broadcast to subs, in order, and returns to how
// many.
func (d *delivery) deliver(subs []*subscriber) int {
	event := d.b.Event
	delivered := 0
	for _, sub := range subs {
		if d.from != nil && sub.pid.Id == d.from.Id {
			continue
		}
		if sub.sock != nil {
			if event == "disconnect" {
				sub.sock.requestDisconnect(sub.pid)
			}
			continue
		}
		if sub.info {
			if d.info == nil {
				d.info = &infoMsg{msg: Broadcast{Topic: d.b.Topic, Event: event, Payload: d.b.Payload}, subscription: d.b.Topic}
			}
			d.ep.system.Root.Send(sub.pid, d.info)
			delivered++
			continue
		}
		if slices.Contains(sub.intercepts, event) {
			if d.out == nil {
				d.out = &outMsg{event: event, payload: d.b.Payload}
			}
			d.ep.system.Root.Send(sub.pid, d.out)
			delivered++
			continue
		}
		frame, bin, err := d.cache.get(sub.ser, &d.b)
		if err != nil {
			// Only possible for a payload this serializer cannot carry
			// (binary to V1): such subscribers miss it, as in Phoenix.
			continue
		}
		if err := sub.conn.Send(frame, bin); err == nil {
			delivered++
		} else if errors.Is(err, transport.ErrOutboxFull) {
			d.ep.log.Warn("actors: slow client disconnected", "topic", d.b.Topic)
		}
	}
	return delivered
}

func shardNumber(topic string, n int) int {
	// FNV-1a, inline to stay off the heap.
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
