package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnCap bounds the connections an http.Server holds, every one of them:
// plain HTTP requests and keep-alives, long-poll, and WebSockets, which
// the transports' own MaxConns count apart. A client that opens
// connections without end, or keeps idle ones alive by renewing them,
// cannot take the server's file descriptors from newcomers:
//
//   - Past Max-Reserve connections, a newcomer is made room for by closing
//     the connection idle the longest (a keep-alive between requests, or
//     one that has sent nothing yet), whoever holds it, once it has been
//     idle a tenth of a second.
//   - With none idle, the last Reserve connections are kept for health
//     checks: a newcomer is served only ReservedPaths there, and anything
//     else is answered 503.
//   - At Max, with none idle, a newcomer is answered 503 with Retry-After
//     and closed at once, never left in the listen backlog.
//
// WebSockets, once upgraded, are never closed for room: their transport
// bounds them. Install it with all three of Listener, ConnState and
// Handler:
//
//	cc := transport.NewConnCap(transport.ConnCapConfig{ReservedPaths: []string{"/healthz"}})
//	srv := &http.Server{Handler: cc.Handler(mux), ConnState: cc.ConnState, ConnContext: cc.ConnContext}
//	srv.Serve(cc.Listener(ln))
type ConnCap struct {
	cfg ConnCapConfig
	log *slog.Logger

	mu   sync.Mutex
	open int
	// idle lists the connections that may be closed for room, the
	// longest idle first: those between two requests, and those that
	// have sent nothing yet. Linked through the connections, so that a
	// state change costs the same with 20,000 of them as with one.
	idle     idleList
	idleSize int

	evicted, refused, reserved atomic.Uint64
	// loggedAt is when a refusal was last logged, in Unix nanoseconds.
	loggedAt atomic.Int64
	now      func() time.Time // time.Now; tests set another
}

// idleGrace is how long a connection must have been idle before it is
// closed for room: a client that connects and sends its request at once,
// or one between two requests of a burst, keeps its connection however
// many newcomers arrive meanwhile.
const idleGrace = 100 * time.Millisecond

// ConnCapConfig configures a ConnCap.
type ConnCapConfig struct {
	// Max is how many connections the server holds at most. Zero means
	// the open-file limit less 128 (the transports' MaxConns default
	// leaves 256: WebSockets and long-poll sessions fill up first).
	Max int
	// Reserve is how many of Max are kept for ReservedPaths when no
	// connection is idle. Zero means 32.
	Reserve int
	// ReservedPaths are the paths served on the reserve: health checks.
	ReservedPaths []string
	// Logger receives a line when newcomers are refused, at most one
	// every ten seconds. Nil means slog.Default().
	Logger *slog.Logger
}

// NewConnCap returns a ConnCap.
func NewConnCap(cfg ConnCapConfig) *ConnCap {
	if cfg.Max <= 0 {
		cfg.Max = max(DefaultMaxConns()+fdReserve/2, 64)
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = 32
	}
	cfg.Reserve = min(cfg.Reserve, cfg.Max-1)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &ConnCap{cfg: cfg, log: cfg.Logger, now: time.Now}
}

// ConnCapStats are a ConnCap's figures.
type ConnCapStats struct {
	Open     int    // connections held now
	Idle     int    // of them, idle: closed first for room
	Evicted  uint64 // idle connections closed to make room
	Refused  uint64 // newcomers answered 503 at once: every connection busy
	Reserved uint64 // requests answered 503 on the reserve: not a ReservedPaths
}

// Stats returns the figures.
func (cc *ConnCap) Stats() ConnCapStats {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return ConnCapStats{Open: cc.open, Idle: cc.idleSize, Evicted: cc.evicted.Load(), Refused: cc.refused.Load(), Reserved: cc.reserved.Load()}
}

// cappedConn is a connection the cap counts.
type cappedConn struct {
	net.Conn
	cc        *ConnCap
	reserve   bool // admitted on the reserve: ReservedPaths only
	closeOnce sync.Once

	// In cc.idle, guarded by cc.mu.
	isIdle     bool
	idleSince  time.Time
	prev, next *cappedConn
}

