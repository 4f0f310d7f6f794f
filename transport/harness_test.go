package transport_test

// The harness: a recording Session and Handler, an httptest server with the
// transport mounted at /socket/websocket, a gws test client, and a raw TCP
// client for what a well-behaved client cannot do (never read, send
// several header lines, inspect frame bits).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/transport"
)

// waitTimeout bounds every wait on a signal. It is generous because the race
// detector slows everything down; a passing test never waits this long.
const waitTimeout = 10 * time.Second

// waitFor returns the next value from ch, or fails the test after waitTimeout.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// eventually polls cond, for states that raise no signal of their own.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// isEmpty reports whether ch has nothing waiting, for "this never happened"
// checks made after the moment it could have happened.
func isEmpty[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

type frame struct {
	data   string
	binary bool
}

// session records what the transport does to it and checks the Session
// contract as it goes: Open once first, Receive only while open, Closed once.
type session struct {
	t         *testing.T
	onReceive func(s *session, f frame) // runs after the frame is recorded
	conn      transport.Conn            // set by Open, before any Receive

	state  atomic.Int32 // 0 new, 1 open, 2 closed
	opened chan transport.Conn
	frames chan frame
	closed chan error
}

func newSession(t *testing.T, onReceive func(*session, frame)) *session {
	return &session{
		t:         t,
		onReceive: onReceive,
		opened:    make(chan transport.Conn, 1),
		frames:    make(chan frame, 4096),
		closed:    make(chan error, 2),
	}
}

func (s *session) Open(c transport.Conn) {
	if !s.state.CompareAndSwap(0, 1) {
		s.t.Errorf("Open called in state %d", s.state.Load())
	}
	s.conn = c
	s.opened <- c
}

func (s *session) Receive(data []byte, binary bool) {
	if st := s.state.Load(); st != 1 {
		s.t.Errorf("Receive called in state %d", st)
	}
	// data is only valid during the call: keep a copy.
	f := frame{data: string(data), binary: binary}
	s.frames <- f
	if s.onReceive != nil {
		s.onReceive(s, f)
	}
}

func (s *session) Closed(err error) {
	if old := s.state.Swap(2); old == 2 {
		s.t.Errorf("Closed called twice (now with %v)", err)
	}
	s.closed <- err
}

// echo sends every frame back as it came.
func echo(s *session, f frame) { _ = s.conn.Send([]byte(f.data), f.binary) }

// harness is one transport behind one test server.
type harness struct {
	t   *testing.T
	ws  *transport.WebSocket
	srv *httptest.Server
	url string // ws://127.0.0.1:port/socket/websocket

	// Set by options, before the server starts.
	refuse      func(*transport.ConnectRequest) error
	onReceive   func(*session, frame)
	wrap        func(*session) transport.Session // what Connect returns for a session
	smallSndBuf bool                             // accepted connections get a tiny send buffer
	tls         bool                             // serve wss
	wrapConn    func(net.Conn) net.Conn          // what the transport is given of an accepted connection

	reqs      chan *transport.ConnectRequest
	sessions  chan *session // accepted
	refused   chan *session // returned with a refusal
	closeOnce sync.Once
}

type option func(*harness)

func withEcho(h *harness) { h.onReceive = echo }

// withSmallSendBuffer makes the server's socket buffers tiny, so that a
// client that does not read blocks the server's writes after a few KiB
// rather than after the megabytes loopback autotuning would allow.
func withSmallSendBuffer(h *harness) { h.smallSndBuf = true }

func withTLS(h *harness) { h.tls = true }

func newHarness(t *testing.T, cfg transport.WebSocketConfig, opts ...option) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		reqs:     make(chan *transport.ConnectRequest, 64),
		sessions: make(chan *session, 64),
		refused:  make(chan *session, 64),
	}
	for _, o := range opts {
		o(h)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h.ws = transport.NewWebSocket(h, cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.ws)
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if h.smallSndBuf {
		h.srv.Listener = smallBufListener{h.srv.Listener}
	}
	if h.wrapConn != nil {
		h.srv.Listener = wrapListener{h.srv.Listener, h.wrapConn}
	}
	if h.tls {
		h.srv.StartTLS()
	} else {
		h.srv.Start()
	}
	h.url = "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/socket/websocket"
	t.Cleanup(h.close)
	return h
}

// close shuts the transport down and checks it did so in time.
func (h *harness) close() {
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := h.ws.Shutdown(ctx); err != nil {
			h.t.Errorf("Shutdown at cleanup: %v", err)
		}
		h.srv.Close()
	})
}

// Connect accepts every connection unless h.refuse says otherwise; the
// session goes to h.sessions only when accepted.
func (h *harness) Connect(req *transport.ConnectRequest) (transport.Session, error) {
	h.reqs <- req
	s := newSession(h.t, h.onReceive)
	if h.refuse != nil {
		if err := h.refuse(req); err != nil {
			// Hand back a session anyway: the transport must ignore it.
			h.refused <- s
			return s, err
		}
	}
	h.sessions <- s
	if h.wrap != nil {
		return h.wrap(s), nil
	}
	return s, nil
}

