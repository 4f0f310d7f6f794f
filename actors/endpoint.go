package actors

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"

	"github.com/phxgo/phx/actors/internal/history"
	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/actors/internal/sched"
	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

// Config configures an Endpoint. The zero value is ready to use; each
// field's comment says what zero means.
type Config struct {
	// Logger receives the endpoint's logs (connects and joins at info,
	// handle_in at debug) and the actor runtime's warnings. Nil means
	// slog.Default().
	Logger *slog.Logger
	// LogLimit sums the routine lines (connected, joined, left...) and
	// the refusals clients cause (unmatched topic...) that come faster
	// than a person reads: the zero value logs the first 100 of each kind
	// per 10 s one by one and sums the rest in a line per 10 s. Crashes
	// are summed per route (the first 10 per 10 s with their stack).
	LogLimit LogLimit
	// RegistryShards is the number of topic registry shard actors. Zero
	// means 8.
	RegistryShards int
	// MaxChannels bounds the channels one socket may have joined at once;
	// a join past it is refused with "too many channels joined". Zero means
	// 100 (Phoenix's default); negative means no limit.
	MaxChannels int
	// Policy is what a crash of a channel does, for routes that do not set
	// their own with WithPolicy. Nil means supervision.DefaultPolicy():
	// three restarts in place within five seconds.
	Policy *supervision.Policy
	// Drain paces the closing of sockets at Shutdown.
	Drain Drain
	// MaxQueuedBytes bounds what the client frames one socket has waiting
	// to be handled hold, in its socket actor and its channels' mailboxes
	// together, counted as held: a frame's bytes and 128 for the decoded
	// message that carries them. A client that sends faster than its
	// channels handle is cut off (close code 1008) rather than grow the
	// server's memory. Zero means 16 MiB, which a chat client never
	// reaches; negative means no limit.
	MaxQueuedBytes int
	// MaxJoinParams bounds the size of a join's params in bytes, which a
	// channel keeps for its whole life (a restart joins with them again):
	// a larger join is refused with {"reason":"join params too large"} and
	// the socket stays open. Zero means 64 KiB; negative means no limit.
	MaxJoinParams int
	// MaxJoinParamsHeld bounds the join params that every channel of the
	// endpoint keeps together, in bytes: a join that would take more is
	// refused with {"reason":"server busy"}, and the socket whose
	// channels hold the most is closed (1008, "too much held"), so that
	// many sockets cannot add up what one may not hold. Zero means 256
	// MiB; negative means no bound.
	MaxJoinParamsHeld int64
	// MaxQueuedBytesHeld bounds what the client frames waiting to be
	// handled hold, every socket's together, counted as MaxQueuedBytes
	// counts them: past it, the socket whose frames hold the most is
	// closed (1008, "too much queued"), so that many sockets cannot add
	// up what one may not hold. What the sockets closed for it hold
	// until they have stopped is let off, up to MaxQueuedBytes. Zero
	// means 512 MiB; negative means no bound.
	MaxQueuedBytesHeld int64
	// MaxTopicLength bounds the length of a topic in bytes: a join of a
	// longer one is refused with {"reason":"topic too long"} and the socket
	// stays open. Zero means 256; negative means no limit.
	MaxTopicLength int
	// Telemetry, when set, observes connects, joins, the handling of
	// messages and crashes. Nil costs nothing.
	Telemetry Telemetry
	// HistoryBytes bounds what the histories of every route that keeps
	// one (WithHistory) hold together, payloads included: past it, the
	// histories appended to longest ago are cleared first, and a client
	// recovering from them gets {"recovered": false}. Zero means 64 MiB;
	// negative means no bound.
	HistoryBytes int64
	// RateLimit bounds the frames one socket sends, heartbeats and leaves
	// aside, joins included: past it, a frame is answered
	// {"status":"error","response":{"reason":"rate limited"}} and not
	// handled. Routes and events have limits of their own
	// (WithRateLimit, WithEventRateLimit). The zero Rate is no limit.
	RateLimit Rate
	// RateLimitCutoff is when a socket refused by its rate limits, again
	// and again, is closed (1008, "rate limited"). The zero value closes
	// one refused more than 3 × the limit's Burst times within 10 s.
	RateLimitCutoff Cutoff
}

