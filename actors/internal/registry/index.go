package registry

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/transport"
)

type topicSubs struct {
	subs []*Subscriber
	// index maps pid id → position in subs, once the topic has more than
	// indexAbove subscribers; smaller topics (every socket's own id topic,
	// most rooms) are scanned, which saves each a map.
	index map[string]int
}

const indexAbove = 16

// find returns the position of the subscription of pid id.
func (ts *topicSubs) find(id string) (int, bool) {
	if ts.index != nil {
		i, ok := ts.index[id]
		return i, ok
	}
	for i, sub := range ts.subs {
		if sub.PID.Id == id {
			return i, true
		}
	}
	return -1, false
}

// shardIndex is a shard's subscriptions: written by the shard actor and by
// those whose change cannot wait (a join, a socket's id topic); read by
// every publisher. It lives outside the actor so that it survives the
// actor's restarts.
type shardIndex struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs // guarded by mu
	// histories are the histories of the shard's topics that keep one,
	// whether or not anyone subscribes; guarded by mu.
	histories map[string]*topicHistory
	restarts  atomic.Int64 // how often the shard actor was restarted
}

// shardRef is how publishers and channels reach a shard.
type shardRef struct {
	pid *actor.PID
	idx *shardIndex
}

// shard is the actor that owns a shardIndex. Its state lives in the index,
// so a restarted shard carries on with every subscription.
type shard struct {
	r   *Registry
	idx *shardIndex
}

type (
	crashShard struct{ quiet }
	stallShard struct {
		quiet
		release <-chan struct{}
	}
)

func (s *shard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Subscription:
		s.r.subscribe(s.idx, m)
		if m.Done != nil {
			close(m.Done)
		}
	case *Unsubscription:
		s.idx.unsubscribe(m.Topic, m.PID.Id)
		if m.Done != nil {
			close(m.Done)
		}
	case *crashShard:
		panic("registry shard crash requested")
	case *stallShard:
		<-m.release
	}
}

// shardGuardian supervises the shards: they are permanent. A crashed shard
// is restarted, whatever its history, and its subscriptions, which live
// outside the actor, carry on.
type shardGuardian struct {
	r       *Registry
	crashed func(child *actor.PID, reason any, restarts int)
}

func (g *shardGuardian) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	restarts := 0
	for _, sh := range g.r.shards {
		if sh.pid.Id == child.Id {
			restarts = int(sh.idx.restarts.Add(1))
		}
	}
	if g.crashed != nil {
		g.crashed(child, reason, restarts)
	}
	sup.RestartChildren(child)
}

// subscribe makes m's subscription, sending m's reply first, and its
// recovery, under the lock. A reply alone is only queued under it, where
// the connection can queue without writing, and written after: the
// topic's joins, leaves and broadcasts wait for the lock, and a write
// under it made them wait for a system call, which with ten members to a
// topic, joining and leaving, cost more than the write itself.
func (r *Registry) subscribe(idx *shardIndex, m *Subscription) {
	if deferred := r.subscribeLocked(idx, m); deferred != nil {
		deferred.Flush()
	}
}

// subscribeLocked is subscribe's part under the lock; it returns the
// connection whose reply it queued without writing.
func (r *Registry) subscribeLocked(idx *shardIndex, m *Subscription) (deferred transport.DeferredSender) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if m.Closed != nil && m.Closed.Load() {
		return nil
	}
	recovering := m.Recovery != nil && r.historyOf != nil
	if m.Reply != nil {
		if d, ok := m.Sub.Conn.(transport.DeferredSender); ok && !recovering {
			deferred = d
			_ = d.SendDeferred(m.Reply, m.ReplyBinary)
		} else {
			_ = m.Sub.Conn.Send(m.Reply, m.ReplyBinary)
		}
	}
	if recovering {
		r.recover(idx, m)
	}
	idx.add(m.Topic, m.Sub)
	return deferred
}

// unsubscribe ends pid id's subscription to topic: once it returns, no
// broadcast reaches it.
func (idx *shardIndex) unsubscribe(topic, id string) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	idx.remove(topic, id)
}

// add subscribes sub to topic; mu must be held for writing.
func (idx *shardIndex) add(topic string, sub *Subscriber) {
	ts := idx.topics[topic]
	if ts == nil {
		ts = &topicSubs{}
		idx.topics[topic] = ts
	}
	id := sub.PID.Id
	if i, ok := ts.find(id); ok {
		ts.subs[i] = sub
		return
	}
	ts.subs = append(ts.subs, sub)
	switch {
	case ts.index != nil:
		ts.index[id] = len(ts.subs) - 1
	case len(ts.subs) > indexAbove:
		ts.index = make(map[string]int, len(ts.subs))
		for i, sub := range ts.subs {
			ts.index[sub.PID.Id] = i
		}
	}
}

// remove ends pid id's subscription to topic; mu must be held for writing.
func (idx *shardIndex) remove(topic, id string) {
	ts := idx.topics[topic]
	if ts == nil {
		return
	}
	i, ok := ts.find(id)
	if !ok {
		return
	}
	last := len(ts.subs) - 1
	if i != last {
		ts.subs[i] = ts.subs[last]
		if ts.index != nil {
			ts.index[ts.subs[i].PID.Id] = i
		}
	}
	ts.subs[last] = nil
	ts.subs = ts.subs[:last]
	if ts.index != nil {
		delete(ts.index, id)
	}
	if len(ts.subs) == 0 {
		delete(idx.topics, topic)
		return
	}
	ts.shrink()
}

// shrink gives back the memory of a topic that has lost most of its
// subscribers: a slice keeps its peak capacity and a Go map its peak
// buckets, so a room that once held 100,000 members and now holds ten
// would hold their room forever. Each shrink halves what it keeps at most
// every time the topic loses three quarters, so its cost is amortized.
func (ts *topicSubs) shrink() {
	n := len(ts.subs)
	if c := cap(ts.subs); c > 2*indexAbove && n < c/4 {
		ts.subs = slices.Clone(ts.subs)
		if ts.index != nil {
			ts.index = nil
			if n > indexAbove {
				ts.index = make(map[string]int, n)
				for i, sub := range ts.subs {
					ts.index[sub.PID.Id] = i
				}
			}
		}
	}
}
