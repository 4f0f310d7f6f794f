package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

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
			e.frame, e.binary, e.err = protocol.AppendMessage(st.sock.ser, nil, &protocol.Message{
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
