package actors

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Messages a channel actor receives.
type (
	// A client message reaches its channel as the *inbound the socket
	// received: one allocation per message rather than two. A broadcast
	// reaches it as channelMessages makes it, once for all its channels.
	leaveMsg struct {
		quiet
		ref protocol.Ref
	}
	// limitedMsg is a client message a rate limit refused, for its
	// channel to answer in its turn, after the messages before it.
	limitedMsg struct {
		quiet
		ref  protocol.Ref
		size int64 // the message's, still counted in the queued bytes
	}
	outMsg struct {
		quiet
		event   string
		payload Payload
	}
	infoMsg struct {
		quiet
		msg any
		// subscription is the topic of a broadcast that came through
		// Socket.Subscribe, "" for a message sent to the channel.
		subscription string
		// instance is the instance the message was sent to (a
		// ChannelRef's); 0 for any.
		instance uint64
	}
)

// channelMessages makes what a channel actor is sent for a broadcast:
// an outMsg on its own topic for an event it intercepts, an infoMsg on a
// topic it subscribed to with Socket.Subscribe.
type channelMessages struct{}

func (channelMessages) Out(event string, payload Payload) any {
	return &outMsg{event: event, payload: payload}
}

func (channelMessages) Info(topic, event string, payload Payload) any {
	return &infoMsg{msg: Broadcast{Topic: topic, Event: event, Payload: payload}, subscription: topic}
}

// joinDone tells the socket a join has finished.
type joinDone struct {
	quiet
	st *channelState
	ok bool
}

// channelActor runs one Channel: a fresh one per incarnation of the actor,
// so a restart starts from the state Join builds.
type channelActor struct {
	ep     *Endpoint
	st     *channelState
	ch     Channel
	sock   *Socket
	joined bool
}

func (a *channelActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		channelJoin{a}.join(ctx)
	case *inbound:
		// No longer queued: it is being handled, and a crash in its
		// handling does not hand it back.
		a.st.queued.Add(-m.size)
		a.st.sock.unqueue(m.size)
		a.handleIn(ctx, m.msg)
	case *limitedMsg:
		a.st.queued.Add(-m.size)
		a.st.sock.unqueue(m.size)
		_ = a.st.reply(m.ref, "error", rateLimited)
	case *leaveMsg:
		a.leave(ctx, m.ref)
	case *outMsg:
		a.sock.current = ""
		var start time.Duration
		tel := a.st.sock.ep.cfg.Telemetry
		if tel != nil {
			start = monotonic()
		}
		err := guard(func() error { return a.ch.HandleOut(m.event, m.payload, a.sock) })
		if tel != nil {
			tel.Observe(TelemetryEvent{Kind: ChannelHandledOut, Transport: a.st.sock.transport, SocketID: a.st.sock.id,
				Topic: a.st.topic, Route: a.st.route.pattern, Event: m.event, Duration: monotonic() - start, Err: err})
		}
		if err != nil {
			channelEnd{a}.stop(ctx, err, transport.Frame{})
		}
	case *infoMsg:
		if m.subscription != "" && !slices.Contains(a.sock.subscriptions, m.subscription) {
			// For an instance that ended (the subscription went with it)
			// and was restarted meanwhile.
			return
		}
		if m.instance != 0 && m.instance != a.st.instance {
			// For an instance that crashed: lost with it.
			return
		}
		a.sock.current = ""
		err := guard(func() error { return a.ch.HandleInfo(m.msg, a.sock) })
		if err != nil {
			channelEnd{a}.stop(ctx, err, transport.Frame{})
		}
	case *actor.Restarting:
		a.st.ctx.end()
		channelEnd{a}.terminateInstance(a.st.exit.takeCrash())
		// Its subscriptions stay in the registry for the next instance,
		// so that nothing published meanwhile is lost; those its Join
		// does not make again end after it.
		a.st.carried = a.sock.subscriptions
		a.sock.subscriptions = nil
		channelEnd{a}.runCleanups()
		a.st.ctx.renew()
		// The next instance comes from the shared producer, empty.
		a.st.sock.ep.handoff.store(ctx.Self().Id, a.st)
	case *actor.Stopping:
		channelEnd{a}.terminate(ctx)
	case *actor.Stopped:
		st := a.st
		st.sock.ep.handoff.drop(ctx.Self().Id, st) // a restart that came too late
		if st.countedJoined {
			st.route.joined.Add(-1)
		}
		st.sock.ep.releaseParams(st.sock, st.paramsCost)
		st.stopped = channelStopped{pid: ctx.Self()}
		st.sock.tell(&st.stopped)
		st.sock.ep.channelsWG.Done()
	}
}

// guard runs a callback and turns a panic into a *PanicError panic that
// carries the stack, which is gone by the time the actor runtime recovers.
func guard[T any](f func() T) T {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(*PanicError); ok {
				panic(r)
			}
			panic(&PanicError{Value: r, Stack: panicStack()})
		}
	}()
	return f()
}

func (a *channelActor) handleIn(ctx actor.Context, msg *protocol.Message) {
	a.sock.current = msg.Ref
	st := a.st
	// LogAttrs: the arguments of Debug would cost two allocations per
	// message even with debug off.
	st.sock.ep.log.LogAttrs(context.Background(), slog.LevelDebug, "handle_in", slog.String("topic", st.topic), slog.String("event", msg.Event))
	var start time.Duration
	tel := st.sock.ep.cfg.Telemetry
	if tel != nil {
		start = monotonic()
	}
	r := guard(func() Reply { return a.ch.HandleIn(msg.Event, msg.Payload, a.sock) })
	if tel != nil {
		tel.Observe(TelemetryEvent{Kind: ChannelHandledIn, Transport: st.sock.transport, SocketID: st.sock.id,
			Topic: st.topic, Route: st.route.pattern, Event: msg.Event, Duration: monotonic() - start})
	}
	if r.stop != nil {
		// A reply goes out with the message that ends the channel, in one
		// write.
		var reply transport.Frame
		if r.status != "" {
			frame, bin, err := encodeReply(st.sock.ser, st.chanJoinRef, msg.Ref, st.topic, r.status, r.response)
			if err != nil {
				panic(&PanicError{Value: err, Stack: panicStack()})
			}
			reply = transport.Frame{Data: frame, Binary: bin}
		}
		channelEnd{a}.stop(ctx, r.stop, reply)
		return
	}
	if r.status != "" {
		if err := st.reply(msg.Ref, r.status, r.response); err != nil && !isConnGone(err) {
			panic(&PanicError{Value: err, Stack: panicStack()})
		}
	}
}

// leave answers phx_leave and ends the channel: the reply and phx_close
// go out together, in one write.
func (a *channelActor) leave(ctx actor.Context, ref protocol.Ref) {
	st := a.st
	frame, bin, err := encodeReply(st.sock.ser, st.chanJoinRef, ref, st.topic, "ok", nil)
	if err != nil {
		channelEnd{a}.stop(ctx, ReasonLeft, transport.Frame{})
		return
	}
	channelEnd{a}.stop(ctx, ReasonLeft, transport.Frame{Data: frame, Binary: bin})
}
