package transport

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/protocol"
)

// WebSocketConfig configures a WebSocket transport. The zero value is ready
// to use; each field's comment says what zero means.
type WebSocketConfig struct {
	// CheckOrigin decides which browser origins may connect. Nil means
	// SameHost; AnyOrigin disables the check.
	CheckOrigin OriginCheck
	// Subprotocols lists the WebSocket subprotocols accepted beside
	// "phoenix", which is always accepted (the JS client offers it with an
	// auth token). A client offering protocols of which none is accepted is
	// refused with 403.
	Subprotocols []string
	// MaxFrameSize is the largest inbound frame payload, in bytes; a bigger
	// frame closes the connection with 1009. Zero means 1 MiB.
	MaxFrameSize int
	// OutboxSize bounds the bytes queued for one connection; a frame that
	// would pass it closes the connection with 1013. It must hold several
	// of the largest frames the connection is sent: an echo of a
	// MaxFrameSize frame, or a broadcast of one re-encoded for V1, is
	// larger than the frame. Zero means 4 × MaxFrameSize + 64 KiB.
	OutboxSize int
	// IdleTimeout closes a connection (code 1001) that has sent nothing for
	// this long. Zero means 60 s; negative disables it.
	IdleTimeout time.Duration
	// WriteTimeout bounds a write to a connection: a client that has not
	// taken a frame after WriteTimeout (at most 1.5 times it) is
	// disconnected. Zero means 10 s.
	WriteTimeout time.Duration
	// ReadBufferSize is the per-connection read buffer, which every open
	// connection holds. Zero means 1 KiB: Phoenix messages are small, and
	// gws reads a payload larger than the buffer straight into the
	// message, so a larger buffer saves no read for them, while 4 KiB
	// (gws's default) cost each idle connection 3 KiB more.
	ReadBufferSize int
	// Compress enables permessage-deflate when the client offers it
	// (without context takeover, to keep per-connection memory small).
	Compress bool
	// Session gives Connect the cookie session (ConnectInfo.Session).
	// Nil means none.
	Session *CookieSession
	// MaxConns bounds the open connections, each of which holds a file
	// descriptor: a connect past it is answered 503 with Retry-After at
	// once, before any upgrade, rather than hang in accept once the
	// process is out of descriptors. Zero means DefaultMaxConns();
	// negative means no limit.
	MaxConns int
	// ConnectLimit bounds the connects of each client address: past its
	// rate, a connect is answered 429 with Retry-After at once, before any
	// upgrade or Connect. Nil means no limit. Share one with the socket's
	// LongPoll.
	ConnectLimit *ConnectLimiter
	// Logger receives the transport's logs. Nil means slog.Default().
	Logger *slog.Logger
}

const (
	defaultMaxFrameSize = 1 << 20
	// outboxFrames and outboxSlack size a default outbox: a few of the
	// largest frames, and room for the envelope an echo or a V1 encoding
	// puts around a payload.
	outboxFrames        = 4
	outboxSlack         = 64 << 10
	defaultIdleTimeout  = 60 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultReadBuffer   = 1 << 10

	authTokenPrefix = "base64url.bearer.phx."
)

func outboxFor(maxFrame int) int { return outboxFrames*maxFrame + outboxSlack }

// WebSocket is the Phoenix WebSocket transport, an http.Handler to mount at
// the socket path plus "/websocket".
type WebSocket struct {
	handler   Handler
	cfg       WebSocketConfig
	allowed   []string                 // accepted subprotocols, "phoenix" first
	upgraders map[string]*gws.Upgrader // by the subprotocol echoed, "" for none
	log       *slog.Logger
	limit     *connLimit
	rateLog   *lograte.Limiter // connects refused by cfg.ConnectLimit

	mu       sync.Mutex
	conns    map[*wsConn]struct{} // open connections, guarded by mu
	shutdown bool                 // guarded by mu
	sweeping bool                 // the idle sweeper runs; guarded by mu
	quit     chan struct{}        // closed by Shutdown: the sweeper ends

	wg sync.WaitGroup // every goroutine the transport starts

	counters counters
}

