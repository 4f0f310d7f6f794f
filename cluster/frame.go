package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/phxgo/phx/presence"
)

// A frame is what one node sends another: one Proto.Actor remote message,
// carried as a google.protobuf.BytesValue (a type every protobuf registry
// knows, so no generated code is needed) holding
//
//	version (1 byte) | kind (1 byte) | node | incarnation | seq | body | HMAC-SHA256
//
// where node is the sender's name, incarnation identifies one run of it,
// and seq numbers the frames of that run: a receiver drops a frame whose
// seq it has passed, so nothing is delivered twice or out of order. The
// HMAC, keyed with the cluster secret, covers everything before it.
// Strings and byte strings are a uvarint length and their bytes; numbers
// are uvarints.
const frameVersion = 1

// Kinds of frame.
const (
	kindHeartbeat    byte = 1 // I am up; the peers I know; my presence version
	kindBroadcast    byte = 2 // a broadcast made on the sender
	kindDelta        byte = 3 // changes of the sender's presence entries
	kindStateRequest byte = 4 // send me all your presence entries
	kindState        byte = 5 // a part of the sender's presence entries
	kindGoodbye      byte = 6 // the sender is leaving: drop its entries now
	kindGoodbyeAck   byte = 7 // the goodbye was received
)

const macSize = sha256.Size

var (
	errShortFrame   = errors.New("cluster: truncated frame")
	errFrameVersion = errors.New("cluster: unknown frame version")
	errFrameKind    = errors.New("cluster: unknown frame kind")
	errTrailing     = errors.New("cluster: bytes after the frame's body")
	errBadMAC       = errors.New("cluster: frame not signed with the cluster secret")
)

// header is what every frame starts with.
type header struct {
	kind byte
	node string
	inc  uint64
	seq  uint64
}

// peerAddr is a peer as gossiped in heartbeats.
type peerAddr struct{ name, addr string }

type heartbeat struct {
	addr    string // where the sender listens
	to      string // the address the sender sent this to: a node that gets its own heartbeat learns an address of its own
	version uint64 // the sender's presence version, as of its last delta
	peers   []peerAddr
}

type broadcastFrame struct {
	topic, event string
	binary       bool
	payload      []byte
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
	hb    heartbeat
	bc    broadcastFrame
	delta delta
	state stateChunk
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

func (e *encoder) header(h header) {
	e.b = append(e.b, frameVersion, h.kind)
	e.str(h.node)
	e.uvarint(h.inc)
	e.uvarint(h.seq)
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
	e.str(hb.to)
	e.uvarint(hb.version)
	e.uvarint(uint64(len(hb.peers)))
	for _, p := range hb.peers {
		e.str(p.name)
		e.str(p.addr)
	}
}

func (e *encoder) broadcast(b *broadcastFrame) {
	e.str(b.topic)
	e.str(b.event)
	e.bool(b.binary)
	e.bytes(b.payload)
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

// seal appends the HMAC of b under key.
func seal(key, b []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// unseal checks the HMAC that ends b and returns what it covers.
func unseal(key, b []byte) ([]byte, bool) {
	if len(b) < macSize {
		return nil, false
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return body, hmac.Equal(mac, m.Sum(nil))
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

// decodeFrame decodes a frame whose HMAC has been checked and removed.
func decodeFrame(b []byte) (*frame, error) {
	d := &decoder{b: b}
	if v := d.byte(); d.err == nil && v != frameVersion {
		return nil, fmt.Errorf("%w %d", errFrameVersion, v)
	}
	f := &frame{}
	f.kind = d.byte()
	f.node = d.str()
	f.inc = d.uvarint()
	f.seq = d.uvarint()
	switch f.kind {
	case kindHeartbeat:
		f.hb.addr, f.hb.to, f.hb.version = d.str(), d.str(), d.uvarint()
		n := d.count(2)
		for range n {
			f.hb.peers = append(f.hb.peers, peerAddr{d.str(), d.str()})
		}
	case kindBroadcast:
		f.bc.topic, f.bc.event, f.bc.binary, f.bc.payload = d.str(), d.str(), d.bool(), d.bytes()
	case kindDelta:
		f.delta.from, f.delta.to, f.delta.changes = d.uvarint(), d.uvarint(), d.changes()
	case kindState:
		f.state.version, f.state.index, f.state.last, f.state.entries = d.uvarint(), d.uvarint(), d.bool(), d.changes()
	case kindStateRequest, kindGoodbye, kindGoodbyeAck:
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
