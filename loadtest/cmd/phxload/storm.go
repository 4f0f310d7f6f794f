package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/procstat"
	"github.com/phxgo/phx/loadtest/internal/wire"
)

// reconnectAfter is phoenix.js's default reconnectAfterMs: the wait
// before a socket's tries-th connect since it was last open.
func reconnectAfter(tries int) time.Duration {
	sched := [...]int{10, 50, 100, 150, 200, 250, 500, 1000, 2000}
	if tries >= 1 && tries <= len(sched) {
		return time.Duration(sched[tries-1]) * time.Millisecond
	}
	return 5 * time.Second
}

// rejoinAfter is phoenix.js's default rejoinAfterMs: the wait before a
// channel's tries-th join after one was refused or timed out, on a socket
// that stayed open.
func rejoinAfter(tries int) time.Duration {
	sched := [...]int{1000, 2000, 5000}
	if tries >= 1 && tries <= len(sched) {
		return time.Duration(sched[tries-1]) * time.Millisecond
	}
	return 10 * time.Second
}

// Phases of a storm.
const (
	coldPhase  = 0 // the clients connect for the first time
	stormPhase = 1 // the server restarts, the clients come back
)

// storm is the shared state of the storm scenario.
type storm struct {
	r        *runner
	n, rooms int
	presence bool // a client is complete only once its presence is
	size     []int
	// syms numbers the keys and refs of every client's presence: the key
	// of client id is symbol id+1.
	syms *symbols

	phase atomic.Int32
	// Clients joined, and complete, on a socket still open, by phase:
	// a client whose socket closes counts no more until it joins again.
	joined, complete [2]atomic.Int64
	// When each count last reached n, unix ns.
	allJoined, allComplete [2]atomic.Int64
	counted                chan struct{} // a count reached n; cap 1

	// Per client, unix ns of its latest join and completion of the storm
	// phase.
	joinedAt, completeAt []atomic.Int64

	lostOnce sync.Once
	lost     chan struct{} // closed at the first socket to close in the storm phase
	lostAt   atomic.Int64  // when, unix ns

	refused, refusedAfterT0 atomic.Int64
	t0                      atomic.Int64 // unix ns; 0 until the server listens again
	dials                   errorCounts  // failed connects of the storm phase other than refusals
	states, diffs           atomic.Int64 // presence_state and presence_diff frames of the storm phase
	presenceBytes           atomic.Int64 // and the bytes of their payloads
}

// memberOf returns the client whose presence key is key, and whether
// there is one.
func (st *storm) memberOf(key symbol) (id int, ok bool) {
	if key == 0 || int(key) > st.n {
		return 0, false
	}
	return int(key) - 1, true
}

func newStorm(r *runner) *storm {
	cfg := r.cfg
	st := &storm{
		r: r, n: cfg.n, rooms: cfg.rooms, presence: cfg.presence,
		size:       make([]int, cfg.rooms),
		syms:       newSymbols(userIDPrefix, cfg.n),
		counted:    make(chan struct{}, 1),
		joinedAt:   make([]atomic.Int64, cfg.n),
		completeAt: make([]atomic.Int64, cfg.n),
		lost:       make(chan struct{}),
	}
	for id := range cfg.n {
		st.size[id%cfg.rooms]++
	}
	return st
}

func (st *storm) topic(room int) string {
	if st.presence {
		return "room:storm-" + strconv.Itoa(room)
	}
	return "bench:storm-" + strconv.Itoa(room)
}

// add moves one of the counts c (joined or complete) of phase ph by
// delta, noting when it reaches n.
func (st *storm) add(c *[2]atomic.Int64, at *[2]atomic.Int64, ph int32, delta int64, now time.Time) {
	if c[ph].Add(delta) == int64(st.n) {
		at[ph].Store(now.UnixNano())
		select {
		case st.counted <- struct{}{}:
		default:
		}
	}
}

