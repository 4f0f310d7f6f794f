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
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/cluster"
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
	adminSecret := fs.String("admin-secret", os.Getenv("ADMIN_SECRET"), "bearer token POST /api/broadcast requires when -addr is not loopback (env ADMIN_SECRET)")
	withMetrics := fs.Bool("metrics", envOr("METRICS", "true") != "false", "serve Prometheus metrics at GET /metrics (env METRICS=false turns them off)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("phx sample", version())
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

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
	ep := actors.NewEndpoint(actors.Config{Logger: log, Telemetry: telemetry})
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
	sock := ep.Socket(UserSocket{tokens: tokens})
	tracker := presence.New(ep, presence.Config{Node: *node})
	sock.Channel("room:*", func() actors.Channel { return &RoomChannel{store: store, presence: tracker} })
	sock.Channel("bench:*", func() actors.Channel { return BenchChannel{} })
	ws := sock.WebSocket(transport.WebSocketConfig{})
	lp := sock.LongPoll(transport.LongPollConfig{})

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
		})
		if err != nil {
			return err
		}
	}

	var metricsHandler http.Handler
	if collector != nil {
		collector.WatchEndpoint(ep)
		collector.WatchPresence(tracker)
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if clu != nil {
			reg.MustRegister(clu.Collector())
		}
		metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)})
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	web := &site{
		ep: ep, cluster: clu, tokens: tokens, websocket: ws, longpoll: lp, assetsDir: *assets,
		adminSecret: *adminSecret, open: loopback(ln.Addr()), metrics: metricsHandler,
	}
	if !web.open && *adminSecret == "" {
		log.Warn("listening beyond loopback with no -admin-secret: POST /api/broadcast refuses every request")
	}
	srv := &http.Server{Handler: web.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "db", *dbPath)

	stopPprof, err := pprofserve.Start(*pprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	log.Info("shutting down")
	web.draining.Store(true)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Sockets first, so that every channel's terminate runs, then the
	// HTTP server.
	epErr := ep.Shutdown(shutdownCtx)
	shutDown = true
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return epErr
}

// loopback reports whether a listener's address is reachable from this
// machine only.
func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
