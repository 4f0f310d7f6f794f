package transport

import (
	"sync"
	"time"
)

// CanTry reports whether frames are tried on the sender's goroutine.
const CanTry = canTry

// MaxTryBatch is the most frames a batch tried at once has.
const MaxTryBatch = maxTryBatch

// HoldFinishTry makes the write of what conn's next partial try left wait
// until release is closed: entered is closed once it waits, finished once
// the write has returned.
func HoldFinishTry(conn Conn) (entered, finished <-chan struct{}, release chan<- struct{}) {
	c := conn.(*wsConn)
	h := &heldFinish{
		entered:  make(chan struct{}),
		finished: make(chan struct{}),
		release:  make(chan struct{}),
	}
	c.out.mu.Lock()
	h.frameWriter = c.out.w
	c.out.w = h
	c.out.mu.Unlock()
	return h.entered, h.finished, h.release
}

type heldFinish struct {
	frameWriter
	once     sync.Once
	entered  chan struct{}
	finished chan struct{}
	release  chan struct{}
}

func (h *heldFinish) finishTry(rest []byte) error {
	held := false
	h.once.Do(func() { held = true })
	if !held {
		return h.frameWriter.finishTry(rest)
	}
	close(h.entered)
	<-h.release
	defer close(h.finished)
	return h.frameWriter.finishTry(rest)
}

// SetConnCapClock makes cc read the time from now.
func SetConnCapClock(cc *ConnCap, now func() time.Time) { cc.now = now }

// StepClock makes l read its time from now, in nanoseconds.
func StepClock(l *ConnectLimiter, now func() int64) { l.now = now }

// AllowConnect takes a connect of remoteAddr's budget, as a transport does.
func AllowConnect(l *ConnectLimiter, remoteAddr string) (bool, time.Duration) {
	return l.allow(remoteAddr)
}
