package cluster

import (
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/presence"
)

// Messages of the relay actor, from this node.
type (
	outBroadcast struct {
		topic, event string
		payload      actors.Payload
	}
	// outForward is a broadcast for owner to sequence; outSequenced one
	// this node sequenced, for every peer up.
	outForward struct {
		owner string
		bc    broadcastFrame
	}
	outSequenced struct{ bc broadcastFrame }
	tick         struct{ now time.Time }
	// reachable and unreachable report an address whose listener answered
	// a probe, or which did not, or whose connection remote lost.
	reachable   struct{ addr string }
	unreachable struct{ addr string }
	seeds       struct{ addrs []string }
	leave       struct{ done chan struct{} }
	// refusedSecret reports that the node at addr refused this one's TLS
	// handshake: one of the two has another secret.
	refusedSecret struct{ addr string }
	// isolate cuts the relay off (on) or back (off), as a network
	// partition would: tests use it to check a healed partition resyncs.
	isolate struct{ on bool }
	// flushDeltas sends the presence changes gathered so far. The relay
	// sends it to itself when the first change arrives, so it comes after
	// every change already queued: changes made together travel together.
	flushDeltas struct{}
)

// What one peer may hold unacknowledged, by frameCost: frames sent to it
// that it has not said it received. Past it the frames that carry data are
// skipped (queue_full) rather than queued: remote's writer, gRPC and the
// network hold no more than this for a peer that cannot keep up. A peer
// acknowledges in every frame it sends, and with an ack frame every
// ackEvery frames it takes.
const (
	windowBytes = 8 << 20
	ackEvery    = 256
)

// peer is another node, as the relay knows it.
type peer struct {
	name, addr string
	pid        *actor.PID
	inc        uuid.UUID

	// Receiving. recvSeq is the last frame's sequence number on the
	// link from the peer; toAck counts the frames taken since this node
	// last told the peer what it has.
	recvSeq uint64
	toAck   int
	heard   time.Time
	// up: the peer has sent this run of the node a frame, so frames flow
	// both ways. linked: its last frame said it counts this node up.
	up, linked bool
	left       bool // this incarnation said goodbye
	downSince  time.Time
	everUp     bool

	// Sending. sendSeq is the last frame's sequence number on the link to
	// the peer; flight holds the frames sent since the last the peer
	// acknowledged, and flightCost their cost. ackWait is when the peer
	// last acknowledged anything while frames were in flight.
	sendSeq    uint64
	flight     []sentFrame
	flightCost int64
	ackWait    time.Time
	slow       bool

	greeted time.Time // the last hello sent to its address
	// answer is the address a hello from the peer was sent to, when the
	// heartbeat that answers it waits for the peer's listener to answer
	// a probe.
	answer     string
	owesAnswer bool

	// version is the last change of the peer's presence applied here.
	version uint64
	// synced is false until the peer's full state has been applied, and
	// again after a gap; requested is when it was last asked for.
	synced    bool
	requested time.Time
	// parts gathers a state sent in several frames.
	parts        []presence.Change
	partsVersion uint64
	nextPart     uint64

	counters *peerCounters
}

// sentFrame is a frame in flight: its sequence number and its cost.
type sentFrame struct {
	seq  uint64
	cost int64
}

// inFlight returns the frames sent to p and not acknowledged, and their
// cost.
func (p *peer) inFlight() (int, int64) { return len(p.flight), p.flightCost }

// sent records a frame in flight.
func (p *peer) sent(seq uint64, cost int64) {
	p.flight = append(p.flight, sentFrame{seq, cost})
	p.flightCost += cost
	p.counters.queued.Store(int64(len(p.flight)))
	p.counters.queuedBytes.Store(p.flightCost)
}

// ack takes the frames up to seq as received, and reports whether that
// was any.
func (p *peer) ack(seq uint64) bool {
	i := 0
	for i < len(p.flight) && p.flight[i].seq <= seq {
		p.flightCost -= p.flight[i].cost
		i++
	}
	if i == 0 {
		return false
	}
	p.flight = p.flight[i:]
	if len(p.flight) == 0 {
		p.flight = p.flight[:0:0] // let a burst's array go
	}
	p.counters.queued.Store(int64(len(p.flight)))
	p.counters.queuedBytes.Store(p.flightCost)
	return true
}

// forgetInFlight takes what is in flight to p as lost: the window starts
// again.
func (p *peer) forgetInFlight() {
	p.flight, p.flightCost, p.slow = nil, 0, false
	p.counters.queued.Store(0)
	p.counters.queuedBytes.Store(0)
}

// contact is an address this node was told of (a seed, or gossip) that it
// has not yet matched to a peer's own address.
type contact struct {
	since       time.Time
	alias       string // the peer that answered there, when known
	unreachable bool   // the last probe found no listener
}

