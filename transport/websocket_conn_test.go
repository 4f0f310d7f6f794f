package transport_test

// Tests of open connections: frames both ways, control frames, timeouts,
// the outbox seen from the network, panics (docs/protocol.md §4.11,
// §9.1, §9.2, §10 rows 19, 27, 29).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/transport"
)

func TestFramesReachReceiveInOrder(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "vsn=2.0.0", nil)
	s, _ := h.accept()
	const n = 1000
	for i := range n {
		var err error
		if i%3 == 0 {
			err = c.conn.WriteMessage(gws.OpcodeBinary, []byte{byte(i >> 8), byte(i)})
		} else {
			err = c.conn.WriteString(strconv.Itoa(i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		f := waitFor(t, s.frames, "frame "+strconv.Itoa(i))
		want := frame{data: strconv.Itoa(i)}
		if i%3 == 0 {
			want = frame{data: string([]byte{byte(i >> 8), byte(i)}), binary: true}
		}
		if f != want {
			t.Fatalf("frame %d = %+v, want %+v", i, f, want)
		}
	}
}

// slowOpen holds Open until released, and greets the client from it.
type slowOpen struct {
	*session
	release chan struct{}
}

func (s slowOpen) Open(c transport.Conn) {
	<-s.release
	s.session.Open(c)
	_ = c.Send([]byte("hello"), false)
}

// A client may send as soon as it sees the 101; its frames must wait for
// Open, which the session's own checks would catch.
func TestOpenBeforeReceive(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, transport.WebSocketConfig{}, func(h *harness) {
		h.wrap = func(s *session) transport.Session { return slowOpen{s, release} }
	})
	c := dial(h, "", nil)
	c.send(t, "early")
	s := waitFor(t, h.sessions, "the session")
	if !isEmpty(s.frames) {
		t.Fatal("Receive before Open")
	}
	close(release)
	waitFor(t, s.opened, "Open")
	if f := waitFor(t, s.frames, "the early frame"); f.data != "early" {
		t.Errorf("Receive got %q", f.data)
	}
	if f := c.next(t); f.data != "hello" {
		t.Errorf("client got %q, want the greeting sent from Open", f.data)
	}
}

// Conn.Send's frame may be shared by many connections (one encoding per
// broadcast): the transport must only read it.
func TestSharedFrame(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	var clients []*client
	var conns []transport.Conn
	for range 3 {
		clients = append(clients, dial(h, "", nil))
		_, conn := h.accept()
		conns = append(conns, conn)
	}
	shared := []byte(`[null,null,"room:lobby","new_msg",{"body":"hi"}]`)
	for range 10 {
		for _, conn := range conns {
			if err := conn.Send(shared, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range clients {
		for range 10 {
			if f := c.next(t); f.data != string(shared) {
				t.Fatalf("got %q", f.data)
			}
		}
	}
	if string(shared) != `[null,null,"room:lobby","new_msg",{"body":"hi"}]` {
		t.Errorf("the shared frame was modified: %q", shared)
	}
}

func TestClientCloses(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})

	// A close frame is a close the client asked for: Closed(nil).
	c := dial(h, "", nil)
	s, _ := h.accept()
	_ = c.conn.WriteClose(1000, nil)
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v) after a client close, want nil", err)
	}

	// A dropped TCP connection is a read error, and says so.
	c = dial(h, "", nil)
	s, _ = h.accept()
	_ = c.conn.NetConn().Close()
	if err := waitFor(t, s.closed, "Closed"); err == nil {
		t.Error("Closed(nil) after the TCP connection dropped, want the read error")
	}
	eventually(t, "Len() == 0", func() bool { return h.ws.Len() == 0 })
}

func TestFrameTooBig(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{MaxFrameSize: 1024})
	c := dial(h, "", nil)
	s, _ := h.accept()
	c.send(t, strings.Repeat("a", 1024)) // at the limit: fine
	if f := waitFor(t, s.frames, "the 1024-byte frame"); len(f.data) != 1024 {
		t.Fatalf("got %d bytes", len(f.data))
	}
	// Kept below the server's read buffer, so the server has read it all
	// when it closes and the close frame is not lost to a TCP reset.
	c.send(t, strings.Repeat("a", 1025))
	if ce := c.closeError(t); ce.Code != transport.CloseMessageTooBig {
		t.Errorf("close code %d, want 1009", ce.Code)
	}
	if err := waitFor(t, s.closed, "Closed"); err == nil {
		t.Error("Closed(nil), want the read error")
	}
	if !isEmpty(s.frames) {
		t.Error("the oversized frame reached Receive")
	}
}

