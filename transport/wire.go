package transport

import (
	"net"
	"sync"
	"syscall"
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
	mu  sync.Mutex
	raw syscall.RawConn // nil: no tries (not a TCP connection, or compressed)
	// closeSent: a close frame went out (guarded by mu). Nothing may
	// follow it (RFC 6455 §5.5.1); gws refuses to write after its own,
	// and the tries, which bypass gws, must too.
	closeSent bool
}

// newWire wraps conn. compressed: the connection negotiated
// permessage-deflate, whose frames gws must encode.
func newWire(conn net.Conn, compressed bool) *wire {
	w := &wire{Conn: conn}
	if tcp, ok := conn.(*net.TCPConn); ok && !compressed && canTry {
		if raw, err := tcp.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// Write is how gws writes: the handshake's response, then one whole frame
// per call.
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && p[0] == 0x88 { // FIN and opcode 8: a close frame
		w.closeSent = true
	}
	return w.Conn.Write(p)
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
	if !w.mu.TryLock() {
		return false, nil
	}
	if w.closeSent {
		w.mu.Unlock()
		return false, nil
	}
	op := writevOps.Get().(*writevOp)
	op.h, op.payload = frameHead(op.head[:0], payload, binary), payload
	err := w.raw.Write(op.fn)
	h, n := op.h, op.n
	if op.err != nil {
		err = op.err
	}
	switch {
	case err != nil || n <= 0:
		w.mu.Unlock()
		ok, rest = false, nil
	case n == len(h)+len(payload):
		w.mu.Unlock()
		ok, rest = true, nil
	case n < len(h):
		ok, rest = true, append(h[n:len(h):len(h)], payload...)
	default:
		ok, rest = true, payload[n-len(h):]
	}
	*op = writevOp{fn: op.fn}
	writevOps.Put(op)
	return ok, rest
}

// writevOp is one try's system call, pooled with its function bound once:
// a closure made per try would cost each a few allocations.
type writevOp struct {
	head       [10]byte
	h, payload []byte
	n          int
	err        error
	fn         func(fd uintptr) bool // op.write
}

var writevOps = sync.Pool{New: func() any {
	op := new(writevOp)
	op.fn = op.write
	return op
}}

func (op *writevOp) write(fd uintptr) bool {
	op.n, op.err = writev(fd, op.h, op.payload)
	return true // never wait for the socket
}

// finishTry writes what a try left, waiting as a write does, and lets
// other writers in.
func (w *wire) finishTry(rest []byte) error {
	defer w.mu.Unlock()
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
func (w *wire) writeBatch(frames []outFrame) (ok bool, err error) {
	for i := range frames {
		if gwsRefuses(frames[i].data, frames[i].binary) {
			return false, nil
		}
	}
	heads := make([]byte, 0, 10*len(frames)) // never grows: a header is at most 10 bytes
	bufs := make(net.Buffers, 0, 2*len(frames))
	for i := range frames {
		at := len(heads)
		heads = frameHead(heads, frames[i].data, frames[i].binary)
		bufs = append(bufs, heads[at:], frames[i].data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeSent {
		return false, nil
	}
	_, err = bufs.WriteTo(w.Conn)
	return true, err
}