// peerView is a peer as published for Peers; counters are live.
type peerView struct {
	name, addr, inc  string
	up, linked, slow bool
	counters         *peerCounters
}

// relay is the actor that carries this node's broadcasts and presence to
// its peers, applies theirs, and keeps the membership: who is up, by
// heartbeats. It is the only writer of everything below.
type relay struct {
	c       *Cluster
	started time.Time

	peers     map[string]*peer    // by node name
	seeds     map[string]bool     // seed addresses, as last resolved
	resolved  bool                // the seeds were resolved at least once
	contacts  map[string]*contact // by address
	selfAddrs map[string]bool
	lastBeat  time.Time
	// reach holds the addresses whose listener answered a probe, until a
	// probe fails or remote loses its connection there. A hello goes
	// only to those: sending to an address where nobody listens would
	// have remote's writer dial and queue meanwhile. Frames for a peer
	// that is up are never held back by it.
	reach map[string]bool
	// probing holds the addresses handed to the prober and not answered
	// yet.
	probing map[string]bool

	// This node's presence entries, by phx_ref, mirrored from the feed so
	// that a full state can be sent at any time. version counts their
	// changes; sent is the version of the last delta sent.
	own      map[string]presence.Change
	version  uint64
	sent     uint64
	pending  []presence.Change
	flushing bool

	// leaving is set once Stop has begun: the peers still to acknowledge.
	leaving     map[string]bool
	leavingDone chan struct{}

	isolated bool

	// nameRefused is when a peer last refused this node for its name;
	// secretRefused says a handshake failed since a peer was last up.
	nameRefused   time.Time
	secretRefused bool

	logs logLimiter
}

func newRelay(c *Cluster) *relay {
	return &relay{
		c:         c,
		started:   time.Now(),
		peers:     make(map[string]*peer),
		seeds:     make(map[string]bool),
		resolved:  len(c.cfg.Seeds) == 0,
		contacts:  make(map[string]*contact),
		selfAddrs: map[string]bool{c.addr: true},
		reach:     make(map[string]bool),
		probing:   make(map[string]bool),
		own:       make(map[string]presence.Change),
		logs:      logLimiter{every: time.Minute},
	}
}

func (r *relay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.updateReady(time.Now())
	case *wrapperspb.BytesValue:
		if !r.isolated {
			r.receive(m.Value, time.Now())
		}
	case isolate:
		r.isolated = m.on
	case *outBroadcast:
		r.broadcast(m)
	case *outForward:
		r.forward(m)
	case *outSequenced:
		r.sequenced(m)
	case presence.Change:
		r.changed(m, ctx)
	case flushDeltas:
		r.flush()
	case tick:
		r.tick(m.now)
	case reachable:
		r.reachable(m.addr, time.Now())
	case unreachable:
		delete(r.reach, m.addr)
		delete(r.probing, m.addr)
		if ct := r.contacts[m.addr]; ct != nil {
			ct.unreachable = true
		}
		r.updateReady(time.Now())
	case *seeds:
		r.setSeeds(m.addrs)
	case *leave:
		r.leave(m.done)
	case refusedSecret:
		r.secretRefused = true
		r.updateReady(time.Now())
	}
}

// body encodes a frame's body alone.
func body(fill func(*encoder)) []byte {
	if fill == nil {
		return nil
	}
	e := &encoder{b: make([]byte, 0, 64)}
	fill(e)
	return e.b
}

// sendTo sends p one frame of its link with body b. A frame that carries
// data (droppable) is skipped when p's window is full; heartbeats and the
// like go regardless, as long as the window has room left at all.
func (r *relay) sendTo(p *peer, kind byte, b []byte, droppable bool) bool {
	if r.isolated {
		return false
	}
	if !r.reach[p.addr] {
		r.skip(p, reasonUnreachable)
		r.probe(p.addr)
		return false
	}
	n, bytes := p.inFlight()
	if droppable && bytes+frameCost(len(b)) > windowBytes {
		r.skip(p, reasonQueueFull)
		if !p.slow {
			p.slow = true
			r.c.log.Warn("cluster: peer cannot keep up; frames to it are skipped", "node", p.name, "addr", p.addr,
				"queued", n, "queued_bytes", bytes)
			r.publishView()
		}
		return false
	}
	if n == 0 {
		p.ackWait = time.Now()
	}
	p.sendSeq++
	h := header{kind: kind, from: r.c.node, fromInc: r.c.inc, to: p.name, toInc: p.inc, seq: p.sendSeq, ack: p.recvSeq}
	if p.up {
		h.flags |= flagUp
	}
	frame := r.encode(&h, b)
	p.sent(p.sendSeq, frameCost(len(frame)))
	p.toAck = 0
	r.c.hooks.System.Root.Send(p.pid, &wrapperspb.BytesValue{Value: frame})
	r.c.stats.framesSent.Add(1)
	p.counters.sent.Add(1)
	return true
}

