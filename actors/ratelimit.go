package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/internal/ratelimit"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Rate is a rate limit: PerSecond client frames a second on average, and
// up to Burst at once. The zero Rate is no limit.
type Rate = transport.Rate

// Cutoff is when a client that goes on past its rate limits is closed
// rather than answered.
type Cutoff struct {
	// Refusals is how many frames a socket may have refused within
	// Window: one more closes it with 1008 "rate limited". Zero means 3 ×
	// the Burst of the limit that refuses; negative means never.
	Refusals int
	// Window is how long refusals are counted together, from the first
	// one; the next refusal after it starts a new window. Zero means
	// 10 s.
	Window time.Duration
}

const (
	defaultCutoffWindow = 10 * time.Second
	cutoffBursts        = 3
)

// WithRateLimit bounds the frames a socket sends to the route's channels,
// its joins of the route included: past the rate, a frame is answered
// {"status":"error","response":{"reason":"rate limited"}} and not
// handled. The budget is per socket and per route, shared by the socket's
// channels of the route, so that joining more topics buys no more of it.
func WithRateLimit(r Rate) ChannelOption {
	return routeOption(func(rt *route) { rt.limit().all = r.WithDefaults() })
}

// WithEventRateLimit bounds one event as WithRateLimit bounds them all,
// with a budget of its own; "phx_join" bounds the socket's joins of the
// route. Both apply to an event that has both.
func WithEventRateLimit(event string, r Rate) ChannelOption {
	return routeOption(func(rt *route) {
		l := rt.limit()
		l.events = append(l.events, eventRate{event: event, rate: r.WithDefaults()})
	})
}

// routeRate is what a route limits.
type routeRate struct {
	all    Rate
	events []eventRate
}

type eventRate struct {
	event string
	rate  Rate
}

func (r *route) limit() *routeRate {
	if r.rate == nil {
		r.rate = &routeRate{}
	}
	return r.rate
}

// limitKind names the kind of limit that refused a frame.
type limitKind int

const (
	limitNone   limitKind = iota
	limitSocket           // Config.RateLimit
	limitRoute            // WithRateLimit
	limitEvent            // WithEventRateLimit
)

// verdict is what becomes of a frame the limits looked at.
type verdict int

const (
	admitted verdict = iota // handled as usual
	refused                 // answered "rate limited", not handled
	dropped                 // the socket is being cut off: neither
)

// socketLimits are a socket's buckets: its own, and one set per route
// with limits that it has joined or tried to. Only the socket actor
// touches them (its router, inline or in its mailbox), so they need no
// lock. A socket with no limit has none, and pays one nil check per frame.
type socketLimits struct {
	all    ratelimit.Bucket // Config.RateLimit's
	routes []*routeBuckets
	// refusals counts the refusals of the window that began at
	// windowStart (Config.RateLimitCutoff).
	refusals    int
	windowStart int64
	cut         bool // past the cutoff: the socket is closing
}

// routeBuckets are a socket's buckets for one route: one for the route,
// one per event limit, in the order of spec.events.
type routeBuckets struct {
	spec   *routeRate
	all    ratelimit.Bucket
	events []ratelimit.Bucket
}

func newSocketLimits(cfg Rate, now int64) *socketLimits {
	return &socketLimits{all: ratelimit.Full(cfg.Burst, now)}
}

// forRoute returns the socket's buckets for a route's limits, made full
// the first time.
func (l *socketLimits) forRoute(spec *routeRate, now int64) *routeBuckets {
	for _, rb := range l.routes {
		if rb.spec == spec {
			return rb
		}
	}
	rb := &routeBuckets{spec: spec, all: ratelimit.Full(spec.all.Burst, now)}
	for _, e := range spec.events {
		rb.events = append(rb.events, ratelimit.Full(e.rate.Burst, now))
	}
	l.routes = append(l.routes, rb)
	return rb
}