// accept waits for the next accepted session and its Open.
func (h *harness) accept() (*session, transport.Conn) {
	h.t.Helper()
	s := waitFor(h.t, h.sessions, "a session")
	return s, waitFor(h.t, s.opened, "Open")
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// client is a WebSocket client over gws that records everything it gets.
type client struct {
	conn   *gws.Conn
	resp   *http.Response
	frames chan frame
	pongs  chan string
	done   chan struct{}

	mu       sync.Mutex
	closeErr error // why the connection ended, guarded by mu
}

type clientEvents struct{ c *client }

func (e clientEvents) OnOpen(*gws.Conn)             {}
func (e clientEvents) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (e clientEvents) OnPong(_ *gws.Conn, p []byte) { e.c.pongs <- string(p) }
func (e clientEvents) OnMessage(_ *gws.Conn, m *gws.Message) {
	e.c.frames <- frame{data: string(m.Bytes()), binary: m.Opcode == gws.OpcodeBinary}
	_ = m.Close()
}
func (e clientEvents) OnClose(_ *gws.Conn, err error) {
	e.c.mu.Lock()
	e.c.closeErr = err
	e.c.mu.Unlock()
	close(e.c.done)
}

// tryDial connects to h with an optional query and headers; opt may adjust
// the client options (compression).
func tryDial(h *harness, query string, hdr http.Header, opt func(*gws.ClientOption)) (*client, *http.Response, error) {
	c := &client{
		frames: make(chan frame, 4096),
		pongs:  make(chan string, 16),
		done:   make(chan struct{}),
	}
	addr := h.url
	if query != "" {
		addr += "?" + query
	}
	o := &gws.ClientOption{Addr: addr, RequestHeader: hdr, HandshakeTimeout: waitTimeout}
	if h.tls {
		o.TlsConfig = h.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	if opt != nil {
		opt(o)
	}
	conn, resp, err := gws.NewClient(clientEvents{c}, o)
	if err != nil {
		return nil, resp, err
	}
	c.conn, c.resp = conn, resp
	go conn.ReadLoop()
	h.t.Cleanup(func() {
		// Writing the close frame also closes the socket, so the read
		// loop ends whatever the server does.
		_ = conn.WriteClose(1000, nil)
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			h.t.Error("client read loop did not end")
		}
	})
	return c, resp, nil
}

func dial(h *harness, query string, hdr http.Header) *client {
	h.t.Helper()
	c, resp, err := tryDial(h, query, hdr, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		h.t.Fatalf("dial %q: %v (status %d)", query, err, status)
	}
	return c
}

func (c *client) send(t *testing.T, text string) {
	t.Helper()
	if err := c.conn.WriteString(text); err != nil {
		t.Fatalf("client send: %v", err)
	}
}

func (c *client) next(t *testing.T) frame {
	t.Helper()
	return waitFor(t, c.frames, "a frame from the server")
}

// closeError waits for the connection to end and returns the close frame the
// server sent.
func (c *client) closeError(t *testing.T) *gws.CloseError {
	t.Helper()
	waitFor(t, c.done, "the connection to close")
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if !errors.As(c.closeErr, &ce) {
		t.Fatalf("connection ended without a close frame: %v", c.closeErr)
	}
	return ce
}

func (c *client) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

func (c *client) isOpen() bool { return isEmpty(c.done) }

// rawConn is a hand-made WebSocket client on a bare TCP connection.
type rawConn struct {
	net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// rawHandshake sends an upgrade request. hdr entries replace the defaults;
// an entry with no values deletes one. readBuf > 0 shrinks the socket's
// receive buffer, for a client that stops reading.
func rawHandshake(h *harness, query string, hdr http.Header, readBuf int) *rawConn {
	h.t.Helper()
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	if readBuf > 0 {
		_ = c.(*net.TCPConn).SetReadBuffer(readBuf)
	}
	req := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
	for k, v := range hdr {
		if len(v) == 0 {
			delete(req, http.CanonicalHeaderKey(k))
		} else {
			req[http.CanonicalHeaderKey(k)] = v
		}
	}
	target := "/socket/websocket"
	if query != "" {
		target += "?" + query
	}
	host := h.srv.Listener.Addr().String()
	if v := req.Get("Host"); v != "" { // a Host of hdr is the request line's
		host = v
		req.Del("Host")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	_ = req.Write(&b)
	b.WriteString("\r\n")
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(b.Bytes()); err != nil {
		h.t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		h.t.Fatalf("reading the handshake response: %v", err)
	}
	_ = c.SetDeadline(time.Time{})
	return &rawConn{Conn: c, br: br, resp: resp}
}

// body reads a refused handshake's response body.
func (c *rawConn) body(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(c.resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeFrame writes one client frame (appendFrame).
func (c *rawConn) writeFrame(t *testing.T, op byte, payload []byte) {
	t.Helper()
	if _, err := c.Write(appendFrame(nil, op, payload)); err != nil {
		t.Fatal(err)
	}
}

// appendFrame appends a masked client frame (RFC 6455 5.2) with a zero
// mask key, which leaves the payload as it is.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 0x80|127), uint64(n))
	}
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, payload...)
}

type rawFrame struct {
	op      byte
	rsv1    bool
	payload []byte
}

// readFrame reads one unmasked server frame.
func (c *rawConn) readFrame(t *testing.T) rawFrame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatalf("reading a frame payload: %v", err)
	}
	return rawFrame{op: h[0] & 0x0f, rsv1: h[0]&0x40 != 0, payload: p}
}
