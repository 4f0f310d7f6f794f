package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/transport"
)

// channelJoin is a channel actor in the role that starts an instance: it
// runs Join, first or on a restart in place, and subscribes the channel
// to its topic.
type channelJoin struct{ *channelActor }

func (a channelJoin) join(ctx actor.Context) {
	if a.st == nil {
		a.st = a.ep.handoff.take(ctx.Self().Id)
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
	var start time.Duration
	tel := st.sock.ep.cfg.Telemetry
	if tel != nil {
		start = monotonic()
	}
	res := guard(func() result {
		r, err := a.ch.Join(st.topic, st.params, a.sock)
		return result{r, err}
	})
	a.sock.inJoin = false
	if tel != nil && !st.joinedOnce {
		tel.Observe(TelemetryEvent{Kind: ChannelJoined, Transport: st.sock.transport, SocketID: st.sock.id,
			Topic: st.topic, Route: st.route.pattern, Duration: monotonic() - start, Err: res.err})
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
		st.joinDone = joinDone{st: st, ok: false}
		st.sock.tell(&st.joinDone)
		ctx.Stop(ctx.Self())
		return
	}
	frame, bin, err := encodeReply(st.sock.ser, st.joinRef, st.joinMsgRef, st.topic, "ok", res.response)
	if err != nil {
		panic(&PanicError{Value: err, Stack: panicStack()})
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
	m := &registry.Subscription{Topic: st.topic, Sub: sub, Reply: frame, ReplyBinary: bin}
	if st.history {
		m.Recovery = recoveryOf(st)
	}
	a.subscribe(m)
	a.joined = true
	st.joinedOnce, st.subscribed = true, true
	st.replied.Store(true)
	if st.sock.ep.logs(logJoined) {
		st.sock.ep.writeLine(logJoined, slog.String("topic", st.topic), slog.String("socket_id", st.sock.id), slog.String("join_ref", st.joinRef.Value()))
	}
	st.joinDone = joinDone{st: st, ok: true}
	st.sock.tell(&st.joinDone)
}

// recoveryOf reads what a join of a topic that keeps a history asks to
// recover: {"recover": position} in its params. A position that is not a
// string is asked for and not recovered.
func recoveryOf(st *channelState) *registry.Recovery {
	rec := &registry.Recovery{JoinRef: st.chanJoinRef}
	if st.params.Binary {
		return rec
	}
	var p struct {
		Recover json.RawMessage `json:"recover"`
	}
	if json.Unmarshal(st.params.Data, &p) != nil || p.Recover == nil {
		return rec
	}
	rec.Asked = true
	_ = json.Unmarshal(p.Recover, &rec.From)
	return rec
}

// rejoin completes Join for a restarted instance: the client is still
// joined, so nothing is sent unless Join now refuses, which ends the
// channel with phx_error.
func (a channelJoin) rejoin(ctx actor.Context, _ any, err error) {
	st := a.st
	if err != nil {
		st.sock.ep.logLine(logRestartRefused, slog.String("topic", st.topic), slog.String("socket_id", st.sock.id), slog.String("error", err.Error()))
		channelEnd{a.channelActor}.stop(ctx, fmt.Errorf("join refused on restart: %w", err), transport.Frame{})
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
	channelEnd{a.channelActor}.unsubscribe(ctx, st.carried, true)
	st.carried = nil
	if !st.quietRestart {
		st.sock.ep.logLine(logRejoined, slog.String("topic", st.topic), slog.String("socket_id", st.sock.id))
	}
}

// subscribe adds the channel's subscription to the topic's shard index
// and returns once it is in place: nothing this channel sends afterwards
// can overtake the join reply written with it. The channel writes it
// itself, under the index's lock, as a Phoenix channel registers its
// subscription in the PubSub's table itself; the shard's actor is left
// the changes nobody waits for.
func (a channelJoin) subscribe(m *registry.Subscription) {
	a.st.sock.ep.reg.Subscribe(m)
}
