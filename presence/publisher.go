package presence

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/phxgo/phx/actors"
)

// publisher delivers a shard's diffs, and the states it sends newcomers, in
// the order the shard made them, on a goroutine of its own: a diff is a
// write to every member of its topic, and the shard answers Track and
// Untrack without waiting for them. What the shard makes while the
// publisher delivers, or pauses after a long round (see paceFactor),
// waits in the queue, where a topic's diffs in a row merge into one: idle,
// the publisher sends every change at once; busy, it sends fewer, larger
// diffs, as a batch window that grows with the load would. A change made
// while the publisher is idle, or before it has taken the queue, goes out
// as a diff of its own, as Phoenix sends it.
//
// A merged diff is what a client would have made of the diffs one after
// the other. Clients apply a diff's joins before its leaves, matching
// metas by phx_ref, and phx_refs are never reused: a meta that joined
// then left arrives in both lists and ends up gone, an update (its new
// meta joined, its old one left) ends up as its last meta. Diffs do not
// merge across a state queued for newcomers.
type publisher struct {
	t *Tracker

	mu      sync.Mutex
	queue   []outgoing     // guarded by mu
	open    map[string]int // guarded by mu: topic → index in queue of its diff that later changes join
	states  map[string]int // guarded by mu: topic → index in queue of its state, read when sent, that later newcomers join
	running bool           // guarded by mu: a goroutine is delivering, or about to
	// delivering is set while the goroutine delivers what it took from
	// the queue, and pauses after: the diffs queued meanwhile merge.
	delivering bool // guarded by mu
	// stopped: the tracker has stopped, and no goroutine starts again.
	stopped bool // guarded by mu
}

// outgoing is a diff for the topic's members, or a state for newcomers.
type outgoing struct {
	topic string
	diff  *Diff
	state State // nil: the topic's state when it is sent
	to    []actors.SocketRef
}

// diff queues d, changes of topic, merged into the topic's open diff
// while the publisher delivers.
func (p *publisher) diff(topic string, d *Diff) {
	if len(d.Joins) == 0 && len(d.Leaves) == 0 {
		return // a window opened for newcomers only
	}
	p.mu.Lock()
	if i, ok := p.open[topic]; ok && p.delivering {
		merge(p.queue[i].diff, d)
	} else {
		p.open[topic] = len(p.queue)
		p.queue = append(p.queue, outgoing{topic: topic, diff: d})
	}
	p.start()
	p.mu.Unlock()
}

// state queues state for the newcomers to, encoded once for all of them.
func (p *publisher) state(topic string, state State, to []actors.SocketRef) {
	p.mu.Lock()
	delete(p.open, topic)
	p.queue = append(p.queue, outgoing{topic: topic, state: state, to: to})
	p.start()
	p.mu.Unlock()
}

// newcomer queues the topic's state for to, read when it is sent: the
// newcomers that ask before then share one read and one encoding of it.
// Whatever diffs reach them before or after it, their clients end up with
// the topic's presences: a client applies the diffs that came before its
// state after it, and a diff whose changes a state holds already changes
// nothing.
func (p *publisher) newcomer(topic string, to actors.SocketRef) {
	p.mu.Lock()
	if i, ok := p.states[topic]; ok {
		p.queue[i].to = append(p.queue[i].to, to)
	} else {
		delete(p.open, topic)
		p.states[topic] = len(p.queue)
		p.queue = append(p.queue, outgoing{topic: topic, to: []actors.SocketRef{to}})
	}
	p.start()
	p.mu.Unlock()
}

// start runs a goroutine to deliver the queue unless one is; the caller
// holds mu.
func (p *publisher) start() {
	if p.running || p.stopped {
		return
	}
	p.running = true
	p.t.publishers.Add(1)
	go p.run()
}

// stop keeps new goroutines from starting; the one delivering, if any,
// finishes the queue.
func (p *publisher) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

func (p *publisher) run() {
	defer p.t.publishers.Done()
	for {
		p.mu.Lock()
		batch := p.queue
		if len(batch) == 0 {
			p.running, p.delivering = false, false
			p.mu.Unlock()
			return
		}
		p.queue = nil
		clear(p.open)
		clear(p.states)
		p.delivering = true
		p.mu.Unlock()
		began := time.Now()
		for _, o := range batch {
			if o.to != nil {
				state := o.state
				if state == nil {
					state = p.t.list(o.topic)
				}
				p.t.sendState(o.topic, state, o.to)
			} else {
				p.t.broadcast(o.topic, o.diff)
			}
		}
		if spent := time.Since(began); spent >= pacedRound {
			p.pace(spent)
		}
	}
}

// paceFactor, maxPace and pacedRound bound the share of its time a
// publisher spends delivering: after a round of deliveries that took d,
// at least pacedRound, it lets the changes gather for paceFactor×d, at
// most maxPace, merging meanwhile, before it takes the next round or,
// with nothing queued, returns. A crowd rejoining a large room then costs
// each member a few large diffs, not one per newcomer: the members' diffs
// grow with the square of the crowd. The pause is measured on the clock,
// so it grows with the load of the whole node, not only of presence, and
// it holds on one core as on many: the changes gather while the publisher
// waits, not only while it writes. A small room's round (a few members)
// is under pacedRound: its next change goes out at once.
const (
	paceFactor = 4
	maxPace    = 500 * time.Millisecond
	pacedRound = 200 * time.Microsecond
)

// pace waits paceFactor times spent, or until the tracker stops.
func (p *publisher) pace(spent time.Duration) {
	t := time.NewTimer(min(paceFactor*spent, maxPace))
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.t.quit:
	}
}

// addMeta appends metas to key's in s.
func addMeta(s State, key string, metas ...json.RawMessage) {
	p := s[key]
	p.Metas = append(p.Metas, metas...)
	s[key] = p
}

// merge adds src's changes to dst's, after them.
func merge(dst, src *Diff) {
	for key, p := range src.Joins {
		addMeta(dst.Joins, key, p.Metas...)
	}
	for key, p := range src.Leaves {
		addMeta(dst.Leaves, key, p.Metas...)
	}
}
