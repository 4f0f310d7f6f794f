package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
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

// SocketRef designates one client message, so that a reply can be sent
// after HandleIn returned. It is safe for concurrent use.
type SocketRef struct {
	st  *channelState
	ref protocol.Ref
}

// Reply sends r's reply (its stop part is ignored) to the message. A
// NoReply sends nothing.
func (r SocketRef) Reply(reply Reply) error {
	if reply.status == "" || r.st == nil {
		return nil
	}
	return r.st.reply(r.ref, reply.status, reply.response)
}

// Push sends event with payload to the channel's client from any
// goroutine, as Socket.Push does from the channel's: work a callback
// started, or a library serving many channels at once (presence sends
// each newcomer its state this way). It returns ErrNotJoined until the
// join reply is written, and transport.ErrClosed once the channel has
// ended. A Push made after another reaches the client after it; a Push
// and the channel's own pushes have no order between them.
func (r SocketRef) Push(event string, payload any) error {
	if r.st == nil || !r.st.replied.Load() {
		return ErrNotJoined
	}
	if r.st.ending.Load() {
		return transport.ErrClosed
	}
	p, err := toPayload(payload)
	if err != nil {
		return err
	}
	return r.st.push(event, p)
}

// PushAll sends event with payload to the client of every channel refs
// designate, as SocketRef.Push does each, but encodes the frame once for
// all the channels that share a serializer, a topic and a join ref: a
// crowd that joined a room alike shares one frame however large the
// payload. Channels not joined yet, or ended, are skipped; the first error
// of another kind is returned, after every channel had its try.
func PushAll(refs []SocketRef, event string, payload any) error {
	p, err := toPayload(payload)
	if err != nil {
		return err
	}
	type frameKey struct {
		ser          protocol.Serializer
		topic, joinR string
	}
	type encoded struct {
		frame  []byte
		binary bool
		err    error
	}
	frames := make(map[frameKey]encoded)
	var first error
	for _, r := range refs {
		st := r.st
		if st == nil || !st.replied.Load() || st.ending.Load() {
			continue
		}
		k := frameKey{st.sock.ser, st.topic, string(st.chanJoinRef)}
		e, ok := frames[k]
		if !ok {
			e.frame, e.binary, e.err = st.sock.ser.EncodeMessage(nil, &protocol.Message{
				JoinRef: st.chanJoinRef, Topic: st.topic, Event: event, Payload: p,
			})
			frames[k] = e
		}
		if e.err == nil {
			e.err = st.send(e.frame, e.binary)
			if isConnGone(e.err) {
				e.err = nil
			}
		}
		if e.err != nil && first == nil {
			first = e.err
		}
	}
	return first
}

// ChannelRef designates one instance of a running channel, as a pid
// designates one Erlang process. It is safe for concurrent use.
type ChannelRef struct {
	ep       *Endpoint
	pid      *actor.PID
	instance uint64 // 0: whichever instance runs
}

// ID identifies the channel's actor; it stays the same across restarts in
// place.
func (c ChannelRef) ID() string { return c.pid.Id }

// Send delivers msg to the channel's HandleInfo. A message sent to a channel
// that has ended is dropped, and so is one sent to an instance that
// crashed, even if a new instance was started in its place: in Erlang a
// message to a process that died is lost, and the restarted channel is a
// new process under the same name. A channel that re-arms a timer in Join
// and HandleInfo so gets one chain of ticks after a restart, not two.
func (c ChannelRef) Send(msg any) {
	c.ep.system.Root.Send(c.pid, &infoMsg{msg: msg, instance: c.instance})
}

// SendAfter delivers msg to HandleInfo after d, unless stop is called
// first; as with Send, only to the instance the reference designates.
func (c ChannelRef) SendAfter(d time.Duration, msg any) (stop func() bool) {
	t := time.AfterFunc(d, func() { c.Send(msg) })
	return t.Stop
}

