package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/registry"
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

// exitState records how a channel ends. The socket and the channel actor
// both write it (the socket when it stops the channel, the channel when it
// stops itself), so it is guarded.
type exitState struct {
	mu            sync.Mutex
	reason        error // why the channel ends; the first reason set wins
	announced     bool  // the client was already told how it ended
	skipTerminate bool  // Terminate must not run (never joined, or replaced)
	crash         error // why the instance being restarted failed
}

func (e *exitState) setCrash(err error) {
	e.mu.Lock()
	e.crash = err
	e.mu.Unlock()
}

func (e *exitState) takeCrash() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.crash
	e.crash = nil
	return err
}

func (e *exitState) setReason(reason error) {
	e.mu.Lock()
	if e.reason == nil {
		e.reason = reason
	}
	e.mu.Unlock()
}

func (e *exitState) markAnnounced() {
	e.mu.Lock()
	e.announced = true
	e.mu.Unlock()
}

func (e *exitState) skip() {
	e.mu.Lock()
	e.skipTerminate = true
	e.mu.Unlock()
}

func (e *exitState) get() (reason error, announced, skipTerminate bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason, e.announced, e.skipTerminate
}

// registryTimeout bounds the wait for a registry shard's actor to make a
// change a channel waits for (Socket.Subscribe and Unsubscribe).
const registryTimeout = 5 * time.Second

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
		a.join(ctx)
	case *inbound:
		// No longer queued: it is being handled, and a crash in its
		// handling does not hand it back.
		a.st.queued.Add(-m.size)
		a.st.sock.queued.Add(-m.size)
		a.handleIn(ctx, m.msg)
	case *leaveMsg:
		a.leave(ctx, m.ref)
	case *outMsg:
		a.sock.current = ""
		var start time.Time
		tel := a.st.sock.ep.cfg.Telemetry
		if tel != nil {
			start = time.Now()
		}
		err := guard(func() error { return a.ch.HandleOut(m.event, m.payload, a.sock) })
		if tel != nil {
			tel.Observe(TelemetryEvent{Kind: ChannelHandledOut, Transport: a.st.sock.transport, SocketID: a.st.sock.id,
				Topic: a.st.topic, Route: a.st.route.pattern, Event: m.event, Duration: time.Since(start), Err: err})
		}
		if err != nil {
			a.stop(ctx, err)
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
			a.stop(ctx, err)
		}
	case *actor.Restarting:
		a.st.ctx.end()
		a.terminateInstance(a.st.exit.takeCrash())
		// Its subscriptions stay in the registry for the next instance,
		// so that nothing published meanwhile is lost; those its Join
		// does not make again end after it.
		a.st.carried = a.sock.subscriptions
		a.sock.subscriptions = nil
		a.runCleanups()
		a.st.ctx.renew()
		// The next instance comes from the shared producer, empty.
		a.st.sock.ep.handoff.Store(ctx.Self().Id, a.st)
	case *actor.Stopping:
		a.terminate(ctx)
	case *actor.Stopped:
		st := a.st
		st.sock.ep.handoff.Delete(ctx.Self().Id) // a restart that came too late
		if st.countedJoined {
			st.route.joined.Add(-1)
		}
		ctx.Send(st.sock.self, &channelStopped{pid: ctx.Self()})
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
			panic(&PanicError{Value: r, Stack: debug.Stack()})
		}
	}()
	return f()
}