func TestInvalidUTF8(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "", nil)
	s, _ := h.accept()
	// Binary frames carry any bytes; only text must be UTF-8.
	if err := c.conn.WriteMessage(gws.OpcodeBinary, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.frames, "the binary frame")
	if err := c.conn.WriteMessage(gws.OpcodeText, []byte{'a', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if ce := c.closeError(t); ce.Code != transport.CloseInvalidPayload {
		t.Errorf("close code %d, want 1007", ce.Code)
	}
	waitFor(t, s.closed, "Closed")
	if !isEmpty(s.frames) {
		t.Error("the invalid text frame reached Receive")
	}
}

func TestPingIsPonged(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{IdleTimeout: 200 * time.Millisecond}, withEcho)
	c := dial(h, "", nil)
	s, _ := h.accept()
	for _, p := range []string{"", "hello", strings.Repeat("p", 125)} {
		if err := c.conn.WritePing([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if got := waitFor(t, c.pongs, "a pong"); got != p {
			t.Errorf("pong %q for ping %q", got, p)
		}
	}
	// Pings count as traffic: a client pinging every 50 ms for 2.5 idle
	// timeouts is never closed.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		<-tick.C
		if err := c.conn.WritePing([]byte("k")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c.pongs, "a pong")
	}
	if !c.isOpen() {
		t.Fatal("connection closed while the client was pinging")
	}
	// Text traffic still flows, and control frames never reached Receive.
	c.send(t, "after")
	if f := c.next(t); f.data != "after" {
		t.Errorf("echo %q", f.data)
	}
	if f := waitFor(t, s.frames, "the text frame"); f.data != "after" || !isEmpty(s.frames) {
		t.Errorf("Receive got %+v and more: control frames must not reach it", f)
	}
}

// The server's pong is written outside the outbox; it must not fail because
// an earlier batch left an expired write deadline on the socket. The batch
// has more frames than a try takes, so that it goes through the outbox's
// goroutine, which arms a deadline.
func TestPingAfterWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	h := newHarness(t, transport.WebSocketConfig{WriteTimeout: writeTimeout})
	c := dial(h, "", nil)
	_, conn := h.accept()
	batch := make([]transport.Frame, transport.MaxTryBatch+1)
	for i := range batch {
		batch[i] = transport.Frame{Data: []byte(strconv.Itoa(i))}
	}
	if err := transport.SendBatch(conn, batch...); err != nil {
		t.Fatal(err)
	}
	for range batch {
		c.next(t)
	}
	// Let the batch's deadline pass: this is the condition under test,
	// not a synchronisation.
	<-time.After(2 * writeTimeout)
	if err := c.conn.WritePing([]byte("still there?")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-c.pongs:
		if p != "still there?" {
			t.Errorf("pong %q", p)
		}
	case <-c.done:
		t.Fatalf("connection dropped instead of a pong: %v", c.err())
	case <-time.After(waitTimeout):
		t.Fatal("no pong")
	}
}

