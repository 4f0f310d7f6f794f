package main

import (
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/procstat"
)

// runner holds what every connection of a run shares.
type runner struct {
	cfg     config
	token   func(id int) (string, error) // nil: connect without a token
	sources []net.IP                     // local addresses to dial from; empty: the system's choice

	// place says which server, an index in cfg.urls, connection id goes
	// to; nil: id mod the number of servers.
	place func(id int) int

	// storm: ready is called once every client is joined and complete;
	// restartPID gives the restarted server's process id, or is closed
	// without one.
	ready      func()
	restartPID <-chan int

	errs     errorCounts
	connect  hist.Histogram // dial to join reply
	hb       *heartbeater
	stopping atomic.Bool    // the run is ending: connections may close
	wg       sync.WaitGroup // every read goroutine
}

// open opens the connections with ids [from, to), at most rate per second
// (no limit when rate ≤ 0) and at most cfg.concurrency handshakes at a
// time, so that the server sees a steady stream of connects rather than a
// stampede. Each joins topic(id) unless topic is nil. It returns those that
// joined, by id, and counts the others' errors.
func (r *runner) open(ctx context.Context, from, to int, rate float64, topic func(int) string, h func(int) handler) []*conn {
	ids := make(chan int)
	var (
		mu     sync.Mutex
		opened []*conn // guarded by mu
		wg     sync.WaitGroup
	)
	for range min(r.cfg.concurrency, to-from) {
		wg.Go(func() {
			for id := range ids {
				t := ""
				if topic != nil {
					t = topic(id)
				}
				c, err := r.dial(id, t, h(id))
				if err == nil && t != "" {
					err = c.awaitJoin(ctx)
				}
				if err != nil {
					if c != nil {
						c.close()
					}
					r.errs.addErr(err)
					continue
				}
				r.hb.add(c)
				mu.Lock()
				opened = append(opened, c)
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for id := from; id < to; id++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(id-from) / rate * float64(time.Second)))
			if !sleepUntil(ctx, due) {
				break
			}
		}
		select {
		case ids <- id:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ids)
	wg.Wait()
	sort.Slice(opened, func(i, j int) bool { return opened[i].id < opened[j].id })
	return opened
}

// awaitJoin waits for the reply to the connection's first join.
func (c *conn) awaitJoin(ctx context.Context) error {
	t := time.NewTimer(joinTimeout)
	defer t.Stop()
	select {
	case err := <-c.joined:
		return err
	case <-t.C:
		return &kindError{kind: "join timeout", err: errJoinTimeout}
	case <-ctx.Done():
		return &kindError{kind: "interrupted", err: ctx.Err()}
	}
}

// joinTimeout is how long a join reply may take, the JS client's default.
const joinTimeout = 10 * time.Second

// closeAll closes every connection and waits for their read goroutines,
// at most closeTimeout before cutting the stragglers' sockets.
func (r *runner) closeAll(conns []*conn) {
	r.stopping.Store(true)
	for _, c := range conns {
		c.close()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		for _, c := range conns {
			_ = c.ws.NetConn().Close()
		}
		<-done
	}
}

const closeTimeout = 10 * time.Second

// server returns the index in cfg.urls of connection id's server.
func (r *runner) server(id int) int {
	if r.place != nil {
		return r.place(id)
	}
	return id % len(r.cfg.urls)
}

// window is the start of a measured stretch of a run.
type window struct {
	start  time.Time
	server []procstat.Usage // per -pid; nil without, or if one could not be read
	client procstat.Usage
	nodes  []clusterInfo // with -cluster, per server; nil if one did not answer
}

// span is what happened in a window.
type span struct {
	elapsed   time.Duration
	serverCPU time.Duration   // summed over the processes; 0 when no -pid
	nodeCPU   []time.Duration // per process
	clientCPU time.Duration
	hasServer bool
	// With -cluster: each node's view at the end, and the growth of its
	// relay's counters over the window; nil when a node did not answer.
	nodes []clusterInfo
	relay []map[string]uint64
}

func (r *runner) begin() window {
	w := window{start: time.Now(), client: procstat.Self(), server: r.readServers()}
	if r.cfg.cluster {
		w.nodes = r.readCluster()
	}
	return w
}

func (r *runner) end(w window) span {
	s := span{elapsed: time.Since(w.start), clientCPU: procstat.Self().CPU - w.client.CPU}
	if w.server != nil {
		if now := r.readServers(); now != nil {
			s.hasServer = true
			for i := range now {
				cpu := now[i].CPU - w.server[i].CPU
				s.nodeCPU = append(s.nodeCPU, cpu)
				s.serverCPU += cpu
			}
		}
	}
	if w.nodes != nil {
		if now := r.readCluster(); now != nil {
			s.nodes = now
			for i := range now {
				s.relay = append(s.relay, growth(w.nodes[i].Stats, now[i].Stats))
			}
		}
	}
	return s
}

// readServers reads every server process, or returns nil without -pid or
// if one could not be read: a sum short of a process would mislead.
func (r *runner) readServers() []procstat.Usage {
	if len(r.cfg.pids) == 0 {
		return nil
	}
	us := make([]procstat.Usage, len(r.cfg.pids))
	for i, pid := range r.cfg.pids {
		u, err := procstat.Read(pid)
		if err != nil {
			r.errs.add("reading /proc", err)
			return nil
		}
		us[i] = u
	}
	return us
}

// serverRSS returns the servers' resident memory, summed, or 0 without
// -pid.
func (r *runner) serverRSS() int64 {
	var rss int64
	for _, u := range r.readServers() {
		rss += u.RSS
	}
	return rss
}

// sleepUntil sleeps until t; it returns false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleep sleeps for d; it returns false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	return sleepUntil(ctx, time.Now().Add(d))
}
