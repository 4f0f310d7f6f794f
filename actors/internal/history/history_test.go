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
		p, _, _ := h.Append("e", payload(i), now.Add(time.Duration(i)*time.Second))
		pos = append(pos, p)
	}
	if h.Len() != 5 || h.Position() != pos[7] {
		t.Fatalf("kept %d at %v", h.Len(), h.Position())
	}
	at := now.Add(10 * time.Second)
	got, ok := h.Since(pos[3], at) // after 4: 5..8
	if !ok || len(got) != 4 || got[0].Seq != 5 || got[3].Seq != 8 || string(got[0].Payload.Data) != `{"n":5}` {
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
	if p, _, _ := h.Append("e", payload(9), now.Add(67*time.Second)); p.Seq != 9 || p.Epoch != pos[0].Epoch {
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
		_, added, freed := h.Append("ev", payload(i), now)
		if freed != 0 || added != int64(64+2+len(payload(i).Data)) {
			t.Fatalf("append %d: added %d freed %d", i, added, freed)
		}
		want += added
	}
	if _, added, freed := h.Append("ev", payload(10), now); freed != history.Cost("ev", payload(0)) || added != history.Cost("ev", payload(10)) {
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

func BenchmarkAppend(b *testing.B) {
	h := history.New(history.Config{Size: 1000, TTL: 10 * time.Minute})
	p := payload(1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h.Append("new_msg", p, now)
	}
}
