package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

// channelSupervisor is a socket actor in its third role: the supervisor of
// its channels, which decides by the route's policy what a crash does and
// tells the client how each channel ended.
type channelSupervisor struct{ *socketActor }

// ended handles the end of a channel actor: the client learns how
// it ended, unless the channel or a duplicate join already told it.
func (s channelSupervisor) ended(pid *actor.PID) {
	e := s.channels.byPID(pid.Id)
	if e == nil {
		return
	}
	s.channels.forget(e)
	e.routed = false
	// What the channel left unhandled is no longer queued.
	s.unqueue(e.st.queued.Swap(0))
	if e.timer != nil {
		e.timer.Stop()
	}
	reason, announced, _ := e.st.exit.get()
	if s.leaving == e {
		defer func() {
			s.leaving = nil
			joiner{s.socketActor}.resume()
		}()
	}
	if s.joining == e {
		// The channel ended before its join answered: a crash in Join.
		if !announced {
			s.reply(e.st.joinRef, e.st.joinMsgRef, e.st.topic, "error", joinCrashed)
			e.st.exit.markAnnounced()
		}
		joiner{s.socketActor}.finished(false)
		return
	}
	if announced || s.stopping {
		return
	}
	if reason == nil {
		reason = fmt.Errorf("channel actor ended")
	}
	e.st.announce(reason, transport.Frame{})
}

// failed makes the socket actor its channels' supervisor: the
// route's policy decides between restarting the channel in place and
// stopping it. Every decision is published and logged.
func (s channelSupervisor) failed(sup actor.Supervisor, child *actor.PID, reason, message any) {
	err := panicOf(reason)
	e := s.channels.byPID(child.Id)
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
	if directive == supervision.Restart {
		// The message that crashed is not lost on the client: it gets an
		// error reply, and the channel stays joined. The reply goes out
		// before the event is published, so that the client hears of its
		// message before anything a subscriber broadcasts about the crash.
		if in, ok := msg.(*inbound); ok && !in.msg.Ref.IsNull() {
			_ = st.reply(in.msg.Ref, "error", crashPayload)
		}
	}
	s.ep.events.Publish(supervision.Event{
		Time: time.Now(), Child: child.Id, Kind: "channel", Topic: st.topic, SocketID: s.id,
		Reason: err, Stack: err.Stack, Directive: directive, Restarts: restarts, Delay: delay,
	})
	if directive == supervision.Restart {
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

// unsubscribe takes a channel the socket ends out of its topic at once,
// not when its actor stops, which waits for the callback it runs: from
// here on no broadcast reaches its client, whatever the client is told
// next (a phx_close, a phx_error, a new join's reply). A restart of the
// channel already under way does not subscribe it again.
func (s channelSupervisor) unsubscribe(e *chanEntry) {
	e.st.closed.Store(true)
	s.ep.reg.Unsubscribe(e.st.topic, e.pid.Id)
}