func (a *channelActor) join(ctx actor.Context) {
	if a.st == nil {
		v, _ := a.ep.handoff.LoadAndDelete(ctx.Self().Id)
		a.st = v.(*channelState)
	}
	st := a.st
	st.self = ctx.Self() // set here: the actor may run before Spawn returns
	st.instance++
	a.ch = st.produce()
	a.sock = &Socket{st: st}
	type result struct {
		response any
		err      error
	}
	a.sock.inJoin = true
	var start time.Time
	tel := st.sock.ep.cfg.Telemetry
	if tel != nil {
		start = time.Now()
	}
	res := guard(func() result {
		r, err := a.ch.Join(st.topic, st.params, a.sock)
		return result{r, err}
	})
	a.sock.inJoin = false
	if tel != nil && !st.joinedOnce {
		tel.Observe(TelemetryEvent{Kind: ChannelJoined, Transport: st.sock.transport, SocketID: st.sock.id,
			Topic: st.topic, Route: st.route.pattern, Duration: time.Since(start), Err: res.err})
	}
	if st.joinedOnce {
		a.rejoin(ctx, res.response, res.err)
		return
	}
	if res.err != nil {
		st.route.joinsRefused.Add(1)
		var je *JoinError
		response := any(map[string]string{"reason": res.err.Error()})
		if errors.As(res.err, &je) {
			response = je.Response
		}
		st.ending.Store(true)
		if frame, bin, err := encodeReply(st.sock.ser, st.joinRef, st.joinMsgRef, st.topic, "error", response); err == nil {
			_ = st.send(frame, bin)
		} else {
			st.sock.ep.log.Error("actors: encoding join refusal", "topic", st.topic, "error", err)
		}
		st.ending.Store(true)
		st.exit.setReason(Normal)
		st.exit.markAnnounced()
		st.exit.skip()
		ctx.Send(st.sock.self, &joinDone{st: st, ok: false})
		ctx.Stop(ctx.Self())
		return
	}
	frame, bin, err := encodeReply(st.sock.ser, st.joinRef, st.joinMsgRef, st.topic, "ok", res.response)
	if err != nil {
		panic(&PanicError{Value: err, Stack: debug.Stack()})
	}
	var intercepts []string
	if ic, ok := a.ch.(Interceptor); ok {
		intercepts = ic.Intercept()
	}
	// The registry writes the join reply as it adds the subscription, so
	// that no broadcast can reach the client before it, and none after it
	// is missed.
	sub := &registry.Subscriber{PID: ctx.Self(), Conn: st.sock.conn, Ser: st.sock.ser, Intercepts: intercepts}
	// Counted before the reply is written, so that a client that has its
	// reply finds it counted.
	st.route.joins.Add(1)
	st.route.joined.Add(1)
	st.countedJoined = true
	a.subscribe(&registry.Subscription{Topic: st.topic, Sub: sub, Reply: frame, ReplyBinary: bin})
	a.joined = true
	st.joinedOnce, st.subscribed = true, true
	st.replied.Store(true)
	st.sock.ep.log.LogAttrs(context.Background(), slog.LevelInfo, "joined", slog.String("topic", st.topic), slog.String("socket_id", st.sock.id), slog.String("join_ref", st.joinRef.Value()))
	ctx.Send(st.sock.self, &joinDone{st: st, ok: true})
}

// rejoin completes Join for a restarted instance: the client is still
// joined, so nothing is sent unless Join now refuses, which ends the
// channel with phx_error.
func (a *channelActor) rejoin(ctx actor.Context, _ any, err error) {
	st := a.st
	if err != nil {
		st.sock.ep.log.Warn("channel refused its restart", "topic", st.topic, "socket_id", st.sock.id, "error", err.Error())
		a.stop(ctx, fmt.Errorf("join refused on restart: %w", err))
		return
	}
	var intercepts []string
	if ic, ok := a.ch.(Interceptor); ok {
		intercepts = ic.Intercept()
	}
	// The subscription of the previous instance is still in place (same
	// pid); this replaces it, so the channel holds exactly one, unless the
	// socket has taken the channel out of its topic meanwhile.
	sub := &registry.Subscriber{PID: ctx.Self(), Conn: st.sock.conn, Ser: st.sock.ser, Intercepts: intercepts}
	a.subscribe(&registry.Subscription{Topic: st.topic, Sub: sub, Closed: &st.closed})
	a.joined = true
	// What the crashed instance subscribed to and this one did not.
	a.unsubscribe(ctx, st.carried, true)
	st.carried = nil
	if !st.quietRestart {
		st.sock.ep.log.Info("rejoined after restart", "topic", st.topic, "socket_id", st.sock.id)
	}
}

// subscribe adds the channel's subscription to the topic's shard index
// and returns once it is in place: nothing this channel sends afterwards
// can overtake the join reply written with it. The channel writes it
// itself, under the index's lock, as a Phoenix channel registers its
// subscription in the PubSub's table itself; the shard's actor is left
// the changes nobody waits for.
func (a *channelActor) subscribe(m *registry.Subscription) {
	a.st.sock.ep.reg.Subscribe(m)
}

