package actors

import (
	"log/slog"
	"math"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/sched"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Messages a socket actor receives besides its channels' joinDone.
type (
	// inbound is one decoded client message, in arrival order, as the
	// socket receives it and, for a channel's message, as the channel
	// does.
	inbound struct {
		quiet
		msg     *protocol.Message // &decoded: one allocation for both
		decoded protocol.Message
		size    int64 // the frame's, counted in the socket's queued bytes
	}
	// socketFailure: a frame could not be decoded; the socket fails.
	socketFailure struct {
		quiet
		err error
	}
	// crashSocket makes the socket actor panic: tests use it to check that
	// a socket's failure stays with its own connection.
	crashSocket struct {
		quiet
		id string // the socket id of the sockets to crash
	}
	// stopSocket ends the socket and its channels with reason.
	stopSocket struct {
		quiet
		reason   error
		connGone bool // the connection has already ended
	}
	// channelFailed: one of the socket's channels failed; its guardian
	// waits for the socket's decision.
	channelFailed struct {
		quiet
		sup     actor.Supervisor
		child   *actor.PID
		reason  any
		message any
	}
	// channelStopped: one of the socket's channel actors is gone.
	channelStopped struct {
		quiet
		pid *actor.PID
	}
	// socketDisconnect: a disconnect broadcast on the socket's id.
	socketDisconnect struct{ quiet }
)

// socketActor is one connection. Its work is in three roles, each a
// type of its own over the same actor: the router takes client frames to
// their channels (socket_routing.go), the joiner runs joins in order
// (socket_join.go), and the channelSupervisor decides what a channel's
// crash does (socket_supervision.go).
type socketActor struct {
	ep        *Endpoint
	h         *SocketHandler
	conn      transport.Conn
	ser       protocol.Serializer
	assigns   assignList
	id        string
	transport string

	// queued counts the bytes of client frames received and not yet
	// handled (Config.MaxQueuedBytes): added on the read goroutine, taken
	// off by whoever handles the frame, the socket or a channel. Each
	// channel's part is also in its channelState, so that what a channel
	// leaves unhandled when it ends is taken off too.
	queued atomic.Int64
	// overBound is set once the connection is closing for a bound:
	// queued went past MaxQueuedBytes, or the endpoint closed the socket
	// for holding the most join params (MaxJoinParamsHeld). Its frames
	// are no longer taken.
	overBound atomic.Bool
	// paramsHeld counts the join params the socket's channels keep.
	paramsHeld atomic.Int64

	ctx      actor.Context
	self     *actor.PID
	mbox     *sched.Mailbox
	channels channelTable
	joinState
	stopping bool
	down     bool // the actor is stopping or stopped: nothing is run inline
	// limits are the socket's rate limit buckets, nil until a limit
	// applies to it (ratelimit.go).
	limits *socketLimits

	// name is the actor's id, chosen at Connect so that the socket id's
	// subscription can name it before the actor exists.
	name string
	// disconnectAsked is set by a disconnect broadcast on the socket id,
	// which may come before the actor is spawned; spawned is set once it
	// is. Whichever of the two is set second sends socketDisconnect.
	disconnectAsked, spawned atomic.Bool
}

// Notify implements registry.Notifier for the socket's id topic: a
// "disconnect" broadcast there closes the socket.
func (s *socketActor) Notify(pid *actor.PID, event string) {
	if event == "disconnect" {
		s.requestDisconnect(pid)
	}
}

// requestDisconnect asks the socket (pid) to close for a disconnect
// broadcast, now if its actor has been spawned, else as soon as it is.
func (s *socketActor) requestDisconnect(pid *actor.PID) {
	s.disconnectAsked.Store(true)
	if s.spawned.Load() {
		s.ep.system.Root.Send(pid, &socketDisconnect{})
	}
}

func (s *socketActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.ctx, s.self = ctx, ctx.Self()
	case *inbound:
		if s.stopping {
			s.unqueue(m.size)
			return
		}
		if s.waiting() {
			if !(joiner{s}).hold(m) {
				s.unqueue(m.size)
				s.ep.log.Warn("actors: too many frames during a join, closing socket", "socket_id", s.id)
				s.stop(errTooManyPending, transport.ClosePolicyViolation, "too many frames during a join")
			}
			return
		}
		router{s}.dispatch(m)
	case *joinDone:
		s.joinDone(m)
	case *channelStopped:
		s.channelStopped(m)
	case *channelFailed:
		channelSupervisor{s}.failed(m.sup, m.child, m.reason, m.message)
	case *crashSocket:
		if m.id == s.id {
			panic("socket crash requested")
		}
	case *socketFailure:
		s.ep.log.Warn("actors: undecodable frame, closing socket", "socket_id", s.id, "error", m.err)
		s.stop(m.err, transport.CloseInternalError, "undecodable frame")
	case *rateCutoff:
		s.stop(errRateLimited, transport.ClosePolicyViolation, "rate limited")
	case *socketDisconnect:
		if s.stopping {
			return
		}
		s.ep.logLine(logDisconnected, slog.String("socket_id", s.id))
		s.stop(ReasonDisconnected, transport.CloseGoingAway, "disconnect")
	case *stopSocket:
		code := transport.CloseServiceRestart
		if m.connGone {
			code = 0
		}
		s.stop(m.reason, code, "server shutting down")
	case *actor.Stopping:
		s.down = true
		if failure, ok := s.ep.socketFailures.LoadAndDelete(ctx.Self().Id); ok {
			// Stopped by its guardian after a crash of its own.
			s.stop(failure.(error), transport.CloseInternalError, "socket failed")
		}
		// Stopped without waiting for its channels (by its guardian):
		// they end on their own.
		for _, e := range s.channels {
			e.st.ctx.end()
			ctx.Stop(e.pid)
		}
		s.ep.sockets.unsubscribeID(s)
	case *actor.Stopped:
		// What is still counted (frames in a mailbox that will never be
		// handled, or on their way) leaves the endpoint's count now.
		s.ep.queued.Add(-s.queued.Swap(queuedGone))
		s.ep.sockets.stopped(ctx.Self(), s.transport)
	}
}

