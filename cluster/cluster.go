package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/presence"
)

// Config configures a node of a cluster. The zero value makes a node that
// listens on a free loopback port and waits for others to find it.
type Config struct {
	// Node names this node; names are unique within a cluster. Empty means
	// the advertised address.
	Node string
	// ListenAddr is where the cluster listener binds, host:port (port 0
	// picks a free one). Empty means 127.0.0.1:0: the listener stays on
	// loopback unless told otherwise.
	ListenAddr string
	// AdvertiseAddr is the address other nodes reach this one at, host:port
	// or a host alone (the listener's port is added). Empty means the
	// listener's address, which must then name a host (not 0.0.0.0).
	AdvertiseAddr string
	// Seeds are addresses of nodes to meet, host:port. A host may be a DNS
	// name that resolves to several addresses (a Kubernetes headless
	// service); it is resolved again every ResolveInterval. One seed is
	// enough: nodes tell each other the peers they know. A seed that is
	// this node is skipped, so every node may be given the same list.
	Seeds []string
	// Secret is the cluster's key: nodes connect over mutual TLS with a
	// key pair derived from it, so a node without it can neither join nor
	// read what nodes send each other. Required when the listener is not
	// on loopback; make it long and random (32 bytes from a CSPRNG).
	Secret string
	// Presence, when set, is replicated: its List, Count and the diffs its
	// clients see cover every node that is up.
	Presence *presence.Tracker
	// HeartbeatInterval is how often a node tells its peers it is up. Zero
	// means 1 s.
	HeartbeatInterval time.Duration
	// DownAfter is how many heartbeat intervals a peer may stay silent
	// before it is declared down and its presences leave. Zero means 3.
	DownAfter int
	// ResolveInterval is how often DNS seeds are resolved again. Zero
	// means 10 s.
	ResolveInterval time.Duration
	// ForgetAfter is how long a peer stays known while down before it is
	// forgotten (a seed is never forgotten). Zero means 5 minutes.
	ForgetAfter time.Duration
	// ReadyAfter bounds how long Ready waits for this node to meet the
	// nodes it was told of. Zero means 10 heartbeat intervals.
	ReadyAfter time.Duration
	// MaxConnections caps the connections to the cluster listener at once,
	// those still in their handshake included: one past it is closed
	// before anything of it is read, and counted (too_many_connections).
	// Each peer that dials this node holds one. Zero means 256.
	MaxConnections int
	// HandshakeTimeout bounds how long a connection to the listener may
	// take to prove it holds the secret (its TLS handshake and gRPC's
	// preface); one that has not is closed and counted
	// (handshake_timeout). Zero means 5 s.
	HandshakeTimeout time.Duration
	// LookupHost resolves seed hosts. Nil means net.DefaultResolver's.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Logger receives the cluster's logs: peers up and down, refused
	// peers, dropped frames. Nil means the endpoint's logger.
	Logger *slog.Logger
}

// maxRelayed bounds what one broadcast may carry to other nodes: the
// payload, topic and event. A WebSocket frame is at most 1 MiB by default,
// so a broadcast past this could not reach a client anyway.
const maxRelayed = 4 << 20

// maxChunk bounds the presence entries in one frame; a larger state or
// delta goes out in several.
const maxChunk = 256 << 10

// writerBatch is how many frames Proto.Actor remote's writer batches into
// one gRPC message at most.
const writerBatch = 32

// maxGRPCMessage bounds one gRPC message a node reads from a peer past its
// handshake (gRPC reads a message whole before it is decoded). A batch
// holds frames the receiver has not yet acknowledged: those that carry
// data are bounded by the relay's window (windowBytes, by frameCost, which
// counts more than the frame's bytes), and the rest (heartbeats, acks,
// goodbyes) are a few hundred bytes each and few; a broadcast past the
// window's room is skipped, never sent whole. So a batch stays under the
// window, and the limit leaves room for one broadcast more and the small
// frames beside it.
const maxGRPCMessage = windowBytes + maxRelayed + 4<<20

// maxGRPCReply bounds one gRPC message a node reads from the peer it
// dials: remote's server sends only its connect response and a disconnect
// request.
const maxGRPCReply = 64 << 10

// maxStreams bounds the streams of one connection between nodes: a
// node's writer opens one per connection.
const maxStreams = 4

// maxHeaderList bounds the headers of one gRPC request between nodes,
// where gRPC's default is 16 MiB.
const maxHeaderList = 16 << 10

// writerQueue is the initial size of remote's queue per peer address.
const writerQueue = 256

// grpcWindow is gRPC's flow-control window per stream and per connection
// between nodes.
const grpcWindow = 4 << 20

