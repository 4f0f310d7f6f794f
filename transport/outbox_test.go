package transport

// Unit tests of the outbox against a fake network side whose writes the
// test holds and releases, so batching is decided by the test, not by the
// scheduler.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const outboxWait = 10 * time.Second

// fakeWriter records what the outbox writes. With hold set, every
// writeFrames call announces itself on entered and waits for a value on
// release: the error it returns.
type fakeWriter struct {
	hold    bool
	entered chan []Frame
	release chan error
	// try decides each tryFrame; nil refuses every try.
	try func(frame []byte) (ok bool, rest []byte)

	mu      sync.Mutex
	batches [][]Frame // copies: the outbox reuses its slices
	closes  []string  // "code reason", in order
	log     []string  // frames and closes interleaved, in order
}

func newFakeWriter(hold bool) *fakeWriter {
	return &fakeWriter{hold: hold, entered: make(chan []Frame, 16), release: make(chan error, 16)}
}

func (w *fakeWriter) writeFrames(frames []Frame) error {
	batch := append([]Frame(nil), frames...)
	w.mu.Lock()
	w.batches = append(w.batches, batch)
	for _, f := range batch {
		w.log = append(w.log, string(f.Data))
	}
	w.mu.Unlock()
	if !w.hold {
		return nil
	}
	w.entered <- batch
	return <-w.release
}

func (w *fakeWriter) tryFrame(frame []byte, binary bool) (bool, []byte) {
	if w.try == nil {
		return false, nil
	}
	ok, rest := w.try(frame)
	if ok {
		w.mu.Lock()
		w.log = append(w.log, "try "+string(frame[:len(frame)-len(rest)]))
		w.mu.Unlock()
	}
	return ok, rest
}

// tryBatch tries the batch as try does one frame whose bytes are the
// batch's frames joined by "+".
func (w *fakeWriter) tryBatch(frames []Frame) (bool, []byte) {
	parts := make([][]byte, len(frames))
	for i := range frames {
		parts[i] = frames[i].Data
	}
	return w.tryFrame(bytes.Join(parts, []byte("+")), false)
}

func (w *fakeWriter) finishTry(rest []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, "rest "+string(rest))
	return nil
}

func (w *fakeWriter) writeClose(code int, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := fmt.Sprintf("%d %s", code, reason)
	w.closes = append(w.closes, c)
	w.log = append(w.log, "close "+c)
}

func (w *fakeWriter) snapshot() (batches [][]Frame, closes, log []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.batches, w.closes, w.log
}

// waitEntered returns the batch the writer is now holding.
func (w *fakeWriter) waitEntered(t *testing.T) []Frame {
	t.Helper()
	select {
	case b := <-w.entered:
		return b
	case <-time.After(outboxWait):
		t.Fatal("timed out waiting for a write")
		return nil
	}
}

// newTestOutbox returns an outbox of limit bytes over a fake writer, and
// the WaitGroup that counts its flushing goroutine.
func newTestOutbox(hold bool, limit int) (*fakeWriter, *outbox, *sync.WaitGroup) {
	w := newFakeWriter(hold)
	wg := new(sync.WaitGroup)
	return w, newOutbox(w, limit, wg), wg
}

// wantWritten checks what w was given, frames and closes, in order.
func wantWritten(t *testing.T, w *fakeWriter, want string) {
	t.Helper()
	if _, _, log := w.snapshot(); fmt.Sprint(log) != want {
		t.Errorf("written %q, want %s", log, want)
	}
}

// wantSettled checks that o counts nothing queued and writes nothing.
func wantSettled(t *testing.T, o *outbox) {
	t.Helper()
	if n, flushing, _ := o.testState(); n != 0 || flushing {
		t.Errorf("bytes %d, flushing %v", n, flushing)
	}
}

// drained waits for the flushing goroutine to return.
func drained(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(outboxWait):
		t.Fatal("the flushing goroutine did not return")
	}
}

func send(t *testing.T, o *outbox, data string) {
	t.Helper()
	if err := o.Send([]byte(data), false); err != nil {
		t.Fatalf("Send(%q) = %v", data, err)
	}
}

func (o *outbox) testState() (bytes int, flushing bool, queued int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes, o.flushing, len(o.queue)
}