// queuedGone is what a stopped socket's queued count is set to: far
// below zero, so that what is added or taken off after it stopped never
// makes it positive, and never reaches the endpoint's count.
const queuedGone = math.MinInt64 / 2

// enqueue counts size more bytes held for the socket's client frames,
// here and in the endpoint's count, and returns the socket's count:
// negative once it has stopped, when nothing was counted.
func (s *socketActor) enqueue(size int64) int64 {
	n := s.queued.Add(size)
	if n < 0 {
		return n
	}
	s.ep.queued.Add(size)
	return n
}

// unqueue takes size off what enqueue counted.
func (s *socketActor) unqueue(size int64) {
	if s.queued.Add(-size) >= 0 {
		s.ep.queued.Add(-size)
	}
}

// heldFor is what a client frame holds while it waits to be handled: the
// decoded message's copy of its bytes, and the message itself with what
// carries it to its actor (the inbound, its refs and strings, a mailbox
// slot), measured by TestQueuedBytesCountWhatIsHeld.
func heldFor(frame []byte) int64 { return int64(len(frame)) + inboundOverhead }

// inboundOverhead is what a frame waiting to be handled holds beyond its
// bytes.
const inboundOverhead = 128

// stop ends the socket: every channel terminates with reason, then, once
// every channel actor is gone, the socket actor stops. code 0 leaves the
// connection as it is (it is already gone).
func (s *socketActor) stop(reason error, code int, text string) {
	if s.stopping {
		return
	}
	s.stopping = true
	for _, e := range s.channels {
		e.st.ctx.end()
		e.st.exit.setReason(reason)
		if e.timer != nil {
			e.timer.Stop()
		}
	}
	if code != 0 {
		s.conn.Close(code, text)
	}
	if len(s.channels) == 0 {
		s.ctx.Stop(s.ctx.Self())
		return
	}
	for _, e := range s.channels {
		s.ctx.Stop(e.pid)
	}
}

var (
	unmatchedTopic  = map[string]string{"reason": "unmatched topic"}
	tooManyChannels = map[string]string{"reason": "too many channels joined"}
	paramsTooLarge  = map[string]string{"reason": "join params too large"}
	serverBusy      = map[string]string{"reason": "server busy"}
	topicTooLong    = map[string]string{"reason": "topic too long"}
	joinCrashed     = map[string]string{"reason": "join crashed"}
)

func (s *socketActor) reply(joinRef, ref protocol.Ref, topic, status string, response any) {
	frame, bin, err := encodeReply(s.ser, joinRef, ref, topic, status, response)
	if err != nil {
		s.ep.log.Error("actors: encoding reply", "topic", logTopic(topic), "error", err)
		return
	}
	_ = s.conn.Send(frame, bin)
}

// quiet marks the endpoint's own messages. A message to an actor that has
// just stopped is normal here (a channel ends while a broadcast is on its
// way) and is dropped without the runtime's dead-letter log, whose throttle
// would also leave a timer goroutine behind.
type quiet struct{}

func (quiet) IgnoreDeadLetterLogging() {}

func (s *socketActor) joinDone(m *joinDone) {
	if s.joining != nil && s.joining.st == m.st {
		joiner{s}.finished(m.ok)
	}
}

func (s *socketActor) channelStopped(m *channelStopped) {
	channelSupervisor{s}.ended(m.pid)
	if s.stopping && len(s.channels) == 0 {
		s.ctx.Stop(s.self)
	}
}

// tell hands the socket a message from one of its channels: a
// *joinDone or a *channelStopped. When the socket actor is idle, the
// channel acts as the socket on its own goroutine, as the read goroutine
// does for frames (routeInline): a join and a leave each saved a
// hand-off to a worker, whose wake-up cost more than the work. Order
// holds: the claim fails while anything is queued for the socket, and
// what is posted during it waits. A socket stopping or stopped gets the
// message through its mailbox, as before.
func (s *socketActor) tell(m any) {
	if s.mbox == nil || !s.mbox.Claim() {
		s.ep.system.Root.Send(s.self, m)
		return
	}
	if s.ctx == nil || s.stopping || s.down {
		s.mbox.Release()
		s.ep.system.Root.Send(s.self, m)
		return
	}
	defer s.mbox.Release()
	switch m := m.(type) {
	case *joinDone:
		s.joinDone(m)
	case *channelStopped:
		s.channelStopped(m)
	}
}
