// Package lograte keeps a storm of one kind of event from filling a log:
// the first few events of an interval are logged one by one, the rest are
// counted and reported in one line when the interval ends.
package lograte

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limiter lets the first Burst events of each Interval through and sums
// the rest. An interval starts with the first event after the previous
// one ended. Its methods are safe for concurrent use; the zero value is
// not: set Burst, Interval and Report.
type Limiter struct {
	// Burst is how many events of an interval Allow lets through.
	Burst int
	// Interval is how long a burst lasts.
	Interval time.Duration
	// Report is called once an interval that held more than Burst events
	// has ended (from a timer's goroutine, or from Stop), with the events
	// of the interval and how many of them Allow held back. It may log; it
	// must not call the Limiter.
	Report func(events, held uint64, interval time.Duration)

	// over is set while an interval past its burst waits for its report:
	// Allow then refuses without the lock, counting in late, which the
	// report adds in. A storm's events each took the lock before, and
	// workers of a busy endpoint met on it.
	over atomic.Bool
	late atomic.Uint64

	mu      sync.Mutex
	start   time.Time   // when the interval began; zero between intervals
	events  uint64      // events of this interval, guarded by mu
	held    uint64      // events Allow refused this interval, guarded by mu
	timer   *time.Timer // reports the interval's held events, guarded by mu
	stopped bool        // guarded by mu
	pending sync.WaitGroup
}

// Allow counts an event and reports whether to log it one by one.
func (l *Limiter) Allow() bool {
	if l.over.Load() {
		l.late.Add(1)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.start.IsZero() || now.Sub(l.start) >= l.Interval && l.timer == nil {
		l.start, l.events, l.held = now, 0, 0
	}
	l.events++
	if l.events <= uint64(l.Burst) {
		return true
	}
	l.held++
	if l.timer == nil && !l.stopped {
		// A timer, not the next event, ends the interval: a storm that
		// stops must still be reported.
		l.pending.Add(1)
		l.timer = time.AfterFunc(l.Interval-now.Sub(l.start), l.flush)
		l.over.Store(true)
	}
	return false
}

func (l *Limiter) flush() {
	defer l.pending.Done()
	l.mu.Lock()
	l.over.Store(false)
	late := l.late.Swap(0)
	events, held, d := l.events+late, l.held+late, l.Interval
	l.start, l.events, l.held, l.timer = time.Time{}, 0, 0, nil
	l.mu.Unlock()
	if held > 0 {
		l.Report(events, held, d)
	}
}

// Stop reports what is held back now, and nothing after: no timer of the
// Limiter runs once Stop has returned.
func (l *Limiter) Stop() {
	l.mu.Lock()
	l.stopped = true
	t := l.timer
	if t != nil && t.Stop() {
		l.timer = nil
		l.mu.Unlock()
		l.pending.Done()
		l.mu.Lock()
		l.over.Store(false)
		late := l.late.Swap(0)
		events, held, d := l.events+late, l.held+late, time.Since(l.start)
		l.start, l.events, l.held = time.Time{}, 0, 0
		l.mu.Unlock()
		if held > 0 {
			l.Report(events, held, d.Round(time.Millisecond))
		}
	} else {
		l.mu.Unlock()
	}
	l.pending.Wait()
}