// The close frames gws writes itself, the echo of a client's close and
// the closes of a frame it refuses, must not fail because an earlier
// write left an expired deadline on the socket: the client would see the
// connection end without them. Each connection's pong arms a deadline,
// which then passes.
func TestCloseFramesAfterWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	h := newHarness(t, transport.WebSocketConfig{
		WriteTimeout: writeTimeout,
		MaxFrameSize: 1024,
		// Every frame sent here is read whole, so the connection's end
		// does not reset it under the close frame.
		ReadBufferSize: 4 << 10,
	})
	cases := []struct {
		name    string
		op      byte
		payload []byte
		want    int
	}{
		{"client close", 0x8, []byte{0x0f, 0xa1}, 4001}, // echoed as sent
		{"frame too big", 0x1, bytes.Repeat([]byte("a"), 1025), transport.CloseMessageTooBig},
		{"invalid UTF-8", 0x1, []byte{'a', 0xff, 0xfe}, transport.CloseInvalidPayload},
		{"continuation without a start", 0x0, []byte("a"), transport.CloseProtocolError},
	}
	raws := make([]*rawConn, len(cases))
	for i := range cases {
		raws[i] = rawHandshake(h, "", nil, 0)
		h.accept()
		raws[i].writeFrame(t, 0x9, []byte("p"))
		if f := raws[i].readFrame(t); f.op != 0xa {
			t.Fatalf("got op %d, want a pong", f.op)
		}
	}
	// Let the pongs' deadlines pass: this is the condition under test,
	// not a synchronisation.
	<-time.After(2 * writeTimeout)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raws[i].writeFrame(t, tc.op, tc.payload)
			f := raws[i].readFrame(t)
			if f.op != 0x8 || len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != tc.want {
				t.Errorf("got op %d % x, want a %d close frame", f.op, f.payload, tc.want)
			}
		})
	}
}

// deadlineConn records the write deadlines set on a connection, in the
// order they take effect. After holdNext, the next one waits to take
// effect until release is closed.
type deadlineConn struct {
	net.Conn
	held    chan struct{} // closed once the held deadline waits
	release chan struct{}
	set     chan time.Time // each deadline once it took effect

	mu   sync.Mutex
	hold bool        // guarded by mu
	all  []time.Time // since holdNext, guarded by mu
}

func newDeadlineConn(c net.Conn) *deadlineConn {
	return &deadlineConn{
		Conn:    c,
		held:    make(chan struct{}),
		release: make(chan struct{}),
		set:     make(chan time.Time, 16),
	}
}

func (c *deadlineConn) holdNext() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = true
	c.all = nil
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	hold := c.hold
	c.hold = false
	c.mu.Unlock()
	if hold {
		close(c.held)
		<-c.release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, t)
	select {
	case c.set <- t:
	default:
	}
	return c.Conn.SetWriteDeadline(t)
}

// deadlines returns the write deadline the socket has, and the latest of
// those set since holdNext.
func (c *deadlineConn) deadlines() (last, latest time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.all {
		if d.After(latest) {
			latest = d
		}
	}
	if len(c.all) > 0 {
		last = c.all[len(c.all)-1]
	}
	return last, latest
}

// Arming a write deadline looks at the one the socket has and sets a
// later one if too little of it is left. The outbox's goroutine and the
// read loop's pong arm at once here: the socket must end with the later
// of their deadlines, which the one taken as set, else the writes that
// follow are cut off before their WriteTimeout. The connection is
// wrapped, which leaves it without tries: the frame goes through the
// outbox's goroutine, which arms a deadline.
func TestWriteDeadlinesArmedOneAtATime(t *testing.T) {
	// Long enough that the held deadline has not passed when the frame
	// is written after it.
	const writeTimeout = 4 * time.Second
	conns := make(chan *deadlineConn, 1)
	h := newHarness(t, transport.WebSocketConfig{WriteTimeout: writeTimeout}, func(h *harness) {
		h.wrapConn = func(c net.Conn) net.Conn {
			dc := newDeadlineConn(c)
			conns <- dc
			return dc
		}
	})
	c := dial(h, "", nil)
	_, conn := h.accept()
	dc := waitFor(t, conns, "the connection")
	dc.holdNext()
	release := sync.OnceFunc(func() { close(dc.release) })
	defer release()
	if err := conn.Send([]byte("a"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, dc.held, "the outbox's goroutine to arm a deadline")
	// Once half the timeout has passed, the deadline being set no longer
	// serves a write starting now, and the pong arms its own: the
	// condition under test, not a synchronisation.
	<-time.After(writeTimeout/2 + time.Second/2)
	if err := c.conn.WritePing([]byte("p")); err != nil {
		t.Fatal(err)
	}
	// The pong's deadline takes effect at once if nothing keeps the two
	// apart. If something does, it waits for the held one, and nothing
	// signals that: a second is its chance to show.
	select {
	case <-dc.set:
	case <-time.After(time.Second):
	}
	release()
	if p := waitFor(t, c.pongs, "the pong"); p != "p" {
		t.Errorf("pong %q", p)
	}
	if f := c.next(t); f.data != "a" {
		t.Errorf("got %q, want a", f.data)
	}
	if last, latest := dc.deadlines(); !last.Equal(latest) {
		t.Errorf("the socket's write deadline is %v, %v before the latest set", last, latest.Sub(last))
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	h := newHarness(t, transport.WebSocketConfig{IdleTimeout: idle})
	start := time.Now()
	c := dial(h, "", nil)
	s, _ := h.accept()
	// 1001 rather than Cowboy's 1000, so that every client reconnects (§4.11).
	if ce := c.closeError(t); ce.Code != transport.CloseGoingAway {
		t.Errorf("close code %d, want 1001", ce.Code)
	}
	if d := time.Since(start); d < idle {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v), want nil for a close the server asked for", err)
	}
}

func TestIdleTimeoutPostponedByFrames(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{IdleTimeout: 200 * time.Millisecond})
	c := dial(h, "", nil)
	s, _ := h.accept()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		<-tick.C
		c.send(t, "heartbeat")
		waitFor(t, s.frames, "the heartbeat")
	}
	if !c.isOpen() || !isEmpty(s.closed) {
		t.Fatal("a client sending every 50 ms was closed as idle")
	}
	// And once it stops, it is closed.
	if ce := c.closeError(t); ce.Code != transport.CloseGoingAway {
		t.Errorf("close code %d, want 1001", ce.Code)
	}
}