// channelState is what a channel actor and its socket share: set at join,
// kept across restarts of the channel's actor.
type channelState struct {
	// sock is the channel's socket actor, of which the channel reads only
	// what is set before the socket starts (endpoint, connection,
	// serializer, transport, id, assigns) and self.
	sock *socketActor
	self *actor.PID

	topic       string
	params      Payload
	joinRef     protocol.Ref // the join's join_ref as sent (may be null)
	joinMsgRef  protocol.Ref // the join message's own ref
	chanJoinRef protocol.Ref // joinRef, or joinMsgRef when joinRef is null
	produce     ChannelFunc
	route       *routeCounters
	intercepts  []string

	exit exitState
	// ctx is the current instance's Context.
	ctx instanceContext
	// queued counts the bytes of client frames sent to this channel and
	// not yet handled; they are in its socket's queued bytes too.
	queued atomic.Int64
	// joinedOnce: the first Join succeeded; later Joins are restarts.
	// subscribed: the registry holds the channel's subscription, which
	// outlives an instance whose restart then fails. Only the channel
	// actor touches them.
	joinedOnce, subscribed bool
	// instance counts the instances of the channel: 1 for the first Join,
	// one more for each restart in place. Only the channel actor writes it.
	instance uint64
	// carried holds the subscriptions (Socket.Subscribe) of an instance
	// that crashed, still in the registry until its successor's Join has
	// run. Only the channel actor touches it.
	carried []string
	// countedJoined: the channel is in its route's Joined count, to be
	// taken off when its actor stops. Only the channel actor touches it.
	countedJoined bool
	// quietRestart: the crash being restarted from was not logged (a
	// storm of them is summed), so neither is the rejoin. Written by the
	// socket before it restarts the channel, read by the channel after.
	quietRestart bool
	// replied is set once the join reply is written: from then on,
	// anything may reach the client.
	replied atomic.Bool
	// closed is set by the socket when it takes the channel out of its
	// topic before the channel's actor stops (a duplicate join, a crash it
	// does not restart): a restart's Join does not subscribe it again.
	closed atomic.Bool
	// ending is set before the channel tells its client it has ended, so
	// that the socket, for anything the client sends after, treats the
	// topic as free even before the channel actor is gone.
	ending atomic.Bool
}

func (st *channelState) send(frame []byte, binary bool) error {
	return st.sock.conn.Send(frame, binary)
}

func (st *channelState) push(event string, p Payload) error {
	frame, bin, err := st.sock.ser.EncodeMessage(nil, &protocol.Message{
		JoinRef: st.chanJoinRef, Topic: st.topic, Event: event, Payload: p,
	})
	if err != nil {
		return err
	}
	return st.send(frame, bin)
}

func (st *channelState) reply(ref protocol.Ref, status string, response any) error {
	frame, bin, err := encodeReply(st.sock.ser, st.chanJoinRef, ref, st.topic, status, response)
	if err != nil {
		return err
	}
	return st.send(frame, bin)
}

// announce sends the message that tells the client how the channel ended:
// phx_close for a shutdown, phx_error for anything else. Both carry the
// join_ref as the client sent it, in both ref positions. before, if any,
// goes out first, in the same batch.
func (st *channelState) announce(reason error, before ...transport.Frame) {
	event, payload := protocol.EventClose, protocol.EmptyObject
	if !IsShutdown(reason) {
		event, payload = protocol.EventError, crashPayload
	}
	frame, bin, err := st.sock.ser.EncodeMessage(nil, &protocol.Message{
		JoinRef: st.joinRef, Ref: st.joinRef, Topic: st.topic, Event: event, Payload: payload,
	})
	switch {
	case err != nil:
		_ = transport.SendBatch(st.sock.conn, before...)
	case len(before) == 0:
		_ = st.send(frame, bin)
	default:
		_ = transport.SendBatch(st.sock.conn, append(before, transport.Frame{Data: frame, Binary: bin})...)
	}
}

var crashPayload = protocol.JSON([]byte(`{"reason":"channel_crash"}`))

func encodeReply(ser protocol.Serializer, joinRef, ref protocol.Ref, topic, status string, response any) ([]byte, bool, error) {
	p, err := toPayload(response)
	if err != nil {
		return nil, false, err
	}
	return ser.EncodeReply(nil, &protocol.Reply{
		JoinRef: joinRef, Ref: ref, Topic: topic, Status: status, Response: p,
	})
}

// isConnGone reports a send that failed because the connection is closing:
// nothing the channel did wrong.
func isConnGone(err error) bool {
	return errors.Is(err, transport.ErrClosed) || errors.Is(err, transport.ErrOutboxFull)
}
