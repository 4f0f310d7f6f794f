package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/wire"
)

// heartbeater sends every joined connection a Phoenix heartbeat,
// [null,"ref","phoenix","heartbeat",{}], once per period, as the JS client
// does. One goroutine serves every connection: they are spread over
// buckets, and each tick serves one bucket, so the heartbeats of 19,000
// connections come as a steady trickle rather than a burst every period.
type heartbeater struct {
	r      *runner
	period time.Duration
	tick   time.Duration

	mu      sync.Mutex
	buckets [][]*conn // guarded by mu

	ref      atomic.Uint64
	sent     atomic.Int64
	answered atomic.Int64
	rtt      hist.Histogram
}

// heartbeatBuckets is how many slices a period is cut into.
const heartbeatBuckets = 100

func newHeartbeater(r *runner, period time.Duration) *heartbeater {
	return &heartbeater{
		r:       r,
		period:  period,
		tick:    period / heartbeatBuckets,
		buckets: make([][]*conn, heartbeatBuckets),
	}
}

// add makes c get heartbeats, its first within one period.
func (h *heartbeater) add(c *conn) {
	if h.period <= 0 {
		return
	}
	h.mu.Lock()
	i := c.id % len(h.buckets)
	h.buckets[i] = append(h.buckets[i], c)
	h.mu.Unlock()
}

// run sends heartbeats until ctx is done.
func (h *heartbeater) run(ctx context.Context) {
	if h.period <= 0 {
		return
	}
	t := time.NewTicker(h.tick)
	defer t.Stop()
	var buf []byte
	var batch []*conn
	for i := 0; ; i = (i + 1) % len(h.buckets) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		batch = append(batch[:0], h.buckets[i]...)
		h.mu.Unlock()
		for _, c := range batch {
			if c.closing.Load() || c.ended() {
				continue
			}
			if c.hbPending.Swap(true) {
				// The JS client would call this connection dead.
				h.r.errs.add("heartbeat timeout", fmt.Errorf("no reply in %v", h.period))
			}
			buf = wire.AppendHeartbeat(buf[:0], h.ref.Add(1))
			c.hbSentAt.Store(time.Now().UnixNano())
			h.sent.Add(1)
			c.write(buf)
		}
	}
}

// reply takes a frame on topic "phoenix": a heartbeat's reply.
func (h *heartbeater) reply(c *conn, f *wire.Frame, now time.Time) {
	if st, _ := wire.Status(f.Payload); !wire.Is(f.Event, "phx_reply") || string(st) != "ok" {
		h.r.errs.add("bad heartbeat reply", errors.New(string(f.Payload)))
		return
	}
	if !c.hbPending.Swap(false) {
		h.r.errs.add("heartbeat reply without a heartbeat", nil)
		return
	}
	h.rtt.Record(now.UnixNano() - c.hbSentAt.Load())
	h.answered.Add(1)
}

// wait gives the heartbeats in flight up to d to be answered, and returns
// how many were not.
func (h *heartbeater) wait(d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for h.sent.Load() > h.answered.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return h.sent.Load() - h.answered.Load()
}
