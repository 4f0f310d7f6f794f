package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/protocol"
)

// Broadcast sends event with payload to every subscriber of topic, from
// outside any channel (Phoenix's Endpoint.broadcast). payload must encode to
// a JSON object, or be Binary.
func (e *Endpoint) Broadcast(topic, event string, payload any) error {
	return e.broadcast(topic, event, payload, nil)
}

func (e *Endpoint) broadcast(topic, event string, payload any, from *actor.PID) error {
	p, err := broadcastPayload(payload)
	if err != nil {
		return err
	}
	r := e.relay.Load()
	if r == nil {
		e.dispatch(topic, event, p, from, registry.Sequencing{})
		return nil
	}
	if e.historyOf(topic) == nil {
		// Other nodes have no subscriber that is from: BroadcastFrom
		// reaches all of theirs.
		if err := (*r).Relay(topic, event, p); err != nil {
			return err
		}
		e.dispatch(topic, event, p, from, registry.Sequencing{})
		return nil
	}
	var fromID string
	if from != nil {
		fromID = from.Id
	}
	if forwarded, err := (*r).Forward(topic, event, p, fromID); err != nil || forwarded {
		return err
	}
	e.dispatch(topic, event, p, from, registry.Sequencing{Sequenced: func(at, prev history.Position) {
		(*r).Sequenced(topic, event, p, "", "", seam.Position(at), seam.Position(prev))
	}})
	return nil
}

// dispatch delivers a broadcast to this node's subscribers of topic but
// from, on the caller's goroutine, and counts the deliveries.
func (e *Endpoint) dispatch(topic, event string, payload Payload, from *actor.PID, seq registry.Sequencing) {
	e.deliveries.Add(uint64(e.reg.Dispatch(topic, event, payload, from, seq)))
}

// sequence delivers on this node a broadcast that the node origin
// forwarded to it (see seam.Endpoint.Sequence).
func (e *Endpoint) sequence(topic, event string, payload Payload, origin, from string) {
	r := e.relay.Load()
	var skip *actor.PID
	if origin == "" && from != "" {
		skip = &actor.PID{Id: from}
	}
	e.dispatch(topic, event, payload, skip, registry.Sequencing{Sequenced: func(at, prev history.Position) {
		if r != nil {
			(*r).Sequenced(topic, event, payload, origin, from, seam.Position(at), seam.Position(prev))
		}
	}})
}

// deliverAt delivers on this node a broadcast another node sequenced
// (see seam.Endpoint.DeliverAt).
func (e *Endpoint) deliverAt(topic, event string, payload Payload, from string, at, prev seam.Position) {
	var skip *actor.PID
	if from != "" {
		skip = &actor.PID{Id: from}
	}
	e.dispatch(topic, event, payload, skip, registry.Sequencing{At: history.Position(at), Prev: history.Position(prev)})
}

// broadcastPayload is what a broadcast may carry: an object or bytes.
func broadcastPayload(payload any) (Payload, error) {
	p, err := toPayload(payload)
	if err != nil {
		return Payload{}, err
	}
	if !p.Binary && !p.IsObject() {
		return Payload{}, protocol.ErrPayloadNotObject
	}
	return p, nil
}

// LocalBroadcast sends event with payload to the subscribers of topic on
// this node only (Phoenix's local_broadcast). A relay delivers the
// broadcasts of other nodes with it; presence sends its diffs with it,
// since every node computes its own.
func (e *Endpoint) LocalBroadcast(topic, event string, payload any) error {
	p, err := broadcastPayload(payload)
	if err != nil {
		return err
	}
	e.dispatch(topic, event, p, nil, registry.Sequencing{Local: true})
	return nil
}

// BroadcastFrom sends event to every subscriber of topic but the channel
// from, from outside any channel (Phoenix's Endpoint.broadcast_from), on
// every node.
func (e *Endpoint) BroadcastFrom(from ChannelRef, topic, event string, payload any) error {
	return e.broadcast(topic, event, payload, from.pid)
}

// LocalBroadcastFrom is BroadcastFrom on this node only (Phoenix's
// local_broadcast_from).
func (e *Endpoint) LocalBroadcastFrom(from ChannelRef, topic, event string, payload any) error {
	p, err := broadcastPayload(payload)
	if err != nil {
		return err
	}
	e.dispatch(topic, event, p, from.pid, registry.Sequencing{Local: true})
	return nil
}

// Disconnect closes every socket whose id (Connector.ID) is socketID, on
// every node, with close code 1001: their channels terminate with
// ReasonDisconnected and their clients reconnect, through Connect again,
// so a user whose access was revoked is refused then. It is the
// "disconnect" broadcast on the socket id that Phoenix applications send
// (Endpoint.broadcast(socket_id, "disconnect", %{})), named for what it
// does.
func (e *Endpoint) Disconnect(socketID string) error {
	if socketID == "" {
		return ErrEmptyTopic
	}
	return e.Broadcast(socketID, "disconnect", nil)
}