// relayName is the id of the relay actor on every node.
const relayName = "phx-cluster"

// goodbyeTimeout bounds how long Stop waits for peers to acknowledge that
// this node is leaving.
const goodbyeTimeout = time.Second

// ErrTooLarge refuses a broadcast too large to carry to other nodes.
var ErrTooLarge = errors.New("cluster: broadcast too large to relay")

// Cluster is this node's membership in a cluster: its listener, its relay
// actor and its view of the peers. Its methods are safe for concurrent
// use.
type Cluster struct {
	ep *actors.Endpoint
	// hooks is ep's machinery: its actor system, dispatcher and relay.
	hooks *seam.Endpoint
	cfg   Config
	log   *slog.Logger
	node  string
	inc   uuid.UUID
	addr  string // advertised

	remote *remote.Remote
	relay  *actor.PID
	guard  *guard

	// peersUp counts the peers up: while it is zero a broadcast costs no
	// actor hop.
	peersUp atomic.Int32
	ready   atomic.Bool
	stats   stats
	// refusals limits the log lines of refused peers and of refusals by
	// peers, once a minute each; refusalLog those of refused peers in all.
	refusals   logLimiter
	refusalLog *lograte.Limiter

	mu   sync.Mutex
	view []peerView // guarded by mu; written by the relay
	// upNames are the peers up, for choosing a topic's sequencer on
	// the publisher's goroutine; written by the relay.
	upNames atomic.Pointer[[]string]

	stopOnce sync.Once
	quit     chan struct{}
	wg       sync.WaitGroup // the ticker, the prober and the resolver
	probes   chan struct{}  // wakes the prober
	probeMu  sync.Mutex
	toProbe  []string // guarded by probeMu: addresses for the prober
	lost     *eventstream.Subscription
}