// sendUnbound sends a frame that belongs to no link (seq 0) to addr: a
// hello, or a refusal.
func (r *relay) sendUnbound(addr string, h *header, b []byte) {
	if r.isolated {
		return
	}
	h.from, h.fromInc = r.c.node, r.c.inc
	r.c.hooks.System.Root.Send(actor.NewPID(addr, relayName), &wrapperspb.BytesValue{Value: r.encode(h, b)})
	r.c.stats.framesSent.Add(1)
}

func (r *relay) encode(h *header, b []byte) []byte {
	e := &encoder{b: make([]byte, 0, 48+len(h.from)+len(h.to)+len(b))}
	e.header(h)
	e.b = append(e.b, b...)
	return e.b
}

// toUp sends one frame to every peer that is up, and counts it skipped for
// every known peer that is not. It returns how many peers it was sent to.
func (r *relay) toUp(kind byte, b []byte) int {
	sent := 0
	for _, p := range r.peers {
		switch {
		case p.up:
			if r.sendTo(p, kind, b, true) {
				sent++
			}
		case !p.left && p.everUp:
			r.skip(p, reasonPeerDown)
		}
	}
	return sent
}

func (r *relay) skip(p *peer, why reason) {
	r.c.stats.skipped[why].Add(1)
	p.counters.skipped[why].Add(1)
}

func (r *relay) broadcast(m *outBroadcast) {
	b := body(func(e *encoder) {
		e.broadcast(&broadcastFrame{topic: m.topic, event: m.event, binary: m.payload.Binary, payload: m.payload.Data})
	})
	sent := r.toUp(kindBroadcast, b)
	r.c.stats.broadcastsRelayed.Add(1)
	r.c.stats.broadcastFrames.Add(uint64(sent))
}

// forward sends a broadcast to the node that sequences its topic. When
// that node is no longer up, or cannot take it now, this node numbers
// it: two sequencers for a while cost the topic's recoveries across the
// change (a history never recovers across a gap), never a broadcast.
func (r *relay) forward(m *outForward) {
	if p := r.peers[m.owner]; p != nil && p.up && !p.left {
		b := body(func(e *encoder) { e.forward(&m.bc) })
		if r.sendTo(p, kindForward, b, true) {
			r.c.stats.forwarded.Add(1)
			return
		}
	}
	r.c.hooks.Sequence(m.bc.topic, m.bc.event, actors.Payload{Binary: m.bc.binary, Data: m.bc.payload}, "", m.bc.from)
}

// sequenced sends a broadcast this node numbered to every peer up.
func (r *relay) sequenced(m *outSequenced) {
	b := body(func(e *encoder) { e.sequenced(&m.bc) })
	sent := r.toUp(kindSequenced, b)
	r.c.stats.broadcastsRelayed.Add(1)
	r.c.stats.broadcastFrames.Add(uint64(sent))
}

// changed mirrors one change of this node's presence and queues it for
// the peers.
func (r *relay) changed(c presence.Change, ctx actor.Context) {
	if c.LeftRef != "" {
		delete(r.own, c.LeftRef)
	}
	if c.Ref != "" {
		r.own[c.Ref] = presence.Change{Topic: c.Topic, Key: c.Key, Ref: c.Ref, Meta: c.Meta}
	}
	r.version++
	r.pending = append(r.pending, c)
	if !r.flushing {
		r.flushing = true
		ctx.Send(ctx.Self(), flushDeltas{})
	}
}

// flush sends the changes gathered since the last delta to every peer
// that is up, in frames of at most maxChunk.
func (r *relay) flush() {
	r.flushing = false
	if len(r.pending) == 0 {
		return
	}
	from := r.sent + 1
	for _, part := range chunks(r.pending) {
		d := delta{from: from, to: from + uint64(len(part)) - 1, changes: part}
		r.toUp(kindDelta, body(func(e *encoder) { e.delta(&d) }))
		from = d.to + 1
	}
	r.sent = r.version
	r.pending = r.pending[:0]
}

// sendState sends this node's presence entries to p, in parts.
func (r *relay) sendState(p *peer) {
	r.flush() // the state's version is then the last delta's
	entries := make([]presence.Change, 0, len(r.own))
	for _, e := range r.own {
		entries = append(entries, e)
	}
	// Entries of one key in the order tracked (phx_refs start with the
	// time they were made): clients list metas in that order.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Ref < entries[j].Ref })
	parts := chunks(entries)
	if len(parts) == 0 {
		parts = [][]presence.Change{nil}
	}
	for i, part := range parts {
		s := stateChunk{version: r.sent, index: uint64(i), last: i == len(parts)-1, entries: part}
		r.sendTo(p, kindState, body(func(e *encoder) { e.state(&s) }), true)
	}
}

