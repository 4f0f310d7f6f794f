package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

// runConns opens idle connections joined to bench:idle, step by step,
// reading the server's memory at each step, then holds them with
// heartbeats.
func runConns(ctx context.Context, r *runner, res *Result) []*conn {
	cfg := r.cfg
	steps := cfg.steps
	if len(steps) == 0 {
		steps = []int{cfg.n}
	}
	topic := func(int) string { return "bench:idle" }
	h := func(int) handler { return idle{} }

	base := r.serverRSS()
	var conns []*conn
	prev := Step{RSS: base}
	for i, n := range steps {
		from := 0
		if i > 0 {
			from = steps[i-1]
		}
		conns = append(conns, r.open(ctx, from, n, cfg.rate, topic, h)...)
		// Let the last handshakes' garbage and the server's goroutines
		// settle before reading its memory.
		if !sleep(ctx, cfg.settle) {
			break
		}
		if len(cfg.pids) == 0 {
			fmt.Fprintf(os.Stderr, "phxload: %d connections joined\n", len(conns))
			continue
		}
		st := Step{Conns: len(conns), RSS: r.serverRSS()}
		if st.Conns > 0 {
			st.PerConn = float64(st.RSS-base) / float64(st.Conns)
		}
		if st.Conns > prev.Conns {
			st.Marginal = float64(st.RSS-prev.RSS) / float64(st.Conns-prev.Conns)
		}
		res.Steps = append(res.Steps, st)
		prev = st
		fmt.Fprintf(os.Stderr, "phxload: %d connections joined, server RSS %.1f MiB\n", st.Conns, float64(st.RSS)/(1<<20))
	}

	w := r.begin()
	sleep(ctx, cfg.hold)
	hold := r.end(w)
	// Memory once the connections have been held with heartbeats: what
	// the first frames grew (buffers, stacks) shows here, not at joining.
	var heldRSS int64
	if len(cfg.pids) > 0 && len(conns) > 0 {
		heldRSS = r.serverRSS()
	}
	unanswered := r.hb.wait(5 * time.Second)
	if unanswered > 0 {
		r.errs.add("heartbeat unanswered", fmt.Errorf("%d heartbeats without a reply at the end", unanswered))
	}

	res.Add("conns", float64(len(conns)), "", "connections joined and held")
	addLatency(res, "connect_join", &r.connect, "dial to join reply,", "p50", "p99", "max")
	if len(res.Steps) > 0 {
		last := res.Steps[len(res.Steps)-1]
		res.Add("server_rss_baseline_mib", float64(base)/(1<<20), "MiB", "server RSS before any connection")
		res.Add("server_rss_mib", float64(last.RSS)/(1<<20), "MiB", "server RSS with every connection joined")
		res.Add("rss_per_conn_kib", last.PerConn/1024, "KiB", "(RSS after − before) / connections")
		if heldRSS > 0 {
			res.Add("rss_per_conn_held_kib", float64(heldRSS-base)/float64(len(conns))/1024, "KiB", "the same, after the hold")
		}
		lo, hi := 0.0, 0.0
		for _, s := range res.Steps {
			if s.Conns < 1000 || s.PerConn <= 0 {
				continue // too few for the runtime's fixed costs to fade
			}
			if lo == 0 || s.PerConn < lo {
				lo = s.PerConn
			}
			hi = max(hi, s.PerConn)
		}
		if lo > 0 && len(res.Steps) > 1 {
			res.Add("rss_per_conn_spread", hi/lo, "×", "largest / smallest RSS per connection over the steps of 1,000 and up")
		}
	}
	res.Add("heartbeats", float64(r.hb.sent.Load()), "", "heartbeats sent")
	res.Add("heartbeats_unanswered", float64(unanswered), "", "heartbeats without a reply")
	addLatency(res, "heartbeat_rtt", &r.hb.rtt, "heartbeat round trip,", "p50", "p99")
	addCPU(res, hold, 0, "")
	return conns
}

// idle is the handler of a connection that expects nothing but heartbeat
// replies.
type idle struct{}

func (idle) message(c *conn, f *wire.Frame, _ time.Time) { c.unexpected(f) }