// NewWebSocket returns a WebSocket transport that hands connections to h.
func NewWebSocket(h Handler, cfg WebSocketConfig) *WebSocket {
	if cfg.CheckOrigin == nil {
		cfg.CheckOrigin = SameHost
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = defaultMaxFrameSize
	}
	if cfg.OutboxSize <= 0 {
		cfg.OutboxSize = outboxFor(cfg.MaxFrameSize)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = defaultReadBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ws := &WebSocket{
		handler:   h,
		cfg:       cfg,
		log:       cfg.Logger,
		conns:     make(map[*wsConn]struct{}),
		upgraders: make(map[string]*gws.Upgrader),
		quit:      make(chan struct{}),
		limit:     newConnLimit(cfg.MaxConns, "websocket", cfg.Logger),
		rateLog:   newRateLog("websocket", cfg.Logger),
	}
	ws.allowed = append([]string{"phoenix"}, cfg.Subprotocols...)
	for _, p := range append([]string{""}, ws.allowed...) {
		if _, ok := ws.upgraders[p]; ok {
			continue
		}
		opt := &gws.ServerOption{
			ReadMaxPayloadSize: cfg.MaxFrameSize,
			ReadBufferSize:     cfg.ReadBufferSize,
			CheckUtf8Enabled:   true,
			PermessageDeflate: gws.PermessageDeflate{
				Enabled:               cfg.Compress,
				ServerContextTakeover: false,
				ClientContextTakeover: false,
			},
			Recovery:   ws.recover,
			NewSession: func() gws.SessionStorage { return new(connSlot) },
		}
		if p != "" {
			opt.SubProtocols = []string{p}
		}
		ws.upgraders[p] = gws.NewUpgrader(wsEvents{}, opt)
	}
	return ws
}

// recover keeps a panic in a callback from killing the process: gws's
// default recovery does nothing. OnMessage recovers its own panics first, to
// close the connection; this catches the rest.
func (ws *WebSocket) recover(gws.Logger) {
	if r := recover(); r != nil {
		ws.log.Error("transport: panic in websocket callback", "panic", r, "stack", string(debug.Stack()))
	}
}

func (ws *WebSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if reason := badUpgrade(r); reason != "" {
		http.Error(w, reason, http.StatusBadRequest)
		return
	}
	// Before the slot: a client past its rate takes nothing from others.
	if ok, retry := ws.cfg.ConnectLimit.allow(r.RemoteAddr); !ok {
		refuseRate(w, r, retry, &ws.counters, ws.rateLog, "websocket", ws.log)
		return
	}
	if !ws.limit.take() {
		ws.limit.refuse(w, &ws.counters, "websocket", ws.log)
		return
	}
	if !ws.serve(w, r) {
		ws.limit.give()
	}
}

// serve connects and upgrades r, and reports whether a connection was
// opened: its slot of the limit is then given back when it ends.
func (ws *WebSocket) serve(w http.ResponseWriter, r *http.Request) bool {
	if !checkOrigin(ws.cfg.CheckOrigin, r) {
		ws.log.Warn("transport: origin refused", "origin", r.Header.Get("Origin"))
		ws.counters.refused(RefusedOrigin)
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	offered, token, err := splitProtocols(r.Header.Values("Sec-WebSocket-Protocol"))
	if err != nil {
		ws.log.Warn("transport: bad auth token subprotocol", "error", err)
		ws.counters.refused(RefusedConnect)
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	proto, ok := pickProtocol(offered, ws.allowed)
	if !ok {
		ws.counters.refused(RefusedConnect)
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	ws.mu.Lock()
	closing := ws.shutdown
	ws.mu.Unlock()
	if closing {
		ws.counters.refused(RefusedShutdown)
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	q := r.URL.Query()
	ser, err := negotiate(q)
	if err != nil {
		ws.log.Warn("transport: "+err.Error(), "vsn", q.Get("vsn"))
		ws.counters.refused(RefusedConnect)
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	params := lastValues(q)
	addPathParams(r, params)
	req := &ConnectRequest{
		Transport:  "websocket",
		Serializer: ser,
		Params:     params,
		Info: ConnectInfo{
			PeerAddr:  r.RemoteAddr,
			URI:       requestURI(r, "wss", "ws"),
			Header:    exposedHeaders(r.Header),
			AuthToken: token,
			Session:   ws.cfg.Session.session(r, params),
		},
	}
	sess, err := ws.handler.Connect(req)
	if err != nil {
		status := http.StatusForbidden
		var refused *RefusedError
		if errors.As(err, &refused) && refused.Status != 0 {
			status = refused.Status
		}
		ws.counters.refused(RefusedConnect)
		w.WriteHeader(status)
		return false
	}

	ws.mu.Lock()
	if ws.shutdown {
		ws.mu.Unlock()
		sess.Closed(ErrClosed)
		ws.counters.refused(RefusedShutdown)
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	ws.wg.Add(1) // the read loop, started below or given up
	ws.mu.Unlock()

	if proto != "" {
		// gws negotiates again from the header's first line only; a client
		// may send its protocols on several lines.
		r.Header.Set("Sec-WebSocket-Protocol", proto)
	}
	// Hijacked here rather than by gws, so that gws writes through a wire,
	// the connection the outbox may also try writes on.
	netConn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		ws.wg.Done()
		sess.Closed(err)
		return false
	}
	compressed := ws.cfg.Compress && strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	wr := newWire(netConn, ws.cfg.WriteTimeout, compressed)
	conn, err := ws.upgraders[proto].UpgradeFromConn(wr, bufio.NewReaderSize(wr.Conn, ws.cfg.ReadBufferSize), r)
	if err != nil {
		ws.wg.Done()
		sess.Closed(err)
		return false
	}
	wc := &wsConn{ws: ws, conn: conn, wire: wr, session: sess}
	wc.out = newOutbox(wc, ws.cfg.OutboxSize, &ws.wg)
	wc.touch()
	conn.Session().Store("", wc)
	ws.mu.Lock()
	ws.conns[wc] = struct{}{}
	closing = ws.shutdown
	if !closing && ws.cfg.IdleTimeout > 0 && !ws.sweeping {
		ws.sweeping = true
		ws.wg.Add(1)
		go ws.sweep()
	}
	ws.mu.Unlock()
	if !wc.open() {
		closing = true
	}
	if closing {
		wc.Close(CloseServiceRestart, "server shutting down")
	}
	wc.touch() // the idle time starts once the connection is open
	go func() {
		defer ws.wg.Done()
		conn.ReadLoop()
	}()
	return true
}

// Shutdown stops accepting connections, closes every open one with
// CloseServiceRestart (so clients come back once the server is up again),
// and waits until every goroutine of the transport has returned, or ctx is
// done.
func (ws *WebSocket) Shutdown(ctx context.Context) error {
	ws.mu.Lock()
	if !ws.shutdown {
		ws.shutdown = true
		close(ws.quit)
	}
	conns := make([]*wsConn, 0, len(ws.conns))
	for c := range ws.conns {
		conns = append(conns, c)
	}
	ws.mu.Unlock()
	for _, c := range conns {
		c.Close(CloseServiceRestart, "server shutting down")
	}
	ws.limit.refusals.Stop()
	ws.rateLog.Stop()
	done := make(chan struct{})
	go func() {
		ws.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Force the stragglers: a client that does not read cannot hold
		// the shutdown past its deadline.
		for _, c := range conns {
			_ = c.conn.NetConn().Close()
		}
		<-done
		return ctx.Err()
	}
}

// Len reports the number of open connections.
func (ws *WebSocket) Len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.conns)
}

func badUpgrade(r *http.Request) string {
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "'connection' header must contain 'upgrade'"
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "'upgrade' header must contain 'websocket'"
	}
	if r.Header.Get("Sec-WebSocket-Key") == "" {
		return "'sec-websocket-key' header is missing"
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "'sec-websocket-version' header must be '13'"
	}
	return ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// splitProtocols separates the Phoenix auth token from the subprotocols a
// client offers. More than one token entry is refused, as in Phoenix.
func splitProtocols(values []string) (offered []string, token string, err error) {
	found := 0
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if enc, ok := strings.CutPrefix(p, authTokenPrefix); ok {
				found++
				if token, err = decodeAuthToken(enc); err != nil {
					return nil, "", err
				}
				continue
			}
			offered = append(offered, p)
		}
	}
	if found > 1 {
		return nil, "", errors.New("more than one auth token offered")
	}
	return offered, token, nil
}

// decodeAuthToken reads the token the JS client encodes with btoa (standard
// alphabet) despite the protocol's "base64url" name; both alphabets are
// accepted, padded or not.
func decodeAuthToken(s string) (string, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return string(b), nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("auth token is not base64: %w", err)
	}
	return string(b), nil
}

// pickProtocol returns the first accepted protocol the client offered; a
// client that offers none passes with none.
func pickProtocol(offered, allowed []string) (string, bool) {
	if len(offered) == 0 {
		return "", true
	}
	for _, a := range allowed {
		for _, o := range offered {
			if o == a {
				return a, true
			}
		}
	}
	return "", false
}

// negotiate picks the serializer from the vsn parameter. A vsn given as a
// list or map (vsn[]=…) is refused, as in Phoenix since 1.8.6.
func negotiate(q map[string][]string) (protocol.Serializer, error) {
	for k := range q {
		if strings.HasPrefix(k, "vsn[") {
			return nil, fmt.Errorf("%w: vsn is not a single value", protocol.ErrUnsupportedVersion)
		}
	}
	vs := q["vsn"]
	vsn := ""
	if len(vs) > 0 {
		vsn = vs[len(vs)-1]
	}
	return protocol.Negotiate(vsn)
}

// wsConn is one WebSocket connection: the Conn a Session writes to.
type wsConn struct {
	ws      *WebSocket
	conn    *gws.Conn
	wire    *wire // under conn
	session Session
	out     *outbox

	lastRead atomic.Int64 // nanoseconds from clockOrigin to the last frame received

	closedByServer atomic.Bool
	// closeCode is the code of the close the server began, 0 until then.
	closeCode atomic.Int32
}

// open runs the session's Open. A panic in it fails this connection only:
// it is closed with 1011 and its read loop still runs, so that it ends, and
// is accounted for, like any other.
func (c *wsConn) open() (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.ws.log.Error("transport: panic in Session.Open", "panic", r, "stack", string(debug.Stack()))
			c.Close(CloseInternalError, "internal error")
			ok = true // closed already: no second close
		}
	}()
	c.session.Open(c)
	return true
}