func TestNoIdleTimeout(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{IdleTimeout: -1, WriteTimeout: time.Second})
	c := dial(h, "", nil)
	_, conn := h.accept()
	// Nothing to wait for but time: with the timeout off, nothing happens.
	<-time.After(300 * time.Millisecond)
	if !c.isOpen() {
		t.Fatal("closed with IdleTimeout < 0")
	}
	_ = conn.Send([]byte("x"), false)
	c.next(t)
}

func TestSessionSends(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "", nil)
	_, conn := h.accept()
	const n = 500
	for i := range n {
		if err := conn.Send([]byte(strconv.Itoa(i)), i%2 == 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if f := c.next(t); f != (frame{data: strconv.Itoa(i), binary: i%2 == 1}) {
			t.Fatalf("frame %d = %+v", i, f)
		}
	}
}

func TestSessionCloses(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "", nil)
	s, conn := h.accept()
	for _, m := range []string{"a", "b", "c"} {
		if err := conn.Send([]byte(m), false); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(transport.CloseInternalError, "x")
	if err := conn.Send([]byte("late"), false); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	conn.Close(transport.CloseNormal, "again") // does nothing

	// Everything queued before Close is written before the close frame.
	for _, m := range []string{"a", "b", "c"} {
		if f := c.next(t); f.data != m {
			t.Fatalf("got %q, want %q", f.data, m)
		}
	}
	ce := c.closeError(t)
	if ce.Code != transport.CloseInternalError || string(ce.Reason) != "x" {
		t.Errorf("close %d %q, want 1011 \"x\"", ce.Code, ce.Reason)
	}
	if !isEmpty(c.frames) {
		t.Error("a frame arrived after the close frame")
	}
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v), want nil for a close the server asked for", err)
	}
	if err := conn.Send([]byte("later"), false); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Closed = %v, want ErrClosed", err)
	}
}

// A close reason too long for a control frame is cut to fit, not dropped
// with the close.
func TestLongCloseReason(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "", nil)
	_, conn := h.accept()
	conn.Close(transport.ClosePolicyViolation, strings.Repeat("r", 300))
	ce := c.closeError(t)
	if ce.Code != transport.ClosePolicyViolation || string(ce.Reason) != strings.Repeat("r", 123) {
		t.Errorf("close %d with a reason of %d bytes, want 1008 and 123", ce.Code, len(ce.Reason))
	}
}

