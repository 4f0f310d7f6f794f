package lograte

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type reports struct {
	mu  sync.Mutex
	got [][2]uint64
	ch  chan struct{}
}

func (r *reports) report(events, held uint64, _ time.Duration) {
	r.mu.Lock()
	r.got = append(r.got, [2]uint64{events, held})
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// The first Burst events pass; the rest of the interval is one report when
// it ends, and the next interval starts afresh.
func TestBurstThenOneReport(t *testing.T) {
	r := &reports{ch: make(chan struct{}, 10)}
	l := &Limiter{Burst: 3, Interval: 50 * time.Millisecond, Report: r.report}
	defer l.Stop()
	passed := 0
	for range 100 {
		if l.Allow() {
			passed++
		}
	}
	if passed != 3 {
		t.Fatalf("%d events passed, want 3", passed)
	}
	select {
	case <-r.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no report when the interval ended")
	}
	if r.got[0] != [2]uint64{100, 97} {
		t.Fatalf("report %v, want 100 events, 97 held", r.got[0])
	}
	if !l.Allow() {
		t.Fatal("the first event of a new interval was held")
	}
}

// An interval within its burst reports nothing; Stop reports what is held
// at once and leaves no timer behind.
func TestStopReportsHeld(t *testing.T) {
	r := &reports{ch: make(chan struct{}, 10)}
	l := &Limiter{Burst: 2, Interval: time.Hour, Report: r.report}
	l.Allow()
	l.Allow()
	l.Allow()
	l.Stop()
	if len(r.got) != 1 || r.got[0] != [2]uint64{3, 1} {
		t.Fatalf("reports %v, want one of 3 events, 1 held", r.got)
	}
	quiet := &Limiter{Burst: 2, Interval: time.Hour, Report: r.report}
	quiet.Allow()
	quiet.Stop()
	if len(r.got) != 1 {
		t.Fatalf("a quiet interval was reported: %v", r.got)
	}
}