// Drain paces Shutdown as Phoenix's drainer does: sockets are closed in
// batches, a batch per interval, so that their clients' reconnects reach
// the other servers spread out rather than all at once.
type Drain struct {
	// BatchSize is how many sockets a batch closes. Zero means 10,000
	// (Phoenix's); negative means every socket in one batch.
	BatchSize int
	// Interval is the time from the start of each batch but the last to
	// the start of the next, however long closing a batch takes, as in
	// Phoenix, whose drainer sleeps while its batches are sent. Zero means
	// 2 s (Phoenix's).
	Interval time.Duration
}

// ErrShutdown is returned once the endpoint is shutting down.
var ErrShutdown = errors.New("actors: endpoint is shut down")

// Endpoint owns the actor system every socket and channel runs in, and the
// topic registry. Its methods are safe for concurrent use.
type Endpoint struct {
	cfg    Config
	log    *slog.Logger
	system *actor.ActorSystem
	reg    *registry.Registry
	events supervision.Stream
	policy supervision.Policy
	pool   *sched.WorkerPool
	relay  atomic.Pointer[seam.Relay] // nil: a single node
	// histories holds, for each socket handler with a route that keeps
	// a history, its routes up to the last such one, in the order
	// declared; replaced whole when one is added, read without a lock.
	histories atomic.Pointer[[]historyRoutes]

	// sockets are the live socket actors.
	sockets socketSet
	// channelProps spawns every channel actor. Channels are spawned at the
	// root, not as children of their socket: a Proto.Actor parent keeps a
	// map of its children and a context extension, half a kilobyte per
	// connection. Their guardian hands each failure to the socket, which
	// supervises its channels as a parent would, and a channel tells its
	// socket when it has stopped. The producer makes an empty actor; it
	// takes its state from handoff (channel id → *channelState) when it
	// starts, on its first start and after every restart.
	channelProps *actor.Props
	handoff      handoffs
	channelSeq   atomic.Uint64  // numbers the channel actors' names
	channelsWG   sync.WaitGroup // one count per live channel actor
	// Guardians: the supervisors of the endpoint's top-level actors.
	socketGuardian  actor.SupervisorStrategy
	channelGuardian actor.SupervisorStrategy
	// socketFailures hands a failed socket actor the reason it failed:
	// pid id → *PanicError, written by socketGuardian.
	socketFailures sync.Map

	mu         sync.Mutex
	transports []shutdowner     // guarded by mu
	routes     []*routeCounters // every route declared, guarded by mu
	onShutdown []func()         // guarded by mu

	// now reads the clock for the rate limits, in nanoseconds since the
	// endpoint started; tests replace it to step time.
	now func() int64
	// rateLog sums the frames the rate limits refuse into a line per
	// interval.
	rateLog *lograte.Limiter
	// lineLogs sum each kind of routine line past Config.LogLimit; all
	// nil with no limit.
	lineLogs [logKinds]*lograte.Limiter

	// drainPause waits out the interval between two drain batches; tests
	// replace it to step through a drain.
	drainPause func(ctx context.Context, d time.Duration)

	// deliveries and joinsUnmatched are counters of Stats. deliveries is
	// added to by every broadcast, from any goroutine: it has a cache
	// line of its own.
	_              [64]byte
	deliveries     atomic.Uint64
	_              [56]byte
	joinsUnmatched atomic.Uint64
	// rateLimited counts refused frames by limitKind, rateCutoffs the
	// sockets closed past their limits: added to only on refusals.
	rateLimited [4]atomic.Uint64
	rateCutoffs atomic.Uint64
	// paramsHeld is what every channel's join params hold together
	// (Config.MaxJoinParamsHeld), paramsCuts the sockets closed for it.
	paramsHeld atomic.Int64
	paramsCuts atomic.Uint64
	// queued is what every socket's client frames waiting to be handled
	// hold (Config.MaxQueuedBytesHeld); added to by every read goroutine,
	// on a cache line of its own.
	_      [56]byte
	queued atomic.Int64
	_      [56]byte
	// releasing is what the sockets closed for a bound held when they
	// were cut, until they stop: it is on its way out.
	releasing  atomic.Int64
	queuedCuts atomic.Uint64
}

