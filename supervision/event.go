package supervision

import (
	"sync"
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
