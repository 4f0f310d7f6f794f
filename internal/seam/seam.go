// Package seam is where package actors hands its machinery to the
// packages of this module that build on it, presence and cluster, and to
// no application: the actor system an endpoint runs in, the dispatcher of
// its actors, and the hook through which a cluster carries its
// broadcasts to other nodes.
package seam

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
)

// Relay carries the broadcasts of one node to the other nodes of a
// cluster. Package cluster implements it; an endpoint without a relay is
// a single node, and its broadcasts cost one atomic load more.
type Relay interface {
	// Relay is called for every broadcast made on this node, on the
	// publisher's goroutine and before local delivery, so that one
	// publisher's broadcasts reach the relay in the order they were
	// made. It must not block. An error refuses the broadcast: it is
	// delivered nowhere and the publisher gets the error.
	Relay(topic, event string, payload protocol.Payload) error
}

// RelayFunc is a function that is a Relay.
type RelayFunc func(topic, event string, payload protocol.Payload) error

// Relay calls f.
func (f RelayFunc) Relay(topic, event string, payload protocol.Payload) error {
	return f(topic, event, payload)
}

// Endpoint is what an actors.Endpoint shares through the seam.
type Endpoint struct {
	// System is the Proto.Actor system the endpoint's actors run in.
	System *actor.ActorSystem
	// Dispatcher runs the endpoint's actors: an actor spawned with it
	// runs on the same workers, and the endpoint's Shutdown waits for it.
	Dispatcher actor.Dispatcher
	// SetRelay makes r carry the endpoint's broadcasts to other nodes;
	// nil makes the endpoint a single node again.
	SetRelay func(r Relay)
}

// Of returns the seam of ep, an *actors.Endpoint, or nil for anything
// else. Package actors sets it when it is initialised, which every
// importer of actors comes after.
var Of func(ep any) *Endpoint