// holdParams counts n bytes of join params that sa's new channel keeps,
// and reports whether the endpoint's bound allows it. When it does not,
// the socket holding the most is closed, first of all, so that the
// joins of others are served again once it is gone.
func (e *Endpoint) holdParams(sa *socketActor, n int64) bool {
	if max := e.cfg.MaxJoinParamsHeld; max > 0 && e.paramsHeld.Add(n) > max {
		e.paramsHeld.Add(-n)
		if largest, _ := e.sockets.largest(nil, func(sa *socketActor) int64 { return sa.paramsHeld.Load() }); largest != nil {
			e.paramsCuts.Add(1)
			e.log.Warn("actors: join params held past MaxJoinParamsHeld: closing the socket holding the most",
				"socket_id", largest.id, "held", largest.paramsHeld.Load(), "max", max)
			largest.conn.Close(transport.ClosePolicyViolation, "too much held")
		}
		return false
	}
	if e.cfg.MaxJoinParamsHeld <= 0 {
		e.paramsHeld.Add(n)
	}
	sa.paramsHeld.Add(n)
	return true
}

// overQueued is called when the frames waiting in every socket pass
// Config.MaxQueuedBytesHeld: the socket whose frames hold the most is
// closed, unless what the sockets already cut are giving back brings
// the count under the bound. No more of it than one socket may hold
// (MaxQueuedBytes) is let off: one cut does not bring another, but
// sockets slow to give back what they held (behind a channel that takes
// seconds over a message, or until their closing handshake ends) do not
// make room for the others to fill meanwhile. Let off in full, they let
// a flood of 300 sockets hold twice the bound.
func (e *Endpoint) overQueued(max int64) {
	over := func() bool {
		giving := e.releasing.Load()
		if per := int64(e.cfg.MaxQueuedBytes); per > 0 {
			giving = min(giving, per)
		}
		return e.queued.Load()-giving > max
	}
	if !over() {
		return
	}
	largest, held := e.sockets.largest(over, func(sa *socketActor) int64 { return sa.queued.Load() })
	if largest == nil {
		return
	}
	e.queuedCuts.Add(1)
	e.log.Warn("actors: client frames queued past MaxQueuedBytesHeld: closing the socket whose frames hold the most",
		"socket_id", largest.id, "queued", held, "max", max)
	largest.conn.Close(transport.ClosePolicyViolation, "too much queued")
}

// releaseParams gives back what holdParams counted.
func (e *Endpoint) releaseParams(sa *socketActor, n int64) {
	e.paramsHeld.Add(-n)
	sa.paramsHeld.Add(-n)
}

type shutdowner interface {
	Shutdown(ctx context.Context) error
}