// Start joins ep to a cluster: it starts the listener and the relay actor,
// makes ep's broadcasts reach every node, and, with cfg.Presence,
// replicates presence. Call it before ep serves connections. The cluster
// stops with ep (Shutdown), after its sockets: peers are told this node is
// leaving, so its presences leave at once.
func Start(ep *actors.Endpoint, cfg Config) (*Cluster, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = 3
	}
	if cfg.ResolveInterval <= 0 {
		cfg.ResolveInterval = 10 * time.Second
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = 5 * time.Minute
	}
	if cfg.ReadyAfter <= 0 {
		cfg.ReadyAfter = 10 * cfg.HeartbeatInterval
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = defaultMaxConnections
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.LookupHost == nil {
		cfg.LookupHost = net.DefaultResolver.LookupHost
	}
	if cfg.Logger == nil {
		cfg.Logger = ep.Logger()
	}
	host, portStr, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen address %q: %w", cfg.ListenAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("cluster: listen address %q: bad port", cfg.ListenAddr)
	}
	if !isLoopback(host) && cfg.Secret == "" {
		return nil, fmt.Errorf("cluster: listening on %q beyond loopback needs a Secret", cfg.ListenAddr)
	}
	if unspecified(host) && cfg.AdvertiseAddr == "" {
		return nil, fmt.Errorf("cluster: listening on all interfaces (%q) needs an AdvertiseAddr", cfg.ListenAddr)
	}
	for _, s := range cfg.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("cluster: seed %q: %w", s, err)
		}
	}
	// The advertised address is given to remote before it starts: the
	// PIDs it makes carry it, and a PID whose address is not the system's
	// own is sent through remote, to itself.
	advertise := cfg.AdvertiseAddr
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			if port == 0 {
				return nil, fmt.Errorf("cluster: advertised address %q needs a port when the listener picks its own", advertise)
			}
			advertise = net.JoinHostPort(advertise, portStr)
		}
	}
	inc, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("cluster: making an incarnation: %w", err)
	}
	c := &Cluster{
		ep:       ep,
		cfg:      cfg,
		log:      cfg.Logger,
		inc:      inc,
		quit:     make(chan struct{}),
		probes:   make(chan struct{}, 1),
		refusals: logLimiter{every: time.Minute},
	}
	c.refusalLog = &lograte.Limiter{Burst: refusalLogBurst, Interval: time.Minute,
		Report: func(events, held uint64, d time.Duration) {
			c.log.Warn("cluster: refused peers not logged (phx_cluster_refused_total counts them)",
				"logged", events-held, "not_logged", held, "interval", d)
		}}
	serverTLS, clientTLS, err := tlsConfigs(cfg.Secret)
	if err != nil {
		return nil, err
	}
	c.hooks = seam.Of(ep)
	system := c.hooks.System
	c.guard = newGuard(c)
	codec := newBatchCodec()
	rcfg := remote.Configure(host, port,
		remote.WithAdvertisedHost(advertise),
		remote.WithEndpointWriterBatchSize(writerBatch),
		// Remote's writer queue is a ring that grows when full and starts
		// at this size (a million slots, 15 MB, by default): what a peer
		// may have in flight is bounded by the relay's window instead.
		remote.WithEndpointWriterQueueSize(writerQueue),
		remote.WithDialOptions(
			grpc.WithTransportCredentials(observedCreds{credentials.NewTLS(clientTLS), c}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCReply), grpc.ForceCodecV2(codec)),
			// Fixed windows turn off gRPC's bandwidth estimation, which
			// pings the sender after nearly every frame when frames are
			// few (a wake-up and a write on each side); the relay bounds
			// what is in flight itself (windowBytes).
			grpc.WithInitialWindowSize(grpcWindow),
			grpc.WithInitialConnWindowSize(grpcWindow),
		),
		remote.WithServerOptions(
			// The door (door.go): the cap on connections, the handshake's
			// deadline, refusals counted and logged within bounds.
			grpc.Creds(observedCreds{credentials.NewTLS(serverTLS), c}),
			grpc.ConnectionTimeout(cfg.HandshakeTimeout),
			grpc.MaxRecvMsgSize(maxGRPCMessage),
			grpc.MaxConcurrentStreams(maxStreams),
			grpc.MaxHeaderListSize(maxHeaderList),
			grpc.ForceServerCodecV2(codec),
			grpc.InitialWindowSize(grpcWindow),
			grpc.InitialConnWindowSize(grpcWindow),
			grpc.StreamInterceptor(c.guard.stream),
			grpc.UnaryInterceptor(c.guard.unary),
		),
	)
	// A writer that cannot connect retries inside its actor, two seconds
	// apart, and cannot be stopped meanwhile; the relay probes and
	// reconnects by itself, so one attempt is enough.
	rcfg.MaxRetryCount = 1
	c.remote = remote.NewRemote(system, rcfg)
	if err := startRemote(c.remote); err != nil {
		return nil, err
	}
	c.addr = system.Address()
	c.node = cfg.Node
	if c.node == "" {
		c.node = c.addr
	}
	c.guard.setLocal(c.addr)

	r := newRelay(c)
	props := actor.PropsFromProducer(func() actor.Actor { return r }, actor.WithDispatcher(c.hooks.Dispatcher))
	pid, err := system.Root.SpawnNamed(props, relayName)
	if err != nil {
		c.remote.Shutdown(false)
		return nil, fmt.Errorf("cluster: starting the relay: %w", err)
	}
	c.relay = pid
	c.hooks.SetRelay(relayHook{c})
	if cfg.Presence != nil {
		cfg.Presence.Replicate(func(ch presence.Change) { system.Root.Send(pid, ch) })
	}
	c.lost = system.EventStream.SubscribeWithPredicate(func(ev any) {
		system.Root.Send(pid, unreachable{ev.(*remote.EndpointTerminatedEvent).Address})
	}, func(ev any) bool {
		_, ok := ev.(*remote.EndpointTerminatedEvent)
		return ok
	})
	c.wg.Add(2)
	go c.tick()
	go c.prober()
	if len(cfg.Seeds) > 0 {
		c.wg.Add(1)
		go c.resolve()
	}
	ep.OnShutdown(c.Stop)
	c.log.Info("cluster: listening", "node", c.node, "addr", c.addr, "seeds", cfg.Seeds)
	return c, nil
}

// startRemote starts remote, which panics when it cannot listen.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cluster: %v", p)
		}
	}()
	r.Start()
	return nil
}

// Node returns this node's name.
func (c *Cluster) Node() string { return c.node }

// Addr returns the address other nodes reach this one at.
func (c *Cluster) Addr() string { return c.addr }

// Incarnation names this run of the node, a UUID (version 7): a node
// that restarts comes back with another, and its peers drop what they held
// of the last.
func (c *Cluster) Incarnation() string { return c.inc.String() }

// Ready says this node has met the cluster it was told of: every seed and
// every node gossiped to it answered (or has no listener), and every peer
// up relays to it, so a broadcast made anywhere reaches it and one made
// here reaches every node up. Past Config.ReadyAfter it says so anyway,
// unless another node refuses this one's name, or its secret while no
// peer is up. A load balancer's readiness check belongs here.
func (c *Cluster) Ready() bool { return c.ready.Load() }

