package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

// Connector authenticates connections, like the connect/3 and id/1
// callbacks of a Phoenix socket module.
type Connector interface {
	// Connect accepts a connection by returning the socket's assigns (which
	// every channel of the socket starts from), or refuses it with an error:
	// a *transport.RefusedError chooses the HTTP status, anything else is
	// answered 403.
	Connect(params map[string]string, info transport.ConnectInfo) (map[string]any, error)
	// ID names the socket, e.g. "users_socket:42", or returns "" for an
	// anonymous one. A broadcast of event "disconnect" on that topic closes
	// every socket with that id.
	ID(assigns map[string]any) string
}

// SocketHandler accepts connections for a Connector and routes their joins
// to channels. It implements transport.Handler.
type SocketHandler struct {
	ep        *Endpoint
	connector Connector

	mu     sync.RWMutex
	routes []route // guarded by mu
	// limited: a route has rate limits, which joins must then look up.
	limited atomic.Bool
}

type route struct {
	pattern string
	prefix  bool // pattern ends with "*"
	stats   *routeCounters
	produce ChannelFunc
	policy  *supervision.Policy // nil: the endpoint's
	history *history.Config     // nil: the route keeps none
	rate    *routeRate          // nil: no limit of its own
}

// ChannelOption configures one channel route.
type ChannelOption interface {
	apply(*route)
}

type routeOption func(*route)

func (f routeOption) apply(r *route) { f(r) }

// WithHistory makes the route's topics keep their last size broadcasts,
// each for ttl, so that a client that reconnects gets what it missed.
// Every broadcast on such a topic carries its position in its frame's
// ref (the phoenix client hands it to channel.on's callback as its
// second argument); the join reply is followed by a phx_recovery push
// with the topic's position, and a join whose params hold
// {"recover": position} gets, after its reply, phx_recovery with
// {"recovered": true, "missed": n} and the n broadcasts it missed, in
// order, then the live ones, none twice; or {"recovered": false} and
// nothing old when the history does not hold everything since that
// position. Binary broadcasts are kept and recovered but carry no
// position, a binary frame having no place for it: a recovery from the
// last JSON broadcast a client saw sends again the binary ones after it. LocalBroadcast and
// LocalBroadcastFrom (presence diffs among them) are for this node alone:
// they are neither kept nor numbered. Config.HistoryBytes bounds what all
// histories hold together.
//
// In a cluster (package cluster) one node numbers each such topic, so
// that a broadcast has the same position on every node and a client
// recovers on any node: a broadcast made on another node is forwarded to
// it first, and reaches the publisher's own node, its client included,
// when it comes back numbered, after the reply to the push that made it.
func WithHistory(size int, ttl time.Duration) ChannelOption {
	return routeOption(func(r *route) { r.history = &history.Config{Size: size, TTL: ttl} })
}

// WithPolicy sets what a crash of the route's channels does, instead of the
// endpoint's Config.Policy.
func WithPolicy(p supervision.Policy) ChannelOption {
	return routeOption(func(r *route) { r.policy = &p })
}

// Channel routes topics matching pattern to fresh channels made by produce.
// A pattern is a topic, or a prefix followed by "*" ("room:*" matches
// "room:" followed by anything, even nothing). The first matching route
// declared wins. Channel panics on a "*" anywhere but at the end.
func (h *SocketHandler) Channel(pattern string, produce ChannelFunc, opts ...ChannelOption) *SocketHandler {
	prefix := strings.HasSuffix(pattern, "*")
	base := strings.TrimSuffix(pattern, "*")
	if strings.Contains(base, "*") {
		panic(fmt.Sprintf("actors: bad channel pattern %q: '*' may only end it", pattern))
	}
	if produce == nil {
		panic("actors: nil channel producer for " + pattern)
	}
	r := route{pattern: base, prefix: prefix, produce: produce, stats: h.ep.addRoute(pattern)}
	for _, o := range opts {
		o.apply(&r)
	}
	if r.rate != nil {
		h.limited.Store(true)
	}
	h.mu.Lock()
	h.routes = append(h.routes, r)
	if r.history != nil {
		// Up to this route, in order: a route declared before it that
		// matches a topic serves that topic, history or not.
		h.ep.keepHistory(h, slices.Clone(h.routes))
	}
	h.mu.Unlock()
	return h
}

func (h *SocketHandler) match(topic string) (route, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, r := range h.routes {
		if r.matches(topic) {
			return r, true
		}
	}
	return route{}, false
}

func (r *route) matches(topic string) bool {
	return r.prefix && strings.HasPrefix(topic, r.pattern) || !r.prefix && topic == r.pattern
}

// WebSocket returns the WebSocket transport for this handler, to mount at
// the socket's path plus "/websocket" (e.g. "/socket/websocket"). The
// endpoint shuts it down with itself.
func (h *SocketHandler) WebSocket(cfg transport.WebSocketConfig) *transport.WebSocket {
	if cfg.Logger == nil {
		cfg.Logger = h.ep.log
	}
	ws := transport.NewWebSocket(h, cfg)
	h.ep.addTransport(ws)
	return ws
}

