package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/presence"
)

// A frame is what one node sends another: one Proto.Actor remote message,
// carried as a google.protobuf.BytesValue (a type every protobuf registry
// knows, so no generated code is needed) holding
//
//	version | kind | from | from incarnation | to | to incarnation | seq | flags | ack | body
//
// from and to are node names; incarnations are the 16 bytes of a UUID
// naming one run of a node, all zeros in the to field when the sender does
// not know the receiver yet (a hello). A frame is bound to one run of its
// receiver: a node drops what names another node or another run of
// itself. seq numbers the frames of one link (a sender's run to one
// receiver) from 1; a hello, which belongs to no link, has seq 0. ack is
// the last seq the sender received on the link the other way: what a
// sender has in flight is bounded by it. Strings and byte strings are a
// uvarint length and their bytes; numbers are uvarints.
//
// Frames need no signature of their own: the connections between nodes
// are TLS 1.3, both ends proving they hold the cluster's key (tls.go).
const frameVersion = 2

// Kinds of frame.
const (
	kindHeartbeat    byte = 1  // I am up; the peers I know; my presence version
	kindBroadcast    byte = 2  // a broadcast made on the sender
	kindDelta        byte = 3  // changes of the sender's presence entries
	kindStateRequest byte = 4  // send me all your presence entries
	kindState        byte = 5  // a part of the sender's presence entries
	kindGoodbye      byte = 6  // the sender is leaving: drop its entries now
	kindGoodbyeAck   byte = 7  // the goodbye was received
	kindHello        byte = 8  // who is there? (to an address, bound to no run)
	kindRefuse       byte = 9  // you may not join: the reason
	kindAck          byte = 10 // what I have received from you (the header's ack)
	kindForward      byte = 11 // a broadcast of a topic you sequence: number it and hand it on
	kindSequenced    byte = 12 // a broadcast the sender numbered, at a position after another
)

// frameCost is what a frame of n bytes weighs in a link's window: its
// bytes and what remote and gRPC hold beside them while it is queued.
func frameCost(n int) int64 { return int64(n) + 128 }

// flagUp says the sender counts the receiver up: it relays its broadcasts
// and presence there.
const flagUp byte = 1

// refusal reasons, in a refuse frame.
const refuseNameInUse byte = 1

var (
	errShortFrame   = errors.New("cluster: truncated frame")
	errFrameVersion = errors.New("cluster: unknown frame version")
	errFrameKind    = errors.New("cluster: unknown frame kind")
	errTrailing     = errors.New("cluster: bytes after the frame's body")
)

// header is what every frame starts with.
type header struct {
	kind    byte
	from    string
	fromInc uuid.UUID
	to      string
	toInc   uuid.UUID
	seq     uint64
	flags   byte
	ack     uint64
}

// peerAddr is a peer as gossiped in heartbeats.
type peerAddr struct{ name, addr string }

type heartbeat struct {
	addr    string // where the sender listens
	via     string // answering a hello sent to this address: it is the sender's
	version uint64 // the sender's presence version, as of its last delta
	peers   []peerAddr
}

// hello introduces the sender to whoever listens at an address.
type hello struct {
	addr string // where the sender listens: the answer goes there
	to   string // the address the hello was sent to
}

type refusal struct {
	reason byte
	detail string // for the refused node's log
}

type broadcastFrame struct {
	topic, event string
	binary       bool
	payload      []byte

	// Forward and sequenced frames: the node the broadcast was made on
	// ("" for the sender of a sequenced frame) and the channel it skips
	// there (a PID id, "" for none).
	origin, from string
	// Sequenced frames: the broadcast's position in its topic's history
	// and the one before it (zero when the sender keeps no history).
	at, prev seam.Position
}

// delta carries changes from+1 … to of the sender's presence entries.
type delta struct {
	from, to uint64
	changes  []presence.Change
}

// stateChunk is one part of the sender's presence entries at version.
type stateChunk struct {
	version uint64
	index   uint64
	last    bool
	entries []presence.Change
}

// frame is a decoded frame: its header and the body its kind has.
type frame struct {
	header
	hb     heartbeat
	hello  hello
	refuse refusal
	bc     broadcastFrame
	delta  delta
	state  stateChunk
}

// encoder appends a frame to b.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) header(h *header) {
	e.b = append(e.b, frameVersion, h.kind)
	e.str(h.from)
	e.b = append(e.b, h.fromInc[:]...)
	e.str(h.to)
	e.b = append(e.b, h.toInc[:]...)
	e.uvarint(h.seq)
	e.b = append(e.b, h.flags)
	e.uvarint(h.ack)
}

func (e *encoder) changes(cs []presence.Change) {
	e.uvarint(uint64(len(cs)))
	for _, c := range cs {
		e.str(c.Topic)
		e.str(c.Key)
		e.str(c.Ref)
		e.bytes(c.Meta)
		e.str(c.LeftRef)
	}
}

func (e *encoder) heartbeat(hb *heartbeat) {
	e.str(hb.addr)
	e.str(hb.via)
	e.uvarint(hb.version)
	e.uvarint(uint64(len(hb.peers)))
	for _, p := range hb.peers {
		e.str(p.name)
		e.str(p.addr)
	}
}