func (c *wsConn) Send(frame []byte, binary bool) error {
	return c.sent(c.out.Send(frame, binary))
}

func (c *wsConn) SendBatch(frames ...Frame) error {
	return c.sent(c.out.SendBatch(frames))
}

func (c *wsConn) SendDeferred(frame []byte, binary bool) error {
	return c.sent(c.out.SendDeferred(frame, binary))
}

func (c *wsConn) Flush() { c.out.Flush() }

// sent accounts for an outbox overflow, which closes the connection.
func (c *wsConn) sent(err error) error {
	if err == ErrOutboxFull {
		c.closing(CloseTryAgainLater)
		c.ws.counters.overflows.Add(1)
	}
	return err
}

func (c *wsConn) Close(code int, reason string) {
	c.closing(code)
	c.out.Close(code, reason)
}

// closing records that the server began to close the connection, with
// code: from then on what the client sends is dropped, its pings
// unanswered.
func (c *wsConn) closing(code int) {
	c.closeCode.CompareAndSwap(0, int32(code))
	c.closedByServer.Store(true)
}

func (c *wsConn) writeFrames(frames []Frame) error {
	if len(frames) > 1 && c.wire.raw != nil {
		if ok, err := c.wire.writeBatch(frames); ok {
			if err != nil {
				c.failWrite()
				return err
			}
			c.ws.counters.framesOut.Add(uint64(len(frames)))
			return nil
		}
	}
	for i := range frames {
		op := gws.OpcodeText
		if frames[i].Binary {
			op = gws.OpcodeBinary
		}
		if err := c.conn.WriteMessage(op, frames[i].Data); err != nil {
			return err
		}
	}
	c.ws.counters.framesOut.Add(uint64(len(frames)))
	return nil
}