// SyscallConn is the accepted connection's, so that the WebSocket
// transport's writes that never wait (wire.tryFrame) still reach the
// socket: a cappedConn hides the *net.TCPConn it wraps.
func (c *cappedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CloseWrite shuts the write side of the accepted connection, as the
// WebSocket transport does after its close frame; without it the
// connection is closed whole, and a client still sending would get a
// reset instead of the close frame.
func (c *cappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// idleList is a list of connections, oldest at head.
type idleList struct{ head, tail *cappedConn }

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.cc.mu.Lock()
		c.cc.open--
		c.cc.unidleLocked(c)
		c.cc.mu.Unlock()
	})
	return err
}

func (cc *ConnCap) idleLocked(c *cappedConn) {
	if c.isIdle {
		return
	}
	c.isIdle, c.idleSince, c.prev, c.next = true, cc.now(), cc.idle.tail, nil
	if cc.idle.tail != nil {
		cc.idle.tail.next = c
	} else {
		cc.idle.head = c
	}
	cc.idle.tail = c
	cc.idleSize++
}

func (cc *ConnCap) unidleLocked(c *cappedConn) {
	if !c.isIdle {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		cc.idle.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		cc.idle.tail = c.prev
	}
	c.isIdle, c.prev, c.next = false, nil, nil
	cc.idleSize--
}

// Listener wraps ln: what it accepts is counted, made room for, or
// refused.
func (cc *ConnCap) Listener(ln net.Listener) net.Listener { return &capListener{Listener: ln, cc: cc} }

type capListener struct {
	net.Listener
	cc *ConnCap
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.cc.admit(conn); c != nil {
			return c, nil
		}
	}
}

// admit counts conn in, making room or putting it on the reserve, or
// refuses it and returns nil.
func (cc *ConnCap) admit(conn net.Conn) *cappedConn {
	c := &cappedConn{Conn: conn, cc: cc}
	var evict *cappedConn
	cc.mu.Lock()
	oldest := cc.idle.head // idle the longest: the list is in the order they became idle
	switch {
	case cc.open >= cc.cfg.Max-cc.cfg.Reserve && oldest != nil && cc.now().Sub(oldest.idleSince) >= idleGrace:
		evict = oldest
		cc.unidleLocked(evict)
	case cc.open >= cc.cfg.Max:
		cc.mu.Unlock()
		cc.refuse(conn)
		return nil
	case cc.open >= cc.cfg.Max-cc.cfg.Reserve:
		c.reserve = true
	}
	cc.open++
	// Idle until its first request: one that never sends one is the
	// first closed for room.
	cc.idleLocked(c)
	cc.mu.Unlock()
	if evict != nil {
		cc.evicted.Add(1)
		_ = evict.Close()
	}
	return c
}

// refuseAnswer is what a newcomer gets when every connection is busy.
const refuseAnswer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 31\r\nConnection: close\r\n\r\nevery connection is busy: retry"

func (cc *ConnCap) refuse(conn net.Conn) {
	n := cc.refused.Add(1)
	now, last := time.Now().UnixNano(), cc.loggedAt.Load()
	if now-last >= int64(10*time.Second) && cc.loggedAt.CompareAndSwap(last, now) {
		cc.log.Warn("transport: connections refused: every one the server holds is busy", "max", cc.cfg.Max, "refused_so_far", n)
	}
	// The answer fits a socket buffer: a client that reads nothing
	// cannot make this wait.
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte(refuseAnswer))
	_ = conn.Close()
}

// ConnState is the http.Server's ConnState: it tells the cap which
// connections are idle.
func (cc *ConnCap) ConnState(conn net.Conn, state http.ConnState) {
	c, ok := conn.(*cappedConn)
	if !ok {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch state {
	case http.StateIdle:
		cc.idleLocked(c)
	case http.StateActive, http.StateHijacked, http.StateClosed:
		cc.unidleLocked(c)
	}
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext: it tells Handler which
// requests came on the reserve.
func (cc *ConnCap) ConnContext(ctx context.Context, conn net.Conn) context.Context {
	if c, ok := conn.(*cappedConn); ok && c.reserve {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Handler serves h, but answers 503 to a request on the reserve for a
// path not among ReservedPaths, and closes its connection.
func (cc *ConnCap) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, onReserve := r.Context().Value(connKey{}).(*cappedConn); onReserve && !slices.Contains(cc.cfg.ReservedPaths, r.URL.Path) {
			cc.reserved.Add(1)
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "every connection is busy: retry", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
