// Command sample is the chat server whose contract is sample/README.md:
// rooms with history, who is typing, a room for admins only, and a
// channel that crashes on request so that supervision can be watched at
// work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/internal/logbuf"
	"github.com/phxgo/phx/internal/pprofserve"
	"github.com/phxgo/phx/metrics"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/token"
	"github.com/phxgo/phx/transport"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed, and asking is no failure
		}
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(1)
	}
}

// version describes this build: the module's version (or "(devel)" for a
// build from a checkout), the commit and the Go release.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v + " " + info.GoVersion
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envFloat is the number in the environment variable name, def when
// unset or not a number.
func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return f
	}
	return def
}

// envInt is the integer in the environment variable name, 0 when unset
// or not an integer.
func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// envDuration is the duration in the environment variable name, 0 when
// unset or not a duration.
func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

func run(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	addr := fs.String("addr", envOr("ADDR", "127.0.0.1:4000"), "listen address (env ADDR)")
	dbPath := fs.String("db", envOr("CHAT_DB", "chat.db"), "message store, an SQLite file (env CHAT_DB)")
	secret := fs.String("secret", os.Getenv("SECRET_KEY_BASE"), "key that signs tokens; when empty, one kept in the file <db>.secret, made if absent (env SECRET_KEY_BASE)")
	assets := fs.String("assets", envOr("ASSETS", "sample/assets"), "folder holding node_modules/phoenix (env ASSETS)")
	pprofAddr := fs.String("pprof", os.Getenv("PPROF_ADDR"), "serve net/http/pprof on this address, for profiling; off when empty (env PPROF_ADDR)")
	node := fs.String("node", os.Getenv("NODE"), "this node's name in a cluster; the cluster address when empty (env NODE)")
	clusterAddr := fs.String("cluster-addr", os.Getenv("CLUSTER_ADDR"), "where the cluster listener binds, host:port; with -peers and no address, 127.0.0.1:0 (env CLUSTER_ADDR)")
	clusterAdvertise := fs.String("cluster-advertise", os.Getenv("CLUSTER_ADVERTISE"), "the address other nodes reach this one at; the listener's when empty (env CLUSTER_ADVERTISE)")
	peers := fs.String("peers", os.Getenv("PEERS"), "comma-separated host:port of nodes to meet; a host may be a DNS name of several nodes (env PEERS)")
	clusterSecret := fs.String("cluster-secret", os.Getenv("CLUSTER_SECRET"), "the key every frame between nodes is signed with; required beyond loopback (env CLUSTER_SECRET)")
	clusterMaxConns := fs.Int("cluster-max-conns", envInt("CLUSTER_MAX_CONNS"), "connections the cluster listener holds at once, handshakes included; past it one is closed before anything of it is read; 0: 256 (env CLUSTER_MAX_CONNS)")
	clusterHandshake := fs.Duration("cluster-handshake-timeout", envDuration("CLUSTER_HANDSHAKE_TIMEOUT"), "how long a connection to the cluster listener has to prove it holds the cluster secret; 0: 5s (env CLUSTER_HANDSHAKE_TIMEOUT)")
	adminSecret := fs.String("admin-secret", os.Getenv("ADMIN_SECRET"), "bearer token POST /api/broadcast requires when -addr is not loopback (env ADMIN_SECRET)")
	hosts := fs.String("hosts", envOr("HOSTS", defaultHosts), "comma-separated hosts whose pages may open sockets and POST /api/broadcast (Origin check); * for the host each request names (env HOSTS)")
	maxConns := fs.Int("max-conns", envInt("MAX_CONNS"), "connections (WebSocket) and sessions (long-poll) each transport holds at most; past it, connects get 503; 0: the open-file limit less 256 (env MAX_CONNS)")
	withMetrics := fs.Bool("metrics", envOr("METRICS", "true") != "false", "serve Prometheus metrics at GET /metrics (env METRICS=false turns them off)")
	benchHistory := fs.Int("bench-history", envInt("BENCH_HISTORY"), "keep the last n broadcasts of each bench:* topic, for measuring what a history costs; 0: none (env BENCH_HISTORY)")
	maxHTTPConns := fs.Int("max-http-conns", envInt("MAX_HTTP_CONNS"), "connections of every kind the HTTP server holds at most: past it less 32 kept for /healthz, /readyz and /metrics, the longest-idle is closed for a newcomer, and with none idle a newcomer gets 503 at once; 0: the open-file limit less 128 (env MAX_HTTP_CONNS)")
	msgRate := fs.Float64("msg-rate", envFloat("MSG_RATE", 5), "new_msg a socket may send per second, bursts of twice as many; past it, \"rate limited\"; 0: no limit (env MSG_RATE)")
	drainBatch := fs.Int("drain-batch", envInt("DRAIN_BATCH"), "on SIGTERM, close the sockets this many at a time; 0: 10,000, as Phoenix's drainer; -1: all at once (env DRAIN_BATCH)")
	drainInterval := fs.Duration("drain-interval", envDuration("DRAIN_INTERVAL"), "on SIGTERM, the time from the start of one batch of sockets closed to the start of the next; 0: 2s, as Phoenix's drainer (env DRAIN_INTERVAL)")
	presenceBatch := fs.Duration("presence-batch", envDuration("PRESENCE_BATCH"), "gather each room's presence changes for this long and send them as one presence_diff; 0: one diff per change, as Phoenix (env PRESENCE_BATCH)")
	joinRate := fs.Float64("join-rate", envFloat("JOIN_RATE", 0), "joins of rooms a socket may make per second, bursts of twice as many; past it, the join is refused \"rate limited\" (the phoenix client tries again later); 0: no limit (env JOIN_RATE)")
	boomRate := fs.Float64("boom-rate", envFloat("BOOM_RATE", 2), "crashes on request (boom) a socket may ask per second, bursts of twice as many; past it, \"rate limited\"; 0: no limit (env BOOM_RATE)")
	addrConnectRate := fs.Float64("addr-connect-rate", envFloat("ADDR_CONNECT_RATE", 20), "connects (WebSocket and long-poll) per second from one client address (IPv6: one /64), bursts of twice as many; past it, 429; 0: no limit (env ADDR_CONNECT_RATE)")
	limitLoopback := fs.Bool("addr-connect-rate-loopback", os.Getenv("ADDR_CONNECT_RATE_LOOPBACK") == "true", "apply -addr-connect-rate to loopback addresses too, which it leaves alone by default: a local proxy's clients and the load tool all come from there (env ADDR_CONNECT_RATE_LOOPBACK=true)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("phx sample", version())
		return nil
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	// A line per join and leave: under load, the lines of each 50 ms go
	// out in one write, and warnings and errors at once.
	logOut := logbuf.New(os.Stderr, 50*time.Millisecond)
	defer logOut.Close()
	log := slog.New(logbuf.FlushAt(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}), logOut, slog.LevelWarn))

	// Caught from the start, not once the server runs: whoever waits for
	// the "listening" line may send SIGTERM the moment it reads it, and
	// an uncaught one would kill the process instead of draining it. One
	// that comes while the server starts is acted on once it runs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	originOK, err := originCheck(*hosts)
	if err != nil {
		return err
	}
	// The ports first, before any file is made: a second instance started
	// on a port in use then fails with nothing written (no database, no
	// secret file), and says which flag moves it, as "address already in
	// use" alone does not.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another with -addr)", err)
	}
	defer ln.Close() // for an early return; once served, the server closes it
	stopPprof, err := pprofserve.Start(*pprofAddr, log)
	if err != nil {
		return fmt.Errorf("%w (choose another with -pprof)", err)
	}
	defer stopPprof()

	if *secret == "" {
		path := secretFileFor(*dbPath)
		s, created, err := loadOrCreateSecret(path)
		if err != nil {
			return fmt.Errorf("no -secret or SECRET_KEY_BASE, and the secret file: %w", err)
		}
		*secret = s
		if created {
			log.Info("no -secret or SECRET_KEY_BASE: made a token secret and kept it beside the database", "file", path)
		}
	}
	tokens, err := token.New(*secret, tokenSalt)
	if err != nil {
		return err
	}
	store, err := OpenStore(*dbPath)
	if err != nil {
		return err
	}
	defer store.Close()

	// The collector is the endpoint's telemetry, for its latency
	// histograms; off, the endpoint reads no clock for it.
	var collector *metrics.Collector
	var telemetry actors.Telemetry
	if *withMetrics {
		collector = metrics.New()
		telemetry = collector
	}
	ep := actors.NewEndpoint(actors.Config{Logger: log, Telemetry: telemetry,
		Drain: actors.Drain{BatchSize: *drainBatch, Interval: *drainInterval}})
	// An early return still closes the sockets and leaves the cluster, so
	// that peers drop this node's presences at once.
	shutDown := false
	defer func() {
		if !shutDown {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = ep.Shutdown(ctx)
		}
	}()
	defer announceCrashes(ep).Unsubscribe()
	sock := ep.Socket(UserSocket{tokens: tokens})
	tracker := presence.New(ep, presence.Config{Node: *node, BatchWindow: *presenceBatch})
	// A room keeps its last broadcasts, so that a page that reconnects
	// gets what it missed (sample/README.md, "Recovery").
	roomOpts := []actors.ChannelOption{actors.WithHistory(roomHistorySize, roomHistoryTTL), actors.WithPolicy(roomPolicy)}
	// A person types a few messages a second at most; a script flooding
	// a room, or crashing rooms in a loop, gets "rate limited", then its
	// socket closed, and then the connect rate of its address bounds how
	// soon it is back. A burst of 4 booms is what it takes to see a
	// channel stopped past its restart budget (3 restarts in 5 s).
	for _, limit := range []struct {
		event string
		rate  float64
	}{{"new_msg", *msgRate}, {"phx_join", *joinRate}, {"boom", *boomRate}} {
		if limit.rate > 0 {
			roomOpts = append(roomOpts, actors.WithEventRateLimit(limit.event, burstOf(limit.rate)))
		}
	}
	sock.Channel("room:*", func() actors.Channel { return &RoomChannel{store: store, presence: tracker} }, roomOpts...)
	var benchOpts []actors.ChannelOption
	if *benchHistory > 0 {
		benchOpts = append(benchOpts, actors.WithHistory(*benchHistory, 10*time.Minute))
	}
	sock.Channel("bench:*", func() actors.Channel { return BenchChannel{} }, benchOpts...)
	// One budget for both transports: the phoenix client falls back from
	// one to the other by itself.
	connects := transport.NewConnectLimiter(transport.ConnectLimit{Rate: burstOf(*addrConnectRate), Exempt: exemptLoopback(*limitLoopback)})
	ws := sock.WebSocket(transport.WebSocketConfig{CheckOrigin: originOK, MaxConns: *maxConns, ConnectLimit: connects})
	lp := sock.LongPoll(transport.LongPollConfig{CheckOrigin: originOK, MaxSessions: *maxConns, ConnectLimit: connects})

	var clu *cluster.Cluster
	if *clusterAddr != "" || *peers != "" {
		var seeds []string
		for _, p := range strings.Split(*peers, ",") {
			if p = strings.TrimSpace(p); p != "" {
				seeds = append(seeds, p)
			}
		}
		clu, err = cluster.Start(ep, cluster.Config{
			Node: *node, ListenAddr: *clusterAddr, AdvertiseAddr: *clusterAdvertise,
			Seeds: seeds, Secret: *clusterSecret, Presence: tracker, Logger: log,
			MaxConnections: *clusterMaxConns, HandshakeTimeout: *clusterHandshake,
		})
		if err != nil {
			return err
		}
	}

	conns := transport.NewConnCap(transport.ConnCapConfig{Max: *maxHTTPConns, ReservedPaths: []string{"/healthz", "/readyz", "/metrics"}, Logger: log})
	var metricsHandler http.Handler
	if collector != nil {
		collector.WatchEndpoint(ep)
		collector.WatchPresence(tracker)
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if clu != nil {
			reg.MustRegister(clu.Collector())
		}
		registerConnCap(reg, conns)
		metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)})
	}

	web := &site{
		ep: ep, cluster: clu, tokens: tokens, websocket: ws, longpoll: lp, assetsDir: *assets,
		adminSecret: *adminSecret, open: loopback(ln.Addr()), metrics: metricsHandler, originOK: originOK,
	}
	if !web.open && *adminSecret == "" {
		log.Warn("listening beyond loopback with no -admin-secret: POST /api/broadcast refuses every request")
	}
	srv := newHTTPServer(conns.Handler(web.routes()), defaultTimeouts, log)
	srv.ConnState, srv.ConnContext = conns.ConnState, conns.ConnContext
	served := make(chan error, 1)
	go func() { served <- srv.Serve(conns.Listener(ln)) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "db", *dbPath)

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	log.Info("shutting down")
	web.draining.Store(true)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The port stops taking connections now, as Phoenix's drainer
	// suspends its listener: clients that reconnect and a load balancer's
	// probes learn at once that this node is going, which costs both sides
	// less than a 503 each (a restart under 19,000 clients spent a quarter
	// of its CPU answering them). Requests under way finish; the sockets
	// are closed in the drain's batches, and every channel's terminate
	// runs.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(shutdownCtx) }()
	epErr := ep.Shutdown(shutdownCtx)
	shutDown = true
	if err := <-httpDone; err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return epErr
}

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT sets another ("off": none). The bounds on what clients can
// make the node hold add up to some 900 MiB: frames waiting to be
// handled (512 MiB), join params (256 MiB), long-poll bodies being read
// (64 MiB), the rooms' histories (64 MiB). But the garbage collector lets
// the heap grow to twice what was live at its last cycle (GOGC=100), and
// clients pressing on the bounds make garbage fast, a large frame being
// copied as it is read, decoded and handled: with every bound pressed at
// once a node passed 2.4 GB resident. Under the limit it collects sooner,
// and stays near it (TestMemoryUnderProbes).
const defaultMemoryLimit = 1536 << 20

