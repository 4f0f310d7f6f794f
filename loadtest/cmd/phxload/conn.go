package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

// handler is a scenario's side of a connection: it gets every frame that
// is not a heartbeat reply or the connection's first join reply, on the
// connection's read goroutine, one at a time.
type handler interface {
	message(c *conn, f *wire.Frame, now time.Time)
}

// closeHandler is a handler that hears of its connection's end, before
// the connection counts as ended, and says whether the end was expected:
// a server restart that the scenario awaits is no error.
type closeHandler interface {
	closed(c *conn, err error) (expected bool)
}

// conn is one WebSocket connection of a run. Its gws read goroutine is the
// only one that reads from it; writes come from that goroutine, from the
// heartbeater and from scenario drivers, and gws serializes them.
type conn struct {
	r      *runner
	id     int
	ws     *gws.Conn
	h      handler
	topic  string // joined at open; "" for none
	server int    // the index of its server in cfg.urls

	// Set before the read goroutine starts, then only read or written by
	// it.
	dialed  time.Time // when the dial began: connect+join latency starts here
	joining bool      // the join reply is still due

	joined chan error    // the outcome of the first join; buffered
	done   chan struct{} // closed when the read goroutine ends

	closing   atomic.Bool  // we are closing it: its end is no error
	hbPending atomic.Bool  // a heartbeat awaits its reply
	hbSentAt  atomic.Int64 // unix ns of the last heartbeat
}

// joinRef is the ref of a connection's first join, which is its join_ref
// from then on.
const joinRef = 1

// errJoinTimeout is given to a connection whose join reply never came.
var errJoinTimeout = errors.New("join timeout")

// dial connects connection id and starts its read goroutine; when topic
// is not empty, the connection joins it and the outcome arrives on
// c.joined.
func (r *runner) dial(id int, topic string, h handler) (*conn, error) {
	server := r.server(id)
	base := r.cfg.urls[server]
	u := base + "?vsn=2.0.0"
	if strings.Contains(base, "?") {
		u = base + "&vsn=2.0.0"
	}
	if r.token != nil {
		tok, err := r.token(id)
		if err != nil {
			return nil, &kindError{kind: "token", err: err}
		}
		u += "&token=" + url.QueryEscape(tok)
	}
	c := &conn{r: r, id: id, h: h, topic: topic, server: server, joined: make(chan error, 1), done: make(chan struct{})}
	d := &net.Dialer{Timeout: dialTimeout}
	if len(r.sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: r.sources[id%len(r.sources)]}
	}
	c.dialed = time.Now()
	ws, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:             u,
		HandshakeTimeout: dialTimeout,
		// A frame the servers send is under 200 bytes; the buffer is
		// what an idle client connection costs, beside its goroutine.
		ReadBufferSize: 2 << 10,
		NewDialer:      func() (gws.Dialer, error) { return d, nil },
		NewSession:     func() gws.SessionStorage { return noSession{} },
	})
	if err != nil {
		return nil, &kindError{kind: dialErrorKind(err, resp), err: err}
	}
	c.ws = ws
	c.joining = topic != ""
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ws.ReadLoop()
	}()
	return c, nil
}

// dialTimeout bounds a TCP connect and the WebSocket handshake.
const dialTimeout = 10 * time.Second

// kindError is an error with the kind it is counted under.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// dialErrorKind names why a dial failed, for the error counts.
func dialErrorKind(err error, resp *http.Response) string {
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return "handshake: http " + strconv.Itoa(resp.StatusCode)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial: connection refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "dial: no free local port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "dial: too many open files"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "dial: connection reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "dial: timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "dial: timeout"
	}
	return "dial: other"
}

// write sends a text frame. A failed write closes the connection, which
// OnClose counts.
func (c *conn) write(b []byte) { _ = c.ws.WriteMessage(gws.OpcodeText, b) }

// close closes the connection from our side, as part of the plan.
func (c *conn) close() {
	c.closing.Store(true)
	_ = c.ws.WriteClose(1000, nil)
}

