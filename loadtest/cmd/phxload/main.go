// Command phxload puts a Phoenix Channels server under load over WebSocket
// with the V2 serializer, and measures what it costs the server: latency,
// throughput, CPU per operation and memory per connection.
//
//	phxload -url ws://127.0.0.1:4100/socket/websocket -scenario fanout \
//	    -pid $(pgrep -n sample) -token-secret S -subs 1000 -rate 10 -duration 10s
//
// Scenarios (all on bench:* topics, which the sample routes to its
// BenchChannel):
//
//   - conns: -n connections, opened at -rate per second, each joined to
//     bench:idle and sending a heartbeat every -heartbeat, held for -hold.
//     Reports connect+join latency and the server's memory per connection;
//     with -steps 1000,5000,… it measures memory at each step of one run.
//   - fanout: -subs subscribers and one publisher join bench:fan; the
//     publisher broadcasts {"t":<unix ns>,"seq":N} at -rate per second for
//     -duration. Reports delivery latency, loss, order and server CPU per
//     delivered message.
//   - echo: -conns connections, each joined to bench:echo-<i>, send echo
//     requests in a closed loop for -duration. Reports round trips per
//     second, their latency and server CPU per round trip.
//   - joins: -conns connections join and leave bench:churn-<i> in a closed
//     loop (join, its reply, leave, its reply and phx_close) for -duration.
//     Reports cycles per second, latency and server CPU per join+leave.
//     With -topics T the connections share T topics instead, each cycling
//     through them (connection i's k-th join is of bench:churn-<(i+k) mod
//     T>): several members per topic at once, joining and leaving.
//   - storm: -n clients (default 19,000) each join one of -rooms rooms
//     (client i room i mod R) and keep heartbeats; then the server
//     restarts and every client comes back, as phoenix.js would. With
//     -presence the rooms are room:storm-<k> (the sample's RoomChannel:
//     history and presence, user ids bench-N, so every client is a key of
//     its own) and a client is complete once the presence it keeps, as
//     phoenix.js's Presence keeps it (presence_state replaces, then
//     presence_diff joins and leaves), holds every member of its room;
//     without, the rooms are bench:storm-<k> and a client is complete
//     once joined. Clients connect at -connect-rate; once every one is
//     joined and complete (the cold phase, timed too), phxload writes
//     "phxload: storm: ready" on stderr and waits for the server to go
//     away and come back on the same address. A client whose socket
//     closes reconnects after phoenix.js's reconnectAfterMs (10, 50, 100,
//     150, 200, 250, 500, 1000, 2000 ms, then 5 s) and joins its channel
//     as soon as the socket is open, with a fresh join_ref. t0, when the
//     new process listens, is measured by phxload itself: from the first
//     socket closed, it tries a TCP connect to the server's address every
//     2 ms, and after one refused, the start of the first accepted is t0
//     (within 2 ms of the listen). Reports the time from t0 until every
//     client is joined again and until every client is complete, each
//     client's rejoin from t0 (p50, p99), the connects refused, and the
//     new process's CPU from its start to completion: its pid is the
//     first number read from phxload's standard input (a fifo the
//     restarting script writes to).
//
// With -pid, the server's CPU time and resident memory are read from
// /proc/<pid>; the tool's own CPU time (getrusage) is reported beside it, so
// a run whose load tool is the bottleneck shows it. Every run ends by
// itself: after its planned time, or after -timeout at the latest, it
// closes its connections and exits.
//
// Several servers: -url and -pid take comma-separated lists, one entry
// per server, and connections are spread over the servers round robin
// (connection i on server i mod n; fanout's publisher on the first). CPU
// and memory are the sums over the processes. With -cluster, the servers
// are the nodes of one cluster (the sample with -peers): before the load,
// phxload waits until every node's GET /api/cluster (the same host as its
// -url) shows every other node up, and it reads the relay's counters
// there before and after the measured window, to count the remote
// messages each broadcast took.
//
//	phxload -scenario fanout -cluster -subs 10000 -token-secret S \
//	    -url ws://127.0.0.1:4001/socket/websocket,ws://127.0.0.1:4002/socket/websocket,ws://127.0.0.1:4003/socket/websocket \
//	    -pid 101,102,103
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phxgo/phx/token"
)

