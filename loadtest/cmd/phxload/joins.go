package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/wire"
)

// churn is the shared tally of the joins scenario: the loop's latency is
// that of a whole cycle, join to phx_close.
type churn struct {
	loop
	join hist.Histogram // join to its reply
}

// Where a churner is in its cycle.
const (
	idleCycle = iota
	joining
	leaving
)

// churner is one connection's side of the joins scenario: join, wait for
// the reply, leave, wait for the reply and the phx_close, and again, each
// join with a fresh join_ref as the JS client makes.
type churner struct {
	ch *churn
	// topic is what the churner joins: its own; or with shared set, the
	// shared topic it is at, the next of them each cycle.
	topic  string
	id     int
	shared int

	// mu guards the cycle: the driver starts the first, the read
	// goroutine the others.
	mu                 sync.Mutex
	phase              int
	ref                uint64 // the last ref used
	joinRef, leaveRef  uint64
	gotReply, gotClose bool
	startedAt          time.Time
	buf                []byte
}

// join starts a cycle, unless the loop is stopping.
func (u *churner) join(c *conn) {
	if u.ch.stop.Load() {
		return
	}
	u.ch.inflight.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ref++
	u.joinRef, u.phase = u.ref, joining
	if u.shared > 0 {
		u.topic = "bench:churn-" + strconv.Itoa((u.id+int(u.joinRef/2))%u.shared)
	}
	u.startedAt = time.Now()
	u.buf = wire.AppendPush(u.buf[:0], u.joinRef, u.joinRef, u.topic, "phx_join", []byte("{}"))
	c.write(u.buf)
}

func (u *churner) message(c *conn, f *wire.Frame, now time.Time) {
	u.mu.Lock()
	next := u.step(c, f, now)
	u.mu.Unlock()
	if next {
		u.join(c)
	}
}

// step advances the cycle with one frame and reports whether the cycle is
// complete and the next is due. Called with u.mu held.
func (u *churner) step(c *conn, f *wire.Frame, now time.Time) bool {
	ref, _ := wire.RefNumber(f.Ref)
	status, _ := wire.Status(f.Payload)
	isReply := wire.Is(f.Event, "phx_reply")
	switch {
	case u.phase == joining && isReply && ref == u.joinRef:
		if string(status) != "ok" {
			c.r.errs.add("join refused", errors.New(string(f.Payload)))
			u.phase = idleCycle
			u.ch.inflight.Add(-1)
			return false // this connection churns no more
		}
		u.ch.join.RecordDuration(now.Sub(u.startedAt))
		u.ref++
		u.leaveRef, u.phase = u.ref, leaving
		u.gotReply, u.gotClose = false, false
		u.buf = wire.AppendPush(u.buf[:0], u.joinRef, u.leaveRef, u.topic, "phx_leave", []byte("{}"))
		c.write(u.buf)
		return false
	case u.phase == leaving && isReply && ref == u.leaveRef:
		if string(status) != "ok" {
			c.r.errs.add("leave refused", errors.New(string(f.Payload)))
		}
		u.gotReply = true
	case u.phase == leaving && wire.Is(f.Event, "phx_close"):
		if jr, _ := wire.RefNumber(f.JoinRef); jr != u.joinRef {
			c.unexpected(f)
			return false
		}
		if !u.gotReply {
			c.r.errs.add("phx_close before the leave reply", nil)
		}
		u.gotClose = true
	default:
		c.unexpected(f)
		return false
	}
	if !u.gotReply || !u.gotClose {
		return false
	}
	u.ch.latency.RecordDuration(now.Sub(u.startedAt))
	u.ch.done.Add(1)
	u.ch.inflight.Add(-1)
	u.phase = idleCycle
	return true
}

// runJoins has -conns connections join and leave a topic of their own, or
// -topics topics they share, back to back, for -duration.
func runJoins(ctx context.Context, r *runner, res *Result) []*conn {
	cfg := r.cfg
	ch := new(churn)
	churners := make([]*churner, cfg.conns)
	conns := r.open(ctx, 0, cfg.conns, cfg.connectRate, nil, func(id int) handler {
		churners[id] = &churner{ch: ch, topic: "bench:churn-" + strconv.Itoa(id), id: id, shared: cfg.topics}
		return churners[id]
	})
	// These connections join nothing at open: give the server a moment to
	// finish setting them up, as a join reply would have shown.
	if !sleep(ctx, 200*time.Millisecond) {
		return conns
	}

	w := r.begin()
	for _, c := range conns {
		churners[c.id].join(c)
	}
	sleep(ctx, cfg.duration)
	ch.stop.Store(true)
	s := r.end(w)
	done := ch.done.Load()
	ch.drain(5 * time.Second)

	res.Add("conns", float64(len(conns)), "", "connections in the loop")
	if cfg.topics > 0 {
		res.Add("topics", float64(cfg.topics), "", "topics shared by the connections")
	}
	res.Add("cycles", float64(done), "", "join+leave cycles completed")
	res.Add("joins_per_s", float64(done)/s.elapsed.Seconds(), "/s", "join+leave cycles per second")
	addLatency(res, "join", &ch.join, "join to its reply,", "p50", "p99")
	addLatency(res, "cycle", &ch.latency, "join to phx_close,", "p50", "p99", "max")
	addCPU(res, s, float64(done), "join_leave")
	return conns
}
