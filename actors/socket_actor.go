package actors

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/sched"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/supervision"
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

// maxPending bounds the frames a socket holds while a join runs: a client
// flooding a slow join is cut off rather than grow the server's memory.
const maxPending = 4096

var errTooManyPending = errors.New("actors: too many frames during a join")

// chanEntry is a socket's record of one of its channels.
type chanEntry struct {
	st     *channelState
	pid    *actor.PID
	policy supervision.Policy
	budget supervision.Budget
	timer  *time.Timer // a restart waiting out its backoff
	// leaving: the client asked the channel to leave; a join of its
	// topic waits for it to end rather than replace it.
	leaving bool
	// replaced: closed by a duplicate join; its phx_close is already queued.
	replaced bool
	// routed: this is its topic's channel, to which client messages go.
	// A channel that ended or was replaced stays in the socket's list until
	// its actor is gone, but no longer routed.
	routed bool
}

// route returns the routed channel of topic, or nil.
func (s *socketActor) route(topic string) *chanEntry {
	for _, e := range s.channels {
		if e.routed && e.st.topic == topic {
			return e
		}
	}
	return nil
}

// byPID returns the channel whose actor has id, or nil.
func (s *socketActor) byPID(id string) *chanEntry {
	for _, e := range s.channels {
		if e.pid.Id == id {
			return e
		}
	}
	return nil
}

// forget drops a channel whose actor is gone.
func (s *socketActor) forget(e *chanEntry) {
	for i, c := range s.channels {
		if c == e {
			last := len(s.channels) - 1
			s.channels[i] = s.channels[last]
			s.channels[last] = nil
			s.channels = s.channels[:last]
			return
		}
	}
}

// socketActor is one connection: it routes client messages to channels,
// answers heartbeats, and supervises its channels.
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
	queued     atomic.Int64
	overQueued atomic.Bool // queued went past the limit: the connection is closing

	ctx      actor.Context
	self     *actor.PID
	mbox     *sched.Mailbox
	channels []*chanEntry // every live channel actor; a socket has few
	joining  *chanEntry   // the join in flight; later frames wait
	// leaving is a channel that was asked to leave and a join of its
	// topic came before it ended: later frames wait for its end, so that
	// its leave is answered and its Terminate runs before the new join.
	leaving *chanEntry
	pending []*inbound // frames that arrived during a join
	// afterJoin holds frames due once the join in flight has answered: the
	// phx_close of a channel a duplicate join replaced.
	afterJoin [][]byte
	stopping  bool

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
			s.queued.Add(-m.size)
			return
		}
		if s.joining != nil || s.leaving != nil {
			if len(s.pending) == maxPending {
				s.queued.Add(-m.size)
				s.ep.log.Warn("actors: too many frames during a join, closing socket", "socket_id", s.id)
				s.stop(errTooManyPending, transport.ClosePolicyViolation, "too many frames during a join")
				return
			}
			s.pending = append(s.pending, m)
			return
		}
		s.dispatch(m)
	case *joinDone:
		if s.joining != nil && s.joining.st == m.st {
			s.joinFinished(m.ok)
		}
	case *channelStopped:
		s.channelEnded(m.pid)
		if s.stopping && len(s.channels) == 0 {
			ctx.Stop(ctx.Self())
		}
	case *channelFailed:
		s.channelFailed(m.sup, m.child, m.reason, m.message)
	case *crashSocket:
		if m.id == s.id {
			panic("socket crash requested")
		}
	case *socketFailure:
		s.ep.log.Warn("actors: undecodable frame, closing socket", "socket_id", s.id, "error", m.err)
		s.stop(m.err, transport.CloseInternalError, "undecodable frame")
	case *socketDisconnect:
		if s.stopping {
			return
		}
		s.ep.log.Info("disconnected", "socket_id", s.id)
		s.stop(ReasonDisconnected, transport.CloseGoingAway, "disconnect")
	case *stopSocket:
		code := transport.CloseServiceRestart
		if m.connGone {
			code = 0
		}
		s.stop(m.reason, code, "server shutting down")
	case *actor.Stopping:
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
		s.ep.unsubscribeSocketID(s)
	case *actor.Stopped:
		s.ep.socketStopped(ctx.Self(), s.transport)
	}
}

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

