package actors

import (
	"fmt"
	"time"
)

// Telemetry receives the endpoint's events, in the spirit of Phoenix's
// :telemetry events ([:phoenix, :socket_connected], [:phoenix,
// :channel_joined], [:phoenix, :channel_handled_in]): plug in tracing,
// logging or metrics of the application's own with Config.Telemetry.
// Observe runs on the goroutine of what it reports (a transport's for a
// connect, the channel's for its callbacks), before the client is
// answered, so it must not block. Unset, the endpoint does not read the
// clock for it.
type Telemetry interface {
	Observe(TelemetryEvent)
}

// TelemetryFunc adapts a function to Telemetry.
type TelemetryFunc func(TelemetryEvent)

// Observe calls f(e).
func (f TelemetryFunc) Observe(e TelemetryEvent) { f(e) }

// TelemetryKind says what a TelemetryEvent reports.
type TelemetryKind int

const (
	// SocketConnected: the Connector's Connect ran; Err is its refusal.
	SocketConnected TelemetryKind = iota + 1
	// ChannelJoined: a channel's first Join ran; Err is its refusal.
	ChannelJoined
	// ChannelHandledIn: HandleIn returned.
	ChannelHandledIn
	// ChannelHandledOut: HandleOut returned; Err is the error it returned.
	ChannelHandledOut
	// ChannelCrashed: a channel's callback panicked; Err is the
	// *PanicError.
	ChannelCrashed
)

func (k TelemetryKind) String() string {
	switch k {
	case SocketConnected:
		return "socket_connected"
	case ChannelJoined:
		return "channel_joined"
	case ChannelHandledIn:
		return "channel_handled_in"
	case ChannelHandledOut:
		return "channel_handled_out"
	case ChannelCrashed:
		return "channel_crashed"
	}
	return fmt.Sprintf("TelemetryKind(%d)", int(k))
}

// TelemetryEvent is one event of the endpoint.
type TelemetryEvent struct {
	Kind      TelemetryKind
	Transport string // "websocket" or "longpoll"
	SocketID  string // Connector.ID, "" when anonymous
	Topic     string // a channel's
	Route     string // the pattern its topic matched, as declared ("room:*")
	Event     string // handled in or out
	// Duration is how long the callback took (Connect, Join, HandleIn,
	// HandleOut); zero for a crash.
	Duration time.Duration
	Err      error
}

// clockOrigin is where monotonic counts from.
var clockOrigin = time.Now()

// monotonic reads the monotonic clock alone, for the durations telemetry
// reports: time.Now reads the wall clock too, a second clock read on
// every message handled.
func monotonic() time.Duration { return time.Since(clockOrigin) }
