package actors

import (
	"errors"
	"log/slog"
	"strconv"
	"sync"

	"github.com/phxgo/phx/internal/keyshard"
	"github.com/phxgo/phx/protocol"
)

// joiner is a socket actor in its second role: running its client's joins
// one at a time, in the order of its frames. While a join runs, or a join
// waits for its topic's leaving channel to end, the frames after it wait.
type joiner struct{ *socketActor }

// joinState is what the joiner keeps of the joins under way.
type joinState struct {
	joining *chanEntry // the join in flight; later frames wait
	// leaving is a channel that was asked to leave and a join of its
	// topic came before it ended: later frames wait for its end, so that
	// its leave is answered and its Terminate runs before the new join.
	leaving *chanEntry
	pending []*inbound // frames that arrived meanwhile
	// afterJoin holds frames due once the join in flight has answered: the
	// phx_close of a channel a duplicate join replaced.
	afterJoin [][]byte
}

// waiting reports whether frames must wait for a join or a leave.
func (j *joinState) waiting() bool { return j.joining != nil || j.leaving != nil }

// hold keeps a frame that arrived while the socket waits, and reports
// false when too many wait already.
func (s joiner) hold(m *inbound) bool {
	if len(s.pending) == maxPending {
		return false
	}
	s.pending = append(s.pending, m)
	return true
}

// maxPending bounds the frames a socket holds while a join runs: a client
// flooding a slow join is cut off rather than grow the server's memory.
const maxPending = 4096

var errTooManyPending = errors.New("actors: too many frames during a join")

// join checks a phx_join against the endpoint's bounds and the routes,
// and spawns its channel, whose Join answers; the frames after it wait
// until then.
func (s joiner) join(msg *protocol.Message, limits *routeBuckets) {
	r, ok := s.h.match(msg.Topic)
	if max := s.ep.cfg.MaxTopicLength; max > 0 && len(msg.Topic) > max {
		// A channel's topic is in every frame it sends and every log line
		// about it.
		if ok {
			r.stats.joinsRefused.Add(1)
		}
		s.ep.logLine(logTopicTooLong, slog.String("topic", logTopic(msg.Topic)), slog.String("socket_id", s.id), slog.Int("size", len(msg.Topic)), slog.Int("max", max))
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", topicTooLong)
		return
	}
	if !ok {
		s.ep.joinsUnmatched.Add(1)
		s.ep.logLine(logUnmatchedTopic, slog.String("topic", logTopic(msg.Topic)), slog.String("socket_id", s.id))
		s.reply(protocol.Ref(""), msg.Ref, msg.Topic, "error", unmatchedTopic)
		return
	}
	if max := s.ep.cfg.MaxJoinParams; max > 0 && len(msg.Payload.Data) > max {
		// A channel keeps its join params for its whole life, to join
		// again on a restart.
		r.stats.joinsRefused.Add(1)
		s.ep.logLine(logJoinParamsTooLarge, slog.String("topic", logTopic(msg.Topic)), slog.String("socket_id", s.id), slog.Int("size", len(msg.Payload.Data)), slog.Int("max", max))
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", paramsTooLarge)
		return
	}
	if max := s.ep.cfg.MaxChannels; max > 0 && s.channels.liveCount() >= max {
		r.stats.joinsRefused.Add(1)
		s.ep.logLine(logTooManyChannels, slog.String("topic", logTopic(msg.Topic)), slog.String("socket_id", s.id))
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", tooManyChannels)
		return
	}
	paramsCost := int64(len(msg.Payload.Data))
	if !s.ep.holdParams(s.socketActor, paramsCost) {
		r.stats.joinsRefused.Add(1)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", serverBusy)
		return
	}
	chanJoinRef := msg.JoinRef
	if chanJoinRef.IsNull() {
		chanJoinRef = msg.Ref
	}
	st := &channelState{
		sock:  s.socketActor,
		topic: msg.Topic, params: msg.Payload, paramsCost: paramsCost, joinRef: msg.JoinRef, joinMsgRef: msg.Ref,
		chanJoinRef: chanJoinRef, produce: r.produce, route: r.stats, history: r.history != nil,
	}
	name := s.ep.channelName(s.ctx.Self().Id)
	s.ep.handoff.store(name, st)
	s.ep.channelsWG.Add(1)
	pid, err := s.ep.system.Root.SpawnNamed(s.ep.channelProps, name)
	if err != nil {
		s.ep.handoff.drop(name, st)
		s.ep.releaseParams(s.socketActor, paramsCost)
		s.ep.channelsWG.Done()
		s.ep.log.Error("actors: spawning a channel", "topic", logTopic(msg.Topic), "socket_id", s.id, "error", err)
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", joinCrashed)
		return
	}
	policy := s.ep.policy
	if r.policy != nil {
		policy = *r.policy
	}
	e := &chanEntry{st: st, pid: pid, policy: policy, routed: true, limits: limits}
	s.channels = append(s.channels, e)
	s.joining = e
}