// Peers returns the other nodes this one knows, up or down.
func (c *Cluster) Peers() []Peer {
	c.mu.Lock()
	view := c.view
	c.mu.Unlock()
	peers := make([]Peer, 0, len(view))
	for _, v := range view {
		p := Peer{
			Node: v.name, Addr: v.addr, Incarnation: v.inc, Up: v.up, Linked: v.linked, Slow: v.slow,
			Downs:          v.counters.downs.Load(),
			FramesSent:     v.counters.sent.Load(),
			FramesReceived: v.counters.received.Load(),
			Skipped:        v.counters.skipped.snapshot(),
			Dropped:        v.counters.dropped.snapshot(),
			Queue:          v.counters.queued.Load(),
			QueueBytes:     v.counters.queuedBytes.Load(),
		}
		if ns := v.counters.heard.Load(); ns != 0 {
			p.LastHeard = time.Unix(0, ns).UTC()
		}
		peers = append(peers, p)
	}
	return peers
}

// refuse counts a peer this node refused, by reason, and logs it at most
// once a minute per reason and peer host, and refusalLogBurst times a
// minute in all: a stranger with many addresses fills no log.
func (c *Cluster) refuse(host string, why reason, err error) {
	c.stats.refused[why].Add(1)
	if c.refusals.allow("in:"+why.String()+":"+host, time.Now()) && c.refusalLog.Allow() {
		c.log.Warn("cluster: refused a peer", "peer", host, "reason", why.String(), "error", err)
	}
}

// refusedBy counts a refusal of this node by the peer at addr, and logs it
// as the error it is, at most once a minute per peer.
func (c *Cluster) refusedBy(addr string, why reason, msg string) {
	c.stats.refusedByPeers[why].Add(1)
	if relay := c.relay; relay != nil {
		c.hooks.System.Root.Send(relay, refusedSecret{addr})
	}
	if c.refusals.allow("out:"+why.String()+":"+addr, time.Now()) {
		c.log.Error("cluster: refused by a peer: "+msg, "peer", addr, "reason", why.String())
	}
}

// logLimiter lets a log line through at most once per period per key.
type logLimiter struct {
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time // guarded by mu
}

func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if l.last == nil || len(l.last) >= 1024 {
		l.last = make(map[string]time.Time) // forget the oldest all at once: a bound, not a policy
	}
	l.last[key] = now
	return true
}

// relayBroadcast sends a broadcast made on this node to every peer that
// is up: the endpoint's relay.
func (c *Cluster) relayBroadcast(topic, event string, payload actors.Payload) error {
	if len(topic)+len(event)+len(payload.Data) > maxRelayed {
		return ErrTooLarge
	}
	if c.peersUp.Load() == 0 {
		return nil
	}
	c.hooks.System.Root.Send(c.relay, &outBroadcast{topic: topic, event: event, payload: payload})
	return nil
}

// relayHook is the endpoint's relay: what the endpoint hands to other
// nodes goes through the relay actor.
type relayHook struct{ c *Cluster }

func (h relayHook) Relay(topic, event string, payload actors.Payload) error {
	return h.c.relayBroadcast(topic, event, payload)
}

func (h relayHook) Forward(topic, event string, payload actors.Payload, from string) (bool, error) {
	c := h.c
	if len(topic)+len(event)+len(payload.Data) > maxRelayed {
		return false, ErrTooLarge
	}
	if c.peersUp.Load() == 0 {
		return false, nil
	}
	owner := c.sequencer(topic)
	if owner == "" {
		return false, nil
	}
	c.hooks.System.Root.Send(c.relay, &outForward{owner: owner, bc: broadcastFrame{
		topic: topic, event: event, binary: payload.Binary, payload: payload.Data, from: from}})
	return true, nil
}

func (h relayHook) Sequenced(topic, event string, payload actors.Payload, origin, from string, at, prev seam.Position) {
	c := h.c
	if origin == "" && c.peersUp.Load() == 0 {
		return
	}
	c.hooks.System.Root.Send(c.relay, &outSequenced{bc: broadcastFrame{
		topic: topic, event: event, binary: payload.Binary, payload: payload.Data,
		origin: origin, from: from, at: at, prev: prev}})
}

// sequencer returns the node that numbers topic's broadcasts, "" for
// this one: of this node and the peers up, the one whose name scores
// highest with the topic (rendezvous hashing), so that every node that
// sees the same peers up chooses the same, and a node's coming or going
// moves only the topics it wins or held.
func (c *Cluster) sequencer(topic string) string {
	best, bestScore := "", rendezvous(c.node, topic)
	if up := c.upNames.Load(); up != nil {
		for _, name := range *up {
			if s := rendezvous(name, topic); s > bestScore || s == bestScore && name < best {
				best, bestScore = name, s
			}
		}
	}
	return best
}

