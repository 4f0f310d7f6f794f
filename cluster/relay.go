package cluster

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
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
	tick struct{ now time.Time }
	// reachable and unreachable report an address whose listener
	// answered a probe, or whose connection Proto.Actor remote lost.
	reachable   struct{ addr string }
	unreachable struct{ addr string }
	seeds       struct{ addrs []string }
	leave       struct{ done chan struct{} }
	// isolate cuts the relay off (on) or back (off), as a network
	// partition would: tests use it to check a healed partition resyncs.
	isolate struct{ on bool }
	// flushDeltas sends the presence changes gathered so far. The relay
	// sends it to itself when the first change arrives, so it comes after
	// every change already queued: changes made together travel together.
	flushDeltas struct{}
)

// peer is another node, as the relay knows it.
type peer struct {
	name, addr string
	pid        *actor.PID
	inc        uint64
	seq        uint64 // the last frame's
	up         bool
	left       bool      // this incarnation said goodbye
	heard      time.Time // the last frame's arrival
	downSince  time.Time

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
}

// relay is the actor that carries this node's broadcasts and presence to
// its peers, applies theirs, and keeps the membership: who is up, by
// heartbeats. It is the only writer of everything below.
type relay struct {
	c   *Cluster
	seq uint64

	peers     map[string]*peer // by node name
	seeds     map[string]bool  // seed addresses, as last resolved
	contacts  map[string]time.Time
	selfAddrs map[string]bool
	lastBeat  time.Time
	// reach holds the addresses that can be sent to: those whose listener
	// answered a probe, until remote loses its connection to them. Remote
	// retries a lost connection by dialing again, leaking the client
	// connection of every failed attempt (and queueing what is sent
	// meanwhile), so nothing is sent to an address until a probe says its
	// listener is there.
	reach map[string]bool

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

	// logged remembers the peers whose bad frames were logged, so that
	// each is logged once.
	logged map[string]bool
}

func newRelay(c *Cluster) *relay {
	return &relay{
		c:         c,
		peers:     make(map[string]*peer),
		seeds:     make(map[string]bool),
		contacts:  make(map[string]time.Time),
		selfAddrs: map[string]bool{c.addr: true},
		reach:     make(map[string]bool),
		own:       make(map[string]presence.Change),
		logged:    make(map[string]bool),
	}
}

func (r *relay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wrapperspb.BytesValue:
		if !r.isolated {
			r.receive(m.Value)
		}
	case isolate:
		r.isolated = m.on
	case *outBroadcast:
		r.broadcast(m)
	case presence.Change:
		r.changed(m, ctx)
	case flushDeltas:
		r.flush()
	case tick:
		r.tick(m.now)
	case reachable:
		if !r.reach[m.addr] {
			r.reach[m.addr] = true
			r.introduce(m.addr)
			for _, p := range r.peers {
				if p.addr == m.addr && p.up && !p.synced {
					r.requestState(p, time.Now()) // asked before it could be sent
				}
			}
		}
	case unreachable:
		delete(r.reach, m.addr)
	case *seeds:
		r.setSeeds(m.addrs)
	case *leave:
		r.leave(m.done)
	}
}

// send seals a frame and sends it to every peer in to that can be reached,
// and returns how many that was.
func (r *relay) send(kind byte, body func(*encoder), to ...*peer) int {
	if len(to) == 0 || r.isolated {
		return 0
	}
	b := r.frame(kind, body)
	sent := 0
	for _, p := range to {
		if r.reach[p.pid.Address] {
			r.c.ep.ActorSystem().Root.Send(p.pid, &wrapperspb.BytesValue{Value: b})
			sent++
		}
	}
	r.c.stats.framesSent.Add(uint64(sent))
	return sent
}

