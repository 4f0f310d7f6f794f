package actors

import (
	"errors"

	"github.com/phxgo/phx/protocol"
)

// Socket is a channel's view of its connection and of itself, Phoenix's
// %Socket{} as a channel sees it. It is valid only inside the callbacks of
// the channel it was given to.
type Socket struct {
	// own is this channel's copy of the socket's assigns (what Connect
	// returned), made on its first Assign: until then the channel reads
	// its socket's, as most channels only read them, and a copy each
	// would cost every connection.
	own map[string]any

	st       *channelState
	current  protocol.Ref // ref of the message being handled, for Ref
	cleanups []func()     // run when this instance ends
	// subscriptions are the topics this instance subscribed to.
	subscriptions []string
	inJoin        bool // Join is running: nothing may reach the client yet
}

// ErrNotJoined is returned by Push, Broadcast and BroadcastFrom called from
// Join: the join reply must reach the client before anything of the
// channel's (Phoenix raises there). Send the channel a message from Join
// and push from HandleInfo, which runs after the reply.
var ErrNotJoined = errors.New("actors: push or broadcast from Join, before the join reply; send yourself a message and push from HandleInfo")

// Cleanup registers f to run when this channel instance ends, however it
// ends: left, stopped, crashed (before a restart too), replaced by a
// duplicate join, or closed with its socket. Cleanups run after Terminate,
// last registered first, on the channel's goroutine. Libraries use it to
// release what they hold for the channel, as Presence untracks its entries.
func (s *Socket) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// Get returns the value of an assign: what Connect returned, or what this
// channel set with Assign (Phoenix's socket.assigns).
func (s *Socket) Get(key string) any {
	if s.own != nil {
		return s.own[key]
	}
	return s.st.sock.assigns.get(key)
}

// Assign sets an assign for this channel; the socket's other channels do
// not see it (Phoenix's assign/3).
func (s *Socket) Assign(key string, value any) {
	if s.own == nil {
		shared := s.st.sock.assigns
		s.own = make(map[string]any, len(shared)+1)
		for _, a := range shared {
			s.own[a.key] = a.value
		}
	}
	s.own[key] = value
}

// assignList holds a socket's assigns, as Connect returned them, in a
// slice: sockets have a few, which a map of one costs ten times the
// memory of, and every connection holds them.
type assignList []assign

type assign struct {
	key   string
	value any
}

func newAssignList(m map[string]any) assignList {
	if len(m) == 0 {
		return nil
	}
	l := make(assignList, 0, len(m))
	for k, v := range m {
		l = append(l, assign{k, v})
	}
	return l
}

func (l assignList) get(key string) any {
	for i := range l {
		if l[i].key == key {
			return l[i].value
		}
	}
	return nil
}

// Topic returns the channel's topic.
func (s *Socket) Topic() string { return s.st.topic }

// ID returns the socket id (Connector.ID), or "" for an anonymous socket.
func (s *Socket) ID() string { return s.st.sock.id }

// JoinRef returns the join reference the channel's messages carry.
func (s *Socket) JoinRef() string { return s.st.chanJoinRef.Value() }

// Transport returns "websocket" or "longpoll".
func (s *Socket) Transport() string { return s.st.sock.transport }

// Endpoint returns the endpoint the channel runs in.
func (s *Socket) Endpoint() *Endpoint { return s.st.sock.ep }

// Push sends event with payload to this channel's client. payload may be a
// Payload, a Binary, a json.RawMessage, nil ({}), or any value encoding/json
// can encode to an object. From Join it returns ErrNotJoined: nothing may
// reach the client before the join reply.
func (s *Socket) Push(event string, payload any) error {
	if s.inJoin {
		return ErrNotJoined
	}
	p, err := toPayload(payload)
	if err != nil {
		return err
	}
	return s.st.push(event, p)
}

// Broadcast sends event to every subscriber of the channel's topic, this
// client included. From Join it returns ErrNotJoined.
func (s *Socket) Broadcast(event string, payload any) error {
	if s.inJoin {
		return ErrNotJoined
	}
	return s.st.sock.ep.broadcast(s.st.topic, event, payload, nil)
}

// BroadcastFrom sends event to every subscriber of the channel's topic but
// this channel's own client. From Join it returns ErrNotJoined.
func (s *Socket) BroadcastFrom(event string, payload any) error {
	if s.inJoin {
		return ErrNotJoined
	}
	return s.st.sock.ep.broadcast(s.st.topic, event, payload, s.st.self)
}

// Ref returns a reference to the message being handled, to reply to it
// later, from any goroutine (Phoenix's socket_ref/1). Outside HandleIn the
// reference has no message ref and its replies are not matched by clients.
func (s *Socket) Ref() SocketRef {
	return SocketRef{st: s.st, ref: s.current}
}

// Self returns a reference to this instance of the channel, to send it
// messages that arrive in HandleInfo. After a crash and a restart in place
// the reference is stale: what is sent through it, a timer's message too,
// is dropped, and the new instance's Join takes its own.
func (s *Socket) Self() ChannelRef {
	return ChannelRef{ep: s.st.sock.ep, pid: s.st.self, instance: s.st.instance}
}
