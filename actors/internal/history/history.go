// Package history keeps the recent broadcasts of a topic, each at a
// position, so that a client that reconnects can be sent what it missed.
//
// A Topic is one topic's history: a ring of its last broadcasts, kept for
// a time. Its epoch, a UUID made with the history, is part of every
// position: a history that was lost and begun again (a restart, a history
// dropped for the memory budget) never takes a position of the one before
// for its own. A Topic is not safe for concurrent use; its owner orders
// its appends with their deliveries.
package history

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/phxgo/phx/protocol"
)

// Config bounds one topic's history.
type Config struct {
	// Size is how many broadcasts are kept, the newest.
	Size int
	// TTL is how long a broadcast is kept.
	TTL time.Duration
}

// Position names a broadcast in a topic's history: the history's epoch
// and the broadcast's sequence number in it, from 1. The position of a
// history with nothing in it yet has Seq 0.
type Position struct {
	Epoch uuid.UUID
	Seq   uint64
}

// String is the position as clients see it: opaque, short, and safe in
// JSON and URLs.
func (p Position) String() string {
	var b [22 + 1 + 20]byte
	out := base64.RawURLEncoding.AppendEncode(b[:0], p.Epoch[:])
	out = append(out, '.')
	out = strconv.AppendUint(out, p.Seq, 10)
	return string(out)
}

// ErrBadPosition: a string that String did not make.
var ErrBadPosition = errors.New("history: not a position")

// ParsePosition reads what String made.
func ParsePosition(s string) (Position, error) {
	epoch, seq, ok := strings.Cut(s, ".")
	if !ok || len(epoch) != 22 {
		return Position{}, ErrBadPosition
	}
	var p Position
	raw, err := base64.RawURLEncoding.DecodeString(epoch)
	if err != nil || len(raw) != len(p.Epoch) {
		return Position{}, ErrBadPosition
	}
	copy(p.Epoch[:], raw)
	if p.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return Position{}, ErrBadPosition
	}
	return p, nil
}

// Entry is one broadcast kept. Its payload is shared with the broadcast's
// deliveries: read it, do not modify it.
type Entry struct {
	Seq     uint64
	At      int64 // unix nanoseconds, when appended
	Event   string
	Payload protocol.Payload
}

// entryOverhead is what an Entry costs beyond its event's and payload's
// bytes: its own size in the ring.
const entryOverhead = 64

// Cost is what keeping a broadcast of event and payload costs, in bytes.
func Cost(event string, payload protocol.Payload) int64 {
	return int64(entryOverhead + len(event) + len(payload.Data))
}

// Topic is one topic's history.
//
// Its broadcasts are numbered by whoever sequences the topic: this node
// (Append), or another node of a cluster whose positions it follows
// (AppendAt). Within an epoch, positions follow one another by one; a
// history that was followed and is then sequenced here begins a new
// epoch after the last position it had, so two sequencers never give one
// position to two broadcasts. What it keeps may therefore span epochs:
// segments say which.
type Topic struct {
	cfg      Config
	epoch    uuid.UUID
	last     uint64    // Seq of the newest broadcast appended, kept or not
	base     Position  // the position just before the oldest kept
	segs     []segment // the epochs of what is kept, oldest first
	followed bool      // the newest was appended at another node's position
	ring     []Entry   // grows to cfg.Size, then wraps
	head     int       // index of the oldest kept
	n        int       // how many kept
	bytes    int64     // Cost of what is kept
}

// segment is a run of kept broadcasts of one epoch, at consecutive
// sequence numbers from first.
type segment struct {
	epoch uuid.UUID
	first uint64
	n     int
}

// New begins a history, with a new epoch.
func New(cfg Config) *Topic {
	t := &Topic{cfg: cfg, epoch: uuid.Must(uuid.NewV7())}
	t.base = t.Position()
	return t
}

// Position returns the position of the newest broadcast appended.
func (t *Topic) Position() Position { return Position{Epoch: t.epoch, Seq: t.last} }

// Bytes returns what the kept broadcasts cost.
func (t *Topic) Bytes() int64 { return t.bytes }

// Len returns how many broadcasts are kept.
func (t *Topic) Len() int { return t.n }

// LastAt returns when the newest broadcast kept was appended, 0 for none.
func (t *Topic) LastAt() int64 {
	if t.n == 0 {
		return 0
	}
	return t.at(t.n - 1).At
}

// at returns the i-th oldest kept.
func (t *Topic) at(i int) *Entry { return &t.ring[(t.head+i)%len(t.ring)] }

// Append sequences a broadcast here and keeps it. It returns its
// position and the one before it, and how many bytes its arrival added
// and freed (the oldest, pushed out of a full ring).
func (t *Topic) Append(event string, payload protocol.Payload, now time.Time) (p, prev Position, added, freed int64) {
	prev = t.Position()
	if t.followed {
		// Another node sequenced up to here: go on in an epoch of this
		// node's own, so that whatever that node numbered after prev,
		// and this node never saw, is never taken for what follows.
		t.epoch, t.last, t.followed = uuid.Must(uuid.NewV7()), 0, false
	}
	added, freed = t.keep(Position{Epoch: t.epoch, Seq: t.last + 1}, event, payload, now)
	return t.Position(), prev, added, freed
}