func (c *wsConn) tryFrame(frame []byte, binary bool) (bool, []byte) {
	ok, rest := c.wire.tryFrame(frame, binary)
	if ok {
		c.ws.counters.framesOut.Add(1)
	}
	return ok, rest
}

func (c *wsConn) tryBatch(frames []Frame) (bool, []byte) {
	ok, rest := c.wire.tryBatch(frames)
	if ok {
		c.ws.counters.framesOut.Add(uint64(len(frames)))
	}
	return ok, rest
}

func (c *wsConn) finishTry(rest []byte) error {
	err := c.wire.finishTry(rest)
	if err != nil {
		c.failWrite()
	}
	return err
}

// failWrite ends a connection whose write failed outside gws, as gws ends
// one whose own write failed: the frame was cut short, so nothing more
// can be written, and the read loop, left to itself, would wait on a
// client that may send nothing.
func (c *wsConn) failWrite() {
	_ = c.wire.Conn.Close()
}

// maxCloseReason is the longest close reason a close frame carries: a
// control frame's payload is 125 bytes at most, the code taking two.
const maxCloseReason = 123

// closeWait is how long a connection the server closes waits for the
// client's close frame.
const closeWait = 2 * time.Second

// writeClose starts the closing handshake (RFC 6455 §7.1.1): the close
// frame, then only the write side of the TCP connection is shut. Closing it
// whole while the client's frames are still unread would reset it, and a
// client reading behind its own writes (one flooding the server, say) would
// lose the close frame and its code. The read loop takes what the client
// still sends, dropped, until its close frame, EOF or closeWait.
func (c *wsConn) writeClose(code int, reason string) {
	// An overflow began this close in the outbox, before its Send
	// returned to record it: recorded here too, before the close frame
	// goes out.
	c.closing(code)
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	payload = append(payload, reason...)
	if err := c.conn.WriteMessage(gws.OpcodeCloseConnection, payload); err != nil {
		return // gws has closed the connection
	}
	if hc, ok := c.conn.NetConn().(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(closeWait))
}

