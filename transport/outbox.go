package transport

import (
	"slices"
	"sync"
)

// frameWriter is the network side of an outbox.
type frameWriter interface {
	// writeFrames writes a batch of frames in order and returns the first
	// error; after an error the connection is unusable.
	writeFrames(frames []Frame) error
	// writeClose sends a close frame and closes the connection.
	writeClose(code int, reason string)
	// tryFrame writes one frame at once if the network takes it without
	// waiting. ok false: nothing was written. rest non-nil: only part of
	// the frame was, and finishTry must write rest before any other
	// write.
	tryFrame(frame []byte, binary bool) (ok bool, rest []byte)
	// tryBatch is tryFrame for several frames, in order, in one write.
	tryBatch(frames []Frame) (ok bool, rest []byte)
	// finishTry writes what a try left, waiting as writeFrames does.
	finishTry(rest []byte) error
}

// outbox queues frames for one connection and writes them from a goroutine
// that exists only while there is something to write, so an idle connection
// costs no goroutine. Frames are written in the order they were queued.
// A frame sent while nothing is queued or being written is first tried on
// the sender's goroutine, a write that never waits (frameWriter.tryFrame):
// most frames go that way, and no goroutine starts for them.
//
// The queue is bounded in bytes: a Send that would pass the limit drops what
// is queued and closes the connection with CloseTryAgainLater, so a
// publisher never waits for a slow client.
type outbox struct {
	w     frameWriter
	limit int
	wg    *sync.WaitGroup // the transport's; counts the flushing goroutine

	mu       sync.Mutex
	queue    []Frame // frames waiting to be written
	spare    []Frame // the previous batch's slice, reused
	rest     []byte  // the end of a frame a try wrote in part: due first
	bytes    int     // bytes queued or being written
	flushing bool    // a goroutine, or a try, is writing
	closing  bool    // no Send is accepted any more
	closeNow bool    // a close frame is due once the queue is written
	code     int
	reason   string
	closed   bool // the close frame was sent or the connection failed
}

func newOutbox(w frameWriter, limit int, wg *sync.WaitGroup) *outbox {
	return &outbox{w: w, limit: limit, wg: wg}
}

func (o *outbox) Send(frame []byte, binary bool) error {
	o.mu.Lock()
	if err := o.admitLocked(len(frame)); err != nil {
		o.mu.Unlock()
		return err
	}
	if o.flushing || o.closed || len(o.queue) > 0 {
		o.queue = append(o.queue, Frame{Data: frame, Binary: binary})
		o.bytes += len(frame)
		o.startLocked()
		o.mu.Unlock()
		return nil
	}
	// Nothing ahead of it: try it now. Frames sent meanwhile queue up.
	o.flushing = true
	o.mu.Unlock()
	ok, rest := o.w.tryFrame(frame, binary)
	o.mu.Lock()
	if o.triedLocked(ok, rest) {
		o.queue = slices.Insert(o.queue, 0, Frame{Data: frame, Binary: binary})
		o.bytes += len(frame)
		o.startLocked()
	}
	o.mu.Unlock()
	return nil
}

// SendDeferred queues a frame as Send does, but never writes it itself:
// see DeferredSender.
func (o *outbox) SendDeferred(frame []byte, binary bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.admitLocked(len(frame)); err != nil {
		return err
	}
	o.queue = append(o.queue, Frame{Data: frame, Binary: binary})
	o.bytes += len(frame)
	return nil
}

// Flush writes what is queued on the caller's goroutine, as a sender
// whose try found frames queued behind it does, unless a write is under
// way.
func (o *outbox) Flush() {
	o.mu.Lock()
	if !o.flushing {
		o.tryQueuedLocked()
	}
	o.mu.Unlock()
}

// SendBatch queues frames as Send does each, as one batch: with nothing
// queued, they are tried with one write.
func (o *outbox) SendBatch(frames []Frame) error {
	size := 0
	for i := range frames {
		size += len(frames[i].Data)
	}
	o.mu.Lock()
	if err := o.admitLocked(size); err != nil {
		o.mu.Unlock()
		return err
	}
	if o.flushing || o.closed || len(o.queue) > 0 {
		o.queue = append(o.queue, frames...)
		o.bytes += size
		o.startLocked()
		o.mu.Unlock()
		return nil
	}
	o.flushing = true
	o.mu.Unlock()
	ok, rest := o.w.tryBatch(frames)
	o.mu.Lock()
	if o.triedLocked(ok, rest) {
		o.queue = slices.Insert(o.queue, 0, frames...)
		o.bytes += size
		o.startLocked()
	}
	o.mu.Unlock()
	return nil
}

