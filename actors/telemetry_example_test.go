package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// Telemetry sees a connect, a join, a message handled and a crash, each
// with how long its callback took: hand them to a tracer or to metrics.
func ExampleTelemetry() {
	events := make(chan actors.TelemetryEvent, 10)
	ep := actors.NewEndpoint(actors.Config{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Telemetry: actors.TelemetryFunc(func(e actors.TelemetryEvent) { events <- e }),
	})
	defer ep.Shutdown(context.Background())
	sock := ep.Socket(Users{})
	sock.Channel("room:*", func() actors.Channel { return &Room{} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", sock.WebSocket(transport.WebSocketConfig{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0&user=ann", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for _, frame := range []string{
		`["1","1","room:lobby","phx_join",{}]`,
		`["1","2","room:lobby","shout",{"body":"hi"}]`,
		`["1","3","room:lobby","boom",{}]`, // Room has no "boom": BaseChannel's answer
	} {
		_ = c.Send(frame)
	}
	for range 4 {
		e := <-events
		// e.Duration is how long the callback took.
		fmt.Printf("%s %s %s %s err:%v\n", e.Kind, e.Transport, e.SocketID, strings.TrimSpace(e.Topic+" "+e.Event), e.Err)
	}
	// Output:
	// socket_connected websocket users_socket:ann  err:<nil>
	// channel_joined websocket users_socket:ann room:lobby err:<nil>
	// channel_handled_in websocket users_socket:ann room:lobby shout err:<nil>
	// channel_handled_in websocket users_socket:ann room:lobby boom err:<nil>
}
