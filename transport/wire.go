package transport

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// wire is the network connection under a gws connection. Every write to
// it holds mu: gws's own (control frames, through Write) and the outbox's
// tries. A try writes a frame with one system call if the socket's buffer
// takes it at once and never waits; it saves the goroutine that would
// otherwise start to write a frame to a connection with nothing queued,
// which is most of them: one per delivery of a broadcast, one per reply.
type wire struct {
	net.Conn
	timeout time.Duration // bounds a write that waits (armLocked); 0: none
	mu      sync.Mutex
	raw     syscall.RawConn // nil: no tries (not a TCP connection, or compressed)
	// closeSent: a close frame went out (guarded by mu). Nothing may
	// follow it (RFC 6455 §5.5.1), and the wire refuses what would: gws
	// refuses to write after a close frame of its own, but not after one
	// it was handed as any other frame (writeClose's), and the tries
	// bypass gws.
	closeSent bool
	// deadline is the socket's write deadline, in unix nanoseconds
	// (guarded by mu).
	deadline int64
}

// newWire wraps conn. timeout bounds each write that waits for the
// socket. compressed: the connection negotiated permessage-deflate, whose
// frames gws must encode.
func newWire(conn net.Conn, timeout time.Duration, compressed bool) *wire {
	w := &wire{Conn: conn, timeout: timeout}
	// A TCP connection, or one that wraps it and says so (ConnCap's);
	// never one that transforms what is written (TLS has no
	// SyscallConn).
	if sc, ok := conn.(syscall.Conn); ok && !compressed && canTry {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// Write is how gws writes: the handshake's response, then one whole frame
// per call. Each is armed here, the close frames gws writes of its own
// accord (echoing a client's close, refusing a frame) as much as the
// others: the deadline an earlier write armed may have passed since.
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeSent {
		return 0, errCloseSent
	}
	if len(p) > 0 && p[0] == 0x88 { // FIN and opcode 8: a close frame
		w.closeSent = true
	}
	if err := w.armLocked(); err != nil {
		return 0, err
	}
	return w.Conn.Write(p)
}

var errCloseSent = errors.New("transport: write after the close frame")

// SetDeadline and SetWriteDeadline update the deadline armLocked
// remembers: gws's handshake sets one on the socket, then clears it.
func (w *wire) SetDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = unixNano(t)
	return w.Conn.SetDeadline(t)
}

func (w *wire) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = unixNano(t)
	return w.Conn.SetWriteDeadline(t)
}

// unixNano returns t in unix nanoseconds, and 0 for the zero time, no
// deadline, which the next write arms.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// armLocked makes sure the socket's write deadline leaves at least
// timeout to a write starting now. Setting one updates a timer in the
// runtime's poller, which costs as much as a small write, so a deadline
// serves every write that starts while at least timeout of it is left.
//
// The deadline is set and remembered together, under mu: two writers
// arming at once could otherwise leave the socket with the earlier of
// their deadlines and the later remembered. It is set on the network
// connection, not through gws, whose SetWriteDeadline writes a close
// frame through Write when it fails: with mu held, that write would wait
// forever.
func (w *wire) armLocked() error {
	if w.timeout <= 0 {
		return nil
	}
	t := int64(w.timeout)
	now := time.Now().UnixNano()
	if w.deadline-now >= t {
		return nil
	}
	d := now + t + t/2
	if err := w.Conn.SetWriteDeadline(time.Unix(0, d)); err != nil {
		return err
	}
	w.deadline = d
	return nil
}