// routeInline hands a message or a leave for a joined channel straight
// to the channel, on the read goroutine, when the socket actor is idle:
// routing is all the socket does with them, and the hop through its
// mailbox cost a goroutine hand-off each. It reports false, having done
// nothing, for anything else: joins, heartbeats and the rest go through
// the mailbox, as does everything while a join is in flight, so that
// their work (a spawn, a reply) never deepens the read goroutine's stack,
// which every connection keeps. Order holds: the claim fails while
// anything is queued for the socket.
func (s *socketActor) routeInline(in *inbound) bool {
	if in.msg.Event == protocol.EventJoin || s.mbox == nil || !s.mbox.Claim() {
		return false
	}
	defer s.mbox.Release()
	if s.ctx == nil || s.stopping || s.joining != nil || s.leaving != nil {
		return false
	}
	return s.forward(in)
}

// dispatch applies docs/protocol.md §4.2 to one client message. Its bytes
// stay queued while a channel has it to handle, and no longer once the
// socket is done with it.
func (s *socketActor) dispatch(in *inbound) {
	if s.forward(in) {
		return
	}
	msg := in.msg
	if msg.Event == protocol.EventJoin {
		if e := s.leavingChannel(msg.Topic); e != nil {
			// Phoenix waits for a leaving channel to be gone before it
			// joins its topic again.
			s.leaving = e
			s.pending = slices.Insert(s.pending, 0, in)
			return
		}
	}
	s.queued.Add(-in.size)
	if msg.Topic == protocol.TopicPhoenix && msg.Event == protocol.EventHeartbeat {
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "ok", nil)
		return
	}
	entry := s.live(msg.Topic)
	switch {
	case msg.Event == protocol.EventJoin:
		if entry != nil {
			s.replace(entry)
		}
		s.join(msg)
	case entry != nil:
		// A leave or a message with a stale join_ref: dropped.
	case msg.Event == protocol.EventLeave:
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "ok", nil)
	default:
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "error", unmatchedTopic)
	}
}

// forward hands a message or a leave to the live channel of its topic and
// join_ref, and reports whether it did.
func (s *socketActor) forward(in *inbound) bool {
	msg := in.msg
	if msg.Event == protocol.EventJoin {
		return false
	}
	e := s.live(msg.Topic)
	if e == nil || !refMatches(msg.JoinRef, e.st.joinRef) {
		return false
	}
	if msg.Event == protocol.EventLeave {
		s.queued.Add(-in.size)
		e.leaving = true
		e.st.ctx.end()
		s.ep.system.Root.Send(e.pid, &leaveMsg{ref: msg.Ref})
		return true
	}
	e.st.queued.Add(in.size)
	s.ep.system.Root.Send(e.pid, in)
	return true
}

// leavingChannel returns the channel of topic that was asked to leave and
// has not ended yet, or nil.
func (s *socketActor) leavingChannel(topic string) *chanEntry {
	for _, e := range s.channels {
		if e.leaving && e.st.topic == topic {
			return e
		}
	}
	return nil
}

// live returns the channel of topic, unless it has already told its client
// it ended: the topic is then free, whether or not its actor is gone yet.
func (s *socketActor) live(topic string) *chanEntry {
	e := s.route(topic)
	if e != nil && e.st.ending.Load() {
		e.routed = false
		return nil
	}
	return e
}

// liveCount counts the routed channels that are not ending.
func (s *socketActor) liveCount() int {
	n := 0
	for _, e := range s.channels {
		if e.routed && !e.st.ending.Load() {
			n++
		}
	}
	return n
}

// refMatches: a message for a joined topic is delivered when its join_ref
// is null or that of the current join (Phoenix 1.8.12); others belong to an
// earlier join and are dropped.
func refMatches(msgRef, joined protocol.Ref) bool {
	return msgRef.IsNull() || msgRef == joined
}

var (
	unmatchedTopic  = map[string]string{"reason": "unmatched topic"}
	tooManyChannels = map[string]string{"reason": "too many channels joined"}
	paramsTooLarge  = map[string]string{"reason": "join params too large"}
	topicTooLong    = map[string]string{"reason": "topic too long"}
	joinCrashed     = map[string]string{"reason": "join crashed"}
)

// maxLogTopic is how much of a topic a log line quotes: a client chooses
// its topics, and a line per frame of a long one would fill the log.
const maxLogTopic = 256

// logTopic is topic as a log line quotes it, cut to maxLogTopic bytes.
func logTopic(topic string) string {
	if len(topic) <= maxLogTopic {
		return topic
	}
	cut := maxLogTopic
	for cut > 0 && !utf8.RuneStart(topic[cut]) {
		cut--
	}
	return topic[:cut] + "…"
}