// config is the command line.
type config struct {
	url         string   // as given: one URL or several, comma-separated
	urls        []string // the servers
	scenario    string
	label       string
	pids        []int // the servers' processes, in the order of urls; empty: none
	cluster     bool
	clusterWait time.Duration
	tokenSecret string
	tokenURL    string
	sources     int
	duration    time.Duration
	jsonPath    string
	timeout     time.Duration

	n           int
	steps       []int
	rate        float64
	connectRate float64
	concurrency int
	heartbeat   time.Duration
	hold        time.Duration
	settle      time.Duration
	subs        int
	conns       int
	topics      int
	rooms       int
	presence    bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "phxload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("phxload", flag.ContinueOnError)
	var cfg config
	var steps, pids string
	fs.StringVar(&cfg.url, "url", "ws://127.0.0.1:4100/socket/websocket", "the server's WebSocket endpoint; several, comma-separated, to spread the connections over them")
	fs.StringVar(&cfg.scenario, "scenario", "conns", "conns, fanout, echo, joins or storm")
	fs.StringVar(&cfg.label, "label", "", "a name for the server under test, copied into the result")
	fs.StringVar(&pids, "pid", "", "the server's process id, to read its CPU and memory from /proc; with several -url, one per server, comma-separated (summed)")
	fs.BoolVar(&cfg.cluster, "cluster", false, "the servers are one cluster: wait for every node to see the others up, and count the relay's frames from each node's /api/cluster")
	fs.DurationVar(&cfg.clusterWait, "cluster-wait", 30*time.Second, "with -cluster: how long to wait for every node to see every other up")
	fs.StringVar(&cfg.tokenSecret, "token-secret", "", "sign connect tokens locally with this secret_key_base (user ids bench-N)")
	fs.StringVar(&cfg.tokenURL, "token-url", "", "fetch connect tokens from this URL instead (the sample's http://…/api/token)")
	fs.IntVar(&cfg.sources, "sources", 8, "towards a server on loopback, dial from 127.0.0.2 … 127.0.0.(1+N), past one address's ephemeral ports; 0: the system's choice")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "fanout, echo, joins: how long the load lasts")
	fs.StringVar(&cfg.jsonPath, "json", "", "write the result as JSON to this file")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "stop the run after this long whatever its plan (0: the plan's length plus 2 minutes)")
	fs.IntVar(&cfg.n, "n", 1000, "conns: number of connections; storm: number of clients (default 19000)")
	fs.StringVar(&steps, "steps", "", "conns: measure memory at each of these connection counts, e.g. 1000,5000,10000,19000 (overrides -n)")
	fs.Float64Var(&cfg.rate, "rate", 0, "conns: connections opened per second (default 1000); fanout: broadcasts per second (default 10)")
	fs.Float64Var(&cfg.connectRate, "connect-rate", 1000, "fanout, echo, joins, storm: connections opened per second")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "handshakes in flight at most while opening connections")
	fs.DurationVar(&cfg.heartbeat, "heartbeat", 30*time.Second, "heartbeat period of every joined connection (0: none)")
	fs.DurationVar(&cfg.hold, "hold", 10*time.Second, "conns: how long the connections are held once all are joined")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "conns: pause before reading the server's memory at each step")
	fs.IntVar(&cfg.subs, "subs", 1000, "fanout: number of subscribers")
	fs.IntVar(&cfg.conns, "conns", 50, "echo, joins: number of connections")
	fs.IntVar(&cfg.topics, "topics", 0, "joins: topics the connections share, each cycling through them; 0: a topic of its own per connection")
	fs.IntVar(&cfg.rooms, "rooms", 100, "storm: rooms the clients are spread over")
	fs.BoolVar(&cfg.presence, "presence", false, "storm: join room:storm-* and wait for every client's presence to be complete; without, bench:storm-* and joins only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	if cfg.scenario == "storm" {
		if !nSet {
			cfg.n = 19000
		}
		if cfg.n < 1 || cfg.rooms < 1 || cfg.rooms > cfg.n {
			return errors.New("storm needs -n ≥ -rooms ≥ 1")
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.steps, err = parseSteps(steps); err != nil {
		return err
	}
	if cfg.urls, cfg.pids, err = parseServers(cfg.url, pids); err != nil {
		return err
	}
	if cfg.rate == 0 {
		cfg.rate = map[string]float64{"conns": 1000, "fanout": 10}[cfg.scenario]
	}
	if cfg.rate <= 0 && cfg.scenario == "fanout" {
		return errors.New("-rate must be positive")
	}
	if cfg.concurrency < 1 {
		cfg.concurrency = 1
	}
	scenario, ok := scenarios[cfg.scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q", cfg.scenario)
	}
	loopback := true
	for _, s := range cfg.urls {
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		ip := net.ParseIP(u.Hostname())
		loopback = loopback && ((ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost")
	}

	r := &runner{cfg: cfg}
	if r.token, err = tokenSource(cfg); err != nil {
		return err
	}
	if cfg.scenario == "storm" {
		r.ready = func() { fmt.Fprintln(os.Stderr, "phxload: storm: ready") }
		r.restartPID = readPID(os.Stdin)
	}
	// Other source addresses only make sense towards servers on loopback.
	if loopback {
		for i := range cfg.sources {
			r.sources = append(r.sources, net.IPv4(127, 0, 0, byte(2+i)))
		}
	}

	timeout := cfg.timeout
	if timeout <= 0 {
		timeout = plannedLength(cfg) + 2*time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The last resort: a run whose connections will not close still ends.
	watchdog := time.AfterFunc(timeout+closeTimeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "phxload: the run did not end in time; exiting")
		os.Exit(2)
	})
	defer watchdog.Stop()

	r.hb = newHeartbeater(r, cfg.heartbeat)
	hbCtx, hbStop := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		r.hb.run(hbCtx)
	}()

	res := &Result{Scenario: cfg.scenario, Label: cfg.label, URL: cfg.url, Start: time.Now(), Params: map[string]string{}}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "token-secret" {
			res.Params[f.Name] = f.Value.String()
		}
	})
	if cfg.cluster {
		if err := r.awaitCluster(ctx); err != nil {
			// The run goes on: its loss and counts will say what a
			// cluster short of a node cost.
			r.errs.add("cluster not up", err)
		} else {
			fmt.Fprintf(os.Stderr, "phxload: %d nodes, each seeing the others up\n", len(cfg.urls))
		}
	}
	conns := scenario(ctx, r, res)
	hbStop()
	<-hbDone
	r.closeAll(conns)

	counts, examples, total := r.errs.snapshot()
	res.Errors, res.ErrorExamples = counts, examples
	res.Add("errors", float64(total), "", "errors of every kind")
	if ctx.Err() != nil {
		res.Add("interrupted", 1, "", "the run was cut short by a signal or -timeout")
	}
	printResult(res, os.Stdout)
	if cfg.jsonPath != "" {
		return res.WriteJSON(cfg.jsonPath)
	}
	return nil
}