// admitLocked decides whether size more bytes may be queued: not once the
// outbox is closing, and not past its limit, which closes the connection.
func (o *outbox) admitLocked(size int) error {
	if o.closing {
		return ErrClosed
	}
	if o.bytes+size > o.limit {
		// Drop what the client has not taken: it will reconnect and rejoin,
		// which is cheaper for everyone than an ever-growing queue.
		o.dropLocked()
		o.beginCloseLocked(CloseTryAgainLater, "outbox overflow")
		return ErrOutboxFull
	}
	return nil
}

// triedLocked settles a try. requeue: the socket took none of what was
// tried, which the caller queues ahead of whatever was sent during the
// try.
func (o *outbox) triedLocked(ok bool, rest []byte) (requeue bool) {
	o.flushing = false
	switch {
	case !ok && o.closed:
		// The connection ended during the try: dropped with the queue.
	case !ok:
		return true
	case rest != nil:
		o.rest = rest
		o.bytes += len(rest)
		o.startLocked()
	default:
		o.tryQueuedLocked()
	}
	return false
}

// tryQueuedLocked tries the frames queued while a try was writing, as one
// batch, on the same goroutine, and starts the flushing goroutine only for
// what the network does not take at once. Two senders at once (a reply
// and a push of two actors) are common; a goroutine started for the
// second costs more than its write: its stack grows from the start to
// the depth of a write each time. Called with o.mu held and nothing
// flushing.
func (o *outbox) tryQueuedLocked() {
	for range maxQueuedTries {
		if len(o.queue) == 0 || o.closed || o.closeNow {
			break
		}
		batch := o.queue
		o.queue = o.spare[:0]
		o.spare = nil
		o.flushing = true
		o.mu.Unlock()
		ok, rest := o.w.tryBatch(batch)
		o.mu.Lock()
		o.flushing = false
		if !ok && !o.closed {
			o.queue = append(batch, o.queue...)
			break
		}
		// Written, or dropped with the connection.
		o.batchWrittenLocked(batch, nil)
		if rest != nil {
			o.rest = rest
			o.bytes += len(rest)
			break
		}
	}
	if o.rest != nil || len(o.queue) > 0 || o.closeNow {
		o.startLocked()
	}
}

// maxQueuedTries bounds the batches a sender tries for others before it
// leaves the rest to the flushing goroutine, so that it is not held
// writing a busy connection's frames.
const maxQueuedTries = 2

// Close writes what is queued, then the close frame.
func (o *outbox) Close(code int, reason string) {
	o.mu.Lock()
	if !o.closing {
		o.beginCloseLocked(code, reason)
	}
	o.mu.Unlock()
}

// abandon marks the connection gone (its read side ended): queued frames are
// dropped and nothing more is written.
func (o *outbox) abandon() {
	o.mu.Lock()
	o.closing, o.closed = true, true
	o.dropLocked()
	o.mu.Unlock()
}

// dropLocked forgets the frames not yet taken by the writer.
func (o *outbox) dropLocked() {
	for i := range o.queue {
		o.bytes -= len(o.queue[i].Data)
	}
	clear(o.queue)
	o.queue = o.queue[:0]
}

func (o *outbox) beginCloseLocked(code int, reason string) {
	o.closing, o.closeNow = true, true
	o.code, o.reason = code, reason
	o.startLocked()
}

func (o *outbox) startLocked() {
	if o.flushing || o.closed && o.rest == nil {
		return
	}
	o.flushing = true
	o.wg.Add(1)
	go o.flush()
}

func (o *outbox) flush() {
	defer o.wg.Done()
	for {
		o.mu.Lock()
		if rest := o.rest; rest != nil {
			// Written even if the connection is gone: finishing is what
			// lets other writers in.
			o.rest = nil
			o.mu.Unlock()
			err := o.w.finishTry(rest)
			o.mu.Lock()
			o.bytes -= len(rest)
			if err != nil {
				o.writeFailedLocked()
			}
			o.mu.Unlock()
			continue
		}
		if o.closed || len(o.queue) == 0 {
			closeNow := o.closeNow && !o.closed
			if closeNow {
				o.closed = true
			}
			o.flushing = false
			code, reason := o.code, o.reason
			o.mu.Unlock()
			if closeNow {
				o.w.writeClose(code, reason)
			}
			return
		}
		batch := o.queue
		o.queue = o.spare[:0]
		o.spare = nil
		o.mu.Unlock()

		err := o.w.writeFrames(batch)

		o.mu.Lock()
		o.batchWrittenLocked(batch, err)
		o.mu.Unlock()
	}
}

// batchWrittenLocked takes a written batch off the queued bytes and keeps
// its slice for the next; after a write error nothing more is written.
func (o *outbox) batchWrittenLocked(batch []Frame, err error) {
	for i := range batch {
		o.bytes -= len(batch[i].Data)
	}
	clear(batch)
	o.spare = batch[:0]
	if err != nil {
		o.writeFailedLocked()
	}
}

// writeFailedLocked: after a write error the connection is unusable, and
// nothing more is written.
func (o *outbox) writeFailedLocked() {
	o.closing, o.closed = true, true
	o.dropLocked()
}
