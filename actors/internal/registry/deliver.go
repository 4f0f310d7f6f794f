package registry

import (
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

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

// Sequencing says where a broadcast takes its place in its topic's
// history. The zero value numbers it here.
type Sequencing struct {
	// At, when not zero, is the position another node gave the
	// broadcast, right after Prev.
	At, Prev history.Position
	// Local: a broadcast for this node alone, which takes no place: it
	// is neither kept nor numbered.
	Local bool
	// Sequenced, when set, is called with the broadcast's position and
	// the one before it (zero when the topic keeps no history) before it
	// is delivered, under the topic's lock: in the order of positions.
	Sequenced func(p, prev history.Position)
}

// Dispatch delivers a broadcast to the subscribers of its topic, on the
// caller's goroutine, and returns once every subscriber has it, with how
// many it went to. from, when set, is skipped (broadcast_from). seq says
// how the broadcast is numbered in the topic's history, if it keeps one.
//
// A topic of more than subsPerWriter subscribers has its delivery split
// into a part per subsPerWriter, up to one per processor, each written by
// a goroutine of its own: one goroutine writing to 10,000 sockets took
// most of the tenth of a second between two broadcasts of the load test,
// so that a slow one made the next ones queue. Each subscriber is in one
// part, and Dispatch returns only when all are done, so a publisher's
// broadcasts still arrive in order everywhere.
func (r *Registry) Dispatch(topic, event string, payload protocol.Payload, from *actor.PID, seq Sequencing) int {
	idx := r.shardFor(topic).idx
	for {
		n, kept, missing := r.dispatch(idx, topic, event, payload, from, &seq)
		if missing != nil {
			// The topic's first broadcast since it kept nothing.
			idx.mu.Lock()
			idx.historyLocked(topic, *missing)
			idx.mu.Unlock()
			r.startSweep(missing.TTL)
			continue
		}
		if kept && r.histMax > 0 && r.histBytes.Load() > r.histMax {
			r.trimHistories()
		}
		return n
	}
}

// dispatch is Dispatch under the index's read lock. missing, when not
// nil, says the topic keeps a history it does not have yet: nothing was
// done.
func (r *Registry) dispatch(idx *shardIndex, topic, event string, payload protocol.Payload, from *actor.PID, seq *Sequencing) (n int, kept bool, missing *history.Config) {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	b := protocol.Broadcast{Topic: topic, Event: event, Payload: payload}
	var th *topicHistory
	if !seq.Local {
		th = idx.histories[topic]
		if th == nil && r.historyOf != nil {
			if cfg := r.historyOf(topic); cfg != nil {
				return 0, false, cfg
			}
		}
	}
	switch {
	case th != nil:
		kept = true
		// Held through the delivery: the topic's broadcasts reach every
		// subscriber in the order of their positions, and a join, under
		// the index's write lock, sees none half delivered.
		th.mu.Lock()
		defer th.mu.Unlock()
		p, prev := seq.At, seq.Prev
		var added, freed int64
		if p != (history.Position{}) {
			added, freed = th.h.AppendAt(p, prev, event, payload, time.Now())
		} else {
			p, prev, added, freed = th.h.Append(event, payload, time.Now())
		}
		r.histBytes.Add(added - freed)
		b.Ref = protocol.StringRef(p.String())
		if seq.Sequenced != nil {
			seq.Sequenced(p, prev)
		}
	case seq.At != (history.Position{}):
		// Numbered by a node whose route keeps a history where this
		// node's does not: the same broadcast has the same position.
		b.Ref = protocol.StringRef(seq.At.String())
	case seq.Sequenced != nil:
		seq.Sequenced(history.Position{}, history.Position{})
	}
	ts := idx.topics[topic]
	if ts == nil {
		return 0, kept, nil
	}
	d := delivery{r: r, b: b, from: from}
	subs := ts.subs
	parts := min(runtime.GOMAXPROCS(0), (len(subs)+subsPerWriter-1)/subsPerWriter)
	if parts <= 1 {
		return d.deliver(subs), kept, nil
	}
	// Encoded once, before the parts copy the cache.
	d.warm(subs)
	size := (len(subs) + parts - 1) / parts
	var wg sync.WaitGroup
	defer wg.Wait() // also when the publisher's own part panics: under the lock
	var delivered atomic.Uint64
	var crash atomic.Pointer[any]
	for lo := size; lo < len(subs); lo += size {
		part := subs[lo:min(lo+size, len(subs))]
		d := d // a cache of its own
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					p := r.partPanic(v, debug.Stack())
					crash.CompareAndSwap(nil, &p)
				}
			}()
			delivered.Add(uint64(d.deliver(part)))
		})
	}
	mine := d.deliver(subs[:size])
	wg.Wait()
	if c := crash.Load(); c != nil {
		// Where a panic of the delivery would have happened had it not been
		// split: on the publisher's goroutine.
		panic(*c)
	}
	return int(delivered.Load()) + mine, kept, nil
}

// subsPerWriter is the fewest subscribers worth a goroutine of their own
// in a broadcast's delivery.
const subsPerWriter = 256

// delivery is one broadcast on its way to a topic's subscribers.
type delivery struct {
	r     *Registry
	b     protocol.Broadcast
	from  *actor.PID
	cache frameCache
	out   any // the Out message, made for the first that intercepts
	info  any // the Info message, made for the first Info subscriber
}

// warm encodes the broadcast for the first subscriber written to straight.
func (d *delivery) warm(subs []*Subscriber) {
	for _, sub := range subs {
		if sub.Notifier == nil && sub.Conn != nil {
			_, _, _ = d.cache.get(sub.Ser, &d.b)
			return
		}
	}
}

// deliver delivers the broadcast to subs, in order, and returns to how
// many.
func (d *delivery) deliver(subs []*Subscriber) int {
	event := d.b.Event
	delivered := 0
	for _, sub := range subs {
		if d.from != nil && sub.PID.Id == d.from.Id {
			continue
		}
		if sub.Notifier != nil {
			sub.Notifier.Notify(sub.PID, event)
			continue
		}
		if sub.info() {
			if d.info == nil {
				d.info = d.r.msgs.Info(d.b.Topic, event, d.b.Payload)
			}
			d.r.system.Root.Send(sub.PID, d.info)
			delivered++
			continue
		}
		if slices.Contains(sub.Intercepts, event) {
			if d.out == nil {
				d.out = d.r.msgs.Out(event, d.b.Payload)
			}
			d.r.system.Root.Send(sub.PID, d.out)
			delivered++
			continue
		}
		frame, bin, err := d.cache.get(sub.Ser, &d.b)
		if err != nil {
			// Only possible for a payload this serializer cannot carry
			// (binary to V1): such subscribers miss it, as in Phoenix.
			continue
		}
		if err := sub.Conn.Send(frame, bin); err == nil {
			delivered++
		} else if errors.Is(err, transport.ErrOutboxFull) {
			d.r.log.Warn("actors: slow client disconnected", "topic", d.b.Topic)
		}
	}
	return delivered
}