// AppendAt keeps a broadcast that another node sequenced at p, right
// after prev. When prev is not this history's position (this node
// missed broadcasts, or followed another sequencer), what it kept is
// dropped first: a recovery is never made across a gap.
func (t *Topic) AppendAt(p, prev Position, event string, payload protocol.Payload, now time.Time) (added, freed int64) {
	if prev != t.Position() {
		freed = t.Clear()
		t.epoch, t.last = prev.Epoch, prev.Seq
		t.base = prev
	}
	a, f := t.keep(p, event, payload, now)
	t.followed = true
	return a, freed + f
}

// keep appends a broadcast at p, which follows the history's position.
func (t *Topic) keep(p Position, event string, payload protocol.Payload, now time.Time) (added, freed int64) {
	t.epoch, t.last = p.Epoch, p.Seq
	if t.cfg.Size <= 0 {
		t.base = p
		return 0, 0
	}
	e := Entry{Seq: p.Seq, At: now.UnixNano(), Event: event, Payload: payload}
	added = Cost(event, payload)
	if t.n == t.cfg.Size {
		freed = t.dropOldest()
	}
	if t.n < len(t.ring) {
		*t.at(t.n) = e
	} else {
		// Not full yet: the ring grows with what is kept, so a topic of a
		// few broadcasts holds a few entries. While it grows, head is 0.
		t.ring = append(t.ring, e)
	}
	t.n++
	t.bytes += added
	if k := len(t.segs) - 1; k >= 0 && t.segs[k].epoch == p.Epoch && t.segs[k].first+uint64(t.segs[k].n) == p.Seq {
		t.segs[k].n++
	} else {
		t.segs = append(t.segs, segment{epoch: p.Epoch, first: p.Seq, n: 1})
	}
	return added, freed
}

func (t *Topic) dropOldest() int64 {
	e := t.at(0)
	cost := Cost(e.Event, e.Payload)
	*e = Entry{}
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	t.bytes -= cost
	s := &t.segs[0]
	t.base = Position{Epoch: s.epoch, Seq: s.first}
	s.first++
	if s.n--; s.n == 0 {
		t.segs = t.segs[1:]
	}
	return cost
}

// Expire drops what is older than the TTL, and returns the bytes freed.
func (t *Topic) Expire(now time.Time) int64 {
	if t.cfg.TTL <= 0 {
		return 0
	}
	limit := now.Add(-t.cfg.TTL).UnixNano()
	var freed int64
	for t.n > 0 && t.at(0).At < limit {
		freed += t.dropOldest()
	}
	if t.n == 0 {
		t.ring, t.head, t.segs = nil, 0, nil
	}
	return freed
}

// Clear drops everything kept, for the memory budget, and returns the
// bytes freed. The epoch and the sequence go on: a position from before
// is too old now, never taken for a later one.
func (t *Topic) Clear() int64 {
	freed := t.bytes
	t.ring, t.head, t.n, t.bytes, t.segs = nil, 0, 0, 0, nil
	t.base = t.Position()
	return freed
}

// Kept is a broadcast as Since returns it. Its payload is shared with
// the broadcast's deliveries: read it, do not modify it.
type Kept struct {
	Position Position
	Event    string
	Payload  protocol.Payload
}

// Since returns the broadcasts appended after p, oldest first, and
// whether they are all of them: false when p is not a position this
// history has passed through (another epoch, ahead of it, forged) or is
// older than what it keeps (expired, pushed out, cleared, or before a
// gap it could not fill). A recovery is whole or not at all.
func (t *Topic) Since(p Position, now time.Time) ([]Kept, bool) {
	t.Expire(now)
	if p == t.Position() {
		return nil, true
	}
	from := -1 // index of the first kept after p
	if p == t.base {
		from = 0
	} else {
		at := 0
		for _, s := range t.segs {
			if s.epoch == p.Epoch && p.Seq >= s.first && p.Seq < s.first+uint64(s.n) {
				from = at + int(p.Seq-s.first) + 1
				break
			}
			at += s.n
		}
	}
	if from < 0 || from >= t.n {
		return nil, false
	}
	out := make([]Kept, 0, t.n-from)
	si, at := 0, 0 // the segment of entry i, and the index it starts at
	for i := from; i < t.n; i++ {
		for i >= at+t.segs[si].n {
			at += t.segs[si].n
			si++
		}
		e := t.at(i)
		out = append(out, Kept{Position: Position{Epoch: t.segs[si].epoch, Seq: e.Seq}, Event: e.Event, Payload: e.Payload})
	}
	return out, true
}