// NewEndpoint starts an endpoint: its actor system and topic registry.
func NewEndpoint(cfg Config) *Endpoint {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RegistryShards <= 0 {
		cfg.RegistryShards = 8
	}
	if cfg.MaxChannels == 0 {
		cfg.MaxChannels = 100
	}
	if cfg.MaxJoinParams == 0 {
		cfg.MaxJoinParams = 64 << 10
	}
	if cfg.MaxTopicLength == 0 {
		cfg.MaxTopicLength = 256
	}
	if cfg.MaxQueuedBytesHeld == 0 {
		cfg.MaxQueuedBytesHeld = 512 << 20
	}
	if cfg.MaxJoinParamsHeld == 0 {
		cfg.MaxJoinParamsHeld = 256 << 20
	}
	if cfg.MaxQueuedBytes == 0 {
		cfg.MaxQueuedBytes = 16 << 20
	}
	if cfg.HistoryBytes == 0 {
		cfg.HistoryBytes = 64 << 20
	}
	cfg.RateLimit = cfg.RateLimit.WithDefaults()
	if cfg.RateLimitCutoff.Window <= 0 {
		cfg.RateLimitCutoff.Window = defaultCutoffWindow
	}
	if cfg.Drain.BatchSize == 0 {
		cfg.Drain.BatchSize = 10_000
	}
	if cfg.Drain.Interval <= 0 {
		cfg.Drain.Interval = 2 * time.Second
	}
	if cfg.LogLimit.Burst == 0 {
		cfg.LogLimit.Burst = defaultLogBurst
	}
	if cfg.LogLimit.Interval <= 0 {
		cfg.LogLimit.Interval = defaultLogInterval
	}
	e := &Endpoint{cfg: cfg, log: cfg.Logger, policy: supervision.DefaultPolicy(), drainPause: sleepCtx}
	if cfg.Policy != nil {
		e.policy = *cfg.Policy
	}
	start := time.Now()
	e.now = func() int64 { return int64(time.Since(start)) }
	e.rateLog = newRateLog(e)
	e.lineLogs = newLineLogs(e.log, cfg.LogLimit)
	e.pool = sched.NewWorkerPool(10*time.Second, sched.Floor, 300)
	e.socketGuardian = socketGuardian{e}
	e.sockets.init(e, e.socketGuardian)
	e.channelGuardian = channelGuardian{e}
	e.channelProps = actor.PropsFromProducer(func() actor.Actor { return &channelActor{ep: e} },
		actor.WithGuardian(e.channelGuardian), actor.WithDispatcher(e.pool), actor.WithMailbox(sched.NewMailbox))
	// The runtime logs every failure and dead letter at info; ours are
	// reported by the endpoint itself, so only its warnings pass.
	runtimeLog := slog.New(runtimeLogHandler{minLevel{cfg.Logger.Handler(), slog.LevelWarn}}).With("lib", "protoactor")
	e.system = actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return runtimeLog }),
		// The runtime's own messages can still meet a just-stopped actor
		// (a Stop crossing a child's exit); each such dead letter starts a
		// throttle timer goroutine that lives this long. Keep it short so
		// that nothing of the endpoint lingers after Shutdown.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	compactRegistry(e.system)
	e.reg = registry.New(registry.Config{
		System: e.system, Dispatcher: e.pool, Shards: cfg.RegistryShards, Messages: channelMessages{}, Log: e.log,
		Crashed: e.shardCrashed,
		PartPanic: func(value any, stack []byte) any {
			return &PanicError{Value: value, Stack: stack}
		},
		History:      e.historyOf,
		HistoryBytes: max(cfg.HistoryBytes, 0),
	})
	return e
}

// registryMaps is how many concurrent maps (of 32 shards each) hold the
// actor system's process registry.
const registryMaps = 4

// compactRegistry gives the actor system a process registry of fewer
// shards. Proto.Actor's holds 1,024 concurrent maps of 32 shards: with
// 32,768 Go maps, a registry of tens of thousands of actors has about one
// actor per map, and each map that holds one holds a map group of 288
// bytes, so every socket and every channel cost 288 bytes in the registry
// alone, where 128 well-filled maps cost about 50 per actor. Contention is
// no concern: a PID caches its process, so the registry is read rarely,
// and written once when an actor starts and once when it stops. It runs
// before the endpoint spawns anything; what the system registered itself
// (its dead-letter process) moves over.
func compactRegistry(system *actor.ActorSystem) {
	old := system.ProcessRegistry.LocalPIDs.LocalPIDs
	maps := make([]cmap.ConcurrentMap, registryMaps)
	for i := range maps {
		maps[i] = cmap.New()
	}
	compact := &actor.SliceMap{LocalPIDs: maps}
	for _, m := range old {
		m.IterCb(func(id string, p any) { compact.GetBucket(id).Set(id, p) })
	}
	system.ProcessRegistry.LocalPIDs = compact
}

// historyRoutes are a socket handler's routes up to its last that keeps a
// history.
type historyRoutes struct {
	h      *SocketHandler
	routes []route
}

// keepHistory records h's routes, up to one that keeps a history.
func (e *Endpoint) keepHistory(h *SocketHandler, routes []route) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []historyRoutes
	if old := e.histories.Load(); old != nil {
		all = slices.Clone(*old)
	}
	i := slices.IndexFunc(all, func(hr historyRoutes) bool { return hr.h == h })
	if i < 0 {
		all = append(all, historyRoutes{h: h})
		i = len(all) - 1
	}
	all[i].routes = routes
	e.histories.Store(&all)
}