func (e *encoder) hello(h *hello) {
	e.str(h.addr)
	e.str(h.to)
}

func (e *encoder) refusal(r *refusal) {
	e.b = append(e.b, r.reason)
	e.str(r.detail)
}

func (e *encoder) broadcast(b *broadcastFrame) {
	e.str(b.topic)
	e.str(b.event)
	e.bool(b.binary)
	e.bytes(b.payload)
}

func (e *encoder) forward(b *broadcastFrame) {
	e.broadcast(b)
	e.str(b.from)
}

func (e *encoder) sequenced(b *broadcastFrame) {
	e.broadcast(b)
	e.str(b.origin)
	e.str(b.from)
	e.position(b.at)
	e.position(b.prev)
}

func (e *encoder) position(p seam.Position) {
	e.b = append(e.b, p.Epoch[:]...)
	e.uvarint(p.Seq)
}

func (e *encoder) delta(d *delta) {
	e.uvarint(d.from)
	e.uvarint(d.to)
	e.changes(d.changes)
}

func (e *encoder) state(s *stateChunk) {
	e.uvarint(s.version)
	e.uvarint(s.index)
	e.bool(s.last)
	e.changes(s.entries)
}

// decoder reads a frame; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShortFrame)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uuid() (u uuid.UUID) {
	if len(d.b) < len(u) {
		d.fail(errShortFrame)
		return u
	}
	copy(u[:], d.b)
	d.b = d.b[len(u):]
	return u
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShortFrame)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShortFrame)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string   { return string(d.raw()) }
func (d *decoder) bytes() []byte { return append([]byte(nil), d.raw()...) }

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(fmt.Errorf("cluster: malformed boolean"))
	return false
}

// count reads a number of items each at least min bytes long, refusing
// one the rest of the frame cannot hold, so that a forged count cannot
// make the receiver allocate.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail(errShortFrame)
		return 0
	}
	return int(n)
}

func (d *decoder) changes() []presence.Change {
	n := d.count(5)
	if n == 0 {
		return nil
	}
	cs := make([]presence.Change, 0, n)
	for range n {
		c := presence.Change{Topic: d.str(), Key: d.str(), Ref: d.str()}
		if meta := d.raw(); len(meta) > 0 {
			c.Meta = append([]byte(nil), meta...)
		}
		c.LeftRef = d.str()
		if d.err != nil {
			return nil
		}
		cs = append(cs, c)
	}
	return cs
}

// decodeFrame decodes a frame.
func decodeFrame(b []byte) (*frame, error) {
	d := &decoder{b: b}
	if v := d.byte(); d.err == nil && v != frameVersion {
		return nil, fmt.Errorf("%w %d", errFrameVersion, v)
	}
	f := &frame{}
	f.kind = d.byte()
	f.from = d.str()
	f.fromInc = d.uuid()
	f.to = d.str()
	f.toInc = d.uuid()
	f.seq = d.uvarint()
	f.flags = d.byte()
	f.ack = d.uvarint()
	switch f.kind {
	case kindHeartbeat:
		f.hb.addr, f.hb.via, f.hb.version = d.str(), d.str(), d.uvarint()
		n := d.count(2)
		for range n {
			f.hb.peers = append(f.hb.peers, peerAddr{d.str(), d.str()})
		}
	case kindHello:
		f.hello.addr, f.hello.to = d.str(), d.str()
	case kindRefuse:
		f.refuse.reason, f.refuse.detail = d.byte(), d.str()
	case kindBroadcast:
		f.bc.topic, f.bc.event, f.bc.binary, f.bc.payload = d.str(), d.str(), d.bool(), d.bytes()
	case kindForward:
		f.bc.topic, f.bc.event, f.bc.binary, f.bc.payload = d.str(), d.str(), d.bool(), d.bytes()
		f.bc.from = d.str()
	case kindSequenced:
		f.bc.topic, f.bc.event, f.bc.binary, f.bc.payload = d.str(), d.str(), d.bool(), d.bytes()
		f.bc.origin, f.bc.from = d.str(), d.str()
		f.bc.at = seam.Position{Epoch: d.uuid(), Seq: d.uvarint()}
		f.bc.prev = seam.Position{Epoch: d.uuid(), Seq: d.uvarint()}
	case kindDelta:
		f.delta.from, f.delta.to, f.delta.changes = d.uvarint(), d.uvarint(), d.changes()
	case kindState:
		f.state.version, f.state.index, f.state.last, f.state.entries = d.uvarint(), d.uvarint(), d.bool(), d.changes()
	case kindStateRequest, kindGoodbye, kindGoodbyeAck, kindAck:
	default:
		if d.err == nil {
			return nil, fmt.Errorf("%w %d", errFrameKind, f.kind)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errTrailing
	}
	return f, nil
}

// peekNode returns the sender named by a frame that did not decode, for
// the log.
func peekNode(b []byte) string {
	d := &decoder{b: b}
	d.byte()
	d.byte()
	return d.str()
}
