package actors

import (
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

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
	paramsCost  int64        // what params count in the endpoint's MaxJoinParamsHeld
	joinRef     protocol.Ref // the join's join_ref as sent (may be null)
	joinMsgRef  protocol.Ref // the join message's own ref
	chanJoinRef protocol.Ref // joinRef, or joinMsgRef when joinRef is null
	produce     ChannelFunc
	history     bool // the route keeps a history: joins recover
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

	// The messages a channel and its socket send each other at most once
	// in the channel's life, kept here rather than allocated for every
	// join: the channel's joinDone and channelStopped, the socket's first
	// leaveMsg.
	joinDone joinDone
	stopped  channelStopped
	leave    leaveMsg
	// lastFrames is announce's batch.
	lastFrames [2]transport.Frame
	// inHandoff: the endpoint's handoffs hold the state for the channel's
	// actor to take when it starts. Written by the socket before the
	// spawn, then by the channel's actor only.
	inHandoff bool
}

func (st *channelState) send(frame []byte, binary bool) error {
	return st.sock.conn.Send(frame, binary)
}

func (st *channelState) push(event string, p Payload) error {
	frame, bin, err := protocol.AppendMessage(st.sock.ser, nil, &protocol.Message{
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
// join_ref as the client sent it, in both ref positions. before, unless
// empty, goes out first, in the same batch; only the channel's actor
// passes one.
func (st *channelState) announce(reason error, before transport.Frame) {
	event, payload := protocol.EventClose, protocol.EmptyObject
	if !IsShutdown(reason) {
		event, payload = protocol.EventError, crashPayload
	}
	frame, bin, err := protocol.AppendMessage(st.sock.ser, nil, &protocol.Message{
		JoinRef: st.joinRef, Ref: st.joinRef, Topic: st.topic, Event: event, Payload: payload,
	})
	switch {
	case before.Data == nil && err == nil:
		_ = st.send(frame, bin)
	case before.Data == nil:
	case err != nil:
		_ = st.send(before.Data, before.Binary)
	default:
		// In the state's own array: a batch passed to the connection
		// escapes, and this is once per leave.
		batch := &st.lastFrames
		batch[0], batch[1] = before, transport.Frame{Data: frame, Binary: bin}
		_ = transport.SendBatch(st.sock.conn, batch[:]...)
		*batch = [2]transport.Frame{}
	}
}

var crashPayload = protocol.JSON([]byte(`{"reason":"channel_crash"}`))

func encodeReply(ser protocol.Serializer, joinRef, ref protocol.Ref, topic, status string, response any) ([]byte, bool, error) {
	p, err := toPayload(response)
	if err != nil {
		return nil, false, err
	}
	return protocol.AppendReply(ser, nil, &protocol.Reply{
		JoinRef: joinRef, Ref: ref, Topic: topic, Status: status, Response: p,
	})
}

// isConnGone reports a send that failed because the connection is closing:
// nothing the channel did wrong.
func isConnGone(err error) bool {
	return errors.Is(err, transport.ErrClosed) || errors.Is(err, transport.ErrOutboxFull)
}