func (s *socketActor) reply(joinRef, ref protocol.Ref, topic, status string, response any) {
	frame, bin, err := encodeReply(s.ser, joinRef, ref, topic, status, response)
	if err != nil {
		s.ep.log.Error("actors: encoding reply", "topic", logTopic(topic), "error", err)
		return
	}
	_ = s.conn.Send(frame, bin)
}

func (s *socketActor) join(msg *protocol.Message) {
	r, ok := s.h.match(msg.Topic)
	if max := s.ep.cfg.MaxTopicLength; max > 0 && len(msg.Topic) > max {
		// A channel's topic is in every frame it sends and every log line
		// about it.
		if ok {
			r.stats.joinsRefused.Add(1)
		}
		s.ep.log.Warn("topic too long", "topic", logTopic(msg.Topic), "socket_id", s.id, "size", len(msg.Topic), "max", max)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", topicTooLong)
		return
	}
	if !ok {
		s.ep.joinsUnmatched.Add(1)
		s.ep.log.Warn("unmatched topic", "topic", logTopic(msg.Topic), "socket_id", s.id)
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "error", unmatchedTopic)
		return
	}
	if max := s.ep.cfg.MaxJoinParams; max > 0 && len(msg.Payload.Data) > max {
		// A channel keeps its join params for its whole life, to join
		// again on a restart.
		r.stats.joinsRefused.Add(1)
		s.ep.log.Warn("join params too large", "topic", logTopic(msg.Topic), "socket_id", s.id, "size", len(msg.Payload.Data), "max", max)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", paramsTooLarge)
		return
	}
	if max := s.ep.cfg.MaxChannels; max > 0 && s.liveCount() >= max {
		r.stats.joinsRefused.Add(1)
		s.ep.log.Warn("too many channels joined", "topic", logTopic(msg.Topic), "socket_id", s.id)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", tooManyChannels)
		return
	}
	chanJoinRef := msg.JoinRef
	if chanJoinRef.IsNull() {
		chanJoinRef = msg.Ref
	}
	st := &channelState{
		sock:  s,
		topic: msg.Topic, params: msg.Payload, joinRef: msg.JoinRef, joinMsgRef: msg.Ref,
		chanJoinRef: chanJoinRef, produce: r.produce, route: r.stats,
	}
	// Named as Proto.Actor names a child, which is how the channel's
	// guardian finds its socket.
	name := s.ctx.Self().Id + "/" + s.ep.system.ProcessRegistry.NextId()
	s.ep.handoff.Store(name, st)
	s.ep.channelsWG.Add(1)
	pid, err := s.ep.system.Root.SpawnNamed(s.ep.channelProps, name)
	if err != nil {
		s.ep.handoff.Delete(name)
		s.ep.channelsWG.Done()
		s.ep.log.Error("actors: spawning a channel", "topic", logTopic(msg.Topic), "socket_id", s.id, "error", err)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", joinCrashed)
		return
	}
	policy := s.ep.policy
	if r.policy != nil {
		policy = *r.policy
	}
	e := &chanEntry{st: st, pid: pid, policy: policy, routed: true}
	s.channels = append(s.channels, e)
	s.joining = e
}

// replace closes the channel a duplicate join supersedes: it is stopped
// without Terminate, and its phx_close follows the new join's reply.
func (s *socketActor) replace(e *chanEntry) {
	e.routed = false
	e.replaced = true
	e.st.ctx.end()
	s.unsubscribe(e)
	e.st.exit.setReason(ShutdownReason("duplicate_join"))
	e.st.exit.skip()
	e.st.exit.markAnnounced()
	frame, bin, err := s.ser.EncodeMessage(nil, &protocol.Message{
		JoinRef: e.st.joinRef, Ref: e.st.joinRef, Topic: e.st.topic, Event: protocol.EventClose, Payload: protocol.EmptyObject,
	})
	if err == nil && !bin {
		s.afterJoin = append(s.afterJoin, frame)
	}
	s.ctx.Stop(e.pid)
}

// unsubscribe takes a channel the socket ends out of its topic at once,
// not when its actor stops, which waits for the callback it runs: from
// here on no broadcast reaches its client, whatever the client is told
// next (a phx_close, a phx_error, a new join's reply). A restart of the
// channel already under way does not subscribe it again.
func (s *socketActor) unsubscribe(e *chanEntry) {
	e.st.closed.Store(true)
	s.ep.reg.Unsubscribe(e.st.topic, e.pid.Id)
}