// ended reports whether the connection's read goroutine has ended.
func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// gws.Event

func (c *conn) OnOpen(*gws.Conn) {
	if c.joining {
		c.write(wire.AppendPush(nil, joinRef, joinRef, c.topic, "phx_join", []byte("{}")))
	}
}

func (c *conn) OnClose(_ *gws.Conn, err error) {
	expected := c.closing.Load() || c.r.stopping.Load()
	if ch, ok := c.h.(closeHandler); ok && ch.closed(c, err) {
		expected = true
	}
	if !expected {
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			c.r.errs.add(fmt.Sprintf("closed by server: %d", ce.Code), err)
		} else {
			c.r.errs.add("connection lost", err)
		}
	}
	select {
	case c.joined <- errors.New("closed before the join reply"):
	default:
	}
	close(c.done)
}

func (c *conn) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (c *conn) OnPong(*gws.Conn, []byte)     {}

func (c *conn) OnMessage(_ *gws.Conn, m *gws.Message) {
	now := time.Now()
	defer m.Close()
	if m.Opcode != gws.OpcodeText {
		c.r.errs.add("binary frame", nil)
		return
	}
	f, err := wire.Split(m.Bytes())
	if err != nil {
		c.r.errs.add("malformed frame", fmt.Errorf("%q", m.Bytes()))
		return
	}
	switch {
	case wire.Is(f.Topic, "phoenix"):
		c.r.hb.reply(c, &f, now)
	case c.joining:
		c.joinReply(&f, now)
	case wire.Is(f.Event, "phx_recovery"):
		// The position push that follows the join of a topic that keeps
		// a history: nothing to measure.
	default:
		c.h.message(c, &f, now)
	}
}

// joinReply takes the reply to the connection's first join.
func (c *conn) joinReply(f *wire.Frame, now time.Time) {
	ref, _ := wire.RefNumber(f.Ref)
	if !wire.Is(f.Event, "phx_reply") || ref != joinRef {
		c.r.errs.add("message before the join reply", fmt.Errorf("%s %s", f.Event, f.Payload))
		return
	}
	c.joining = false
	if st, _ := wire.Status(f.Payload); string(st) != "ok" {
		c.joined <- &kindError{kind: "join refused", err: fmt.Errorf("%s", f.Payload)}
		return
	}
	c.r.connect.RecordDuration(now.Sub(c.dialed))
	c.joined <- nil
}

// unexpected counts a frame a scenario did not expect.
func (c *conn) unexpected(f *wire.Frame) {
	c.r.errs.add("unexpected message", fmt.Errorf("[%s,%s,%s,%s,%s]", f.JoinRef, f.Ref, f.Topic, f.Event, f.Payload))
}

// noSession is gws session storage that stores nothing, instead of the map
// gws allocates per connection by default.
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}

// errorCounts counts errors by kind and keeps the first of each as an
// example. Errors are rare, so one mutex is enough.
type errorCounts struct {
	mu       sync.Mutex
	counts   map[string]int64  // guarded by mu
	examples map[string]string // guarded by mu
}

func (e *errorCounts) add(kind string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts, e.examples = make(map[string]int64), make(map[string]string)
	}
	e.counts[kind]++
	if _, ok := e.examples[kind]; !ok && err != nil {
		s := err.Error()
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		e.examples[kind] = s
	}
}

// addErr counts err under its kind.
func (e *errorCounts) addErr(err error) {
	var ke *kindError
	if errors.As(err, &ke) {
		e.add(ke.kind, ke.err)
		return
	}
	e.add("other", err)
}

func (e *errorCounts) snapshot() (counts map[string]int64, examples map[string]string, total int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	counts, examples = make(map[string]int64), make(map[string]string)
	for k, v := range e.counts {
		counts[k] = v
		total += v
	}
	for k, v := range e.examples {
		examples[k] = v
	}
	return counts, examples, total
}
