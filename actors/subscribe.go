package actors

import (
	"errors"
	"slices"

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
	// ErrRegistryTimeout is no longer returned: Subscribe and
	// Unsubscribe make their change themselves, under the topic's lock,
	// rather than wait for the registry's actor, which a storm of joins
	// kept busy past any timeout. Kept so that code that tests for it
	// still compiles.
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
	s.st.sock.ep.reg.Subscribe(&registry.Subscription{Topic: topic, Sub: &registry.Subscriber{PID: s.st.self}})
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
	s.st.sock.ep.reg.Unsubscribe(topic, s.st.self.Id)
	s.subscriptions = slices.Delete(s.subscriptions, i, i+1)
	return nil
}
