package history_test

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/protocol"
)

func payload(n int) protocol.Payload { return protocol.JSON(fmt.Appendf(nil, `{"n":%d}`, n)) }

func TestPositionRoundTrip(t *testing.T) {
	p := history.Position{Epoch: uuid.Must(uuid.NewV7()), Seq: 1234}
	s := p.String()
	got, err := history.ParsePosition(s)
	if err != nil || got != p {
		t.Fatalf("ParsePosition(%q) = %v, %v; want %v", s, got, err, p)
	}
	for _, bad := range []string{"", "1234", "x.1", s + "x", s[:22] + ".-1", s[:21] + "!." + "1", "." + s} {
		if _, err := history.ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) accepted", bad)
		}
	}
}

// What a client missed is sent whole or not at all: after a position
// kept, everything since, in order; of another epoch, ahead of the
// history, pushed out by the size or expired, nothing.
func TestSince(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	h := history.New(history.Config{Size: 5, TTL: time.Minute})
	start := h.Position()
	if start.Seq != 0 {
		t.Fatalf("a new history is at %d", start.Seq)
	}
	var pos []history.Position
	for i := 1; i <= 8; i++ {
		p, _, _, _ := h.Append("e", payload(i), now.Add(time.Duration(i)*time.Second))
		pos = append(pos, p)
	}
	if h.Len() != 5 || h.Position() != pos[7] {
		t.Fatalf("kept %d at %v", h.Len(), h.Position())
	}
	at := now.Add(10 * time.Second)
	got, ok := h.Since(pos[3], at) // after 4: 5..8
	if !ok || len(got) != 4 || got[0].Position.Seq != 5 || got[3].Position.Seq != 8 || string(got[0].Payload.Data) != `{"n":5}` {
		t.Fatalf("since 4: %v %v", got, ok)
	}
	if got, ok := h.Since(pos[2], at); !ok || len(got) != 5 { // after 3: 4..8, all kept
		t.Fatalf("since 3: %d %v", len(got), ok)
	}
	if _, ok := h.Since(pos[1], at); ok { // after 2: 3 was pushed out
		t.Fatal("a recovery past what is kept")
	}
	if _, ok := h.Since(start, at); ok {
		t.Fatal("a recovery from the start of a history that lost its oldest")
	}
	if got, ok := h.Since(pos[7], at); !ok || len(got) != 0 {
		t.Fatal("nothing missed is a whole recovery")
	}
	if _, ok := h.Since(history.Position{Epoch: pos[7].Epoch, Seq: 9}, at); ok {
		t.Fatal("a position ahead of the history")
	}
	other := history.New(history.Config{Size: 5, TTL: time.Minute})
	if _, ok := other.Since(pos[7], at); ok {
		t.Fatal("a position of another epoch")
	}
	// Expiry: at 65 s, broadcasts 4 and older are past the minute.
	got, ok = h.Since(pos[4], now.Add(65*time.Second))
	if !ok || len(got) != 3 {
		t.Fatalf("since 5 at 65 s: %d %v", len(got), ok)
	}
	if _, ok := h.Since(pos[3], now.Add(66*time.Second)); ok {
		t.Fatal("a recovery of an expired broadcast")
	}
	if h.Clear() == 0 || h.Len() != 0 || h.Bytes() != 0 {
		t.Fatal("Clear kept something")
	}
	if _, ok := h.Since(pos[6], now.Add(66*time.Second)); ok {
		t.Fatal("a recovery across a Clear")
	}
	if p, _, _, _ := h.Append("e", payload(9), now.Add(67*time.Second)); p.Seq != 9 || p.Epoch != pos[0].Epoch {
		t.Fatalf("after a Clear the history goes on at %v", p)
	}
}

// A kept broadcast costs its payload and event plus 64 bytes, and the
// count is exact as broadcasts come and go.
func TestBytes(t *testing.T) {
	if size := unsafe.Sizeof(history.Entry{}); size != 64 {
		t.Fatalf("an entry is %d bytes", size)
	}
	now := time.Unix(1_000_000, 0)
	h := history.New(history.Config{Size: 3, TTL: time.Minute})
	var want int64
	for i := range 3 {
		_, _, added, freed := h.Append("ev", payload(i), now)
		if freed != 0 || added != int64(64+2+len(payload(i).Data)) {
			t.Fatalf("append %d: added %d freed %d", i, added, freed)
		}
		want += added
	}
	if _, _, added, freed := h.Append("ev", payload(10), now); freed != history.Cost("ev", payload(0)) || added != history.Cost("ev", payload(10)) {
		t.Fatalf("a full ring: added %d freed %d", added, freed)
	} else {
		want += added - freed
	}
	if h.Bytes() != want {
		t.Fatalf("bytes %d, want %d", h.Bytes(), want)
	}
	if freed := h.Expire(now.Add(2 * time.Minute)); freed != want || h.Bytes() != 0 || h.Len() != 0 {
		t.Fatalf("expired %d of %d, %d left", freed, want, h.Bytes())
	}
}

