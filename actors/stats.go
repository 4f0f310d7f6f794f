package actors

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/transport"
)

// Stats is a snapshot of an endpoint's counters, which it keeps whether or
// not anything reads them: a few atomic additions per connection, join
// and broadcast. The metrics package exports them to Prometheus.
type Stats struct {
	// Sockets counts the open sockets by transport ("websocket",
	// "longpoll").
	Sockets map[string]int
	// Routes holds each channel route's counters, in the order declared;
	// routes of the same pattern on several sockets are summed.
	Routes []RouteStats
	// JoinsUnmatched counts the joins of topics no route matched.
	JoinsUnmatched uint64
	// BroadcastDeliveries counts the broadcasts delivered to a
	// subscriber: queued for its client, or handed to its HandleOut. A
	// broadcast to a topic of n subscribers counts n (n − 1 for
	// BroadcastFrom).
	BroadcastDeliveries uint64
	// Transports holds the counters of the endpoint's transports, one
	// per kind (several transports of a kind are summed), by name.
	Transports []transport.Stats
	// History holds the figures of the routes' histories (WithHistory).
	History HistoryStats
	// RateLimits counts what the rate limits refused.
	RateLimits RateLimitStats
	// JoinParamsHeld is what every channel's join params hold now
	// (Config.MaxJoinParamsHeld); JoinParamsCuts counts the sockets
	// closed for holding the most when the bound was reached.
	JoinParamsHeld int64
	JoinParamsCuts uint64
	// QueuedBytes is what every socket's client frames waiting to be
	// handled hold now, counted as MaxQueuedBytes counts them;
	// QueuedCuts counts the sockets closed for holding the most when
	// MaxQueuedBytesHeld was reached.
	QueuedBytes int64
	QueuedCuts  uint64
}

// RateLimitStats count what an endpoint's rate limits refused.
type RateLimitStats struct {
	// Socket, Route and Event count the client frames refused by each
	// kind of limit: Config.RateLimit, WithRateLimit, WithEventRateLimit.
	Socket, Route, Event uint64
	// Cutoffs counts the sockets closed (1008) for going on past their
	// limits (Config.RateLimitCutoff).
	Cutoffs uint64
}

// HistoryStats are the figures of an endpoint's histories.
type HistoryStats struct {
	// Topics counts the topics that have a history; Broadcasts the
	// broadcasts kept in them, and Bytes what those cost, payloads
	// included (Config.HistoryBytes bounds it).
	Topics, Broadcasts int
	Bytes              int64
	// Cleared counts the histories cleared to keep under
	// Config.HistoryBytes.
	Cleared uint64
}

// RouteStats counts the channels of one route.
type RouteStats struct {
	// Route is the pattern as declared ("room:*").
	Route string
	// Joined is how many channels of the route are joined now.
	Joined int64
	// Joins counts the joins that succeeded; JoinsRefused those refused,
	// by the channel's Join or by a limit (join params, channels per
	// socket).
	Joins, JoinsRefused uint64
	// Crashes counts the crashes of the route's channels, restarted or
	// not.
	Crashes uint64
	// RateLimited counts the frames for the route's channels, joins
	// included, refused by a rate limit: the route's, an event's or the
	// socket's.
	RateLimited uint64
}

// routeCounters are a route's RouteStats as the endpoint keeps them. One
// is made per Channel call and shared by every channel of the route.
type routeCounters struct {
	pattern      string
	joined       atomic.Int64
	joins        atomic.Uint64
	joinsRefused atomic.Uint64
	crashes      atomic.Uint64
	rateLimited  atomic.Uint64
	// crashLog lets the first crashes of an interval be logged with their
	// stack and sums the rest into one line: a storm of crashes (a
	// thousand clients crashing their channels again and again) must not
	// fill the disk. Supervision events and crashes count every one.
	crashLog *lograte.Limiter
}

// crashLogBurst crashes of a route are logged one by one per
// crashLogInterval; the rest of the interval is one line.
const (
	crashLogBurst    = 10
	crashLogInterval = 10 * time.Second
)

// statsSource is a transport whose counters the endpoint reports.
type statsSource interface {
	Stats() transport.Stats
}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	s := Stats{
		Sockets:             e.sockets.counts(),
		JoinsUnmatched:      e.joinsUnmatched.Load(),
		BroadcastDeliveries: e.deliveries.Load(),
		RateLimits: RateLimitStats{
			Socket:  e.rateLimited[limitSocket].Load(),
			Route:   e.rateLimited[limitRoute].Load(),
			Event:   e.rateLimited[limitEvent].Load(),
			Cutoffs: e.rateCutoffs.Load(),
		},
		JoinParamsHeld: e.paramsHeld.Load(),
		JoinParamsCuts: e.paramsCuts.Load(),
		QueuedBytes:    e.queued.Load(),
		QueuedCuts:     e.queuedCuts.Load(),
	}
	h := e.reg.HistoryStats()
	s.History = HistoryStats{Topics: h.Topics, Broadcasts: h.Broadcasts, Bytes: h.Bytes, Cleared: h.Cleared}
	e.mu.Lock()
	routes := slices.Clone(e.routes)
	transports := slices.Clone(e.transports)
	e.mu.Unlock()

	for _, r := range routes {
		i := slices.IndexFunc(s.Routes, func(rs RouteStats) bool { return rs.Route == r.pattern })
		if i < 0 {
			s.Routes = append(s.Routes, RouteStats{Route: r.pattern})
			i = len(s.Routes) - 1
		}
		rs := &s.Routes[i]
		rs.Joined += r.joined.Load()
		rs.Joins += r.joins.Load()
		rs.JoinsRefused += r.joinsRefused.Load()
		rs.Crashes += r.crashes.Load()
		rs.RateLimited += r.rateLimited.Load()
	}
	for _, t := range transports {
		src, ok := t.(statsSource)
		if !ok {
			continue
		}
		ts := src.Stats()
		i := slices.IndexFunc(s.Transports, func(x transport.Stats) bool { return x.Transport == ts.Transport })
		if i < 0 {
			s.Transports = append(s.Transports, ts)
			continue
		}
		sum := &s.Transports[i]
		sum.FramesIn += ts.FramesIn
		sum.FramesOut += ts.FramesOut
		sum.OutboxOverflows += ts.OutboxOverflows
		for code, n := range ts.Closes {
			if sum.Closes == nil {
				sum.Closes = make(map[int]uint64)
			}
			sum.Closes[code] += n
		}
		for reason, n := range ts.ConnectsRefused {
			if sum.ConnectsRefused == nil {
				sum.ConnectsRefused = make(map[string]uint64)
			}
			sum.ConnectsRefused[reason] += n
		}
	}
	return s
}

func (e *Endpoint) addRoute(pattern string) *routeCounters {
	rc := &routeCounters{pattern: pattern}
	rc.crashLog = &lograte.Limiter{Burst: crashLogBurst, Interval: crashLogInterval,
		Report: func(events, held uint64, d time.Duration) {
			e.log.Error(fmt.Sprintf("route %s crashed %d times in the last %s", pattern, events, d),
				"route", pattern, "crashes", events, "not_logged", held)
		}}
	e.mu.Lock()
	e.routes = append(e.routes, rc)
	e.mu.Unlock()
	return rc
}