// frame encodes and seals one frame.
func (r *relay) frame(kind byte, body func(*encoder)) []byte {
	r.seq++
	e := &encoder{b: make([]byte, 0, 128)}
	e.header(header{kind: kind, node: r.c.node, inc: r.c.inc, seq: r.seq})
	if body != nil {
		body(e)
	}
	return seal(r.c.key, e.b)
}

func (r *relay) upPeers() []*peer {
	up := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		if p.up {
			up = append(up, p)
		}
	}
	return up
}

func (r *relay) broadcast(m *outBroadcast) {
	sent := r.send(kindBroadcast, func(e *encoder) {
		e.broadcast(&broadcastFrame{topic: m.topic, event: m.event, binary: m.payload.Binary, payload: m.payload.Data})
	}, r.upPeers()...)
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
	up := r.upPeers()
	from := r.sent + 1
	for _, part := range chunks(r.pending) {
		d := delta{from: from, to: from + uint64(len(part)) - 1, changes: part}
		r.send(kindDelta, func(e *encoder) { e.delta(&d) }, up...)
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
		r.send(kindState, func(e *encoder) { e.state(&s) }, p)
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

// receive handles a frame from a peer.
func (r *relay) receive(b []byte) {
	body, ok := unseal(r.c.key, b)
	if !ok {
		r.dropped("", errBadMAC)
		return
	}
	f, err := decodeFrame(body)
	if err != nil {
		r.dropped(peekNode(body), err)
		return
	}
	r.c.stats.framesReceived.Add(1)
	if f.node == r.c.node {
		if f.inc == r.c.inc {
			if f.kind == kindHeartbeat && f.hb.to != "" {
				r.selfAddrs[f.hb.to] = true // a seed that is this node
				delete(r.contacts, f.hb.to)
			}
		} else if !r.logged["self:"+f.node] {
			r.logged["self:"+f.node] = true
			r.c.log.Error("cluster: another node has this node's name", "node", f.node, "addr", f.hb.addr)
		}
		return
	}
	p := r.peer(f, time.Now())
	if p == nil {
		return
	}
	switch f.kind {
	case kindHeartbeat:
		r.heartbeat(p, &f.hb)
	case kindBroadcast:
		r.c.stats.broadcastsReceived.Add(1)
		var payload actors.Payload
		if f.bc.binary {
			payload = actors.Payload{Binary: true, Data: f.bc.payload}
		} else {
			payload = actors.Payload{Data: f.bc.payload}
		}
		if err := r.c.ep.LocalBroadcast(f.bc.topic, f.bc.event, payload); err != nil {
			r.dropped(p.name, err)
		}
	case kindDelta:
		r.delta(p, &f.delta)
	case kindStateRequest:
		if r.c.cfg.Presence != nil {
			r.sendState(p)
		}
	case kindState:
		r.state(p, &f.state)
	case kindGoodbye:
		r.c.log.Info("cluster: peer left", "node", p.name, "addr", p.addr)
		r.send(kindGoodbyeAck, nil, p)
		r.down(p, time.Now())
		p.left = true
	case kindGoodbyeAck:
		if r.leaving != nil {
			delete(r.leaving, p.name)
			r.leftAll()
		}
	}
}

// peer finds or makes the peer a frame is from, and returns nil for a
// frame to drop: from an earlier incarnation, or one already passed.
func (r *relay) peer(f *frame, now time.Time) *peer {
	p := r.peers[f.node]
	switch {
	case p == nil:
		if f.kind != kindHeartbeat || f.hb.addr == "" {
			return nil // a peer introduces itself with a heartbeat
		}
		p = &peer{name: f.node, inc: f.inc}
		r.peers[f.node] = p
		r.setAddr(p, f.hb.addr)
	case f.inc < p.inc:
		return nil
	case f.inc > p.inc:
		// The node restarted: what its last run held is gone, at once.
		r.c.log.Info("cluster: peer restarted", "node", p.name, "addr", f.hb.addr)
		if r.c.cfg.Presence != nil {
			r.c.cfg.Presence.ReplaceNode(p.name, nil)
		}
		*p = peer{name: p.name, addr: p.addr, pid: p.pid, inc: f.inc, up: p.up}
		if p.up {
			defer r.requestState(p, now)
		}
	case f.seq <= p.seq:
		return nil
	}
	p.seq = f.seq
	if p.left || r.leaving != nil {
		// A node that said goodbye is gone until its next run; one
		// that is leaving meets no one, but answers the goodbyes of
		// nodes leaving with it.
		if f.kind == kindGoodbyeAck || (f.kind == kindGoodbye && !p.left) {
			return p
		}
		return nil
	}
	p.heard = now
	if f.kind == kindHeartbeat && f.hb.addr != "" && f.hb.addr != p.addr {
		r.setAddr(p, f.hb.addr)
	}
	if !p.up && f.kind != kindGoodbye {
		p.up = true
		p.synced = false
		r.c.peersUp.Add(1)
		r.c.log.Info("cluster: peer up", "node", p.name, "addr", p.addr)
		r.publishView()
		r.requestState(p, now)
	}
	return p
}

func (r *relay) setAddr(p *peer, addr string) {
	p.addr = addr
	p.pid = actor.NewPID(addr, relayName)
	delete(r.contacts, addr)
	r.publishView()
	if !r.reach[addr] {
		r.c.probe([]string{addr})
	}
}

// heartbeat returns this node's heartbeat, as of now.
func (r *relay) heartbeatNow() heartbeat {
	var gossip []peerAddr
	for _, p := range r.peers {
		if p.up {
			gossip = append(gossip, peerAddr{p.name, p.addr})
		}
	}
	return heartbeat{addr: r.c.addr, version: r.sent, peers: gossip}
}

// introduce sends a heartbeat at once to an address that has just become
// reachable, rather than at the next beat: a node that is met learns of
// this one without waiting an interval.
func (r *relay) introduce(addr string) {
	if r.leaving != nil || r.selfAddrs[addr] {
		return
	}
	r.flush()
	hb := r.heartbeatNow()
	hb.to = addr
	r.send(kindHeartbeat, func(e *encoder) { e.heartbeat(&hb) }, &peer{pid: actor.NewPID(addr, relayName)})
}

func (r *relay) heartbeat(p *peer, hb *heartbeat) {
	for _, pa := range hb.peers {
		if pa.name == r.c.node || r.selfAddrs[pa.addr] {
			continue
		}
		if known := r.peers[pa.name]; known != nil {
			continue
		}
		if _, ok := r.contacts[pa.addr]; !ok {
			r.contacts[pa.addr] = time.Now()
			if !r.reach[pa.addr] {
				r.c.probe([]string{pa.addr})
			}
		}
	}
	// A delta lost on the way shows here: the heartbeat follows every
	// delta sent before it.
	if p.synced && hb.version > p.version {
		p.synced = false
		r.requestState(p, time.Now())
	}
}

func (r *relay) requestState(p *peer, now time.Time) {
	if r.c.cfg.Presence == nil {
		return
	}
	p.requested = now
	p.parts, p.nextPart = nil, 0
	r.send(kindStateRequest, nil, p)
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

// tick sends heartbeats when due and declares silent peers down.
func (r *relay) tick(now time.Time) {
	if r.leaving != nil {
		return
	}
	if r.isolated {
		r.lastBeat = now
	}
	downAfter := r.c.cfg.HeartbeatInterval * time.Duration(r.c.cfg.DownAfter)
	for name, p := range r.peers {
		if p.up && now.Sub(p.heard) > downAfter {
			r.c.log.Warn("cluster: peer down", "node", p.name, "addr", p.addr, "silent", now.Sub(p.heard).Round(time.Millisecond))
			r.down(p, now)
		}
		if !p.up && now.Sub(p.downSince) > r.c.cfg.ForgetAfter && !r.seeds[p.addr] {
			delete(r.peers, name)
			r.publishView()
		}
	}
	for addr, since := range r.contacts {
		if !r.seeds[addr] && now.Sub(since) > r.c.cfg.ForgetAfter {
			delete(r.contacts, addr)
		}
	}
	if now.Sub(r.lastBeat) < r.c.cfg.HeartbeatInterval {
		return
	}
	r.lastBeat = now
	r.flush()
	hb := r.heartbeatNow()
	// Down peers get heartbeats too, to learn when they are back; nothing
	// else is sent to them.
	for _, p := range r.peers {
		hb.to = p.addr
		r.send(kindHeartbeat, func(e *encoder) { e.heartbeat(&hb) }, p)
		if p.up && !p.synced && now.Sub(p.requested) > downAfter {
			r.requestState(p, now) // the answer was lost
		}
	}
	var probe []string
	for addr := range r.contacts {
		if r.selfAddrs[addr] {
			continue
		}
		if !r.reach[addr] {
			probe = append(probe, addr)
			continue
		}
		hb.to = addr
		r.send(kindHeartbeat, func(e *encoder) { e.heartbeat(&hb) }, &peer{pid: actor.NewPID(addr, relayName)})
	}
	for _, p := range r.peers {
		if !r.reach[p.addr] {
			probe = append(probe, p.addr)
		}
	}
	r.c.probe(probe)
}

// down marks p down: its presences leave this node's view, and nothing
// but heartbeats is sent to it until it is heard from again.
func (r *relay) down(p *peer, now time.Time) {
	if p.up {
		p.up = false
		r.c.peersUp.Add(-1)
	}
	p.downSince = now
	p.synced, p.version, p.parts = false, 0, nil
	if r.c.cfg.Presence != nil {
		r.c.cfg.Presence.ReplaceNode(p.name, nil)
	}
	r.publishView()
}

func (r *relay) setSeeds(addrs []string) {
	r.seeds = make(map[string]bool, len(addrs))
	known := make(map[string]bool, len(r.peers))
	for _, p := range r.peers {
		known[p.addr] = true
	}
	for _, a := range addrs {
		r.seeds[a] = true
		if _, ok := r.contacts[a]; !ok && !known[a] && !r.selfAddrs[a] {
			r.contacts[a] = time.Now()
		}
	}
	var probe []string
	for a := range r.contacts {
		if !r.reach[a] && !r.selfAddrs[a] {
			probe = append(probe, a)
		}
	}
	r.c.probe(probe)
}

// leave tells every peer that is up that this node is leaving; done is
// closed once they have all acknowledged.
func (r *relay) leave(done chan struct{}) {
	r.flush()
	r.leaving, r.leavingDone = make(map[string]bool), done
	up := r.upPeers()
	for _, p := range up {
		if r.reach[p.addr] { // only those can hear it
			r.leaving[p.name] = true
		}
	}
	r.send(kindGoodbye, nil, up...)
	r.leftAll()
}

func (r *relay) leftAll() {
	if len(r.leaving) == 0 && r.leavingDone != nil {
		close(r.leavingDone)
		r.leavingDone = nil
	}
}

func (r *relay) publishView() {
	view := make([]Peer, 0, len(r.peers))
	for _, p := range r.peers {
		view = append(view, Peer{Node: p.name, Addr: p.addr, Incarnation: p.inc, Up: p.up})
	}
	sort.Slice(view, func(i, j int) bool { return view[i].Node < view[j].Node })
	r.c.mu.Lock()
	r.c.view = view
	r.c.mu.Unlock()
}

// dropped logs a frame dropped, once per peer.
func (r *relay) dropped(from string, err error) {
	r.c.stats.framesDropped.Add(1)
	if r.logged[from] || len(r.logged) > 1024 {
		return
	}
	r.logged[from] = true
	r.c.log.Warn("cluster: dropped a frame", "from", from, "error", err)
}
