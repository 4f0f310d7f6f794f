package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/metrics"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/transport"
)

// The collector is the endpoint's telemetry and a Prometheus collector on
// the application's own registry, served at /metrics.
func ExampleCollector() {
	m := metrics.New()
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Telemetry: m})
	defer ep.Shutdown(context.Background())
	tracker := presence.New(ep, presence.Config{})
	sock := ep.Socket(users{})
	sock.Channel("room:*", func() actors.Channel { return &room{presence: tracker} })
	m.WatchEndpoint(ep)
	m.WatchPresence(tracker)

	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", sock.WebSocket(transport.WebSocketConfig{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0&user=ann", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.Send(`["1","1","room:lobby","phx_join",{}]`)
	if _, err := c.Next(5 * time.Second); err != nil { // the join's reply
		panic(err)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "phx_channels_joined") || strings.HasPrefix(line, "phx_sockets") ||
			strings.HasPrefix(line, "phx_channel_join_duration_seconds_count") {
			fmt.Println(line)
		}
	}
	// Output:
	// phx_channel_join_duration_seconds_count{result="ok",route="room:*"} 1
	// phx_channels_joined{route="room:*"} 1
	// phx_sockets{transport="longpoll"} 0
	// phx_sockets{transport="websocket"} 1
}
