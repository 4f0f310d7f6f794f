package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/wire"
)

// loop is the shared tally of a closed-loop scenario (echo, joins).
type loop struct {
	latency  hist.Histogram
	done     atomic.Int64 // operations completed
	inflight atomic.Int64 // operations started and not completed
	stop     atomic.Bool  // start no more operations
}

// drain waits up to d for the operations in flight to complete.
func (l *loop) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	for l.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// echoer is one connection's side of the echo scenario: one request in
// flight at a time, the next sent as soon as the reply is in.
type echoer struct {
	l *loop

	// mu guards the request in flight: the driver sends the first one,
	// the read goroutine the others.
	mu     sync.Mutex
	ref    uint64
	n      int64
	sentAt time.Time
	buf    []byte
}

// send sends the next echo request, unless the loop is stopping.
func (e *echoer) send(c *conn) {
	if e.l.stop.Load() {
		return
	}
	e.l.inflight.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ref++
	e.n++
	payload := strconv.AppendInt([]byte(`{"n":`), e.n, 10)
	payload = append(payload, '}')
	e.buf = wire.AppendPush(e.buf[:0], joinRef, joinRef+e.ref, c.topic, "echo", payload)
	e.sentAt = time.Now()
	c.write(e.buf)
}

func (e *echoer) message(c *conn, f *wire.Frame, now time.Time) {
	ref, _ := wire.RefNumber(f.Ref)
	e.mu.Lock()
	want, n, sentAt := joinRef+e.ref, e.n, e.sentAt
	e.mu.Unlock()
	if !wire.Is(f.Event, "phx_reply") || ref != want {
		c.unexpected(f)
		return
	}
	e.l.inflight.Add(-1)
	st, _ := wire.Status(f.Payload)
	resp, _ := wire.Response(f.Payload)
	if got, ok := wire.Int(resp, "n"); string(st) != "ok" || !ok || got != n {
		c.r.errs.add("bad echo reply", errors.New(string(f.Payload)))
	} else {
		e.l.latency.RecordDuration(now.Sub(sentAt))
		e.l.done.Add(1)
	}
	e.send(c)
}

// runEcho has -conns connections each do echo round trips on its own
// topic, back to back, for -duration.
func runEcho(ctx context.Context, r *runner, res *Result) []*conn {
	cfg := r.cfg
	l := new(loop)
	echoers := make([]*echoer, cfg.conns)
	conns := r.open(ctx, 0, cfg.conns, cfg.connectRate,
		func(id int) string { return "bench:echo-" + strconv.Itoa(id) },
		func(id int) handler {
			echoers[id] = &echoer{l: l}
			return echoers[id]
		})
	if ctx.Err() != nil {
		return conns
	}

	w := r.begin()
	for _, c := range conns {
		echoers[c.id].send(c)
	}
	sleep(ctx, cfg.duration)
	l.stop.Store(true)
	s := r.end(w)
	done := l.done.Load()
	l.drain(5 * time.Second)

	res.Add("conns", float64(len(conns)), "", "connections in the loop")
	res.Add("round_trips", float64(done), "", "echo round trips completed")
	res.Add("round_trips_per_s", float64(done)/s.elapsed.Seconds(), "/s", "round trips per second")
	addLatency(res, "round_trip", &l.latency, "echo round trip,", "p50", "p99", "max")
	addCPU(res, s, float64(done), "round_trip")
	return conns
}