// dialFailed counts a failed connect.
func (st *storm) dialFailed(err error) {
	if st.phase.Load() == coldPhase {
		st.r.errs.addErr(err)
		return
	}
	var ke *kindError
	if errors.As(err, &ke) && errors.Is(ke.err, syscall.ECONNREFUSED) {
		st.refused.Add(1)
		if st.t0.Load() != 0 {
			st.refusedAfterT0.Add(1)
		}
		return
	}
	st.dials.addErr(err)
}

// stormClient is one client of the storm: a socket that reconnects as
// phoenix.js's does, with one channel that rejoins as soon as the socket
// is open again, and the channel's presence kept as phoenix.js's Presence
// keeps it.
type stormClient struct {
	st    *storm
	id    int
	room  int
	topic string

	mu sync.Mutex
	c  *conn // the latest socket
	// ref is the last ref this client made: phoenix.js's Socket keeps its
	// counter across reconnects, so every join has a fresh join_ref.
	ref       uint64
	joinRef   uint64 // the join in flight or held; 0 for none
	joinPhase int32  // the phase the join was sent in
	joined    bool   // the join's reply was ok
	joinTries int    // joins refused or timed out since the socket opened
	joinTimer *time.Timer
	pres      presences
	presRef   uint64         // the join_ref of the latest presence_state: diffs wait for it
	pending   []presenceDiff // diffs that came before it
	counted   bool           // counted joined in joinPhase
	completed bool           // counted complete in joinPhase
	buf       []byte
}

// run keeps the client connected until ctx ends: it first dials at start,
// then again whenever its socket closes, after phoenix.js's delays.
func (cl *stormClient) run(ctx context.Context, start time.Time) {
	if !sleepUntil(ctx, start) {
		return
	}
	tries := 0
	for {
		c, err := cl.st.r.dial(cl.id, "", cl)
		if err == nil {
			tries = 0
			cl.opened(c)
			cl.st.r.hb.add(c)
			select {
			case <-c.done:
			case <-ctx.Done():
				return
			}
		} else {
			cl.st.dialFailed(err)
		}
		tries++
		if !sleep(ctx, reconnectAfter(tries)) {
			return
		}
	}
}

// opened takes a new socket and joins the channel on it.
func (cl *stormClient) opened(c *conn) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.c = c
	cl.joinTries = 0
	cl.join(c)
}

// join sends a join with a fresh ref. Called with cl.mu held.
func (cl *stormClient) join(c *conn) {
	cl.ref++
	cl.joinRef, cl.joinPhase, cl.joined = cl.ref, cl.st.phase.Load(), false
	cl.buf = wire.AppendPush(cl.buf[:0], cl.joinRef, cl.joinRef, cl.topic, "phx_join", []byte("{}"))
	c.write(cl.buf)
	ref := cl.joinRef
	cl.joinTimer = time.AfterFunc(joinTimeout, func() {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		if cl.c != c || cl.joinRef != ref || cl.joined || c.ended() {
			return
		}
		cl.st.r.errs.add("join timeout", errJoinTimeout)
		cl.rejoinLater(c)
	})
}

// rejoinLater drops the current join and joins again after phoenix.js's
// delay, if the socket is still open then. Called with cl.mu held.
func (cl *stormClient) rejoinLater(c *conn) {
	cl.leave(time.Now())
	cl.joinTries++
	time.AfterFunc(rejoinAfter(cl.joinTries), func() {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		if cl.c == c && cl.joinRef == 0 && !c.ended() {
			cl.join(c)
		}
	})
}

// leave forgets the current join, and uncounts it. Called with cl.mu held.
func (cl *stormClient) leave(now time.Time) {
	if cl.joinTimer != nil {
		cl.joinTimer.Stop()
	}
	st, ph := cl.st, cl.joinPhase
	if cl.counted {
		st.add(&st.joined, &st.allJoined, ph, -1, now)
	}
	if cl.completed {
		st.add(&st.complete, &st.allComplete, ph, -1, now)
	}
	cl.joinRef, cl.joined, cl.counted, cl.completed = 0, false, false, false
}

