// Package seam is where package actors hands its machinery to the
// packages of this module that build on it, presence and cluster, and to
// no application: the actor system an endpoint runs in, the dispatcher of
// its actors, and the hook through which a cluster carries its
// broadcasts to other nodes.
package seam

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/phxgo/phx/protocol"
)

// Relay carries the broadcasts of one node to the other nodes of a
// cluster. Package cluster implements it; an endpoint without a relay is
// a single node, and its broadcasts cost one atomic load more.
//
// A topic that keeps a history (actors.WithHistory) is sequenced by one
// node of the cluster at a time, so that its broadcasts have the same
// positions on every node: a broadcast made elsewhere is forwarded to
// that node, which numbers it, delivers it and hands it on.
type Relay interface {
	// Relay is called for every broadcast made on this node of a topic
	// that keeps no history, on the publisher's goroutine and before
	// local delivery, so that one publisher's broadcasts reach the relay
	// in the order they were made. It must not block. An error refuses
	// the broadcast: it is delivered nowhere and the publisher gets the
	// error.
	Relay(topic, event string, payload protocol.Payload) error
	// Forward is called, as Relay is, for a broadcast of a topic that
	// keeps a history. When another node sequences the topic, Forward
	// sends the broadcast there and reports true: it is delivered on
	// this node when it comes back, through Endpoint.DeliverAt. from is
	// the id of the publishing channel's PID ("" for none), which the
	// broadcast skips on this node.
	Forward(topic, event string, payload protocol.Payload, from string) (bool, error)
	// Sequenced is called for every broadcast this node sequenced, at p
	// right after prev (zero positions when the topic keeps no history
	// here), under the topic's lock and before local delivery: the relay
	// hands them on in the order of the calls. It must not block. origin
	// and from are the node that forwarded it and the channel it skips
	// there, "" for a broadcast made on this node.
	Sequenced(topic, event string, payload protocol.Payload, origin, from string, p, prev Position)
}

// Position is a broadcast's place in its topic's history: the epoch of
// the history that numbered it and its number there.
type Position struct {
	Epoch uuid.UUID
	Seq   uint64
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
	// Sequence delivers on this node a broadcast that the node origin
	// forwarded to it, numbering it here, and calls the relay's
	// Sequenced with it. from is the channel the broadcast skips on
	// origin; on this node, when origin is "", which a broadcast whose
	// sequencer left the cluster before it was forwarded is.
	Sequence func(topic, event string, payload protocol.Payload, origin, from string)
	// DeliverAt delivers on this node a broadcast that another node
	// sequenced at p, right after prev, skipping the channel whose PID
	// id is from ("" for none).
	DeliverAt func(topic, event string, payload protocol.Payload, from string, p, prev Position)
}

// Of returns the seam of ep, an *actors.Endpoint, or nil for anything
// else. Package actors sets it when it is initialised, which every
// importer of actors comes after.
var Of func(ep any) *Endpoint
