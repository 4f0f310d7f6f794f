package main

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/wire"
)

const fanTopic = "bench:fan"

// fanout is the shared tally of the fanout scenario.
type fanout struct {
	latency     hist.Histogram // receive time − the publisher's t
	received    atomic.Int64   // messages delivered to subscribers
	pubReceived atomic.Int64   // the publisher's own copies
	disorder    atomic.Int64   // messages whose seq was not above the last one
	nodes       []nodeTally    // per server

	// The delivery latency second by second, to tell a backlog that
	// builds up from a slow start or a stall.
	start   atomic.Int64 // unix ns of the first broadcast
	seconds []second
}

// nodeTally is what the subscribers of one server received.
type nodeTally struct {
	received atomic.Int64
	latency  hist.Histogram
}

// second is the tally of the deliveries received in one second of a run.
type second struct {
	n, sum, max atomic.Int64 // count, sum and maximum of latencies, ns
}

func (f *fanout) record(now time.Time, latency int64) {
	f.latency.Record(latency)
	i := int((now.UnixNano() - f.start.Load()) / int64(time.Second))
	if i < 0 || i >= len(f.seconds) {
		return
	}
	s := &f.seconds[i]
	s.n.Add(1)
	s.sum.Add(latency)
	for {
		m := s.max.Load()
		if latency <= m || s.max.CompareAndSwap(m, latency) {
			break
		}
	}
}

// subscriber is one subscriber's handler; its fields belong to the
// connection's read goroutine, but got, which the driver reads.
type subscriber struct {
	f    *fanout
	last int64 // the highest seq received
	got  atomic.Int64
}

func (s *subscriber) message(c *conn, f *wire.Frame, now time.Time) {
	if !wire.Is(f.Event, "msg") || !wire.Is(f.Topic, fanTopic) {
		c.unexpected(f)
		return
	}
	t, ok1 := wire.Int(f.Payload, "t")
	seq, ok2 := wire.Int(f.Payload, "seq")
	if !ok1 || !ok2 {
		c.r.errs.add("bad broadcast payload", errors.New(string(f.Payload)))
		return
	}
	latency := now.UnixNano() - t
	s.f.record(now, latency)
	if c.server < len(s.f.nodes) {
		n := &s.f.nodes[c.server]
		n.received.Add(1)
		n.latency.Record(latency)
	}
	if seq <= s.last {
		s.f.disorder.Add(1)
	} else {
		s.last = seq
	}
	s.got.Add(1)
	s.f.received.Add(1)
}

// publisher is the publisher's handler: the server sends it its own
// broadcasts too.
type publisher struct{ f *fanout }

func (p publisher) message(c *conn, f *wire.Frame, _ time.Time) {
	if !wire.Is(f.Event, "msg") {
		c.unexpected(f) // an error reply to a broadcast, say
		return
	}
	p.f.pubReceived.Add(1)
}

