package supervision

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one supervision decision.
type Event struct {
	Time time.Time
	// Child is the failed actor's id.
	Child string
	// Kind says what the child is: "channel", "socket" or "registry".
	Kind string
	// Topic is a channel's topic, "" for other actors.
	Topic string
	// SocketID is the socket's id (Connector.ID), "" when anonymous or not
	// a socket's.
	SocketID string
	// Reason is why the child failed, Stack where.
	Reason error
	Stack  []byte
	// Directive is what was decided.
	Directive Directive
	// Restarts counts the child's restarts within its policy's window,
	// this one included when Directive is Restart.
	Restarts int
	// Delay is how long a restart waits (RestartWithBackoff).
	Delay time.Duration
}

// SubscriberQueue is how many events a subscriber may have waiting; past
// it, that subscriber loses the newest, counted by Subscription.Dropped.
const SubscriberQueue = 1024

// Stream delivers Events to subscribers. The zero Stream is ready to use;
// its methods are safe for concurrent use.
//
// Publish never waits for a subscriber: each subscription has a queue
// and a goroutine of its own that calls its function, one event at a
// time, in the order published. A supervisor (a socket actor) publishes
// on its own goroutine, so a subscriber that blocks only delays, and then
// loses, its own events; the socket goes on.
type Stream struct {
	mu     sync.Mutex
	subs   []*Subscription     // guarded by mu
	totals map[totalKey]uint64 // guarded by mu
}

type totalKey struct {
	kind      string
	directive Directive
}

// Total counts the events of one kind of child and directive.
type Total struct {
	Kind      string
	Directive Directive
	Count     uint64
}

// Totals counts every event published, by kind and directive, whether or
// not anyone subscribed, ordered by kind then directive.
func (s *Stream) Totals() []Total {
	s.mu.Lock()
	out := make([]Total, 0, len(s.totals))
	for k, n := range s.totals {
		out = append(out, Total{Kind: k.kind, Directive: k.directive, Count: n})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Total) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return int(a.Directive) - int(b.Directive)
	})
	return out
}

// Subscription is one subscriber of a Stream.
type Subscription struct {
	s       *Stream
	f       func(Event)
	queue   chan Event
	quit    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// Subscribe calls f for every later Event, on a goroutine of the
// subscription's own, until Unsubscribe.
func (s *Stream) Subscribe(f func(Event)) *Subscription {
	sub := &Subscription{s: s, f: f, queue: make(chan Event, SubscriberQueue), quit: make(chan struct{})}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	go sub.deliver()
	return sub
}

func (sub *Subscription) deliver() {
	for {
		select {
		case <-sub.quit:
			return
		case e := <-sub.queue:
			select {
			case <-sub.quit:
				return
			default:
			}
			sub.f(e)
		}
	}
}

// Unsubscribe ends the subscription: its goroutine ends once the call of
// f under way, if any, returns, and no event published after is
// delivered. It may be called from f itself, and more than once.
func (sub *Subscription) Unsubscribe() {
	sub.once.Do(func() {
		sub.s.mu.Lock()
		sub.s.subs = slices.DeleteFunc(sub.s.subs, func(x *Subscription) bool { return x == sub })
		sub.s.mu.Unlock()
		close(sub.quit)
	})
}

// Dropped counts the events this subscriber lost because its queue was
// full: it was slower than the supervisors it watches.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Publish hands e to every subscriber, without waiting for any.
func (s *Stream) Publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.totals == nil {
		s.totals = make(map[totalKey]uint64)
	}
	s.totals[totalKey{e.Kind, e.Directive}]++
	for _, sub := range s.subs {
		select {
		case sub.queue <- e:
		default:
			sub.dropped.Add(1)
		}
	}
}
