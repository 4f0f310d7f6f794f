package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/supervision"
)

// chanEntry is a socket's record of one of its channels.
type chanEntry struct {
	st     *channelState
	pid    *actor.PID
	policy supervision.Policy
	budget supervision.Budget
	timer  *time.Timer // a restart waiting out its backoff
	// leaving: the client asked the channel to leave; a join of its
	// topic waits for it to end rather than replace it.
	leaving bool
	// replaced: closed by a duplicate join; its phx_close is already queued.
	replaced bool
	// routed: this is its topic's channel, to which client messages go.
	// A channel that ended or was replaced stays in the socket's list until
	// its actor is gone, but no longer routed.
	routed bool
	// limits are the socket's buckets for the channel's route, nil when
	// the route has no limit.
	limits *routeBuckets
}

// channelTable is a socket's record of its channels: every channel actor
// that has not stopped yet, routed or not. A socket has few, so a slice
// scanned is the smallest and quickest.
type channelTable []*chanEntry

// route returns the routed channel of topic, or nil.
func (t channelTable) route(topic string) *chanEntry {
	for _, e := range t {
		if e.routed && e.st.topic == topic {
			return e
		}
	}
	return nil
}

// byPID returns the channel whose actor has id, or nil.
func (t channelTable) byPID(id string) *chanEntry {
	for _, e := range t {
		if e.pid.Id == id {
			return e
		}
	}
	return nil
}

// forget drops a channel whose actor is gone.
func (t *channelTable) forget(e *chanEntry) {
	for i, c := range *t {
		if c == e {
			last := len(*t) - 1
			(*t)[i] = (*t)[last]
			(*t)[last] = nil
			*t = (*t)[:last]
			return
		}
	}
}

// leaving returns the channel of topic that was asked to leave and has
// not ended yet, or nil.
func (t channelTable) leaving(topic string) *chanEntry {
	for _, e := range t {
		if e.leaving && e.st.topic == topic {
			return e
		}
	}
	return nil
}

// live returns the channel of topic, unless it has already told its client
// it ended: the topic is then free, whether or not its actor is gone yet.
func (t channelTable) live(topic string) *chanEntry {
	e := t.route(topic)
	if e != nil && e.st.ending.Load() {
		e.routed = false
		return nil
	}
	return e
}

// liveCount counts the routed channels that are not ending.
func (t channelTable) liveCount() int {
	n := 0
	for _, e := range t {
		if e.routed && !e.st.ending.Load() {
			n++
		}
	}
	return n
}