// runFanout has one publisher broadcast to -subs subscribers at -rate per
// second for -duration. With several servers, the subscribers are spread
// over them round robin and the publisher is on the first.
func runFanout(ctx context.Context, r *runner, res *Result) []*conn {
	cfg := r.cfg
	// Seconds to cover: the run, and as long again for a backlog to drain.
	f := &fanout{seconds: make([]second, 2*int(cfg.duration/time.Second)+5), nodes: make([]nodeTally, len(cfg.urls))}
	r.place = fanoutPlace(cfg.subs, len(cfg.urls))
	topic := func(int) string { return fanTopic }
	conns := r.open(ctx, 0, cfg.subs, cfg.connectRate, topic, func(int) handler { return &subscriber{f: f} })
	subs := len(conns)
	pubs := r.open(ctx, cfg.subs, cfg.subs+1, 0, topic, func(int) handler { return publisher{f} })
	conns = append(conns, pubs...)
	if len(pubs) == 0 || ctx.Err() != nil {
		r.errs.add("no publisher", errors.New("the publisher could not join"))
		return conns
	}
	pub := pubs[0]

	w := r.begin()
	start := time.Now()
	f.start.Store(start.UnixNano())
	interval := time.Duration(float64(time.Second) / cfg.rate)
	var sent int64
	var buf, payload []byte
	for due := start; due.Sub(start) < cfg.duration; due = due.Add(interval) {
		if !sleepUntil(ctx, due) {
			break
		}
		sent++
		payload = append(payload[:0], `{"t":`...)
		payload = strconv.AppendInt(payload, time.Now().UnixNano(), 10)
		payload = append(payload, `,"seq":`...)
		payload = strconv.AppendInt(payload, sent, 10)
		payload = append(payload, '}')
		buf = wire.AppendPush(buf[:0], joinRef, uint64(joinRef+sent), fanTopic, "broadcast", payload)
		pub.write(buf)
	}

	// Wait for the last deliveries: until every one has come, or none has
	// for two seconds.
	expected := int64(subs) * sent
	last, lastChange := int64(-1), time.Now()
	for {
		got := f.received.Load() + f.pubReceived.Load()
		if got >= expected+sent || time.Since(lastChange) > 2*time.Second || ctx.Err() != nil {
			break
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	s := r.end(w)

	received := f.received.Load()
	lossy := 0
	for _, c := range conns[:subs] {
		if c.h.(*subscriber).got.Load() < sent {
			lossy++
		}
	}
	res.Add("subscribers", float64(subs), "", "subscribers joined")
	res.Add("sent", float64(sent), "", "broadcasts published")
	res.Add("deliveries", float64(received), "", "messages received by subscribers")
	res.Add("loss", float64(expected-received), "", "subscribers × sent − received")
	res.Add("lossy_subscribers", float64(lossy), "", "subscribers that missed a message")
	res.Add("order_violations", float64(f.disorder.Load()), "", "messages whose seq was not above the previous one")
	addLatency(res, "delivery", &f.latency, "delivery latency (receive − t),", "p50", "p99", "p999", "max")
	res.Add("deliveries_per_s", float64(received)/s.elapsed.Seconds(), "/s", "messages received per second")
	addCPU(res, s, float64(received+f.pubReceived.Load()), "delivery")
	res.Add("nodes", float64(len(cfg.urls)), "", "servers the subscribers were spread over")
	if cfg.cluster {
		addRelay(res, s, sent)
	}
	if len(cfg.urls) > 1 || cfg.cluster {
		res.Nodes = fanoutNodes(r, f, s, conns)
	}
	for i := range f.seconds {
		sec := &f.seconds[i]
		if n := sec.n.Load(); n > 0 {
			res.Series = append(res.Series, Second{
				Second:     i,
				Deliveries: n,
				MeanMs:     float64(sec.sum.Load()) / float64(n) / 1e6,
				MaxMs:      float64(sec.max.Load()) / 1e6,
			})
		}
	}
	return conns
}

// fanoutPlace puts subscriber i on server i mod n and the publisher, whose
// id is subs, on the first.
func fanoutPlace(subs, n int) func(id int) int {
	return func(id int) int {
		if id >= subs {
			return 0
		}
		return id % n
	}
}

// addRelay adds what the cluster's relays did in the window, counted on
// every node (GET /api/cluster), against the broadcasts published.
func addRelay(res *Result, s span, sent int64) {
	if s.relay == nil {
		return // a node did not answer: counted as an error
	}
	var relayed, frames, received, dropped uint64
	for _, g := range s.relay {
		relayed += g["broadcasts_relayed"]
		frames += g["broadcast_frames"]
		received += g["broadcasts_received"]
		dropped += g["frames_dropped"]
	}
	res.Add("broadcasts_relayed", float64(relayed), "", "broadcasts handed to other nodes, summed over the nodes")
	if sent > 0 {
		res.Add("remote_msgs_per_broadcast", float64(frames)/float64(sent), "", "frames carrying broadcasts between nodes (broadcast_frames, summed over the nodes) per broadcast published")
		res.Add("remote_received_per_broadcast", float64(received)/float64(sent), "", "broadcasts received from other nodes (broadcasts_received, summed) per broadcast published")
	}
	res.Add("relay_frames_dropped", float64(dropped), "", "frames the nodes dropped as malformed")
	res.Add("peers_not_up", float64(len(notUp(s.nodes))), "", "at the end: (node, other node) pairs where the first does not see the second up")
}

// fanoutNodes returns each server's share of the fanout run.
func fanoutNodes(r *runner, f *fanout, s span, conns []*conn) []Node {
	nodes := make([]Node, len(r.cfg.urls))
	for i, u := range r.cfg.urls {
		n := &nodes[i]
		n.URL = u
		n.Deliveries = f.nodes[i].received.Load()
		n.DeliveryP99Ms = float64(f.nodes[i].latency.Quantile(0.99)) / 1e6
		if i < len(r.cfg.pids) {
			n.PID = r.cfg.pids[i]
		}
		if i < len(s.nodeCPU) {
			n.CPUSeconds = s.nodeCPU[i].Seconds()
			n.CPUPct = pct(s.nodeCPU[i], s.elapsed)
		}
		if s.nodes != nil {
			n.Name = s.nodes[i].Node
			for _, p := range s.nodes[i].Peers {
				if p.Up {
					n.PeersUp++
				}
			}
			n.Relay = s.relay[i]
		}
	}
	for _, c := range conns {
		nodes[c.server].Conns++
	}
	for i, u := range r.readServers() {
		nodes[i].RSS = u.RSS
	}
	return nodes
}
