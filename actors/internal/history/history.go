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
type Topic struct {
	cfg   Config
	epoch uuid.UUID
	last  uint64  // Seq of the newest broadcast appended, kept or not
	ring  []Entry // grows to cfg.Size, then wraps
	head  int     // index of the oldest kept
	n     int     // how many kept
	bytes int64   // Cost of what is kept
}

// New begins a history, with a new epoch.
func New(cfg Config) *Topic {
	return &Topic{cfg: cfg, epoch: uuid.Must(uuid.NewV7())}
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

// Append keeps a broadcast and returns its position, and how many bytes
// its arrival freed (the oldest, pushed out of a full ring).
func (t *Topic) Append(event string, payload protocol.Payload, now time.Time) (p Position, added, freed int64) {
	t.last++
	e := Entry{Seq: t.last, At: now.UnixNano(), Event: event, Payload: payload}
	added = Cost(event, payload)
	if t.cfg.Size <= 0 {
		return t.Position(), 0, 0
	}
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
	return t.Position(), added, freed
}

func (t *Topic) dropOldest() int64 {
	e := t.at(0)
	cost := Cost(e.Event, e.Payload)
	*e = Entry{}
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	t.bytes -= cost
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
		t.ring, t.head = nil, 0
	}
	return freed
}

// Clear drops everything kept, for the memory budget, and returns the
// bytes freed. The epoch and the sequence go on: a position from before
// is too old now, never taken for a later one.
func (t *Topic) Clear() int64 {
	freed := t.bytes
	t.ring, t.head, t.n, t.bytes = nil, 0, 0, 0
	return freed
}

// Since returns the broadcasts appended after p, oldest first, and
// whether they are all of them: false when p is of another epoch, ahead
// of the history, or older than what is kept (expired, pushed out or
// cleared). A recovery is whole or not at all.
func (t *Topic) Since(p Position, now time.Time) ([]Entry, bool) {
	t.Expire(now)
	if p.Epoch != t.epoch || p.Seq > t.last {
		return nil, false
	}
	missed := int(t.last - p.Seq)
	if missed == 0 {
		return nil, true
	}
	if missed > t.n {
		return nil, false
	}
	out := make([]Entry, missed)
	for i := range out {
		out[i] = *t.at(t.n - missed + i)
	}
	return out, true
}