// chunks splits changes into parts of at most maxChunk bytes.
func chunks(cs []presence.Change) [][]presence.Change {
	var parts [][]presence.Change
	start, size := 0, 0
	for i, c := range cs {
		n := len(c.Topic) + len(c.Key) + len(c.Ref) + len(c.Meta) + len(c.LeftRef) + 16
		if size+n > maxChunk && i > start {
			parts = append(parts, cs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(cs) {
		parts = append(parts, cs[start:])
	}
	return parts
}

// receive handles a frame from another node.
func (r *relay) receive(b []byte, now time.Time) {
	f, err := decodeFrame(b)
	if err != nil {
		r.drop(nil, reasonMalformed, peekNode(b), err)
		return
	}
	r.c.stats.framesReceived.Add(1)
	switch {
	case f.from == r.c.node:
		r.fromOwnName(f)
		return
	case f.to != "" && f.to != r.c.node:
		r.drop(r.peers[f.from], reasonMisaddress, f.from, fmt.Errorf("a frame for %q", f.to))
		return
	case f.kind == kindHello:
		r.hello(f, now)
		return
	case f.toInc != r.c.inc:
		if f.toInc == uuid.Nil {
			r.drop(r.peers[f.from], reasonUnbound, f.from, nil)
			return
		}
		// For an earlier run of this node: its sender has not learnt of
		// this one yet. Say hello, so that it does at once.
		p := r.peers[f.from]
		r.drop(p, reasonStale, f.from, nil)
		if p != nil && now.Sub(p.greeted) > r.c.cfg.HeartbeatInterval/2 {
			r.greetPeer(p, now)
		}
		return
	case f.kind == kindRefuse:
		r.refused(f, now)
		return
	}
	p := r.peers[f.from]
	if p == nil || p.inc != f.fromInc {
		if p = r.adopt(f, now); p == nil {
			return
		}
	}
	if f.seq <= p.recvSeq {
		r.drop(p, reasonDuplicate, p.name, nil)
		return
	}
	p.recvSeq = f.seq
	p.counters.received.Add(1)
	if p.ack(f.ack) {
		p.ackWait = now
		if p.slow && p.flightCost < windowBytes/2 {
			p.slow = false
			r.c.log.Info("cluster: peer keeps up again", "node", p.name, "addr", p.addr)
			r.publishView()
		}
	}
	if p.left || r.leaving != nil {
		// A node that said goodbye is gone until its next run; one that
		// is leaving meets no one, but answers the goodbyes of nodes
		// leaving with it.
		switch {
		case f.kind == kindGoodbyeAck && r.leaving != nil:
			delete(r.leaving, p.name)
			r.leftAll()
		case f.kind == kindGoodbye && !p.left:
			r.goodbye(p, now)
		case p.left:
			r.drop(p, reasonLeft, p.name, nil)
		}
		return
	}
	p.heard = now
	p.counters.heard.Store(now.UnixNano())
	if linked := f.flags&flagUp != 0; linked != p.linked {
		p.linked = linked
		r.publishView()
		r.updateReady(now)
	}
	if f.kind == kindHeartbeat && f.hb.addr != "" && f.hb.addr != p.addr {
		r.setAddr(p, f.hb.addr)
	}
	if !p.up {
		r.up(p, now)
	}
	p.toAck++
	switch f.kind {
	case kindHeartbeat:
		r.heartbeat(p, &f.hb, now)
	case kindBroadcast:
		r.c.stats.broadcastsReceived.Add(1)
		payload := actors.Payload{Binary: f.bc.binary, Data: f.bc.payload}
		if err := r.c.ep.LocalBroadcast(f.bc.topic, f.bc.event, payload); err != nil && r.logs.allow("deliver:"+p.name, now) {
			r.c.log.Warn("cluster: a broadcast from a peer was not delivered", "node", p.name, "topic", f.bc.topic, "error", err)
		}
	case kindForward:
		r.c.stats.sequenced.Add(1)
		r.c.hooks.Sequence(f.bc.topic, f.bc.event, actors.Payload{Binary: f.bc.binary, Data: f.bc.payload}, p.name, f.bc.from)
	case kindSequenced:
		r.c.stats.broadcastsReceived.Add(1)
		from := ""
		if f.bc.origin == r.c.node {
			from = f.bc.from
		}
		r.c.hooks.DeliverAt(f.bc.topic, f.bc.event, actors.Payload{Binary: f.bc.binary, Data: f.bc.payload}, from, f.bc.at, f.bc.prev)
	case kindDelta:
		r.delta(p, &f.delta)
	case kindStateRequest:
		if r.c.cfg.Presence != nil {
			r.sendState(p)
		}
	case kindState:
		r.state(p, &f.state)
	case kindGoodbye:
		r.goodbye(p, now)
	}
	if p.toAck >= ackEvery {
		r.sendTo(p, kindAck, nil, false)
	}
}

// live says p's current run is heard from: another run of its name at
// another address is then an impostor, not a restart.
func (r *relay) live(p *peer, now time.Time) bool {
	return p.up && !p.left && now.Sub(p.heard) <= r.downAfter()
}

func (r *relay) downAfter() time.Duration {
	return r.c.cfg.HeartbeatInterval * time.Duration(r.c.cfg.DownAfter)
}

// hello answers a node that introduces itself: with a heartbeat bound to
// its run, to the address it listens at, or with a refusal when its name
// belongs to a node live elsewhere.
func (r *relay) hello(f *frame, now time.Time) {
	if r.leaving != nil || f.hello.addr == "" || f.fromInc == uuid.Nil {
		return
	}
	p := r.peers[f.from]
	switch {
	case p == nil:
		p = r.newPeer(f.from, f.fromInc, now)
		r.setAddr(p, f.hello.addr)
	case p.inc != f.fromInc:
		if r.live(p, now) && f.hello.addr != p.addr {
			r.refuseName(f.from, f.fromInc, f.hello.addr, p, now)
			return
		}
		r.restarted(p, f.fromInc, now)
		r.setAddr(p, f.hello.addr)
	case p.left:
		return
	case f.hello.addr != p.addr:
		r.setAddr(p, f.hello.addr)
	}
	if !r.reach[p.addr] {
		// Its listener answers a probe first (reachable sends the
		// answer): remote, sent to where nobody listens, would hold
		// every frame for that address for two seconds.
		p.answer, p.owesAnswer = f.hello.to, true
		r.probe(p.addr)
		return
	}
	r.beat(p, f.hello.to)
}

// probe asks the prober about addr, unless it is already asked.
func (r *relay) probe(addr string) {
	if !r.probing[addr] {
		r.probing[addr] = true
		r.c.probe([]string{addr})
	}
}

// adopt takes a frame bound to this run from a run of its sender not
// known yet: a restart, or a node met through another's hello. It returns
// nil when the frame is to be dropped.
func (r *relay) adopt(f *frame, now time.Time) *peer {
	addr := ""
	if f.kind == kindHeartbeat {
		addr = f.hb.addr
	}
	p := r.peers[f.from]
	switch {
	case p != nil && r.live(p, now) && addr != p.addr:
		if addr != "" {
			r.refuseName(f.from, f.fromInc, addr, p, now)
		} else {
			r.drop(p, reasonNameInUse, f.from, nil)
		}
		return nil
	case addr == "":
		r.drop(p, reasonUnknownPeer, f.from, nil)
		return nil
	case p == nil:
		p = r.newPeer(f.from, f.fromInc, now)
	default:
		r.restarted(p, f.fromInc, now)
	}
	r.setAddr(p, addr)
	return p
}

func (r *relay) newPeer(name string, inc uuid.UUID, now time.Time) *peer {
	// Not up yet: it is forgotten if it never is.
	p := &peer{name: name, inc: inc, downSince: now, counters: &peerCounters{}}
	r.peers[name] = p
	return p
}

// restarted replaces p's run by inc: what the last run held is gone, at
// once, and frames still in flight to it are forgotten.
func (r *relay) restarted(p *peer, inc uuid.UUID, now time.Time) {
	r.c.log.Info("cluster: peer restarted", "node", p.name, "addr", p.addr, "incarnation", inc)
	if p.up {
		p.up = false
		r.c.peersUp.Add(-1)
	}
	if r.c.cfg.Presence != nil {
		r.c.cfg.Presence.ReplaceNode(p.name, nil)
	}
	p.inc = inc
	p.recvSeq, p.toAck = 0, 0
	p.linked, p.left = false, false
	p.synced, p.version, p.parts = false, 0, nil
	p.forgetInFlight()
	p.downSince = now
	r.publishView()
}

// refuseName refuses a run of name at addr: name is live at p's address.
func (r *relay) refuseName(name string, inc uuid.UUID, addr string, p *peer, now time.Time) {
	r.c.stats.refused[reasonNameInUse].Add(1)
	if r.logs.allow("name:"+name+addr, now) {
		r.c.log.Error("cluster: refused a node whose name is in use", "node", name, "addr", addr,
			"live_at", p.addr, "live_incarnation", p.inc)
	}
	h := header{kind: kindRefuse, to: name, toInc: inc}
	detail := p.addr
	r.sendUnbound(addr, &h, body(func(e *encoder) { e.refusal(&refusal{reason: refuseNameInUse, detail: detail}) }))
}

// fromOwnName handles a frame that names this node as its sender: this
// node's own hello, come back through a seed that is this node, or
// another process under this node's name.
func (r *relay) fromOwnName(f *frame) {
	if f.fromInc == r.c.inc {
		if f.kind == kindHello && f.hello.to != "" {
			r.selfAddrs[f.hello.to] = true
			delete(r.contacts, f.hello.to)
			r.updateReady(time.Now())
		}
		return
	}
	addr := f.hello.addr
	if f.kind == kindHeartbeat {
		addr = f.hb.addr
	}
	now := time.Now()
	r.c.stats.refused[reasonNameInUse].Add(1)
	if r.logs.allow("own:"+addr, now) {
		r.c.log.Error("cluster: another process uses this node's name; it is refused", "node", f.from, "addr", addr,
			"its_incarnation", f.fromInc)
	}
	if addr != "" && f.kind == kindHello {
		h := header{kind: kindRefuse, to: f.from, toInc: f.fromInc}
		r.sendUnbound(addr, &h, body(func(e *encoder) { e.refusal(&refusal{reason: refuseNameInUse, detail: r.c.addr}) }))
	}
}

// refused handles a peer's refusal of this node.
func (r *relay) refused(f *frame, now time.Time) {
	if f.refuse.reason != refuseNameInUse {
		return
	}
	r.nameRefused = now
	r.c.stats.refusedByPeers[reasonNameInUse].Add(1)
	if r.logs.allow("refused:"+f.from, now) {
		r.c.log.Error(fmt.Sprintf("cluster: node name %q is in use by a live node at %s; this node stays out of the cluster until that node is gone",
			r.c.node, f.refuse.detail), "refused_by", f.from)
	}
	r.updateReady(now)
}

// up marks p up: frames flow both ways. It learns so at once, from the
// flag of the frames that follow.
func (r *relay) up(p *peer, now time.Time) {
	p.up, p.everUp = true, true
	p.synced = false
	p.downSince = time.Time{}
	r.c.peersUp.Add(1)
	r.c.log.Info("cluster: peer up", "node", p.name, "addr", p.addr)
	r.publishView()
	r.beat(p, "")
	r.requestState(p, now)
	r.updateReady(now)
}

func (r *relay) setAddr(p *peer, addr string) {
	p.addr = addr
	p.pid = actor.NewPID(addr, relayName)
	delete(r.contacts, addr) // a contact no more: the peer's own address
	r.publishView()
}

// heartbeatBody returns this node's heartbeat, as of now.
func (r *relay) heartbeatBody(via string) []byte {
	var gossip []peerAddr
	for _, p := range r.peers {
		if p.up {
			gossip = append(gossip, peerAddr{p.name, p.addr})
		}
	}
	hb := heartbeat{addr: r.c.addr, via: via, version: r.sent, peers: gossip}
	return body(func(e *encoder) { e.heartbeat(&hb) })
}

// beat sends p a heartbeat now; via answers a hello sent to that address.
func (r *relay) beat(p *peer, via string) {
	r.flush() // the heartbeat's version is then the last delta's
	r.sendTo(p, kindHeartbeat, r.heartbeatBody(via), false)
}

// greet sends a hello to addr, where node name (if known) listens.
func (r *relay) greet(addr, name string) {
	if r.leaving != nil || r.selfAddrs[addr] {
		return
	}
	h := header{kind: kindHello, to: name}
	r.sendUnbound(addr, &h, body(func(e *encoder) { e.hello(&hello{addr: r.c.addr, to: addr}) }))
}

// greetPeer says hello to a peer that is not up, at its address.
func (r *relay) greetPeer(p *peer, now time.Time) {
	r.greet(p.addr, p.name)
	p.greeted = now
}

// reachable greets what listens at addr at once, rather than at the next
// heartbeat: a node that is met learns of this one without waiting an
// interval.
func (r *relay) reachable(addr string, now time.Time) {
	first := !r.reach[addr]
	r.reach[addr] = true
	delete(r.probing, addr)
	if ct := r.contacts[addr]; ct != nil {
		ct.unreachable = false
		if first && !r.aliasUp(ct) {
			r.greet(addr, ct.alias)
		}
	}
	for _, p := range r.peers {
		switch {
		case p.addr != addr:
		case p.owesAnswer:
			p.owesAnswer = false
			r.beat(p, p.answer)
		case p.up && first:
			r.beat(p, "") // frames flow again: say so now
		case !p.up && first:
			r.greetPeer(p, now)
		}
	}
}

// aliasUp says the peer a contact turned out to be is up: the contact
// needs no hello.
func (r *relay) aliasUp(ct *contact) bool {
	p := r.peers[ct.alias]
	return ct.alias != "" && p != nil && p.up
}

func (r *relay) heartbeat(p *peer, hb *heartbeat, now time.Time) {
	if hb.via != "" && hb.via != p.addr {
		if ct := r.contacts[hb.via]; ct != nil {
			ct.alias = p.name // a seed (a VIP, a proxy, a name) that is p
		}
	}
	for _, pa := range hb.peers {
		if pa.name == r.c.node || r.selfAddrs[pa.addr] {
			continue
		}
		if known := r.peers[pa.name]; known != nil {
			continue
		}
		if _, ok := r.contacts[pa.addr]; !ok {
			r.contacts[pa.addr] = &contact{since: now}
			if r.reach[pa.addr] {
				r.greet(pa.addr, "")
			} else {
				r.probe(pa.addr)
			}
		}
	}
	// A delta lost on the way shows here: the heartbeat follows every
	// delta sent before it.
	if p.synced && hb.version > p.version {
		p.synced = false
		r.requestState(p, now)
	}
	r.updateReady(now)
}

func (r *relay) requestState(p *peer, now time.Time) {
	if r.c.cfg.Presence == nil {
		return
	}
	p.requested = now
	p.parts, p.nextPart = nil, 0
	r.sendTo(p, kindStateRequest, nil, false)
}

func (r *relay) delta(p *peer, d *delta) {
	if r.c.cfg.Presence == nil || !p.synced || d.to <= p.version {
		return
	}
	if d.from != p.version+1 {
		p.synced = false
		r.requestState(p, time.Now())
		return
	}
	r.c.cfg.Presence.ApplyNode(p.name, d.changes)
	p.version = d.to
}

func (r *relay) state(p *peer, s *stateChunk) {
	if r.c.cfg.Presence == nil || p.synced {
		return
	}
	if s.index == 0 {
		p.parts, p.partsVersion, p.nextPart = nil, s.version, 0
	}
	if s.index != p.nextPart || s.version != p.partsVersion {
		return // a part of another answer; ours is still to come
	}
	p.parts = append(p.parts, s.entries...)
	p.nextPart++
	if !s.last {
		return
	}
	r.c.cfg.Presence.ReplaceNode(p.name, p.parts)
	p.version, p.synced, p.parts = s.version, true, nil
}

func (r *relay) goodbye(p *peer, now time.Time) {
	r.c.log.Info("cluster: peer left", "node", p.name, "addr", p.addr)
	r.sendTo(p, kindGoodbyeAck, nil, false)
	r.down(p, now)
	p.left = true
}

// tick sends heartbeats when due and declares peers down: silent ones,
// and those that acknowledge nothing of what is sent to them.
func (r *relay) tick(now time.Time) {
	if r.leaving != nil {
		return
	}
	if r.isolated {
		r.lastBeat = now
	}
	downAfter := r.downAfter()
	for name, p := range r.peers {
		switch {
		case p.up && now.Sub(p.heard) > downAfter:
			r.c.log.Warn("cluster: peer down", "node", p.name, "addr", p.addr, "silent", now.Sub(p.heard).Round(time.Millisecond))
			r.down(p, now)
		case p.up && len(p.flight) > 0 && now.Sub(p.ackWait) > downAfter:
			n, bytes := p.inFlight()
			r.c.log.Warn("cluster: peer down: it acknowledges nothing of what is sent to it", "node", p.name, "addr", p.addr,
				"queued", n, "queued_bytes", bytes, "for", now.Sub(p.ackWait).Round(time.Millisecond))
			r.down(p, now)
		}
		if !p.up && now.Sub(p.downSince) > r.c.cfg.ForgetAfter && !r.seeds[p.addr] {
			delete(r.peers, name)
			r.publishView()
		}
	}
	for addr, ct := range r.contacts {
		if !r.seeds[addr] && now.Sub(ct.since) > r.c.cfg.ForgetAfter {
			delete(r.contacts, addr)
		}
	}
	r.updateReady(now)
	if now.Sub(r.lastBeat) < r.c.cfg.HeartbeatInterval {
		return
	}
	r.lastBeat = now
	r.flush()
	hb := r.heartbeatBody("")
	var probe []string
	// Peers down get hellos, to learn when they are back (a healed
	// partition, or their next run); nothing else is sent to them.
	for _, p := range r.peers {
		switch {
		case p.up && !r.reach[p.addr]:
			probe = append(probe, p.addr)
		case p.up:
			r.sendTo(p, kindHeartbeat, hb, false)
			if !p.synced && now.Sub(p.requested) > downAfter {
				r.requestState(p, now) // the answer was lost
			}
		case r.reach[p.addr]:
			r.greetPeer(p, now)
		default:
			probe = append(probe, p.addr)
		}
	}
	for addr, ct := range r.contacts {
		switch {
		case r.selfAddrs[addr] || r.aliasUp(ct):
		case r.reach[addr]:
			r.greet(addr, ct.alias)
		default:
			probe = append(probe, addr)
		}
	}
	for _, a := range probe {
		r.probe(a)
	}
}

// down marks p down: its presences leave this node's view, and nothing
// but hellos is sent to it until it is heard from again.
func (r *relay) down(p *peer, now time.Time) {
	if p.up {
		p.up = false
		r.c.peersUp.Add(-1)
		p.counters.downs.Add(1)
	}
	p.linked = false
	p.downSince = now
	p.synced, p.version, p.parts = false, 0, nil
	// What is in flight is lost or late.
	p.forgetInFlight()
	if r.c.cfg.Presence != nil {
		r.c.cfg.Presence.ReplaceNode(p.name, nil)
	}
	r.publishView()
	r.updateReady(now)
}

func (r *relay) setSeeds(addrs []string) {
	now := time.Now()
	r.resolved = true
	r.seeds = make(map[string]bool, len(addrs))
	known := make(map[string]bool, len(r.peers))
	for _, p := range r.peers {
		known[p.addr] = true
	}
	for _, a := range addrs {
		r.seeds[a] = true
		if _, ok := r.contacts[a]; !ok && !known[a] && !r.selfAddrs[a] {
			r.contacts[a] = &contact{since: now}
		}
	}
	for a, ct := range r.contacts {
		if !r.selfAddrs[a] && !r.aliasUp(ct) {
			if r.reach[a] {
				r.greet(a, ct.alias)
			} else {
				r.probe(a)
			}
		}
	}
	r.updateReady(now)
}

// updateReady decides whether this node has met the cluster it was told
// of: every contact answered, found to be this node, or found to have no
// listener; every peer up counts this node up too; and no peer refuses its
// name. After Config.ReadyAfter it is ready anyway, unless refused: for
// its name, or for its secret until a peer is up (which of two nodes
// holds the other secret, a handshake cannot tell; the one that meets
// nobody is the odd one out).
func (r *relay) updateReady(now time.Time) {
	if r.c.peersUp.Load() > 0 {
		r.secretRefused = false
	}
	refused := (!r.nameRefused.IsZero() && now.Sub(r.nameRefused) < 2*r.downAfter()) || r.secretRefused
	ready := !refused && (now.Sub(r.started) >= r.c.cfg.ReadyAfter || r.metAll())
	if r.c.ready.Load() != ready {
		r.c.ready.Store(ready)
		if ready {
			r.c.log.Info("cluster: ready", "node", r.c.node, "peers_up", r.c.peersUp.Load(), "after", now.Sub(r.started).Round(time.Millisecond))
		}
	}
}

func (r *relay) metAll() bool {
	if !r.resolved {
		return false
	}
	for addr, ct := range r.contacts {
		if !r.selfAddrs[addr] && ct.alias == "" && !ct.unreachable {
			return false
		}
	}
	for _, p := range r.peers {
		if (p.up && !p.linked) || (!p.up && !p.everUp && !p.left) {
			return false
		}
	}
	return true
}

// leave tells every peer that is up that this node is leaving; done is
// closed once they have all acknowledged.
func (r *relay) leave(done chan struct{}) {
	r.flush()
	r.leaving, r.leavingDone = make(map[string]bool), done
	for _, p := range r.peers {
		if p.up && r.sendTo(p, kindGoodbye, nil, false) {
			r.leaving[p.name] = true
		}
	}
	r.leftAll()
}

func (r *relay) leftAll() {
	if len(r.leaving) == 0 && r.leavingDone != nil {
		close(r.leavingDone)
		r.leavingDone = nil
	}
}

func (r *relay) publishView() {
	view := make([]peerView, 0, len(r.peers))
	for _, p := range r.peers {
		view = append(view, peerView{name: p.name, addr: p.addr, inc: p.inc.String(), up: p.up, linked: p.linked, slow: p.slow, counters: p.counters})
	}
	sort.Slice(view, func(i, j int) bool { return view[i].name < view[j].name })
	var up []string
	for _, v := range view {
		if v.up {
			up = append(up, v.name)
		}
	}
	r.c.upNames.Store(&up)
	r.c.mu.Lock()
	r.c.view = view
	r.c.mu.Unlock()
}

// drop counts a frame received and not taken, and logs it at most once a
// minute per sender and reason.
func (r *relay) drop(p *peer, why reason, from string, err error) {
	r.c.stats.dropped[why].Add(1)
	if p != nil {
		p.counters.dropped[why].Add(1)
	}
	if why == reasonDuplicate || why == reasonStale {
		return // expected around restarts and reconnections: counted only
	}
	if r.logs.allow("drop:"+why.String()+":"+from, time.Now()) {
		args := []any{"from", from, "reason", why.String()}
		if err != nil {
			args = append(args, "error", err)
		}
		r.c.log.Warn("cluster: dropped a frame", args...)
	}
}
