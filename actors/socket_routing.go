package actors

import (
	"slices"
	"unicode/utf8"

	"github.com/phxgo/phx/protocol"
)

// router is a socket actor in its first role: taking each client frame
// to the channel it is for, or answering it itself.
type router struct{ *socketActor }

// routeInline hands a message or a leave for a joined channel straight
// to the channel, on the read goroutine, when the socket actor is idle:
// routing is all the socket does with them, and the hop through its
// mailbox cost a goroutine hand-off each. It reports false, having done
// nothing, for anything else: joins, heartbeats and the rest go through
// the mailbox, as does everything while a join is in flight, so that
// their work (a spawn, a reply) never deepens the read goroutine's stack,
// which every connection keeps. Order holds: the claim fails while
// anything is queued for the socket.
func (s router) routeInline(in *inbound) bool {
	if in.msg.Event == protocol.EventJoin || s.mbox == nil || !s.mbox.Claim() {
		return false
	}
	defer s.mbox.Release()
	if s.ctx == nil || s.stopping || s.joining != nil || s.leaving != nil {
		return false
	}
	return s.forward(in)
}

// dispatch applies docs/protocol.md §4.2 to one client message. Its bytes
// stay queued while a channel has it to handle, and no longer once the
// socket is done with it.
func (s router) dispatch(in *inbound) {
	if s.forward(in) {
		return
	}
	msg := in.msg
	if msg.Event == protocol.EventJoin {
		if e := s.channels.leaving(msg.Topic); e != nil {
			// Phoenix waits for a leaving channel to be gone before it
			// joins its topic again.
			s.leaving = e
			s.pending = slices.Insert(s.pending, 0, in)
			return
		}
	}
	s.unqueue(in.size)
	if msg.Topic == protocol.TopicPhoenix && msg.Event == protocol.EventHeartbeat {
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "ok", nil)
		return
	}
	entry := s.channels.live(msg.Topic)
	switch {
	case msg.Event == protocol.EventJoin:
		limits, ok := joiner{s.socketActor}.admit(msg)
		if !ok {
			return
		}
		if entry != nil {
			joiner{s.socketActor}.replace(entry)
		}
		joiner{s.socketActor}.join(msg, limits)
	case entry != nil:
		// A leave or a message with a stale join_ref: dropped.
	case msg.Event == protocol.EventLeave:
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "ok", nil)
	case s.limits != nil && s.limit(msg, nil, nil) != admitted:
		// A frame for no channel costs a reply all the same.
		if !s.limits.cut && !msg.Ref.IsNull() {
			s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "error", rateLimited)
		}
	default:
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "error", unmatchedTopic)
	}
}

// forward hands a message or a leave to the live channel of its topic and
// join_ref, and reports whether it did.
func (s router) forward(in *inbound) bool {
	msg := in.msg
	if msg.Event == protocol.EventJoin {
		return false
	}
	e := s.channels.live(msg.Topic)
	if e == nil || !refMatches(msg.JoinRef, e.st.joinRef) {
		return false
	}
	if msg.Event == protocol.EventLeave {
		s.unqueue(in.size)
		m := &e.st.leave
		if e.leaving {
			// A second leave before the channel ended: the first is
			// still to be read.
			m = &leaveMsg{}
		}
		m.ref = msg.Ref
		e.leaving = true
		e.st.ctx.end()
		s.ep.system.Root.Send(e.pid, m)
		return true
	}
	if s.limits != nil {
		switch s.limit(msg, e.limits, e.st.route) {
		case refused:
			if !msg.Ref.IsNull() {
				// Answered by the channel, after what it was sent before;
				// its bytes stay counted until then.
				e.st.queued.Add(in.size)
				s.ep.system.Root.Send(e.pid, &limitedMsg{ref: msg.Ref, size: in.size})
				return true
			}
			fallthrough
		case dropped:
			s.unqueue(in.size)
			return true
		}
	}
	e.st.queued.Add(in.size)
	s.ep.system.Root.Send(e.pid, in)
	return true
}

// refMatches: a message for a joined topic is delivered when its join_ref
// is null or that of the current join (Phoenix 1.8.12); others belong to an
// earlier join and are dropped.
func refMatches(msgRef, joined protocol.Ref) bool {
	return msgRef.IsNull() || msgRef == joined
}

// maxLogTopic is how much of a topic a log line quotes: a client chooses
// its topics, and a line per frame of a long one would fill the log.
const maxLogTopic = 256

// logTopic is topic as a log line quotes it, cut to maxLogTopic bytes.
func logTopic(topic string) string {
	if len(topic) <= maxLogTopic {
		return topic
	}
	cut := maxLogTopic
	for cut > 0 && !utf8.RuneStart(topic[cut]) {
		cut--
	}
	return topic[:cut] + "…"
}