func (cl *stormClient) closed(c *conn, _ error) bool {
	cl.mu.Lock()
	if cl.c == c {
		cl.leave(time.Now())
	}
	cl.mu.Unlock()
	if cl.st.phase.Load() != stormPhase {
		return false
	}
	cl.st.lostOnce.Do(func() {
		cl.st.lostAt.Store(time.Now().UnixNano())
		close(cl.st.lost)
	})
	return true
}

func (cl *stormClient) message(c *conn, f *wire.Frame, now time.Time) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c != c {
		return // a frame of a socket already replaced
	}
	st := cl.st
	if !wire.Is(f.Topic, cl.topic) {
		c.unexpected(f)
		return
	}
	jr, _ := wire.RefNumber(f.JoinRef)
	switch {
	case wire.Is(f.Event, "phx_reply"):
		ref, _ := wire.RefNumber(f.Ref)
		if ref != cl.joinRef || cl.joinRef == 0 || cl.joined {
			if ref == 0 || ref > cl.ref || ref == cl.joinRef {
				c.unexpected(f)
			}
			return // a late reply to a join given up on
		}
		cl.joinTimer.Stop()
		if st, _ := wire.Status(f.Payload); string(st) != "ok" {
			cl.st.r.errs.add("join refused", errors.New(string(f.Payload)))
			cl.rejoinLater(c)
			return
		}
		cl.joined, cl.counted, cl.joinTries = true, true, 0
		if cl.joinPhase == stormPhase {
			st.joinedAt[cl.id].Store(now.UnixNano())
		}
		st.add(&st.joined, &st.allJoined, cl.joinPhase, 1, now)
		cl.checkComplete(now)
	case jr != 0 && jr != cl.joinRef:
		// A push for an earlier join of the channel: phoenix.js drops it.
	case wire.Is(f.Event, "presence_state"):
		ps, err := parsePresences(f.Payload, st.syms, st.size[cl.room])
		if err != nil {
			st.r.errs.add("bad presence_state", fmt.Errorf("%.200s", f.Payload))
			return
		}
		if cl.joinPhase == stormPhase {
			st.states.Add(1)
			st.presenceBytes.Add(int64(len(f.Payload)))
		}
		cl.pres = syncState(cl.pres, ps)
		cl.presRef = cl.joinRef
		for _, d := range cl.pending {
			cl.pres = syncDiff(cl.pres, d)
		}
		cl.pending = nil
		cl.checkComplete(now)
	case wire.Is(f.Event, "presence_diff"):
		d, err := parseDiff(f.Payload, st.syms)
		if err != nil {
			st.r.errs.add("bad presence_diff", fmt.Errorf("%.200s", f.Payload))
			return
		}
		if cl.joinPhase == stormPhase {
			st.diffs.Add(1)
			st.presenceBytes.Add(int64(len(f.Payload)))
		}
		if cl.presRef == 0 || cl.presRef != cl.joinRef {
			cl.pending = append(cl.pending, d)
			return
		}
		cl.pres = syncDiff(cl.pres, d)
		cl.checkComplete(now)
	case wire.Is(f.Event, "history"):
		// The room's last messages, pushed after its join: none here.
	case wire.Is(f.Event, "phx_error"), wire.Is(f.Event, "phx_close"):
		st.r.errs.add("channel "+strings.Trim(string(f.Event), `"`), fmt.Errorf("%.200s", f.Payload))
		cl.rejoinLater(c)
	default:
		c.unexpected(f)
	}
}

// checkComplete counts the client complete once it is joined and, with
// presence, once the presence it holds for the current join is every
// member of its room. Called with cl.mu held.
func (cl *stormClient) checkComplete(now time.Time) {
	st := cl.st
	if !cl.joined || cl.completed {
		return
	}
	if st.presence {
		if cl.presRef != cl.joinRef || len(cl.pres) != st.size[cl.room] {
			return
		}
		for key := range cl.pres {
			if id, ok := st.memberOf(key); !ok || id%st.rooms != cl.room {
				return
			}
		}
	}
	cl.completed = true
	if cl.joinPhase == stormPhase {
		st.completeAt[cl.id].Store(now.UnixNano())
	}
	st.add(&st.complete, &st.allComplete, cl.joinPhase, 1, now)
}