// A node that follows another's positions keeps them as they are, drops
// what it kept when it finds a gap, and, when it sequences the topic
// itself after following, goes on in an epoch of its own: a position
// the other sequencer gave after the last one seen here is never
// recovered from.
func TestFollow(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	owner := history.New(history.Config{Size: 10, TTL: time.Minute})
	follower := history.New(history.Config{Size: 10, TTL: time.Minute})
	var pos []history.Position
	for i := 1; i <= 4; i++ {
		p, prev, _, _ := owner.Append("e", payload(i), now)
		follower.AppendAt(p, prev, "e", payload(i), now)
		pos = append(pos, p)
	}
	if follower.Position() != owner.Position() || follower.Len() != 4 {
		t.Fatalf("follower at %v with %d, owner at %v", follower.Position(), follower.Len(), owner.Position())
	}
	// The follower's positions are the owner's.
	if got, ok := follower.Since(pos[0], now); !ok || len(got) != 3 || got[0].Position != pos[1] {
		t.Fatalf("follower since 1: %v %v", got, ok)
	}
	// The owner numbers 5, which the follower misses, then 6.
	owner.Append("e", payload(5), now)
	p6, prev6, _, _ := owner.Append("e", payload(6), now)
	follower.AppendAt(p6, prev6, "e", payload(6), now)
	if follower.Len() != 1 {
		t.Fatalf("after a gap the follower keeps %d", follower.Len())
	}
	if _, ok := follower.Since(pos[3], now); ok {
		t.Fatal("a recovery across a gap")
	}
	if got, ok := follower.Since(history.Position{Epoch: p6.Epoch, Seq: 5}, now); !ok || len(got) != 1 || got[0].Position != p6 {
		t.Fatalf("since 5 on the follower: %v %v", got, ok)
	}
	// The follower takes over: a new epoch, after 6.
	p7, prev7, _, _ := follower.Append("e", payload(7), now)
	if p7.Epoch == p6.Epoch || p7.Seq != 1 || prev7 != p6 {
		t.Fatalf("taking over: %v after %v", p7, prev7)
	}
	p8, _, _, _ := follower.Append("e", payload(8), now)
	if p8.Epoch != p7.Epoch || p8.Seq != 2 {
		t.Fatalf("the new sequencer goes on at %v", p8)
	}
	got, ok := follower.Since(history.Position{Epoch: p6.Epoch, Seq: 5}, now)
	if !ok || len(got) != 3 || got[0].Position != p6 || got[1].Position != p7 || got[2].Position != p8 {
		t.Fatalf("across epochs: %v %v", got, ok)
	}
	if got, ok := follower.Since(p6, now); !ok || len(got) != 2 || string(got[0].Payload.Data) != `{"n":7}` {
		t.Fatalf("since the last of the old epoch: %v %v", got, ok)
	}
	// What the old owner numbered after 6 is not in this history.
	p7old, _, _, _ := owner.Append("e", payload(70), now)
	if _, ok := follower.Since(p7old, now); ok {
		t.Fatal("a recovery from the other sequencer's later position")
	}
	// The old owner follows the new one from 6's successor: its own 7 is
	// dropped with what it kept.
	owner.AppendAt(p7, prev7, "e", payload(7), now)
	if _, ok := owner.Since(p7old, now); ok || owner.Len() != 1 {
		t.Fatalf("the old owner kept %d", owner.Len())
	}
	// Segments are pushed out with their entries.
	small := history.New(history.Config{Size: 2, TTL: time.Minute})
	q1, qp1, _, _ := owner.Append("e", payload(1), now)
	small.AppendAt(q1, qp1, "e", payload(1), now)
	s1, _, _, _ := small.Append("e", payload(2), now)
	s2, _, _, _ := small.Append("e", payload(3), now)
	if got, ok := small.Since(q1, now); !ok || len(got) != 2 || got[0].Position != s1 || got[1].Position != s2 {
		t.Fatalf("small since q1: %v %v", got, ok)
	}
	small.Append("e", payload(4), now)
	if _, ok := small.Since(q1, now); ok {
		t.Fatal("a recovery from a position pushed out")
	}
	if got, ok := small.Since(s1, now); !ok || len(got) != 2 {
		t.Fatalf("small since s1: %v %v", got, ok)
	}
}

func BenchmarkAppend(b *testing.B) {
	h := history.New(history.Config{Size: 1000, TTL: 10 * time.Minute})
	p := payload(1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h.Append("new_msg", p, now)
	}
}