// The server closes with the closing handshake: after its close frame it
// keeps reading, drops what the client still sends, and ends the TCP
// connection only after the client's close frame. A server that closed the
// socket at once would reset it under a client still writing, which can
// lose the close frame and its code.
func TestCloseHandshake(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := rawHandshake(h, "", nil, 0)
	s, conn := h.accept()
	conn.Close(transport.ClosePolicyViolation, "flood")
	f := c.readFrame(t)
	if f.op != 0x8 || len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != transport.ClosePolicyViolation {
		t.Fatalf("got op %d % x, want a 1008 close frame", f.op, f.payload)
	}
	// A client that has not seen the close yet goes on writing: 1 MiB,
	// more than the socket buffers hold, is taken and dropped.
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	for range 64 {
		c.writeFrame(t, 0x1, chunk)
	}
	c.writeFrame(t, 0x8, []byte{0x03, 0xf0}) // the client's close, 1008
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := c.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the handshake: read %d bytes, %v; want EOF", n, err)
	}
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v), want nil for a close the server asked for", err)
	}
	if !isEmpty(s.frames) {
		t.Error("a frame sent after the server's close reached the session")
	}
}

// overflow sends 1 MiB in 1 KiB frames to conn, and every 64th frame's
// number to other; it fails unless all 1024 Sends return (Send never
// blocks) with some nil, then one ErrOutboxFull, then ErrClosed. It returns
// how many were accepted.
func overflow(t *testing.T, conn, other transport.Conn) int {
	t.Helper()
	frame1K := bytes.Repeat([]byte("x"), 1024)
	results := make(chan []error, 1)
	go func() {
		errs := make([]error, 0, 1024)
		for i := range 1024 {
			errs = append(errs, conn.Send(frame1K, false))
			if i%64 == 0 {
				_ = other.Send([]byte(strconv.Itoa(i)), false)
			}
		}
		results <- errs
	}()
	errs := waitFor(t, results, "1024 Sends to return")
	accepted, full := 0, -1
	for i, err := range errs {
		switch {
		case err == nil && full < 0:
			accepted++
		case errors.Is(err, transport.ErrOutboxFull) && full < 0:
			full = i
		case errors.Is(err, transport.ErrClosed) && full >= 0:
		default:
			t.Fatalf("Send %d = %v (first ErrOutboxFull at %d)", i, err, full)
		}
	}
	if full < 0 || accepted == 0 {
		t.Fatalf("accepted %d, ErrOutboxFull at %d: want some accepted, then one ErrOutboxFull, then ErrClosed", accepted, full)
	}
	return accepted
}

// TestSlowClient: a client that stops reading must cost the publisher
// nothing. Its connection is dropped; the others are unaffected.
func TestSlowClient(t *testing.T) {
	t.Run("never reads", func(t *testing.T) {
		// A short write timeout: if the overflow catches a batch stuck in
		// a write, that write has to time out before the connection ends.
		h := newHarness(t, transport.WebSocketConfig{OutboxSize: 64 << 10, WriteTimeout: 500 * time.Millisecond},
			withSmallSendBuffer, withEcho)
		rawHandshake(h, "", nil, 4<<10) // reads nothing after the handshake
		slowSess, slowConn := h.accept()
		fast := dial(h, "", nil)
		fastSess, fastConn := h.accept()

		overflow(t, slowConn, fastConn)
		// The healthy client got every frame meant for it meanwhile.
		for i := 0; i < 1024; i += 64 {
			if f := fast.next(t); f.data != strconv.Itoa(i) {
				t.Fatalf("healthy client got %q, want %d", f.data, i)
			}
		}
		waitFor(t, slowSess.closed, "the slow client's Closed")
		eventually(t, "one connection left", func() bool { return h.ws.Len() == 1 })
		if s := h.ws.Stats(); s.OutboxOverflows != 1 || s.Closes[transport.CloseTryAgainLater] != 1 {
			t.Errorf("stats after one overflow: %+v", s)
		}

		fast.send(t, "still here")
		if f := fast.next(t); f.data != "still here" || !isEmpty(fastSess.closed) {
			t.Errorf("healthy client: %+v", f)
		}
	})

	t.Run("reads late", func(t *testing.T) {
		h := newHarness(t, transport.WebSocketConfig{OutboxSize: 64 << 10}, withSmallSendBuffer)
		slow := rawHandshake(h, "", nil, 4<<10)
		slowSess, slowConn := h.accept()
		fast := dial(h, "", nil)
		_, fastConn := h.accept()
		accepted := overflow(t, slowConn, fastConn)
		fast.next(t)

		// What was being written arrives, the dropped queue does not, and
		// the close says "try again later" so the client reconnects.
		n := 0
		for {
			f := slow.readFrame(t)
			if f.op == 0x8 {
				if len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != transport.CloseTryAgainLater {
					t.Errorf("close frame % x, want code 1013", f.payload)
				}
				break
			}
			if f.op != 0x1 || len(f.payload) != 1024 {
				t.Fatalf("frame op %d, %d bytes", f.op, len(f.payload))
			}
			n++
		}
		if n > accepted {
			t.Errorf("received %d frames, only %d were accepted", n, accepted)
		}
		waitFor(t, slowSess.closed, "the slow client's Closed")
	})
}