// rendezvous scores a node for a topic: FNV-1a of both, mixed.
func rendezvous(node, topic string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(node); i++ {
		h = (h ^ uint64(node[i])) * 1099511628211
	}
	h = (h ^ 0xff) * 1099511628211
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint64(topic[i])) * 1099511628211
	}
	// splitmix64's finaliser: FNV's low bits alone spread names poorly.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// Stop takes this node out of the cluster: peers are told it is leaving
// (and drop its presences at once), then the listener and the relay stop.
// Endpoint.Shutdown calls it; calling it again does nothing.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		done := make(chan struct{})
		c.hooks.System.Root.Send(c.relay, &leave{done: done})
		t := time.NewTimer(goodbyeTimeout)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		c.halt()
		c.log.Info("cluster: left", "node", c.node)
	})
}

// halt stops the cluster's goroutines, the relay, the listener and the
// connections to peers.
//
// Not with remote's graceful Shutdown: it tells each inbound stream to end
// by sending on a channel that the stream's handler closes when the peer
// ends it first, so two nodes stopping together race there (the race
// detector sees it; a send that loses is a panic). The hard stop closes
// the listener and every inbound connection and sends on nothing; the
// endpoint supervisor then stops the writers, which close their
// connections as remote's graceful stop would. Peers have already had the
// goodbye.
func (c *Cluster) halt() {
	c.hooks.SetRelay(nil)
	if c.cfg.Presence != nil {
		c.cfg.Presence.Replicate(nil)
	}
	system := c.hooks.System
	system.EventStream.Unsubscribe(c.lost)
	close(c.quit)
	c.wg.Wait()
	_ = system.Root.StopFuture(c.relay).Wait()
	c.remote.Shutdown(false)
	c.refusalLog.Stop()
	for _, name := range []string{"EndpointSupervisor", "activator"} {
		_ = system.Root.StopFuture(system.NewLocalPID(name)).Wait()
	}
}

// tick drives heartbeats and failure detection: four checks per interval,
// so that a peer is declared down within a quarter interval of its due
// time.
func (c *Cluster) tick() {
	defer c.wg.Done()
	t := time.NewTicker(max(c.cfg.HeartbeatInterval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case now := <-t.C:
			c.hooks.System.Root.Send(c.relay, tick{now})
		}
	}
}

// probe hands the prober addresses to try. Only the relay calls it, and
// never for an address whose answer it still waits for.
func (c *Cluster) probe(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	c.probeMu.Lock()
	c.toProbe = append(c.toProbe, addrs...)
	c.probeMu.Unlock()
	select {
	case c.probes <- struct{}{}:
	default:
	}
}

// prober dials the addresses it is given, each at once and all at the
// same time (one host that drops packets must not delay the others), and
// tells the relay of each whether its listener answers. A plain TCP
// connect: cheap, and it leaves nothing behind when nobody is there.
func (c *Cluster) prober() {
	defer c.wg.Done()
	d := net.Dialer{Timeout: min(c.cfg.HeartbeatInterval, time.Second)}
	ctx, cancel := context.WithCancel(context.Background())
	var dials sync.WaitGroup
	defer dials.Wait()
	defer cancel()
	for {
		select {
		case <-c.quit:
			return
		case <-c.probes:
		}
		c.probeMu.Lock()
		addrs := c.toProbe
		c.toProbe = nil
		c.probeMu.Unlock()
		for _, addr := range addrs {
			dials.Add(1)
			go func() {
				defer dials.Done()
				conn, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					c.hooks.System.Root.Send(c.relay, unreachable{addr})
					return
				}
				_ = conn.Close()
				c.hooks.System.Root.Send(c.relay, reachable{addr})
			}()
		}
	}
}

// resolve resolves the seeds now and every ResolveInterval, and hands the
// addresses to the relay.
func (c *Cluster) resolve() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ResolveInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.quit
		cancel()
	}()
	for {
		var addrs []string
		for _, s := range c.cfg.Seeds {
			host, port, _ := net.SplitHostPort(s)
			if ip := net.ParseIP(host); ip != nil {
				addrs = append(addrs, net.JoinHostPort(ip.String(), port))
				continue
			}
			ips, err := c.cfg.LookupHost(ctx, host)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("cluster: resolving a seed", "seed", s, "error", err)
				}
				continue
			}
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip, port))
			}
		}
		c.hooks.System.Root.Send(c.relay, &seeds{addrs: addrs})
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
