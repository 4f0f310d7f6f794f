package actors

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/phxgo/phx/actors/internal/registry"
)

// Broadcast is a broadcast on a topic a channel subscribed to with
// Socket.Subscribe, as its HandleInfo receives it (Phoenix's
// %Phoenix.Socket.Broadcast{}). Payload is shared with every other
// subscriber: read it, do not modify it.
type Broadcast struct {
	Topic   string
	Event   string
	Payload Payload
}

// Errors of Subscribe.
var (
	// ErrOwnTopic: a channel is subscribed to its own topic already, as
	// a channel; its broadcasts reach its client, or HandleOut.
	ErrOwnTopic = errors.New("actors: a channel cannot subscribe to its own topic")
	// ErrEmptyTopic: there is no topic "".
	ErrEmptyTopic = errors.New("actors: empty topic")
	// ErrRegistryTimeout: the topic registry did not take the
	// subscription in time; the channel is not subscribed.
	ErrRegistryTimeout = errors.New("actors: the topic registry did not answer")
)

// Subscribe subscribes the channel to topic (Phoenix's
// Endpoint.subscribe called from a channel): every broadcast on topic,
// made on any node, arrives in HandleInfo as a Broadcast, in the order
// its publisher made them. A per-user topic ("user:42") subscribed to in
// Join is the usual use: a message to the user reaches every channel of
// theirs, on every socket.
//
// The subscription belongs to the channel: it ends when the channel ends,
// however it ends. A channel restarted in place after a crash runs Join
// again, and with it Subscribe: the subscription carries over, with what
// was published meanwhile, and is never doubled; one the new Join does
// not make again ends once that Join has run. Subscribing to a topic
// already subscribed does nothing. When Subscribe returns, the
// subscription is in place.
func (s *Socket) Subscribe(topic string) error {
	switch {
	case topic == "":
		return ErrEmptyTopic
	case topic == s.st.topic:
		return ErrOwnTopic
	case slices.Contains(s.subscriptions, topic):
		return nil
	}
	if i := slices.Index(s.st.carried, topic); i >= 0 {
		// The instance before this one subscribed: its subscription, in
		// the registry still, is this one's now.
		s.st.carried = slices.Delete(s.st.carried, i, i+1)
		s.subscriptions = append(s.subscriptions, topic)
		return nil
	}
	m := &registry.Subscription{Topic: topic, Sub: &registry.Subscriber{PID: s.st.self, Info: true}, Done: make(chan struct{})}
	if err := s.awaitRegistry(m, m.Done); err != nil {
		return err
	}
	s.subscriptions = append(s.subscriptions, topic)
	return nil
}

// Unsubscribe ends the channel's subscription to topic, made with
// Subscribe. Once it returns, no broadcast of topic made after reaches
// HandleInfo. Unsubscribing from a topic not subscribed does nothing.
func (s *Socket) Unsubscribe(topic string) error {
	i := slices.Index(s.subscriptions, topic)
	if i < 0 {
		return nil
	}
	m := &registry.Unsubscription{Topic: topic, PID: s.st.self, Done: make(chan struct{})}
	if err := s.awaitRegistry(m, m.Done); err != nil {
		return err
	}
	s.subscriptions = slices.Delete(s.subscriptions, i, i+1)
	return nil
}

func (s *Socket) awaitRegistry(m any, done chan struct{}) error {
	s.st.sock.ep.reg.Post(m)
	if !waitDone(done) {
		return ErrRegistryTimeout
	}
	return nil
}

// Context returns a context that is cancelled as soon as this instance of
// the channel is ending: the client left or was disconnected, its
// connection closed, the channel stopped itself or crashed (a restarted
// channel gets a new one), or the endpoint shut down. Pass it to the work
// a callback starts, an HTTP call or a query, so that the work stops when
// nobody is left to answer. It is done before Terminate runs.
func (s *Socket) Context() context.Context { return s.st.ctx.get() }

// instanceContext is the context of a channel's current instance, made
// when first asked for: most channels never do, and a context costs each
// of them its allocations. The socket actor cancels it when it ends the
// channel, the channel actor when it ends itself; both may, so it is
// guarded.
type instanceContext struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	ended  bool // a context asked for from now on is born cancelled
}

func (c *instanceContext) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.ended {
			c.cancel()
		}
	}
	return c.ctx
}

// end cancels the context of the instance that is ending.
func (c *instanceContext) end() {
	c.mu.Lock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// renew starts the context of a restarted instance: the old one stays
// cancelled, for the work the crashed instance started.
func (c *instanceContext) renew() {
	c.mu.Lock()
	c.ctx, c.cancel, c.ended = nil, nil, false
	c.mu.Unlock()
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
	e.dispatch(topic, event, p, from.pid)
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