// CloseWrite shuts the write side, as writeClose wants after the close
// frame.
func (w *wire) CloseWrite() error {
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// maxPayload is the largest payload gws writes (ErrMessageTooLarge).
const maxPayload = 16 << 20

// gwsRefuses reports whether gws would refuse to write this frame: too
// large, or text that is not UTF-8. Such a frame is left to gws, so that
// its error is reported as it always was.
func gwsRefuses(payload []byte, binary bool) bool {
	return len(payload) > maxPayload || !binary && !utf8.Valid(payload)
}

// tryFrame writes payload as one unfragmented, unmasked frame if the
// socket takes it without waiting. ok false: nothing was written (mu was
// held by a writer, the socket's buffer was full, a close frame was sent,
// or gws would refuse the frame). rest non-nil: the socket took only part
// of the frame; mu stays held, and finishTry must write rest before
// anything else is written.
func (w *wire) tryFrame(payload []byte, binary bool) (ok bool, rest []byte) {
	if w.raw == nil || gwsRefuses(payload, binary) {
		return false, nil
	}
	op := writevOps.Get().(*writevOp)
	op.add(payload, binary)
	ok, rest = w.try(op)
	op.reset()
	writevOps.Put(op)
	return ok, rest
}

// maxTryBatch is the most frames tryBatch writes in one system call; a
// larger batch is queued.
const maxTryBatch = 8

// tryBatch is tryFrame for several frames, written with one writev(2) in
// order: ok false, none of them was written; rest non-nil, what the socket
// did not take of them, due first as for tryFrame.
func (w *wire) tryBatch(frames []Frame) (ok bool, rest []byte) {
	if w.raw == nil || len(frames) > maxTryBatch {
		return false, nil
	}
	for i := range frames {
		if gwsRefuses(frames[i].Data, frames[i].Binary) {
			return false, nil
		}
	}
	op := writevOps.Get().(*writevOp)
	for i := range frames {
		op.add(frames[i].Data, frames[i].Binary)
	}
	ok, rest = w.try(op)
	op.reset()
	writevOps.Put(op)
	return ok, rest
}

// try makes op's system call if mu is free and no close frame went out.
func (w *wire) try(op *writevOp) (ok bool, rest []byte) {
	if !w.mu.TryLock() {
		return false, nil
	}
	if w.closeSent {
		w.mu.Unlock()
		return false, nil
	}
	err := w.raw.Write(op.fn)
	if op.err != nil {
		err = op.err
	}
	switch {
	case err != nil || op.n <= 0:
		w.mu.Unlock()
		return false, nil
	case op.n == op.size:
		w.mu.Unlock()
		return true, nil
	}
	return true, op.unwritten()
}

// writevOp is one try's system call, pooled with its function bound once:
// a closure made per try would cost each a few allocations.
type writevOp struct {
	heads [10 * maxTryBatch]byte // a frame header is at most 10 bytes
	nHead int
	iov   [][]byte // header, payload, header, payload…
	size  int      // of all of iov
	n     int
	err   error
	fn    func(fd uintptr) bool // op.write
}

var writevOps = sync.Pool{New: func() any {
	op := &writevOp{iov: make([][]byte, 0, 2*maxTryBatch)}
	op.fn = op.write
	return op
}}

// add appends a frame: its header, then its payload.
func (op *writevOp) add(payload []byte, binary bool) {
	h := frameHead(op.heads[op.nHead:op.nHead], payload, binary)
	op.nHead += len(h)
	op.iov = append(op.iov, h, payload)
	op.size += len(h) + len(payload)
}

func (op *writevOp) write(fd uintptr) bool {
	op.n, op.err = writev(fd, op.iov)
	return true // never wait for the socket
}

// unwritten returns what a partial write left: the end of the last
// payload as it is, when the write reached it, else a copy of everything
// from where the write stopped.
func (op *writevOp) unwritten() []byte {
	n := op.n
	last := op.iov[len(op.iov)-1]
	if n >= op.size-len(last) {
		return last[n-(op.size-len(last)):]
	}
	rest := make([]byte, 0, op.size-n)
	for _, b := range op.iov {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		rest = append(rest, b[n:]...)
		n = 0
	}
	return rest
}

func (op *writevOp) reset() {
	clear(op.iov)
	*op = writevOp{iov: op.iov[:0], fn: op.fn}
}

// finishTry writes what a try left, waiting as a write does, and lets
// other writers in.
func (w *wire) finishTry(rest []byte) error {
	defer w.mu.Unlock()
	if err := w.armLocked(); err != nil {
		return err
	}
	_, err := w.Conn.Write(rest)
	return err
}

// frameHead appends the header of a final, unmasked data frame carrying
// payload (RFC 6455 §5.2).
func frameHead(dst, payload []byte, binary bool) []byte {
	op := byte(0x1)
	if binary {
		op = 0x2
	}
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return dst
}

// writeBatch writes frames, each with its header, in as few writev calls
// as the socket takes (net.Buffers), where gws makes a write per frame;
// it waits as a write does. ok false: nothing was written, because gws
// would refuse a frame of the batch or a close frame went out.
func (w *wire) writeBatch(frames []Frame) (ok bool, err error) {
	for i := range frames {
		if gwsRefuses(frames[i].Data, frames[i].Binary) {
			return false, nil
		}
	}
	heads := make([]byte, 0, 10*len(frames)) // never grows: a header is at most 10 bytes
	bufs := make(net.Buffers, 0, 2*len(frames))
	for i := range frames {
		at := len(heads)
		heads = frameHead(heads, frames[i].Data, frames[i].Binary)
		bufs = append(bufs, heads[at:], frames[i].Data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeSent {
		return false, nil
	}
	if err := w.armLocked(); err != nil {
		return true, err
	}
	_, err = bufs.WriteTo(w.Conn)
	return true, err
}