// waitDone waits for done, or registryTimeout.
func waitDone(done chan struct{}) bool {
	t := time.NewTimer(registryTimeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (a *channelActor) handleIn(ctx actor.Context, msg *protocol.Message) {
	a.sock.current = msg.Ref
	st := a.st
	// LogAttrs: the arguments of Debug would cost two allocations per
	// message even with debug off.
	st.sock.ep.log.LogAttrs(context.Background(), slog.LevelDebug, "handle_in", slog.String("topic", st.topic), slog.String("event", msg.Event))
	var start time.Time
	tel := st.sock.ep.cfg.Telemetry
	if tel != nil {
		start = time.Now()
	}
	r := guard(func() Reply { return a.ch.HandleIn(msg.Event, msg.Payload, a.sock) })
	if tel != nil {
		tel.Observe(TelemetryEvent{Kind: ChannelHandledIn, Transport: st.sock.transport, SocketID: st.sock.id,
			Topic: st.topic, Route: st.route.pattern, Event: msg.Event, Duration: time.Since(start)})
	}
	if r.stop != nil {
		// A reply goes out with the message that ends the channel, in one
		// write.
		var reply []transport.Frame
		if r.status != "" {
			frame, bin, err := encodeReply(st.sock.ser, st.chanJoinRef, msg.Ref, st.topic, r.status, r.response)
			if err != nil {
				panic(&PanicError{Value: err, Stack: debug.Stack()})
			}
			reply = append(reply, transport.Frame{Data: frame, Binary: bin})
		}
		a.stop(ctx, r.stop, reply...)
		return
	}
	if r.status != "" {
		if err := st.reply(msg.Ref, r.status, r.response); err != nil && !isConnGone(err) {
			panic(&PanicError{Value: err, Stack: debug.Stack()})
		}
	}
}

// leave answers phx_leave and ends the channel: the reply and phx_close
// go out together, in one write.
func (a *channelActor) leave(ctx actor.Context, ref protocol.Ref) {
	st := a.st
	frame, bin, err := encodeReply(st.sock.ser, st.chanJoinRef, ref, st.topic, "ok", nil)
	if err != nil {
		a.stop(ctx, ReasonLeft)
		return
	}
	a.stop(ctx, ReasonLeft, transport.Frame{Data: frame, Binary: bin})
}

// stop ends the channel with reason: the client is told at once, after
// everything the channel sent before and right after reply, if given, and
// Terminate runs next.
func (a *channelActor) stop(ctx actor.Context, reason error, reply ...transport.Frame) {
	a.st.ending.Store(true)
	a.st.ctx.end()
	if a.st.subscribed {
		// Out of the registry before the client hears of the end: after
		// phx_close or phx_error no broadcast of the topic reaches it.
		a.st.subscribed = false
		a.st.sock.ep.reg.Unsubscribe(a.st.topic, ctx.Self().Id)
	}
	a.endSubscriptions(ctx, true)
	a.st.exit.setReason(reason)
	reason, _, _ = a.st.exit.get()
	a.st.announce(reason, reply...)
	a.st.exit.markAnnounced()
	ctx.Stop(ctx.Self())
}

func (a *channelActor) terminate(ctx actor.Context) {
	st := a.st
	st.ctx.end()
	reason, _, skip := st.exit.get()
	if reason == nil {
		reason = ReasonClosed
	}
	if st.subscribed {
		st.sock.ep.reg.Post(&registry.Unsubscription{Topic: st.topic, PID: ctx.Self()})
	}
	a.endSubscriptions(ctx, false)
	if !skip {
		a.terminateInstance(reason)
		st.sock.ep.log.LogAttrs(context.Background(), slog.LevelInfo, "left", slog.String("topic", st.topic), slog.String("socket_id", st.sock.id), slog.String("reason", reason.Error()))
	}
	a.runCleanups()
}

// endSubscriptions ends what this instance subscribed to with
// Socket.Subscribe, and what the instance before it did that this one's
// Join did not make again. With wait (the channel ending itself, or a
// restart's Join done), it returns once the registry has them all out:
// nothing published after reaches HandleInfo.
func (a *channelActor) endSubscriptions(ctx actor.Context, wait bool) {
	var topics []string
	if a.sock != nil {
		topics = a.sock.subscriptions
		a.sock.subscriptions = nil
	}
	topics = append(topics, a.st.carried...)
	a.st.carried = nil
	a.unsubscribe(ctx, topics, wait)
}

// unsubscribe takes the channel's subscriptions to topics out of the
// registry, waiting for each with wait.
func (a *channelActor) unsubscribe(ctx actor.Context, topics []string, wait bool) {
	for _, topic := range topics {
		m := &registry.Unsubscription{Topic: topic, PID: ctx.Self()}
		if wait {
			m.Done = make(chan struct{})
		}
		a.st.sock.ep.reg.Post(m)
		if wait && !waitDone(m.Done) {
			a.st.sock.ep.log.Error("actors: the registry did not answer an unsubscription", "topic", topic)
		}
	}
}

// runCleanups runs, last registered first, what Socket.Cleanup registered
// for this instance: it ends however it ends, even without Terminate.
func (a *channelActor) runCleanups() {
	if a.sock == nil {
		return
	}
	fs := a.sock.cleanups
	a.sock.cleanups = nil
	for i := len(fs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					a.st.sock.ep.log.Error("actors: panic in a cleanup", "topic", a.st.topic, "panic", r, "stack", string(debug.Stack()))
				}
			}()
			fs[i]()
		}()
	}
}

// terminateInstance runs the user's Terminate for this instance, if it
// joined. A panic in Terminate is logged: the channel is ending anyway.
func (a *channelActor) terminateInstance(reason error) {
	if !a.joined || a.ch == nil {
		return
	}
	if reason == nil {
		reason = ReasonClosed
	}
	a.sock.current = ""
	defer func() {
		if r := recover(); r != nil {
			a.st.sock.ep.log.Error("actors: panic in Terminate", "topic", a.st.topic, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	a.ch.Terminate(reason, a.sock)
}