// A scenario runs the load, fills in the result, and returns the
// connections still open, for the caller to close.
type scenarioFunc func(ctx context.Context, r *runner, res *Result) []*conn

var scenarios = map[string]scenarioFunc{
	"conns":  runConns,
	"fanout": runFanout,
	"echo":   runEcho,
	"joins":  runJoins,
	"storm":  runStorm,
}

// plannedLength estimates how long a run takes when all goes well.
func plannedLength(cfg config) time.Duration {
	open := func(n int, rate float64) time.Duration {
		if rate <= 0 {
			return 0
		}
		return time.Duration(float64(n) / rate * float64(time.Second))
	}
	switch cfg.scenario {
	case "conns":
		n := cfg.n
		if len(cfg.steps) > 0 {
			n = cfg.steps[len(cfg.steps)-1]
		}
		return open(n, cfg.rate) + time.Duration(len(cfg.steps)+1)*cfg.settle + cfg.hold
	case "fanout":
		wait := time.Duration(0)
		if cfg.cluster {
			wait = cfg.clusterWait
		}
		return wait + open(cfg.subs+1, cfg.connectRate) + cfg.duration
	case "storm":
		// The cold phase, and a restart of a few seconds with a minute to
		// spare.
		return open(cfg.n, cfg.connectRate) + time.Minute
	default:
		return open(cfg.conns, cfg.connectRate) + cfg.duration
	}
}

// readPID returns a channel that gets the first process id read from in,
// one number a line, or is closed if none comes.
func readPID(in io.Reader) <-chan int {
	ch := make(chan int, 1)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && pid > 0 {
				ch <- pid
				return
			}
		}
	}()
	return ch
}

func parseSteps(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var steps []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad -steps entry %q", f)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, errors.New("-steps must increase")
		}
		steps = append(steps, n)
	}
	return steps, nil
}

// parseServers splits -url and -pid: one URL or several, and as many
// process ids, or none.
func parseServers(urls, pids string) ([]string, []int, error) {
	var us []string
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			return nil, nil, fmt.Errorf("empty entry in -url %q", urls)
		}
		us = append(us, u)
	}
	if strings.TrimSpace(pids) == "" {
		return us, nil, nil
	}
	var ps []int
	for _, f := range strings.Split(pids, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 {
			return nil, nil, fmt.Errorf("bad -pid entry %q", f)
		}
		ps = append(ps, p)
	}
	if len(ps) != len(us) {
		return nil, nil, fmt.Errorf("%d servers in -url but %d process ids in -pid", len(us), len(ps))
	}
	return us, ps, nil
}

// tokenSource returns how connection id gets its connect token, or nil when
// the server wants none.
func tokenSource(cfg config) (func(int) (string, error), error) {
	switch {
	case cfg.tokenSecret != "" && cfg.tokenURL != "":
		return nil, errors.New("give -token-secret or -token-url, not both")
	case cfg.tokenSecret != "":
		signer, err := token.New(cfg.tokenSecret, "user socket")
		if err != nil {
			return nil, err
		}
		return func(id int) (string, error) { return signer.Sign(userID(id)) }, nil
	case cfg.tokenURL != "":
		client := &http.Client{Timeout: 10 * time.Second}
		return func(id int) (string, error) {
			resp, err := client.Get(cfg.tokenURL + "?user_id=" + userID(id))
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var out struct {
				Token string `json:"token"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" {
				return "", fmt.Errorf("token from %s: status %d, %v", cfg.tokenURL, resp.StatusCode, err)
			}
			return out.Token, nil
		}, nil
	}
	return nil, nil
}

func userID(id int) string { return userIDPrefix + strconv.Itoa(id) }

// userIDPrefix starts every user id the tools make.
const userIDPrefix = "bench-"