func TestOutboxOrderAcrossBatches(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(true, 1<<20)

	send(t, o, "0")
	if b := w.waitEntered(t); len(b) != 1 {
		t.Fatalf("first batch %v", b)
	}
	// While "0" is being written, the rest queue up and go as one batch.
	for i := 1; i < 10; i++ {
		if err := o.Send([]byte(strconv.Itoa(i)), i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	w.release <- nil
	if b := w.waitEntered(t); len(b) != 9 {
		t.Fatalf("second batch has %d frames, want 9", len(b))
	}
	w.release <- nil
	drained(t, wg)

	batches, closes, _ := w.snapshot()
	var i int
	for _, b := range batches {
		for _, f := range b {
			if string(f.Data) != strconv.Itoa(i) || f.Binary != (i%2 == 0 && i > 0) {
				t.Errorf("frame %d = %q binary=%v", i, f.Data, f.Binary)
			}
			i++
		}
	}
	if i != 10 || len(closes) != 0 {
		t.Errorf("%d frames, closes %v", i, closes)
	}
	// Written bytes are given back, and an idle outbox has no goroutine.
	if n, flushing, _ := o.testState(); n != 0 || flushing {
		t.Errorf("after the flush: bytes %d, flushing %v", n, flushing)
	}

	// The next Send starts a new flusher, reusing the spare slice.
	send(t, o, "10")
	w.waitEntered(t)
	w.release <- nil
	drained(t, wg)
	if n, _, _ := o.testState(); n != 0 {
		t.Errorf("bytes %d", n)
	}
}

func TestOutboxByteLimit(t *testing.T) {
	w, o, wg := newTestOutbox(true, 10)
	send(t, o, "abcd") // being written: still counted
	w.waitEntered(t)
	send(t, o, "efgh")
	send(t, o, "ij") // exactly at the limit
	if n, _, _ := o.testState(); n != 10 {
		t.Fatalf("bytes %d, want 10", n)
	}
	w.release <- nil
	w.waitEntered(t)
	w.release <- nil
	drained(t, wg)
	if n, _, _ := o.testState(); n != 0 {
		t.Errorf("bytes %d after the flush, want 0", n)
	}
}

func TestOutboxCloseAfterQueued(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(true, 1<<20)
	send(t, o, "a")
	w.waitEntered(t)
	send(t, o, "b")
	send(t, o, "c")
	o.Close(CloseInternalError, "bye")
	o.Close(CloseNormal, "again") // ignored: the first close wins
	if err := o.Send([]byte("d"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	w.release <- nil
	w.waitEntered(t)
	w.release <- nil
	drained(t, wg)
	wantWritten(t, w, "[a b c close 1011 bye]")
}

func TestOutboxCloseIdle(t *testing.T) {
	w, o, wg := newTestOutbox(false, 1<<20)
	o.Close(CloseServiceRestart, "restart")
	drained(t, wg)
	o.Close(CloseServiceRestart, "restart")
	drained(t, wg)
	if _, closes, _ := w.snapshot(); fmt.Sprint(closes) != "[1012 restart]" {
		t.Errorf("closes %v, want one", closes)
	}
}

func TestOutboxOverflow(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(true, 10)
	send(t, o, "0123") // being written
	w.waitEntered(t)
	send(t, o, "4567") // queued
	// 12 bytes would pass the limit of 10: the queue is dropped and the
	// connection closed; the publisher is told at once, never blocked.
	if err := o.Send([]byte("89ab"), false); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("Send over the limit = %v, want ErrOutboxFull", err)
	}
	if _, _, queued := o.testState(); queued != 0 {
		t.Errorf("%d frames still queued after the overflow", queued)
	}
	for range 100 {
		if err := o.Send([]byte("x"), false); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after the overflow = %v, want ErrClosed", err)
		}
	}
	w.release <- nil
	drained(t, wg)
	wantWritten(t, w, "[0123 close 1013 outbox overflow]")
}

func TestOutboxFrameOverLimit(t *testing.T) {
	w, o, wg := newTestOutbox(false, 10)
	if err := o.Send(make([]byte, 11), true); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("Send = %v, want ErrOutboxFull", err)
	}
	drained(t, wg)
	wantWritten(t, w, "[close 1013 outbox overflow]")
}

func TestOutboxWriteError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(true, 1<<20)
	send(t, o, "a")
	w.waitEntered(t)
	send(t, o, "b")
	o.Close(CloseNormal, "done")
	w.release <- errors.New("broken pipe")
	drained(t, wg)
	// The connection is unusable: "b" is dropped and no close frame is tried.
	if batches, closes, _ := w.snapshot(); len(batches) != 1 || len(closes) != 0 {
		t.Errorf("after a write error: batches %v, closes %v", batches, closes)
	}
	if err := o.Send([]byte("c"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after a write error = %v, want ErrClosed", err)
	}
	if _, flushing, _ := o.testState(); flushing {
		t.Error("still flushing")
	}
}

func TestOutboxWriteErrorWithoutClose(t *testing.T) {
	w, o, wg := newTestOutbox(true, 1<<20)
	send(t, o, "a")
	w.waitEntered(t)
	w.release <- errors.New("timeout")
	drained(t, wg)
	if err := o.Send([]byte("b"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Send = %v, want ErrClosed", err)
	}
	o.Close(CloseNormal, "")
	drained(t, wg)
	if batches, closes, _ := w.snapshot(); len(batches) != 1 || len(closes) != 0 {
		t.Errorf("batches %v, closes %v: nothing is written after a failure", batches, closes)
	}
}

// abandon is the read side ending: what is queued is dropped unwritten.
func TestOutboxAbandon(t *testing.T) {
	w, o, wg := newTestOutbox(true, 1<<20)
	send(t, o, "a")
	w.waitEntered(t)
	send(t, o, "b")
	o.abandon()
	if err := o.Send([]byte("c"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after abandon = %v", err)
	}
	o.Close(CloseNormal, "")
	w.release <- nil
	drained(t, wg)
	wantWritten(t, w, "[a]")
}

// Concurrent publishers: each one's frames stay in its own order, and the
// race detector watches the locking.
func TestOutboxConcurrentSenders(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	const senders, each = 8, 500
	var pubs sync.WaitGroup
	for s := range senders {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range each {
				if err := o.Send([]byte(fmt.Sprintf("%d:%d", s, i)), false); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		}()
	}
	pubs.Wait()
	drained(t, wg)
	_, _, log := w.snapshot()
	if len(log) != senders*each {
		t.Fatalf("%d frames written, want %d", len(log), senders*each)
	}
	next := make([]int, senders)
	for _, f := range log {
		var s, i int
		if _, err := fmt.Sscanf(f, "%d:%d", &s, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[s] {
			t.Fatalf("sender %d: frame %d after %d", s, i, next[s]-1)
		}
		next[s]++
	}
	wantSettled(t, o)
}

// A frame sent to an idle outbox is tried on the sender's goroutine and,
// taken whole, needs no writing goroutine.
func TestOutboxTryTakenWhole(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	w.try = func([]byte) (bool, []byte) { return true, nil }
	send(t, o, "a")
	send(t, o, "b")
	if _, _, log := w.snapshot(); fmt.Sprint(log) != "[try a try b]" {
		t.Fatalf("written %q", log)
	}
	wantSettled(t, o)
	o.Close(CloseNormal, "bye")
	drained(t, wg)
	if _, _, log := w.snapshot(); log[len(log)-1] != "close 1000 bye" {
		t.Errorf("written %q", log)
	}
}

// Frames sent during a try are tried next, as one batch, by the sender
// whose try took its frame: no goroutine starts when the network takes
// them; when it does not, the flushing goroutine writes them, in order.
func TestOutboxTriesWhatWasQueuedDuringATry(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	refuse := false
	w.try = func(frame []byte) (bool, []byte) {
		switch string(frame) {
		case "a", "x":
			send(t, o, string(frame)+"1") // other senders, while this one tries
			send(t, o, string(frame)+"2")
		case "x1+x2":
			return !refuse, nil
		}
		return true, nil
	}
	send(t, o, "a")
	if batches, _, _ := w.snapshot(); len(batches) != 0 {
		t.Errorf("the flushing goroutine wrote %v", batches)
	}
	wantWritten(t, w, "[try a try a1+a2]")
	wantSettled(t, o)

	refuse = true
	send(t, o, "x")
	drained(t, wg)
	wantWritten(t, w, "[try a try a1+a2 try x x1 x2]")
	wantSettled(t, o)
}

// A try the network refuses queues its frame ahead of those sent during
// the try; a try it takes in part leaves the rest to be written first.
func TestOutboxTryRefusedOrPartial(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	w.try = func(frame []byte) (bool, []byte) {
		if string(frame) == "refused" {
			send(t, o, "during 1") // another sender, while this one tries
			return false, nil
		}
		send(t, o, "during 2")
		return true, frame[2:] // "partial" taken up to "pa"
	}
	send(t, o, "refused")
	drained(t, wg)
	send(t, o, "partial")
	drained(t, wg)
	wantWritten(t, w, "[refused during 1 try pa rest rtial during 2]")
	wantSettled(t, o)
}

// The rest of a frame is written even when the connection ends during the
// try: writing it is what lets the connection's other writers in.
func TestOutboxTryRestAfterAbandon(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	w.try = func(frame []byte) (bool, []byte) {
		o.abandon()
		return true, frame[1:]
	}
	send(t, o, "xyz")
	drained(t, wg)
	wantWritten(t, w, "[try x rest yz]")
	if err := o.Send([]byte("late"), false); err != ErrClosed {
		t.Errorf("Send after abandon = %v", err)
	}
}

func sendBatch(t *testing.T, o *outbox, frames ...string) {
	t.Helper()
	batch := make([]Frame, len(frames))
	for i, f := range frames {
		batch[i] = Frame{Data: []byte(f)}
	}
	if err := o.SendBatch(batch); err != nil {
		t.Fatalf("SendBatch %q: %v", frames, err)
	}
}

// A batch sent to an idle outbox is tried as one write; refused, it is
// queued whole ahead of what was sent during the try; sent while frames
// are queued, it goes after them.
func TestOutboxSendBatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	w.try = func(frame []byte) (bool, []byte) {
		if string(frame) == "r1+r2" {
			send(t, o, "during")
			return false, nil
		}
		return true, nil
	}
	sendBatch(t, o, "a", "b")
	sendBatch(t, o, "r1", "r2")
	drained(t, wg)
	wantWritten(t, w, "[try a+b r1 r2 during]")
	wantSettled(t, o)
}

func TestOutboxSendBatchBehindQueue(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(true, 1<<20)
	send(t, o, "a")
	w.waitEntered(t)
	sendBatch(t, o, "b", "c")
	send(t, o, "d")
	w.release <- nil
	if got := w.waitEntered(t); len(got) != 3 {
		t.Errorf("second batch %d frames, want b, c, d", len(got))
	}
	w.release <- nil
	drained(t, wg)
	wantWritten(t, w, "[a b c d]")
}

// A batch is admitted whole or not at all: past the limit it closes the
// connection as a frame does, and nothing is accepted once closing.
func TestOutboxSendBatchLimits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 10)
	err := o.SendBatch([]Frame{{Data: []byte("123456")}, {Data: []byte("78901")}})
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("SendBatch over the limit = %v, want ErrOutboxFull", err)
	}
	if err := o.SendBatch([]Frame{{Data: []byte("a")}}); !errors.Is(err, ErrClosed) {
		t.Errorf("SendBatch once closing = %v, want ErrClosed", err)
	}
	drained(t, wg)
	wantWritten(t, w, "[close 1013 outbox overflow]")
}