// sweep closes the connections idle for IdleTimeout (code 1001). One
// goroutine checks them all, while there are any, a few times per
// timeout: a timer per connection cost each about 110 bytes, and its
// re-arming CPU.
func (ws *WebSocket) sweep() {
	defer ws.wg.Done()
	idle := ws.cfg.IdleTimeout
	t := time.NewTicker(min(idle/4, time.Second))
	defer t.Stop()
	var due []*wsConn
	for {
		select {
		case <-t.C:
		case <-ws.quit:
			return
		}
		now := int64(time.Since(clockOrigin))
		ws.mu.Lock()
		if len(ws.conns) == 0 {
			ws.sweeping = false
			ws.mu.Unlock()
			return
		}
		for c := range ws.conns {
			if now-c.lastRead.Load() >= int64(idle) && !c.closedByServer.Load() {
				due = append(due, c)
			}
		}
		ws.mu.Unlock()
		for i, c := range due {
			ws.log.Debug("transport: idle timeout", "peer", c.conn.RemoteAddr().String())
			c.Close(CloseGoingAway, "idle timeout")
			due[i] = nil
		}
		due = due[:0]
	}
}

// touch notes a frame received. It reads the monotonic clock alone: it
// runs for every frame, and time.Now reads the wall clock too.
func (c *wsConn) touch() { c.lastRead.Store(int64(time.Since(clockOrigin))) }

// clockOrigin is where lastRead counts from.
var clockOrigin = time.Now()

func (c *wsConn) finish(err error) {
	c.out.abandon()
	c.ws.mu.Lock()
	delete(c.ws.conns, c)
	c.ws.mu.Unlock()
	c.ws.limit.give()
	c.ws.counters.closed(c.endCode(err))
	if c.closedByServer.Load() || isCleanClose(err) {
		err = nil
	}
	c.session.Closed(err)
}

// endCode is the close code a connection ended with: the server's if it
// began the close, else the client's, else 1006 (abnormal closure).
func (c *wsConn) endCode(err error) int {
	if code := c.closeCode.Load(); code != 0 {
		return int(code)
	}
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		if ce.Code == 0 {
			return closeNoStatusPresent
		}
		return int(ce.Code)
	}
	return closeAbnormal
}

func isCleanClose(err error) bool {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case 0, CloseNormal, CloseGoingAway, closeNoStatusPresent:
			return true
		}
	}
	return false
}

// wsEvents receives gws's callbacks for every connection and passes them to
// the connection's own state, kept in the gws session slot.
type wsEvents struct{}

func connOf(socket *gws.Conn) *wsConn {
	v, _ := socket.Session().Load("")
	return v.(*wsConn)
}

func (wsEvents) OnOpen(*gws.Conn) {}

func (wsEvents) OnClose(socket *gws.Conn, err error) { connOf(socket).finish(err) }

func (wsEvents) OnPing(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	if c.closedByServer.Load() {
		return
	}
	c.touch()
	_ = socket.WritePong(payload)
}

func (wsEvents) OnPong(socket *gws.Conn, _ []byte) { connOf(socket).touch() }

func (wsEvents) OnMessage(socket *gws.Conn, msg *gws.Message) {
	c := connOf(socket)
	defer func() {
		_ = msg.Close()
		if r := recover(); r != nil {
			// gws would swallow the panic and keep reading: this connection's
			// session is broken, so it ends, as a crashed Phoenix socket does.
			c.ws.log.Error("transport: panic in Session.Receive", "panic", r, "stack", string(debug.Stack()))
			c.Close(CloseInternalError, "internal error")
		}
	}()
	if c.closedByServer.Load() {
		return // what a closing client still sends is dropped
	}
	c.touch()
	c.ws.counters.framesIn.Add(1)
	c.session.Receive(msg.Bytes(), msg.Opcode == gws.OpcodeBinary)
}

// connSlot is gws session storage holding only the connection's own state:
// the default storage allocates a map per connection.
type connSlot struct{ c *wsConn }

func (s *connSlot) Len() int {
	if s.c == nil {
		return 0
	}
	return 1
}
func (s *connSlot) Load(string) (any, bool) { return s.c, s.c != nil }
func (s *connSlot) Delete(string)           { s.c = nil }
func (s *connSlot) Store(_ string, v any)   { s.c = v.(*wsConn) }
func (s *connSlot) Range(f func(string, any) bool) {
	if s.c != nil {
		f("", s.c)
	}
}