// LongPoll returns the long-poll transport for this handler, to mount at
// the socket's path plus "/longpoll" (e.g. "/socket/longpoll"), for
// clients behind proxies that break WebSockets. The endpoint shuts it down
// with itself.
func (h *SocketHandler) LongPoll(cfg transport.LongPollConfig) *transport.LongPoll {
	if cfg.Logger == nil {
		cfg.Logger = h.ep.log
	}
	lp := transport.NewLongPoll(h, cfg)
	h.ep.addTransport(lp)
	return lp
}

// Connect implements transport.Handler.
func (h *SocketHandler) Connect(req *transport.ConnectRequest) (transport.Session, error) {
	if h.ep.sockets.closed() {
		return nil, &transport.RefusedError{Status: 503, Reason: "endpoint shutting down"}
	}
	var start time.Duration
	tel := h.ep.cfg.Telemetry
	if tel != nil {
		start = monotonic()
	}
	assigns, err := h.connector.Connect(req.Params, req.Info)
	if err != nil {
		h.ep.logLine(logConnectRefused, slog.String("transport", req.Transport), slog.String("reason", err.Error()))
		if tel != nil {
			tel.Observe(TelemetryEvent{Kind: SocketConnected, Transport: req.Transport, Duration: monotonic() - start, Err: err})
		}
		return nil, err
	}
	id := h.connector.ID(assigns)
	if tel != nil {
		tel.Observe(TelemetryEvent{Kind: SocketConnected, Transport: req.Transport, SocketID: id, Duration: monotonic() - start})
	}
	h.ep.logLine(logConnected, slog.String("transport", req.Transport), slog.String("serializer", req.Serializer.Version()), slog.String("socket_id", id))
	sess := &session{actor: socketActor{
		ep: h.ep, h: h, ser: req.Serializer, assigns: newAssignList(assigns), id: id, transport: req.Transport,
	}}
	if h.ep.cfg.RateLimit.Limited() {
		sess.actor.limits = newSocketLimits(h.ep.cfg.RateLimit, h.ep.now())
	}
	h.ep.sockets.subscribeID(&sess.actor)
	return sess, nil
}

// session binds one transport connection to its socket actor. Its methods
// run on the transport's read goroutine, in order. It holds the actor
// itself, one allocation for both, but reads only the fields set before
// the actor starts.
type session struct {
	actor socketActor
	pid   *actor.PID // nil when the endpoint closed before Open
}

func (s *session) Open(conn transport.Conn) {
	s.actor.conn = conn
	pid, err := s.actor.ep.sockets.start(&s.actor)
	if err != nil {
		s.actor.ep.sockets.unsubscribeID(&s.actor)
		conn.Close(transport.CloseServiceRestart, "server shutting down")
		return
	}
	s.pid = pid
}

// Receive decodes on the read goroutine, so that the socket actor's time
// goes to routing only; the decoded message owns its memory.
func (s *session) Receive(frame []byte, binary bool) {
	if s.pid == nil {
		return
	}
	if s.actor.overBound.Load() {
		return // the connection is closing for a bound
	}
	size := heldFor(frame)
	if queued := s.actor.enqueue(size); queued < 0 {
		return // the socket has stopped
	} else if max := s.actor.ep.cfg.MaxQueuedBytes; max > 0 && queued > int64(max) {
		// Checked here, on the read goroutine, rather than in the actor,
		// whose mailbox is what overflows.
		s.actor.overBound.Store(true)
		s.actor.ep.log.Warn("actors: client frames queued past MaxQueuedBytes, closing socket",
			"socket_id", s.actor.id, "queued", s.actor.queued.Load(), "max", max)
		s.actor.conn.Close(transport.ClosePolicyViolation, "too much queued")
		return
	}
	if max := s.actor.ep.cfg.MaxQueuedBytesHeld; max > 0 && s.actor.ep.queued.Load() > max {
		s.actor.ep.overQueued(max)
		if s.actor.overBound.Load() {
			return // this socket was the one
		}
	}
	in := &inbound{size: size}
	var err error
	if in.decoded, err = s.actor.ser.Decode(frame, binary); err != nil {
		s.actor.unqueue(size)
		s.actor.ep.system.Root.Send(s.pid, &socketFailure{err: err})
		return
	}
	in.msg = &in.decoded
	if !(router{&s.actor}).routeInline(in) {
		s.actor.ep.system.Root.Send(s.pid, in)
	}
}

func (s *session) Closed(err error) {
	if s.pid == nil {
		// Never opened: the upgrade failed or the transport was closing.
		s.actor.ep.sockets.unsubscribeID(&s.actor)
		return
	}
	var reason error = ReasonClosed
	if err != nil {
		reason = fmt.Errorf("%w: %w", ReasonClosed, err)
	}
	s.actor.ep.system.Root.Send(s.pid, &stopSocket{reason: reason, connGone: true})
}