// defaultHosts are the names of this machine's loopback addresses: the
// pages that may open sockets unless -hosts says otherwise.
const defaultHosts = "localhost,127.0.0.1,::1"

// originCheck is the check of the Origin of browsers' requests for
// -hosts: the listed hosts only, so that a page of another site whose name
// was made to resolve to this server (DNS rebinding) cannot connect,
// though it names itself in both Host and Origin. "*" trusts the Host
// each request names (transport.SameHost).
func originCheck(hosts string) (transport.OriginCheck, error) {
	var list []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			list = append(list, h)
		}
	}
	switch {
	case len(list) == 0:
		return nil, errors.New("-hosts names no host")
	case len(list) == 1 && list[0] == "*":
		return transport.SameHost, nil
	}
	for _, h := range list {
		bare := strings.Trim(h, "[]")
		if strings.Contains(h, "/") || strings.Contains(bare, ":") && net.ParseIP(bare) == nil {
			return nil, fmt.Errorf("-hosts: %q is not a host name (no scheme, no port)", h)
		}
	}
	return transport.AllowHosts(list...), nil
}

// httpTimeouts are the HTTP server's: a connection that sends nothing, or
// sends a request too slowly, is closed rather than hold a file
// descriptor for ever. A WebSocket is hijacked at its upgrade, and from
// then on they no longer apply to it.
type httpTimeouts struct {
	// readHeader bounds the reading of a request's headers; read, of the
	// whole request, body included (a long-poll or /api/broadcast POST).
	readHeader, read time.Duration
	// write bounds a request from the end of its headers to the end of
	// its answer: more than a long-poll GET's window (10 s).
	write time.Duration
	// idle closes a keep-alive connection waiting for its next request.
	idle time.Duration
}

