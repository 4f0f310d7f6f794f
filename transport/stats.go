package transport

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats counts what a transport has carried since it started.
type Stats struct {
	// Transport is "websocket" or "longpoll".
	Transport string
	// FramesIn counts the frames received from clients; FramesOut those
	// written to them (for long-poll, handed to a GET's answer).
	FramesIn, FramesOut uint64
	// OutboxOverflows counts the connections closed because their
	// outbox (long-poll: their buffer) overflowed: clients too slow to
	// take what they were sent.
	OutboxOverflows uint64
	// Closes counts the WebSocket connections that ended, by close code:
	// the server's when it closed them, else the client's (1005 for a
	// close frame without one), 1006 for a connection lost without any
	// close frame. A code a client chooses outside RFC 6455's registry
	// (1000–1015: applications' 3000–4999 among them) is counted under
	// CloseOther, so that clients cannot grow the map, nor the metrics
	// made of it, one code at a time. Nil for long-poll, whose sessions
	// have no codes.
	Closes map[int]uint64
	// ConnectsRefused counts the connects refused before any upgrade (for
	// long-poll, before a session is made), by reason: RefusedLimit,
	// RefusedRate, RefusedOrigin, RefusedConnect, RefusedShutdown. Nil
	// until one is.
	ConnectsRefused map[string]uint64
	// PostsRefused counts the long-poll POSTs refused while their body
	// was read, by reason: RefusedTooLarge, RefusedBudget. Nil until one
	// is, and for WebSocket. BodyBytes is what the POST bodies being read
	// hold now.
	PostsRefused map[string]uint64
	BodyBytes    int64
}

// counters are a transport's Stats as it keeps them. Every connection's
// goroutines add to the same counters: each sits on a cache line of its
// own, so that readers and writers of different counters do not share one.
type counters struct {
	framesIn  paddedCounter
	framesOut paddedCounter
	overflows paddedCounter

	mu      sync.Mutex
	closes  map[int]uint64    // guarded by mu
	refuses map[string]uint64 // guarded by mu
	posts   map[string]uint64 // guarded by mu
}

type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

// CloseOther is where Stats.Closes counts the close codes outside RFC
// 6455's registry.
const CloseOther = 0

func (c *counters) closed(code int) {
	if code < 1000 || code > 1015 {
		code = CloseOther
	}
	c.mu.Lock()
	if c.closes == nil {
		c.closes = make(map[int]uint64)
	}
	c.closes[code]++
	c.mu.Unlock()
}

func (c *counters) refused(reason string) {
	c.mu.Lock()
	if c.refuses == nil {
		c.refuses = make(map[string]uint64)
	}
	c.refuses[reason]++
	c.mu.Unlock()
}

func (c *counters) postRefused(reason string) {
	c.mu.Lock()
	if c.posts == nil {
		c.posts = make(map[string]uint64)
	}
	c.posts[reason]++
	c.mu.Unlock()
}

func (c *counters) stats(transport string) Stats {
	s := Stats{
		Transport:       transport,
		FramesIn:        c.framesIn.Load(),
		FramesOut:       c.framesOut.Load(),
		OutboxOverflows: c.overflows.Load(),
	}
	c.mu.Lock()
	if c.closes != nil {
		s.Closes = maps.Clone(c.closes)
	}
	if c.refuses != nil {
		s.ConnectsRefused = maps.Clone(c.refuses)
	}
	if c.posts != nil {
		s.PostsRefused = maps.Clone(c.posts)
	}
	c.mu.Unlock()
	return s
}

// Stats returns the transport's counters.
func (ws *WebSocket) Stats() Stats { return ws.counters.stats("websocket") }

// Stats returns the transport's counters.
func (lp *LongPoll) Stats() Stats {
	s := lp.counters.stats("longpoll")
	s.BodyBytes = lp.bodies.held.Load()
	return s
}