func (s *socketActor) joinFinished(ok bool) {
	e := s.joining
	s.joining = nil
	if !ok {
		e.routed = false
	}
	for _, f := range s.afterJoin {
		_ = s.conn.Send(f, false)
	}
	clear(s.afterJoin)
	s.afterJoin = s.afterJoin[:0]
	s.handlePending()
}

// handlePending handles the frames that waited for a join or a leave,
// until one makes the next ones wait again.
func (s *socketActor) handlePending() {
	for len(s.pending) > 0 && s.joining == nil && s.leaving == nil && !s.stopping {
		m := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		s.dispatch(m)
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

// channelEnded handles the end of a channel actor: the client learns how
// it ended, unless the channel or a duplicate join already told it.
func (s *socketActor) channelEnded(pid *actor.PID) {
	e := s.byPID(pid.Id)
	if e == nil {
		return
	}
	s.forget(e)
	e.routed = false
	// What the channel left unhandled is no longer queued.
	s.queued.Add(-e.st.queued.Swap(0))
	if e.timer != nil {
		e.timer.Stop()
	}
	reason, announced, _ := e.st.exit.get()
	if s.leaving == e {
		defer func() {
			s.leaving = nil
			s.handlePending()
		}()
	}
	if s.joining == e {
		// The channel ended before its join answered: a crash in Join.
		if !announced {
			s.reply(e.st.joinRef, e.st.joinMsgRef, e.st.topic, "error", joinCrashed)
			e.st.exit.markAnnounced()
		}
		s.joinFinished(false)
		return
	}
	if announced || s.stopping {
		return
	}
	if reason == nil {
		reason = fmt.Errorf("channel actor ended")
	}
	e.st.announce(reason)
}

// channelFailed makes the socket actor its channels' supervisor: the
// route's policy decides between restarting the channel in place and
// stopping it. Every decision is published and logged.
func (s *socketActor) channelFailed(sup actor.Supervisor, child *actor.PID, reason, message any) {
	err := panicOf(reason)
	e := s.byPID(child.Id)
	if e == nil || s.stopping {
		sup.StopChildren(child)
		return
	}
	st := e.st
	// The crashed instance's work stops now, not when a restart with
	// backoff begins.
	st.ctx.end()
	directive, delay, restarts := supervision.Stop, time.Duration(0), 0
	msg := actor.UnwrapEnvelopeMessage(message)
	switch msg.(type) {
	case *actor.Started, *actor.Restart:
		// Join itself crashed, on the first join or on a restart: there is
		// no state to restart from.
	default:
		directive, delay, restarts = e.budget.Decide(e.policy, time.Now())
	}
	logged := st.route.crashLog.Allow()
	if logged {
		s.ep.log.Error("channel crashed", "topic", st.topic, "socket_id", s.id, "directive", directive.String(),
			"restarts", restarts, "reason", err.Error(), "stack", string(err.Stack))
	}
	st.quietRestart = !logged
	st.route.crashes.Add(1)
	if tel := s.ep.cfg.Telemetry; tel != nil {
		tel.Observe(TelemetryEvent{Kind: ChannelCrashed, Transport: s.transport, SocketID: s.id, Topic: st.topic, Route: st.route.pattern, Err: err})
	}
	s.ep.events.Publish(supervision.Event{
		Time: time.Now(), Child: child.Id, Kind: "channel", Topic: st.topic, SocketID: s.id,
		Reason: err, Stack: err.Stack, Directive: directive, Restarts: restarts, Delay: delay,
	})
	if directive == supervision.Restart {
		// The message that crashed is not lost on the client: it gets an
		// error reply, and the channel stays joined.
		if in, ok := msg.(*inbound); ok && !in.msg.Ref.IsNull() {
			_ = st.reply(in.msg.Ref, "error", crashPayload)
		}
		st.exit.setCrash(err)
		if delay > 0 {
			e.timer = time.AfterFunc(delay, func() { sup.RestartChildren(child) })
			return
		}
		sup.RestartChildren(child)
		return
	}
	st.exit.setReason(err)
	e.routed = false
	s.unsubscribe(e)
	sup.StopChildren(child)
}

// quiet marks the endpoint's own messages. A message to an actor that has
// just stopped is normal here (a channel ends while a broadcast is on its
// way) and is dropped without the runtime's dead-letter log, whose throttle
// would also leave a timer goroutine behind.
type quiet struct{}

func (quiet) IgnoreDeadLetterLogging() {}