// limiter returns the socket's limits, made the first time.
func (s *socketActor) limiter() *socketLimits {
	if s.limits == nil {
		s.limits = newSocketLimits(s.ep.cfg.RateLimit, s.ep.now())
	}
	return s.limits
}

var (
	rateLimited    = protocol.JSON([]byte(`{"reason":"rate limited"}`))
	errRateLimited = errors.New("actors: rate limited")
)

// limit applies the socket's limits and those of a route (rb, nil for
// none) to one client frame, and takes its token from each when all have
// one. route is the route's counters, nil for a frame no route serves.
func (s *socketActor) limit(msg *protocol.Message, rb *routeBuckets, route *routeCounters) verdict {
	l := s.limiter()
	if l.cut {
		return dropped
	}
	now := s.ep.now()
	kind, burst := limitNone, 0
	cfg := s.ep.cfg.RateLimit
	var event *ratelimit.Bucket
	switch {
	case cfg.Limited() && !l.all.Ready(cfg.PerSecond, cfg.Burst, now):
		kind, burst = limitSocket, cfg.Burst
	case rb != nil && rb.spec.all.Limited() && !rb.all.Ready(rb.spec.all.PerSecond, rb.spec.all.Burst, now):
		kind, burst = limitRoute, rb.spec.all.Burst
	case rb != nil:
		for i, e := range rb.spec.events {
			if e.event == msg.Event {
				event = &rb.events[i]
				if !event.Ready(e.rate.PerSecond, e.rate.Burst, now) {
					kind, burst = limitEvent, e.rate.Burst
				}
				break
			}
		}
	}
	if kind == limitNone {
		if cfg.Limited() {
			l.all.Take()
		}
		if rb != nil && rb.spec.all.Limited() {
			rb.all.Take()
		}
		if event != nil {
			event.Take()
		}
		return admitted
	}
	s.ep.rateLimited[kind].Add(1)
	if route != nil {
		route.rateLimited.Add(1)
	}
	s.ep.rateLog.Allow()
	if !s.withinCutoff(l, burst, now) {
		l.cut = true
		s.ep.rateCutoffs.Add(1)
		s.ep.logLine(logRateCutoff, slog.String("socket_id", s.id), slog.String("topic", logTopic(msg.Topic)),
			slog.String("event", msg.Event), slog.String("limit", kind.String()))
		// Through the mailbox: this may run on the read goroutine.
		s.ep.system.Root.Send(s.self, &rateCutoff{})
		return dropped
	}
	return refused
}

// withinCutoff counts a refusal in its window and reports whether the
// socket may go on.
func (s *socketActor) withinCutoff(l *socketLimits, burst int, now int64) bool {
	c := s.ep.cfg.RateLimitCutoff
	if c.Refusals < 0 {
		return true
	}
	max := c.Refusals
	if max == 0 {
		max = cutoffBursts * burst
	}
	if l.refusals == 0 || now-l.windowStart >= int64(c.Window) {
		l.refusals, l.windowStart = 0, now
	}
	l.refusals++
	return l.refusals <= max
}

func (k limitKind) String() string {
	switch k {
	case limitSocket:
		return "socket"
	case limitRoute:
		return "route"
	case limitEvent:
		return "event"
	}
	return "none"
}

// newRateLog sums the frames refused by rate limits into one line per
// interval: a line per refusal, or per socket refused, would let clients
// fill the log. A socket cut off is logged on its own, as a routine line
// (LogLimit).
func newRateLog(e *Endpoint) *lograte.Limiter {
	return &lograte.Limiter{Burst: 0, Interval: rateLogInterval,
		Report: func(events, _ uint64, d time.Duration) {
			e.log.Warn(fmt.Sprintf("actors: %d client frames refused by rate limits in the last %s", events, d),
				"refused", events)
		}}
}

const rateLogInterval = 10 * time.Second

// rateCutoff closes a socket that went on past its limits.
type rateCutoff struct{ quiet }