// A deferred frame waits, in its place, for Flush: nothing is written
// when it is queued; a frame sent before Flush goes after it (written by
// the flushing goroutine, which Flush then leaves it to); Flush on an
// idle outbox tries the queue on the caller's goroutine, as one batch.
func TestOutboxSendDeferred(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 1<<20)
	w.try = func([]byte) (bool, []byte) { return true, nil }
	if err := o.SendDeferred([]byte("reply"), false); err != nil {
		t.Fatal(err)
	}
	wantWritten(t, w, "[]")
	if _, _, queued := o.testState(); queued != 1 {
		t.Fatalf("%d frames queued, want the deferred one", queued)
	}
	o.Flush()
	wantWritten(t, w, "[try reply]")
	wantSettled(t, o)

	if err := o.SendDeferred([]byte("reply2"), false); err != nil {
		t.Fatal(err)
	}
	send(t, o, "broadcast") // between the lock's release and Flush
	o.Flush()
	drained(t, wg)
	wantWritten(t, w, "[try reply reply2 broadcast]")
	wantSettled(t, o)

	o.Close(CloseNormal, "bye")
	drained(t, wg)
	if err := o.SendDeferred([]byte("late"), false); err != ErrClosed {
		t.Errorf("SendDeferred after Close = %v", err)
	}
	o.Flush()
}

// SendDeferred counts against the outbox's limit as Send does.
func TestOutboxSendDeferredOverLimit(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, o, wg := newTestOutbox(false, 8)
	w.try = func([]byte) (bool, []byte) { return true, nil }
	if err := o.SendDeferred([]byte("12345"), false); err != nil {
		t.Fatal(err)
	}
	if err := o.SendDeferred([]byte("6789"), false); err != ErrOutboxFull {
		t.Errorf("SendDeferred past the limit = %v, want ErrOutboxFull", err)
	}
	o.Flush()
	drained(t, wg)
	if _, closes, _ := w.snapshot(); len(closes) != 1 {
		t.Errorf("closes %q, want the overflow's", closes)
	}
}
