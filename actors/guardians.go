package actors

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/supervision"
)

// panicOf turns what the actor runtime recovered into a *PanicError.
func panicOf(reason any) *PanicError {
	if pe, ok := reason.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: reason}
}

// shardCrashed reports a crash of a registry shard, which its guardian
// restarts whatever its history: the shards are permanent, and their
// subscriptions, which live outside the actors, carry on.
func (e *Endpoint) shardCrashed(child *actor.PID, reason any, restarts int) {
	err := panicOf(reason)
	e.log.Error("registry shard crashed", "child", child.Id, "directive", "restart", "reason", err.Error(), "stack", string(err.Stack))
	e.events.Publish(supervision.Event{
		Time: time.Now(), Child: child.Id, Kind: "registry",
		Reason: err, Stack: err.Stack, Directive: supervision.Restart, Restarts: restarts,
	})
}

// socketGuardian supervises socket actors. A socket whose own code fails is
// stopped: its connection closes with 1011 and its channels terminate with
// the failure as reason. Other sockets never notice.
type socketGuardian struct{ ep *Endpoint }

func (g socketGuardian) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	err := panicOf(reason)
	g.ep.log.Error("socket crashed", "child", child.Id, "directive", "stop", "reason", err.Error(), "stack", string(err.Stack))
	g.ep.events.Publish(supervision.Event{
		Time: time.Now(), Child: child.Id, Kind: "socket",
		Reason: err, Stack: err.Stack, Directive: supervision.Stop,
	})
	g.ep.socketFailures.Store(child.Id, err)
	sup.StopChildren(child)
}

// channelGuardian receives the failures of channel actors, which are
// spawned at the root, and hands each to the channel's socket: the socket
// decides, by the route's policy, as a parent would. Until it does, the
// channel's mailbox stays suspended. A socket that has already stopped has
// stopped its channels too.
type channelGuardian struct{ ep *Endpoint }

func (g channelGuardian) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message any) {
	i := strings.LastIndexByte(child.Id, '/')
	if i < 0 {
		sup.StopChildren(child)
		return
	}
	socket := actor.NewPID(system.Address(), child.Id[:i])
	system.Root.Send(socket, &channelFailed{sup: sup, child: child, reason: reason, message: message})
}