var defaultTimeouts = httpTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 30 * time.Second, idle: 60 * time.Second}

func newHTTPServer(h http.Handler, t httpTimeouts, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// registerConnCap registers the figures of the server's connection cap.
func registerConnCap(reg prometheus.Registerer, cc *transport.ConnCap) {
	stat := func(f func(transport.ConnCapStats) float64) func() float64 {
		return func() float64 { return f(cc.Stats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phx_http_connections", Help: "Connections the HTTP server holds, of every kind."},
			stat(func(s transport.ConnCapStats) float64 { return float64(s.Open) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phx_http_connections_idle", Help: "Of them, idle: keep-alives between requests, and connections that have sent nothing yet."},
			stat(func(s transport.ConnCapStats) float64 { return float64(s.Idle) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phx_http_connections_closed_for_room_total", Help: "Idle connections closed to make room for a newcomer."},
			stat(func(s transport.ConnCapStats) float64 { return float64(s.Evicted) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phx_http_connections_refused_total", Help: "Newcomers answered 503 at once: every connection was busy."},
			stat(func(s transport.ConnCapStats) float64 { return float64(s.Refused) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phx_http_reserve_refused_total", Help: "Requests answered 503 on the connections kept for health checks."},
			stat(func(s transport.ConnCapStats) float64 { return float64(s.Reserved) })),
	)
}

// loopback reports whether a listener's address is reachable from this
// machine only.
func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// burstOf is perSecond with bursts of twice as many (0: no limit).
func burstOf(perSecond float64) actors.Rate {
	return actors.Rate{PerSecond: perSecond, Burst: max(1, int(2*perSecond))}
}

// exemptLoopback leaves loopback addresses out of the connect rate,
// unless told not to: behind a proxy on the same machine every client is
// loopback, and one budget for them all would throttle everyone; the load
// tool and the tests connect from there too.
func exemptLoopback(limitLoopback bool) func(netip.Addr) bool {
	if limitLoopback {
		return nil
	}
	return netip.Addr.IsLoopback
}