// awaitAll waits until every client of phase ph is joined and complete,
// and, in the storm phase, the server listens again. It returns false if
// ctx ended first.
func (st *storm) awaitAll(ctx context.Context, ph int32) bool {
	for {
		if st.complete[ph].Load() == int64(st.n) && st.joined[ph].Load() == int64(st.n) &&
			(ph == coldPhase || st.t0.Load() != 0) {
			return true
		}
		select {
		case <-st.counted:
		case <-ctx.Done():
			return false
		}
	}
}

// probeInterval is how often the storm tries a TCP connect to the server
// while it is away.
const probeInterval = 2 * time.Millisecond

// probe finds when the server listens again: once a socket of the storm
// phase has closed, it tries a TCP connect to addr every probeInterval;
// after the first refused, the start of the first accepted is t0. It
// returns false if ctx ended first.
func (st *storm) probe(ctx context.Context, addr string) bool {
	select {
	case <-st.lost:
	case <-ctx.Done():
		return false
	}
	refused := false
	d := net.Dialer{Timeout: time.Second}
	for {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		switch {
		case err == nil:
			c.Close()
			if refused {
				st.t0.Store(start.UnixNano())
				select {
				case st.counted <- struct{}{}:
				default:
				}
				return true
			}
		case errors.Is(err, syscall.ECONNREFUSED):
			refused = true
		}
		if !sleepUntil(ctx, start.Add(probeInterval)) {
			return false
		}
	}
}

