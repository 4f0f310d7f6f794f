package registry

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/protocol"
)

// EventRecovery is the push that follows the join reply of a topic that
// keeps a history: the topic's position, and, for a join that asked to
// recover, whether it did and how many broadcasts follow.
const EventRecovery = "phx_recovery"

// Recovery makes a Subscription the join of a topic that keeps a
// history: after the join reply, under the same lock, the phx_recovery
// push and, if the client asked to recover, what it missed.
type Recovery struct {
	// JoinRef is the channel's join ref, which the push carries.
	JoinRef protocol.Ref
	// From is the position the client asked to recover from; Asked is
	// false for a join that did not ask.
	From  string
	Asked bool
}

// topicHistory is one topic's history and the lock that orders its
// appends with their deliveries: a topic's broadcasts reach every
// subscriber in the order of their positions.
type topicHistory struct {
	mu sync.Mutex
	h  *history.Topic
}

// HistoryStats are the figures of an endpoint's histories.
type HistoryStats struct {
	Topics     int    // topics with a history
	Broadcasts int    // broadcasts kept
	Bytes      int64  // what they cost
	Cleared    uint64 // histories cleared for the memory budget
}

// historyLocked returns topic's history, made if it has none; mu must be
// held for writing.
func (idx *shardIndex) historyLocked(topic string, cfg history.Config) *topicHistory {
	th := idx.histories[topic]
	if th == nil {
		th = &topicHistory{h: history.New(cfg)}
		if idx.histories == nil {
			idx.histories = make(map[string]*topicHistory)
		}
		idx.histories[topic] = th
	}
	return th
}

// recover writes, after a join's reply, its phx_recovery push and what
// the client missed, to sub alone; idx.mu is held for writing, so no
// broadcast of the topic is under way: none is missed, none is doubled.
func (r *Registry) recover(idx *shardIndex, m *Subscription) {
	cfg := r.historyOf(m.Topic)
	if cfg == nil {
		return
	}
	th := idx.historyLocked(m.Topic, *cfg)
	r.startSweep(cfg.TTL)
	th.mu.Lock()
	defer th.mu.Unlock()
	now := time.Now()
	pos := th.h.Position()
	var missed []history.Kept
	recovered := false
	if m.Recovery.Asked {
		if from, err := history.ParsePosition(m.Recovery.From); err == nil {
			missed, recovered = th.h.Since(from, now)
		}
	}
	payload := append(append([]byte(nil), `{"position":`...), strconv.Quote(pos.String())...)
	if m.Recovery.Asked {
		payload = append(payload, `,"recovered":`...)
		payload = strconv.AppendBool(payload, recovered)
		payload = append(payload, `,"missed":`...)
		payload = strconv.AppendInt(payload, int64(len(missed)), 10)
	}
	payload = append(payload, '}')
	frame, bin, err := protocol.AppendMessage(m.Sub.Ser, nil, &protocol.Message{
		JoinRef: m.Recovery.JoinRef, Topic: m.Topic, Event: EventRecovery, Payload: protocol.JSON(payload),
	})
	if err != nil {
		return
	}
	_ = m.Sub.Conn.Send(frame, bin)
	for _, e := range missed {
		d := delivery{r: r, b: protocol.Broadcast{
			Topic: m.Topic, Event: e.Event, Payload: e.Payload,
			Ref: protocol.StringRef(e.Position.String()),
		}}
		d.deliver([]*Subscriber{m.Sub})
	}
}

// HistoryStats returns the figures of every history.
func (r *Registry) HistoryStats() HistoryStats {
	s := HistoryStats{Bytes: r.histBytes.Load(), Cleared: r.histCleared.Load()}
	for _, sh := range r.shards {
		sh.idx.mu.RLock()
		s.Topics += len(sh.idx.histories)
		for _, th := range sh.idx.histories {
			th.mu.Lock()
			s.Broadcasts += th.h.Len()
			th.mu.Unlock()
		}
		sh.idx.mu.RUnlock()
	}
	return s
}

// trimHistories clears the histories appended to longest ago until what
// every history holds is back under nine tenths of the budget: the
// oldest topics give way to the live ones.
func (r *Registry) trimHistories() {
	if !r.trimming.CompareAndSwap(false, true) {
		return // another publisher is at it
	}
	defer r.trimming.Store(false)
	type candidate struct {
		idx   *shardIndex
		topic string
		last  int64
	}
	var all []candidate
	for _, sh := range r.shards {
		sh.idx.mu.RLock()
		for topic, th := range sh.idx.histories {
			th.mu.Lock()
			if th.h.Len() > 0 {
				all = append(all, candidate{sh.idx, topic, th.h.LastAt()})
			}
			th.mu.Unlock()
		}
		sh.idx.mu.RUnlock()
	}
	slices.SortFunc(all, func(a, b candidate) int { return cmp.Compare(a.last, b.last) })
	target := r.histMax / 10 * 9
	for _, c := range all {
		if r.histBytes.Load() <= target {
			return
		}
		c.idx.mu.RLock()
		if th := c.idx.histories[c.topic]; th != nil {
			th.mu.Lock()
			r.histBytes.Add(-th.h.Clear())
			th.mu.Unlock()
			r.histCleared.Add(1)
		}
		c.idx.mu.RUnlock()
	}
}

// startSweep starts, once, the goroutine that drops what histories keep
// past their time to live, though nothing is broadcast on their topics
// any more. A caller may hold a shard's lock: the sweep takes shard locks
// only while it does not hold sweepMu.
func (r *Registry) startSweep(ttl time.Duration) {
	every := max(ttl/4, time.Second)
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	if r.sweepStop != nil || r.stopped {
		return
	}
	r.sweepStop, r.sweepDone = make(chan struct{}), make(chan struct{})
	go r.sweepEvery(every, r.sweepStop, r.sweepDone)
}

func (r *Registry) sweepEvery(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.sweep(now)
		}
	}
}

// sweep expires what each history keeps past its time to live, and
// forgets the histories left empty of topics nobody subscribes to.
func (r *Registry) sweep(now time.Time) {
	for _, sh := range r.shards {
		idx := sh.idx
		idx.mu.Lock()
		for topic, th := range idx.histories {
			th.mu.Lock()
			r.histBytes.Add(-th.h.Expire(now))
			empty := th.h.Len() == 0
			th.mu.Unlock()
			if empty && idx.topics[topic] == nil {
				delete(idx.histories, topic)
			}
		}
		idx.mu.Unlock()
	}
}

// stopSweep stops the sweep and waits for it.
func (r *Registry) stopSweep() {
	r.sweepMu.Lock()
	r.stopped = true
	stop, done := r.sweepStop, r.sweepDone
	r.sweepMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}