// admit applies the rate limits to a phx_join, before anything else is
// done for it (a join flood is a flood, and a refused duplicate join
// leaves the channel it would replace as it is). It reports false for a
// join refused, and answered, or dropped; otherwise the socket's buckets
// for the route, if it has limits, which the channel keeps.
func (s joiner) admit(msg *protocol.Message) (*routeBuckets, bool) {
	if s.limits == nil && !s.h.limited.Load() {
		return nil, true
	}
	r, ok := s.h.match(msg.Topic)
	var limits *routeBuckets
	var route *routeCounters
	if ok {
		route = r.stats
		if r.rate != nil {
			limits = s.limiter().forRoute(r.rate, s.ep.now())
		}
	}
	if s.limits == nil { // no limit of the socket's, nor of this route's
		return nil, true
	}
	switch s.limit(msg, limits, route) {
	case refused:
		if ok {
			r.stats.joinsRefused.Add(1)
		}
		s.reply(msg.JoinRef, msg.Ref, msg.Topic, "error", rateLimited)
		return nil, false
	case dropped:
		return nil, false
	}
	return limits, true
}

// replace closes the channel a duplicate join supersedes: it is stopped
// without Terminate, and its phx_close follows the new join's reply.
func (s joiner) replace(e *chanEntry) {
	e.routed = false
	e.replaced = true
	e.st.ctx.end()
	channelSupervisor{s.socketActor}.unsubscribe(e)
	e.st.exit.setReason(ShutdownReason("duplicate_join"))
	e.st.exit.skip()
	e.st.exit.markAnnounced()
	frame, bin, err := protocol.AppendMessage(s.ser, nil, &protocol.Message{
		JoinRef: e.st.joinRef, Ref: e.st.joinRef, Topic: e.st.topic, Event: protocol.EventClose, Payload: protocol.EmptyObject,
	})
	if err == nil && !bin {
		s.afterJoin = append(s.afterJoin, frame)
	}
	s.ctx.Stop(e.pid)
}

func (s joiner) finished(ok bool) {
	e := s.joining
	s.joining = nil
	if !ok {
		e.routed = false
	}
	for _, f := range s.afterJoin {
		_ = s.conn.Send(f, false)
	}
	clear(s.afterJoin)
	s.afterJoin = s.afterJoin[:0]
	s.resume()
}

// resume handles the frames that waited for a join or a leave,
// until one makes the next ones wait again.
func (s joiner) resume() {
	for len(s.pending) > 0 && s.joining == nil && s.leaving == nil && !s.stopping {
		m := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		router{s.socketActor}.dispatch(m)
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

// channelName names a channel actor of the socket actor sockID as
// Proto.Actor names a child, "<parent>/<n>", which is how the channel's
// guardian finds its socket: in one allocation, where the registry's
// NextId and a concatenation cost two for every join. The "c" keeps the
// names apart from those NextId makes, which start with "$".
func (e *Endpoint) channelName(sockID string) string {
	var buf [64]byte
	b := append(buf[:0], sockID...)
	b = append(b, "/c"...)
	b = strconv.AppendUint(b, e.channelSeq.Add(1), 36)
	return string(b)
}

// handoffs passes a channel's state to its actor, which Proto.Actor makes
// from a producer shared by all channels: keyed by the actor's id, stored
// before its spawn or restart and taken when it starts. Maps under
// mutexes rather than a sync.Map, which allocates an entry for every
// store; several of them, since every join of the endpoint stores and
// takes, and one mutex was its busiest lock.
type handoffs struct {
	shards [handoffShards]handoffShard
}

const handoffShards = 32

type handoffShard struct {
	mu sync.Mutex
	m  map[string]*channelState
}

func (h *handoffs) shard(id string) *handoffShard {
	return &h.shards[keyshard.Of(id, handoffShards)]
}

// store keeps st for the actor id; st.inHandoff says so until it is
// taken or dropped.
func (h *handoffs) store(id string, st *channelState) {
	sh := h.shard(id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*channelState)
	}
	sh.m[id] = st
	sh.mu.Unlock()
	st.inHandoff = true
}

func (h *handoffs) take(id string) *channelState {
	sh := h.shard(id)
	sh.mu.Lock()
	st := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	if st != nil {
		st.inHandoff = false
	}
	return st
}

// drop forgets what is kept for the actor id, if anything is: an actor
// that stops never takes it.
func (h *handoffs) drop(id string, st *channelState) {
	if !st.inHandoff {
		return
	}
	sh := h.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
	st.inHandoff = false
}
