package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/metrics"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type users struct{}

func (users) Connect(p map[string]string, _ transport.ConnectInfo) (map[string]any, error) {
	return map[string]any{"user": p["user"]}, nil
}

func (users) ID(a map[string]any) string { return "users:" + a["user"].(string) }

// room tracks its user's presence, echoes, and crashes on "boom".
type room struct {
	actors.BaseChannel
	presence *presence.Tracker
}

func (r *room) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	return nil, r.presence.Track(s, s.Get("user").(string), map[string]any{})
}

func (r *room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	if event == "boom" {
		panic("boom")
	}
	return actors.ReplyOK(p)
}

// newServer runs an endpoint with a collector registered on a pedantic
// registry, which checks every metric against its description.
func newServer(t *testing.T) (*prometheus.Registry, string) {
	t.Helper()
	m := metrics.New()
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Telemetry: m})
	tracker := presence.New(ep, presence.Config{})
	sock := ep.Socket(users{})
	// "slow" is allowed once: no token comes back within a test.
	sock.Channel("room:*", func() actors.Channel { return &room{presence: tracker} },
		actors.WithEventRateLimit("slow", actors.Rate{PerSecond: 0.001, Burst: 1}))
	m.WatchEndpoint(ep)
	m.WatchPresence(tracker)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", sock.WebSocket(transport.WebSocketConfig{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return reg, "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
}

func roundTrip(t *testing.T, c *phxclient.Client, frame, reply string) {
	t.Helper()
	if err := c.Send(frame); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.NextFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s: %v", reply, err)
		}
		if strings.Contains(string(f.Data), reply) {
			return
		}
	}
}

// The exposition of a collector that has seen a join, a message and a
// crash: every family described, named as Prometheus' linter wants, and
// holding what happened.
func TestCollector(t *testing.T) {
	reg, url := newServer(t)
	c, _, err := phxclient.Dial(url+"&user=ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, `["1","1","room:a","phx_join",{}]`, `"phx_reply"`)
	roundTrip(t, c, `["1","2","room:a","echo",{}]`, `["1","2","room:a","phx_reply"`)
	roundTrip(t, c, `["1","3","room:a","boom",{}]`, `"channel_crash"`)
	roundTrip(t, c, `["1","4","room:a","slow",{}]`, `["1","4","room:a","phx_reply",{"status":"ok"`)
	roundTrip(t, c, `["1","5","room:a","slow",{}]`, `"rate limited"`)
	if _, resp, err := phxclient.Dial(url+"&user=eve", http.Header{"Origin": {"http://evil.example"}}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("a connect from another site: %v", err)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	const want = `
# HELP phx_channel_crashes_total Channel crashes, restarted or not.
# TYPE phx_channel_crashes_total counter
phx_channel_crashes_total{route="room:*"} 1
# HELP phx_channel_joins_total Joins that succeeded.
# TYPE phx_channel_joins_total counter
phx_channel_joins_total{route="room:*"} 1
# HELP phx_channels_joined Channels joined now.
# TYPE phx_channels_joined gauge
phx_channels_joined{route="room:*"} 1
# HELP phx_connects_refused_total Connects refused before any upgrade, by reason: limit (the transport's connection limit), rate (the client address's connect rate), origin, connect (the socket's Connect, or an unsupported serializer), shutdown.
# TYPE phx_connects_refused_total counter
phx_connects_refused_total{reason="origin",transport="websocket"} 1
# HELP phx_channel_rate_limited_total Client frames for the route's channels, joins included, refused by a rate limit.
# TYPE phx_channel_rate_limited_total counter
phx_channel_rate_limited_total{route="room:*"} 1
# HELP phx_rate_limited_total Client frames refused by a rate limit, by the kind of limit: socket (Config.RateLimit), route (WithRateLimit), event (WithEventRateLimit).
# TYPE phx_rate_limited_total counter
phx_rate_limited_total{limit="event"} 1
phx_rate_limited_total{limit="route"} 0
phx_rate_limited_total{limit="socket"} 0
# HELP phx_rate_limit_cutoffs_total Sockets closed (1008) for going on past their rate limits.
# TYPE phx_rate_limit_cutoffs_total counter
phx_rate_limit_cutoffs_total 0
# HELP phx_presence_entries Presence entries (one per tracking channel), on every node.
# TYPE phx_presence_entries gauge
phx_presence_entries 1
# HELP phx_sockets Open sockets.
# TYPE phx_sockets gauge
phx_sockets{transport="longpoll"} 0
phx_sockets{transport="websocket"} 1
# HELP phx_supervision_events_total Supervision decisions, by kind of child and directive.
# TYPE phx_supervision_events_total counter
phx_supervision_events_total{directive="restart",kind="channel"} 1
`
	names := []string{"phx_channel_crashes_total", "phx_channel_joins_total", "phx_channels_joined", "phx_connects_refused_total",
		"phx_presence_entries", "phx_sockets", "phx_supervision_events_total",
		"phx_channel_rate_limited_total", "phx_rate_limited_total", "phx_rate_limit_cutoffs_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Histograms: a connect, a join, messages handled (the crash too:
	// HandleIn ran; not the one rate limited).
	for name, n := range map[string]int{
		"phx_socket_connect_duration_seconds":    1,
		"phx_channel_join_duration_seconds":      1,
		"phx_channel_handle_in_duration_seconds": 1,
	} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != n {
			t.Errorf("%s: %d series (%v), want %d", name, got, err, n)
		}
	}
}

// A client chooses its close code: the codes outside RFC 6455's registry
// share one series, however many a client uses.
func TestCloseCodesAreBounded(t *testing.T) {
	reg, url := newServer(t)
	const n = 40
	for i := range n {
		c, _, err := phxclient.Dial(url+"&user=ann", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseWith(uint16(4000 + i))
		<-c.Done()
	}
	want := fmt.Sprintf(`
# HELP phx_websocket_closes_total WebSocket connections ended, by close code (the server's if it closed them, else the client's; 1006: lost without a close frame; other: a code outside RFC 6455's 1000–1015).
# TYPE phx_websocket_closes_total counter
phx_websocket_closes_total{code="other"} %d
`, n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(want), "phx_websocket_closes_total")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkObserve: what the telemetry of one event costs, for each kind
// the collector keeps a histogram of.
func BenchmarkObserve(b *testing.B) {
	m := metrics.New()
	for _, e := range []actors.TelemetryEvent{
		{Kind: actors.SocketConnected, Transport: "websocket", Duration: time.Millisecond},
		{Kind: actors.ChannelJoined, Route: "room:*", Duration: time.Millisecond},
		{Kind: actors.ChannelHandledIn, Route: "room:*", Event: "new_msg", Duration: time.Millisecond},
	} {
		b.Run(e.Kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Observe(e)
			}
		})
	}
}