// An overflow's close is the server's like any other: what the client
// still sends after the close frame is dropped, its pings unanswered (no
// frame may follow the close frame), and Closed says nothing went wrong.
func TestOverflowCloseDropsWhatFollows(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{OutboxSize: 64 << 10}, withSmallSendBuffer)
	raw := rawHandshake(h, "", nil, 4<<10) // reads nothing until the overflow
	s, conn := h.accept()
	frame1K := bytes.Repeat([]byte("x"), 1024)
	for i := 0; ; i++ {
		err := conn.Send(frame1K, false)
		if errors.Is(err, transport.ErrOutboxFull) {
			break
		}
		if err != nil || i == 1024 {
			t.Fatalf("Send %d = %v, before the 64 KiB outbox overflowed", i, err)
		}
	}
	for {
		f := raw.readFrame(t)
		if f.op == 0x8 {
			if len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != transport.CloseTryAgainLater {
				t.Fatalf("close frame % x, want code 1013", f.payload)
			}
			break
		}
	}
	// A client that has not read the close yet: a frame, a ping, then its
	// own close, in one write.
	var b []byte
	b = appendFrame(b, 0x1, []byte("after the close"))
	b = appendFrame(b, 0x9, []byte("ping"))
	b = appendFrame(b, 0x8, []byte{0x03, 0xf5})
	if _, err := raw.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := raw.br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the close frame: read %d bytes, %v; want EOF", n, err)
	}
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v), want nil for a close the server began", err)
	}
	if !isEmpty(s.frames) {
		t.Error("a frame sent after the server's close reached the session")
	}
}

func TestReceivePanic(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, transport.WebSocketConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		func(h *harness) {
			h.onReceive = func(s *session, f frame) {
				if f.data == "panic" {
					panic("boom")
				}
				echo(s, f)
			}
		})
	a := dial(h, "", nil)
	sa, _ := h.accept()
	b := dial(h, "", nil)
	h.accept()

	a.send(t, "panic")
	waitFor(t, sa.frames, "the panicking frame")
	// The process survived and the other connection still works.
	b.send(t, "hello")
	if f := b.next(t); f.data != "hello" {
		t.Errorf("b got %q", f.data)
	}
	eventually(t, "the panic to be logged", func() bool {
		return strings.Contains(logs.String(), "panic in Session.Receive") && strings.Contains(logs.String(), "boom")
	})
}

// websocket.go says of its Recovery hook: "The connection whose callback
// panicked is closed by the read loop's error path."
func TestReceivePanicClosesConnection(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{}, func(h *harness) {
		h.onReceive = func(*session, frame) { panic("boom") }
	})
	c := dial(h, "", nil)
	s, _ := h.accept()
	c.send(t, "x")
	waitFor(t, s.frames, "the frame")
	if ce := c.closeError(t); ce.Code != transport.CloseInternalError {
		t.Errorf("close code %d, want 1011", ce.Code)
	}
	waitFor(t, s.closed, "Closed")
}

type panicOnOpen struct{ *session }

func (panicOnOpen) Open(transport.Conn) { panic("open failed") }

func TestOpenPanic(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{}, func(h *harness) {
		h.wrap = func(s *session) transport.Session { return panicOnOpen{s} }
	})
	// With the bug, the cleanup's Shutdown would never return: this test
	// runs its own, bounded one.
	h.closeOnce.Do(func() { t.Cleanup(h.srv.Close) })
	if _, _, err := tryDial(h, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Len() == 0", func() bool { return h.ws.Len() == 0 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done <- h.ws.Shutdown(ctx)
	}()
	if err := waitFor(t, done, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
