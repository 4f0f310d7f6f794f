package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/phxgo/phx/internal/lograte"
)

// minLevel filters out records below a level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// runtimeLogHandler passes the actor runtime's warnings and errors, but for
// Proto.Actor remote's reports on its connections: it reports each attempt
// to reach a peer that is down, every two seconds, as an error, and the
// cluster reports peers going down and coming up itself, once.
type runtimeLogHandler struct{ minLevel }

func (h runtimeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "EndpointWriter") || strings.HasPrefix(r.Message, "EndpointReader") {
		return nil
	}
	return h.minLevel.Handle(ctx, r)
}

func (h runtimeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return runtimeLogHandler{minLevel{h.Handler.WithAttrs(attrs), h.level}}
}

func (h runtimeLogHandler) WithGroup(name string) slog.Handler {
	return runtimeLogHandler{minLevel{h.Handler.WithGroup(name), h.level}}
}

// LogLimit sums the endpoint's routine lines when they come faster than
// a person reads them: of each kind of line (connected, joined, left...),
// the first Burst of an Interval are logged one by one, and the rest are
// counted and reported in one line when the interval ends ("joined:
// 12345 more in the last 10s", at the kind's level, with the counts as
// attributes). Nothing is dropped without being counted.
type LogLimit struct {
	// Burst is how many lines of a kind an interval logs one by one.
	// Zero means 100; negative means every line, with no sum.
	Burst int
	// Interval is how long a burst lasts. Zero means 10 s.
	Interval time.Duration
}

// logKind is a kind of line the endpoint logs once per connection, join
// or leave, or once per refusal a client can cause again and again: each
// kind is summed on its own (LogLimit).
type logKind int

const (
	logConnected logKind = iota
	logConnectRefused
	logDisconnected
	logJoined
	logLeft
	logRejoined
	logTopicTooLong
	logUnmatchedTopic
	logJoinParamsTooLarge
	logTooManyChannels
	logRestartRefused
	logRateCutoff
	logKinds
)

// logKindLines are the kinds' messages and levels.
var logKindLines = [logKinds]struct {
	msg   string
	level slog.Level
}{
	logConnected:          {"connected", slog.LevelInfo},
	logConnectRefused:     {"refused", slog.LevelInfo},
	logDisconnected:       {"disconnected", slog.LevelInfo},
	logJoined:             {"joined", slog.LevelInfo},
	logLeft:               {"left", slog.LevelInfo},
	logRejoined:           {"rejoined after restart", slog.LevelInfo},
	logTopicTooLong:       {"topic too long", slog.LevelWarn},
	logUnmatchedTopic:     {"unmatched topic", slog.LevelWarn},
	logJoinParamsTooLarge: {"join params too large", slog.LevelWarn},
	logTooManyChannels:    {"too many channels joined", slog.LevelWarn},
	logRestartRefused:     {"channel refused its restart", slog.LevelWarn},
	logRateCutoff:         {"actors: client went on past its rate limits, closing socket", slog.LevelWarn},
}

// newLineLogs makes the limiters of every kind of line; none with a
// negative Burst.
func newLineLogs(log *slog.Logger, l LogLimit) (ls [logKinds]*lograte.Limiter) {
	if l.Burst < 0 {
		return ls
	}
	for k := range ls {
		line := logKindLines[k]
		ls[k] = &lograte.Limiter{Burst: l.Burst, Interval: l.Interval,
			Report: func(events, held uint64, d time.Duration) {
				log.LogAttrs(context.Background(), line.level, fmt.Sprintf("%s: %d more in the last %s", line.msg, held, d),
					slog.String("kind", line.msg), slog.Uint64("lines", events), slog.Uint64("not_logged", held))
			}}
	}
	return ls
}

// logLine logs a line of kind k with attrs, or counts it when the kind's
// lines of this interval are past the burst. A level the logger leaves
// out costs neither a count nor the limiter's lock.
func (e *Endpoint) logLine(k logKind, attrs ...slog.Attr) {
	if e.logs(k) {
		e.writeLine(k, attrs...)
	}
}

// logs reports whether a line of kind k is to be written now, and counts
// it if not: the lines of every join and leave test it before they make
// their attributes, which cost allocations even for a line not written.
// A true answer is a promise to call writeLine.
func (e *Endpoint) logs(k logKind) bool {
	if !e.log.Enabled(context.Background(), logKindLines[k].level) {
		return false
	}
	l := e.lineLogs[k]
	return l == nil || l.Allow()
}

func (e *Endpoint) writeLine(k logKind, attrs ...slog.Attr) {
	line := logKindLines[k]
	e.log.LogAttrs(context.Background(), line.level, line.msg, attrs...)
}

// The routine lines of a kind logged one by one per interval, by default:
// ten a second of each, which a person can still follow.
const (
	defaultLogBurst    = 100
	defaultLogInterval = 10 * time.Second
)
