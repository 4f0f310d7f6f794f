package transport

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/internal/lograte"
)

// fdReserve is what DefaultMaxConns leaves of the open-file limit for what
// is not a connection: the database, log files, listeners, plain HTTP
// requests.
const fdReserve = 256

// DefaultMaxConns is the connection limit a transport has when its config
// leaves it zero: the process's open-file limit (RLIMIT_NOFILE) less a
// reserve of 256, and at least 64. Past the open-file limit, accept fails
// and connects hang; below it, they are refused at once with 503.
func DefaultMaxConns() int {
	n := openFileLimit()
	if n <= 0 || n > 1<<30 {
		return 1 << 30 // no limit the process could reach
	}
	return max(n-fdReserve, 64)
}

// Reasons a connect is refused before any upgrade, as Stats.ConnectsRefused
// counts them.
const (
	// RefusedLimit: the transport holds MaxConns connections already.
	RefusedLimit = "limit"
	// RefusedOrigin: the Origin failed the origin check.
	RefusedOrigin = "origin"
	// RefusedConnect: the Handler's Connect refused (a bad token, say), or
	// the request asked for a serializer or subprotocol the server does
	// not speak.
	RefusedConnect = "connect"
	// RefusedShutdown: the transport is shutting down.
	RefusedShutdown = "shutdown"
)

// retryAfter is what a connect refused at the limit is told to wait, in
// seconds.
const retryAfter = 5

// connLimit bounds a transport's connections. A connect takes a slot
// before anything else is done for it, and gives it back if it goes no
// further or when its connection ends, so concurrent connects cannot
// overshoot the limit.
type connLimit struct {
	max  int64 // < 0: no limit
	open atomic.Int64
	// refusals logs the first refusal of an interval and sums the rest: a
	// crowd reconnecting against a full server must not fill the log.
	refusals *lograte.Limiter
}

func newConnLimit(max int, transport string, log *slog.Logger) *connLimit {
	if max == 0 {
		max = DefaultMaxConns()
	}
	l := &connLimit{max: int64(max)}
	l.refusals = &lograte.Limiter{Burst: 1, Interval: 10 * time.Second,
		Report: func(events, _ uint64, d time.Duration) {
			log.Warn(fmt.Sprintf("transport: %d %s connects refused at the connection limit in the last %s", events, transport, d),
				"transport", transport, "refused", events, "max", max)
		}}
	return l
}

// take reserves a slot; false when the limit is reached.
func (l *connLimit) take() bool {
	if l.max < 0 {
		return true
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return false
	}
	return true
}

func (l *connLimit) give() {
	if l.max >= 0 {
		l.open.Add(-1)
	}
}

// refuse answers a connect past the limit: 503 at once, with Retry-After,
// counted and logged.
func (l *connLimit) refuse(w http.ResponseWriter, c *counters, transport string, log *slog.Logger) {
	c.refused(RefusedLimit)
	if l.refusals.Allow() {
		log.Warn("transport: connection limit reached, refusing connects", "transport", transport, "max", l.max)
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	http.Error(w, "too many connections, try again later", http.StatusServiceUnavailable)
}
