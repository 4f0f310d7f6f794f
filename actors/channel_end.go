package actors

import (
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/transport"
)

// channelEnd is a channel actor in the role that ends an instance: it
// takes the channel out of what it subscribed to, tells the client how it
// ended, runs Terminate and the cleanups.
type channelEnd struct{ *channelActor }

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

// stop ends the channel with reason: the client is told at once, after
// everything the channel sent before and right after reply, unless empty,
// and Terminate runs next.
func (a channelEnd) stop(ctx actor.Context, reason error, reply transport.Frame) {
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
	a.st.announce(reason, reply)
	a.st.exit.markAnnounced()
	ctx.Stop(ctx.Self())
}

func (a channelEnd) terminate(ctx actor.Context) {
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
		if st.sock.ep.logs(logLeft) {
			st.sock.ep.writeLine(logLeft, slog.String("topic", st.topic), slog.String("socket_id", st.sock.id), slog.String("reason", reason.Error()))
		}
	}
	a.runCleanups()
}

// endSubscriptions ends what this instance subscribed to with
// Socket.Subscribe, and what the instance before it did that this one's
// Join did not make again. With wait (the channel ending itself, or a
// restart's Join done), it returns once the registry has them all out:
// nothing published after reaches HandleInfo.
func (a channelEnd) endSubscriptions(ctx actor.Context, wait bool) {
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
func (a channelEnd) unsubscribe(ctx actor.Context, topics []string, wait bool) {
	for _, topic := range topics {
		if wait {
			a.st.sock.ep.reg.Unsubscribe(topic, ctx.Self().Id)
			continue
		}
		a.st.sock.ep.reg.Post(&registry.Unsubscription{Topic: topic, PID: ctx.Self()})
	}
}

// runCleanups runs, last registered first, what Socket.Cleanup registered
// for this instance: it ends however it ends, even without Terminate.
func (a channelEnd) runCleanups() {
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
func (a channelEnd) terminateInstance(reason error) {
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
