package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
)

// Refusals and crashes reach Telemetry with their error; HandleOut is
// observed with its event.
func TestTelemetryErrors(t *testing.T) {
	events := make(chan actors.TelemetryEvent, 100)
	ts := newServer(t, serverOpts{endpoint: actors.Config{
		Telemetry: actors.TelemetryFunc(func(e actors.TelemetryEvent) { events <- e }),
	}})
	next := func(kind actors.TelemetryKind) actors.TelemetryEvent {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return e
				}
			case <-time.After(wait):
				t.Fatalf("no %v event", kind)
			}
		}
	}
	c := ts.dial(t, "vsn=2.0.0&user=ann")
	if e := next(actors.SocketConnected); e.SocketID != "users_socket:ann" || e.Transport != "websocket" {
		t.Errorf("connected: %+v", e)
	}
	send(t, c, `["1","1","room:locked","phx_join",{}]`)
	expect(t, c, `["1","1","room:locked","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]`)
	if e := next(actors.ChannelJoined); e.Topic != "room:locked" || e.Err == nil {
		t.Errorf("refused join: %+v", e)
	}
	join(t, c, "2", "room:t")
	if e := next(actors.ChannelJoined); e.Topic != "room:t" || e.Err != nil {
		t.Errorf("join: %+v", e)
	}
	send(t, c, `["2","3","room:t","broadcast_intercepted",{}]`)
	if e := next(actors.ChannelHandledOut); e.Event != "intercepted" || e.Err != nil {
		t.Errorf("handle_out: %+v", e)
	}
	send(t, c, `["2","4","room:t","boom",{}]`)
	var pe *actors.PanicError
	if e := next(actors.ChannelCrashed); e.Topic != "room:t" || !errors.As(e.Err, &pe) {
		t.Errorf("crash: %+v", e)
	}
	if _, _, err := phxclient.Dial(ts.url("", "vsn=2.0.0&token=bad"), nil); err == nil {
		t.Fatal("a bad token connected")
	}
	if e := next(actors.SocketConnected); e.Err == nil {
		t.Errorf("refused connect: %+v", e)
	}
}