// historyOf returns how much of topic's broadcasts to keep, nil for
// none: the route that serves the topic says, on the first socket
// handler with a route for it. It is asked for every broadcast of a
// topic that has no history, and costs one atomic load when no route
// keeps one.
func (e *Endpoint) historyOf(topic string) *history.Config {
	all := e.histories.Load()
	if all == nil {
		return nil
	}
	for _, hr := range *all {
		for i := range hr.routes {
			if hr.routes[i].matches(topic) {
				return hr.routes[i].history
			}
		}
	}
	return nil
}

// Logger returns the endpoint's logger.
func (e *Endpoint) Logger() *slog.Logger { return e.log }

// OnShutdown registers f to run during Shutdown, once every socket has
// closed and every channel has terminated, before the actor system stops.
func (e *Endpoint) OnShutdown(f func()) {
	e.mu.Lock()
	e.onShutdown = append(e.onShutdown, f)
	e.mu.Unlock()
}

// Supervision returns the stream of supervision decisions: one Event for
// every crash of a channel, with what was done about it.
func (e *Endpoint) Supervision() *supervision.Stream { return &e.events }

// Socket returns a handler for connections authenticated by c. Declare its
// channel routes with Channel, then serve it with WebSocket.
func (e *Endpoint) Socket(c Connector) *SocketHandler {
	return &SocketHandler{ep: e, connector: c}
}

func (e *Endpoint) addTransport(t shutdowner) {
	e.mu.Lock()
	e.transports = append(e.transports, t)
	e.mu.Unlock()
}

// Shutdown stops accepting connections, closes every socket (WebSocket
// clients get 1012 and come back when the server is up again) in the
// batches of Config.Drain, runs the Terminate of every joined channel, and
// waits for every goroutine the endpoint and its transports started. If
// ctx ends first, the sockets left are closed at once, connections are cut,
// and Shutdown returns ctx's error.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	pids, ok := e.sockets.close() // from now on, Connect refuses
	if !ok {
		return ErrShutdown
	}
	e.mu.Lock()
	transports := e.transports
	e.mu.Unlock()

	e.drain(ctx, pids)
	var firstErr error
	// The transports close what is left (a connection whose socket was
	// still starting) and wait for their goroutines.
	for _, t := range transports {
		if err := t.Shutdown(ctx); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	done := make(chan struct{})
	go func() {
		e.sockets.wait()
		// A socket that failed does not wait for its channels.
		e.channelsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if firstErr == nil {
			firstErr = ctx.Err()
		}
	}
	e.mu.Lock()
	hooks := e.onShutdown
	routes := e.routes
	e.mu.Unlock()
	// The crashes summed and not yet logged are logged now, and no timer
	// of the endpoint outlives it.
	for _, r := range routes {
		r.crashLog.Stop()
	}
	e.rateLog.Stop()
	for _, l := range e.lineLogs {
		if l != nil {
			l.Stop()
		}
	}
	for _, f := range hooks {
		f()
	}
	e.reg.Stop()
	e.system.Shutdown()
	if err := e.pool.Stop(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// drain stops the sockets, a batch at a time. Once ctx is done, it stops
// the rest at once.
func (e *Endpoint) drain(ctx context.Context, pids []*actor.PID) {
	batch := e.cfg.Drain.BatchSize
	if batch < 0 {
		batch = len(pids)
	}
	for len(pids) > 0 {
		began := time.Now()
		n := min(batch, len(pids))
		if ctx.Err() != nil {
			n = len(pids)
		}
		for _, pid := range pids[:n] {
			e.system.Root.Send(pid, &stopSocket{reason: ReasonServerShutdown})
		}
		pids = pids[n:]
		if len(pids) > 0 && ctx.Err() == nil {
			e.log.Info("draining", "closed", n, "left", len(pids))
			// Stopping 10,000 sockets with presence took 1.5 s: counted
			// in the interval, not added to it.
			if rest := e.cfg.Drain.Interval - time.Since(began); rest > 0 {
				e.drainPause(ctx, rest)
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

var _ transport.Handler = (*SocketHandler)(nil)
