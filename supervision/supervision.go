// Package supervision decides what a crash does and reports every decision.
//
// A Policy tells a channel's supervisor (its socket actor) what to do when
// one of the channel's callbacks panics; every decision is published as an
// Event on a Stream that tests and logs subscribe to.
package supervision

import (
	"fmt"
	"sync"
	"time"
)

// Directive is a supervisor's decision about a failed child.
type Directive int

const (
	// Stop ends the child: its client gets phx_error and rejoins by itself.
	Stop Directive = iota
	// Restart replaces the child with a fresh instance in place.
	Restart
	// Escalate hands the failure to the supervisor's own supervisor.
	Escalate
)

func (d Directive) String() string {
	switch d {
	case Stop:
		return "stop"
	case Restart:
		return "restart"
	case Escalate:
		return "escalate"
	}
	return fmt.Sprintf("Directive(%d)", int(d))
}

// Failure describes one crash, as a Policy sees it.
type Failure struct {
	Topic    string
	Reason   error
	Restarts int // restarts of this child so far
}

// Policy decides what a crash does.
type Policy interface {
	Decide(f Failure) Directive
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(Failure) Directive

// Decide calls f.
func (f PolicyFunc) Decide(fl Failure) Directive { return f(fl) }

// Temporary never restarts: a crashed channel stops and its client rejoins
// (Phoenix's own behaviour, restart: :temporary).
var Temporary Policy = PolicyFunc(func(Failure) Directive { return Stop })

// Event is one supervision decision.
type Event struct {
	Time      time.Time
	Child     string // the child actor's id
	Topic     string // the channel's topic, "" for other actors
	SocketID  string // the socket's id, "" for an anonymous socket
	Reason    error
	Stack     []byte
	Directive Directive
	Restarts  int
}

// Stream delivers Events to subscribers. The zero Stream is ready to use;
// its methods are safe for concurrent use.
type Stream struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Event) // guarded by mu
}

// Subscribe calls f for every later Event, synchronously from the
// supervisor that decided: f must not block. The returned function ends the
// subscription.
func (s *Stream) Subscribe(f func(Event)) (unsubscribe func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = make(map[int]func(Event))
	}
	id := s.next
	s.next++
	s.subs[id] = f
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// Publish delivers e to every subscriber.
func (s *Stream) Publish(e Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.subs {
		f(e)
	}
}