// runStorm is the storm scenario: -n clients join -rooms rooms, then the
// server restarts and every client comes back.
func runStorm(ctx context.Context, r *runner, res *Result) []*conn {
	cfg := r.cfg
	st := newStorm(r)
	u, err := url.Parse(cfg.urls[0])
	if err != nil {
		r.errs.add("bad -url", err)
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"ws": "80", "wss": "443"}[u.Scheme])
	}

	clients := make([]*stormClient, cfg.n)
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// finish stops the clients and returns their open sockets.
	finish := func() []*conn {
		cancel()
		wg.Wait()
		var conns []*conn
		for _, cl := range clients {
			cl.mu.Lock()
			if cl.c != nil && !cl.c.ended() {
				conns = append(conns, cl.c)
			}
			cl.mu.Unlock()
		}
		return conns
	}

	res.Add("clients", float64(cfg.n), "", "clients, each with one socket and one channel")
	res.Add("rooms", float64(cfg.rooms), "", "rooms, client i in room i mod rooms")
	start := time.Now()
	for id := range cfg.n {
		room := id % cfg.rooms
		cl := &stormClient{st: st, id: id, room: room, topic: st.topic(room)}
		clients[id] = cl
		at := start
		if cfg.connectRate > 0 {
			at = start.Add(time.Duration(float64(id) / cfg.connectRate * float64(time.Second)))
		}
		wg.Go(func() { cl.run(cctx, at) })
	}

	if !st.awaitAll(ctx, coldPhase) {
		r.errs.add("cold phase incomplete", fmt.Errorf("%d of %d joined, %d complete", st.joined[coldPhase].Load(), cfg.n, st.complete[coldPhase].Load()))
		return finish()
	}
	since := func(t int64) float64 { return time.Duration(t - start.UnixNano()).Seconds() }
	res.Add("cold_join_s", since(st.allJoined[coldPhase].Load()), "s", "first connect to every client joined")
	// The counts' times are those of the frames that completed them, taken
	// on several goroutines: the last client complete may have read its
	// frame before the last one joined read its own.
	res.Add("cold_s", since(max(st.allComplete[coldPhase].Load(), st.allJoined[coldPhase].Load())), "s", "first connect to every client joined and complete")
	if len(cfg.pids) == 1 {
		if u, err := procstat.Read(cfg.pids[0]); err == nil {
			res.Add("cold_server_cpu_s", u.CPU.Seconds(), "s", "the first server's CPU from its start to every client complete")
		}
	}

	st.phase.Store(stormPhase)
	client := procstat.Self()
	probed := make(chan bool, 1)
	go func() { probed <- st.probe(ctx, addr) }()
	if r.ready != nil {
		r.ready()
	}
	if !<-probed {
		r.errs.add("server not back", errors.New("the server did not go away and listen again in time"))
		return finish()
	}
	atT0 := procstat.Self()
	t0 := st.t0.Load()
	if lost := st.lostAt.Load(); lost > 0 {
		res.Add("downtime_s", time.Duration(t0-lost).Seconds(), "s", "first socket closed to the server listening again (t0)")
	}
	ok := st.awaitAll(ctx, stormPhase)
	end := procstat.Self()
	clientCPU, clientCPUAfterT0 := end.CPU-client.CPU, end.CPU-atT0.CPU
	if !ok {
		r.errs.add("storm incomplete", fmt.Errorf("%d of %d joined again, %d complete", st.joined[stormPhase].Load(), cfg.n, st.complete[stormPhase].Load()))
	}
	// The new process's CPU from its start: the caller names it once it
	// runs, before long.
	var pid int
	select {
	case pid = <-r.restartPID:
	case <-time.After(10 * time.Second):
	}
	var serverCPU time.Duration
	read := false
	if pid > 0 {
		if u, err := procstat.Read(pid); err == nil {
			serverCPU, read = u.CPU, true
		} else {
			r.errs.add("reading /proc", err)
		}
	}

	after := func(t int64) float64 { return time.Duration(t - t0).Seconds() }
	var rejoin, complete hist.Histogram
	// The last of each client's times, rather than the counts' (see
	// cold_s): a client complete is joined.
	var lastJoined, lastComplete int64
	for i := range clients {
		joined, completed := st.joinedAt[i].Load(), st.completeAt[i].Load()
		rejoin.Record(max(0, joined-t0))
		complete.Record(max(0, completed-t0))
		lastJoined, lastComplete = max(lastJoined, joined), max(lastComplete, completed)
	}
	lastComplete = max(lastComplete, lastJoined)
	if ok {
		res.Add("rejoin_s", after(lastJoined), "s", "t0 to every client joined again")
		res.Add("storm_s", after(lastComplete), "s", "t0 to every client joined again and complete")
		addLatency(res, "rejoin", &rejoin, "t0 to a client's join reply,", "p50", "p99")
		if cfg.presence {
			addLatency(res, "complete", &complete, "t0 to a client's presence complete,", "p50", "p99")
		}
	}
	res.Add("refused", float64(st.refused.Load()), "", "connect attempts refused while the server was away")
	res.Add("refused_after_t0", float64(st.refusedAfterT0.Load()), "", "connect attempts refused after t0")
	counts, examples, failed := st.dials.snapshot()
	res.Add("dial_failures", float64(failed), "", "other failed connects of the storm (kinds on stderr)")
	for k, n := range counts {
		fmt.Fprintf(os.Stderr, "phxload: storm: %d connects failed with %q (e.g. %s)\n", n, k, examples[k])
	}
	if cfg.presence {
		res.Add("presence_states", float64(st.states.Load()), "", "presence_state frames received in the storm")
		res.Add("presence_diffs", float64(st.diffs.Load()), "", "presence_diff frames received in the storm")
		res.Add("presence_mb", float64(st.presenceBytes.Load())/1e6, "MB", "the payloads of those frames")
	}
	if read {
		res.Add("server_cpu_s", serverCPU.Seconds(), "s", "the new server's CPU from its start to every client complete")
	}
	res.Add("client_cpu_s", clientCPU.Seconds(), "s", "load tool CPU from ready to every client complete")
	res.Add("client_cpu_t0_s", clientCPUAfterT0.Seconds(), "s", "load tool CPU from t0 (as the probe found it) to every client complete")
	res.Seconds = time.Duration(max(lastComplete, t0) - t0).Seconds()
	return finish()
}
