package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

// wait bounds every wait for something the server must do.
const wait = 5 * time.Second

// testConnector accepts a token "good" (or none), refuses "bad", and
// answers 429 for "ratelimit". The user param becomes the socket id.
type testConnector struct{ infos chan transport.ConnectInfo }

func (c testConnector) Connect(params map[string]string, info transport.ConnectInfo) (map[string]any, error) {
	switch params["token"] {
	case "bad":
		return nil, errors.New("bad token")
	case "ratelimit":
		return nil, &transport.RefusedError{Status: http.StatusTooManyRequests, Reason: "rate limit"}
	}
	select {
	case c.infos <- info: // kept for the tests that look at it
	default:
	}
	return map[string]any{"user": params["user"], "params": params}, nil
}

func (testConnector) ID(assigns map[string]any) string {
	if u, _ := assigns["user"].(string); u != "" {
		return "users_socket:" + u
	}
	return ""
}

// room is the channel the tests drive. Its behaviour is chosen by event.
type room struct {
	actors.BaseChannel
	ended chan<- string // "topic reason" of every Terminate
	count int
}

func (r *room) Join(topic string, params actors.Payload, s *actors.Socket) (any, error) {
	var p struct {
		Crash     bool   `json:"crash"`
		AfterJoin bool   `json:"after_join"`
		Reply     string `json:"reply"`
	}
	_ = actors.Decode(params, &p)
	switch {
	case topic == "room:locked":
		return nil, actors.Refuse(map[string]string{"reason": "unauthorized"})
	case p.Crash:
		panic("join exploded")
	case p.AfterJoin:
		s.Self().Send("after_join")
	}
	if p.Reply != "" {
		return map[string]string{"reply": p.Reply}, nil
	}
	return nil, nil
}

func (r *room) Intercept() []string { return []string{"intercepted"} }

func (r *room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "echo":
		return actors.ReplyOK(p)
	case "count":
		r.count++
		return actors.ReplyOK(map[string]int{"count": r.count})
	case "broadcast":
		_ = s.Broadcast("shout", p)
		return actors.NoReply()
	case "broadcast_from":
		_ = s.BroadcastFrom("shout", p)
		return actors.ReplyOK(nil)
	case "broadcast_intercepted":
		_ = s.Broadcast("intercepted", p)
		return actors.NoReply()
	case "push":
		_ = s.Push("pushed", p)
		return actors.NoReply()
	case "binary":
		_ = s.Push("bin", actors.Binary{0, 1})
		return actors.ReplyOK(actors.Binary{1, 2, 3, 4})
	case "later":
		ref := s.Ref()
		go func() { _ = ref.Reply(actors.ReplyOK(map[string]bool{"later": true})) }()
		return actors.NoReply()
	case "info":
		var what string
		if actors.Decode(p, &what) == nil {
			s.Self().Send(what) // a string payload is sent as a Go string
		} else {
			s.Self().Send(p)
		}
		return actors.NoReply()
	case "boom":
		panic("boom")
	case "sleep":
		// Keeps the channel busy, so that what the client sends next
		// waits in its mailbox.
		time.Sleep(200 * time.Millisecond)
		return actors.NoReply()
	case "stop":
		return actors.ReplyOK(nil).AndStop(actors.Normal)
	case "stop_error":
		return actors.Stop(errors.New("gave up"))
	case "assigns":
		return actors.ReplyOK(s.Get("user"))
	case "assign":
		var kv struct{ Key, Value string }
		if err := actors.Decode(p, &kv); err != nil {
			return actors.ReplyError(map[string]string{"reason": err.Error()})
		}
		s.Assign(kv.Key, kv.Value)
		return actors.ReplyOK(map[string]any{kv.Key: s.Get(kv.Key), "user": s.Get("user")})
	case "params":
		params := s.Get("params").(map[string]string)
		return actors.ReplyOK(params)
	}
	return r.BaseChannel.HandleIn(event, p, s)
}

func (r *room) HandleInfo(msg any, s *actors.Socket) error {
	if msg == "after_join" {
		_ = s.Push("joined", map[string]string{"status": "connected"})
		_ = s.Broadcast("user_entered", map[string]any{"user": s.Get("user")})
		return nil
	}
	if msg == "crash" {
		panic("info crash")
	}
	return s.Push("info", msg)
}

func (r *room) HandleOut(event string, p actors.Payload, s *actors.Socket) error {
	if strings.Contains(string(p.Data), `"crash":true`) {
		panic("handle_out crash")
	}
	return s.Push(event, map[string]any{"modified": true, "original": json.RawMessage(p.Data)})
}

func (r *room) Terminate(reason error, s *actors.Socket) {
	if errors.Is(reason, actors.ReasonLeft) {
		_ = s.Push("you_left", map[string]string{"message": "bye!"})
	}
	if r.ended != nil {
		r.ended <- s.Topic() + " " + reason.Error()
	}
}

// flaky joins once; every later Join (a restart) refuses or panics.
type flaky struct {
	room
	joins *atomic.Int32
	panic bool
}

func (f *flaky) Join(topic string, params actors.Payload, s *actors.Socket) (any, error) {
	if f.joins.Add(1) > 1 {
		if f.panic {
			panic("join crash on restart")
		}
		return nil, errors.New("not again")
	}
	return nil, nil
}

type testServer struct {
	ep     *actors.Endpoint
	h      *actors.SocketHandler
	ws     *transport.WebSocket
	srv    *httptest.Server
	ended  chan string
	infos  chan transport.ConnectInfo
	closed bool
}

type serverOpts struct {
	endpoint actors.Config
	ws       transport.WebSocketConfig
	lp       transport.LongPollConfig
	path     string       // mount path of the websocket, "/socket/websocket" if ""
	clock    func() int64 // the rate limits' clock, in ns, if set
}

func testLogger() *slog.Logger {
	if os.Getenv("PHX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	if o.endpoint.Logger == nil {
		o.endpoint.Logger = testLogger()
	}
	if o.path == "" {
		o.path = "/socket/websocket"
	}
	ts := &testServer{ended: make(chan string, 1000), infos: make(chan transport.ConnectInfo, 10)}
	ts.ep = actors.NewEndpoint(o.endpoint)
	if o.clock != nil {
		actors.StepClock(ts.ep, o.clock)
	}
	h := ts.ep.Socket(testConnector{infos: ts.infos})
	h.Channel("room:*", func() actors.Channel { return &room{ended: ts.ended} })
	h.Channel("exact", func() actors.Channel { return &room{ended: ts.ended} })
	h.Channel("temp:*", func() actors.Channel { return &room{ended: ts.ended} }, actors.WithPolicy(supervision.Temporary()))
	var refuseJoins, crashJoins atomic.Int32
	h.Channel("refuse_restart:*", func() actors.Channel {
		return &flaky{room: room{ended: ts.ended}, joins: &refuseJoins}
	})
	h.Channel("crash_restart:*", func() actors.Channel {
		return &flaky{room: room{ended: ts.ended}, joins: &crashJoins, panic: true}
	})
	h.Channel("backoff:*", func() actors.Channel { return &room{ended: ts.ended} },
		actors.WithPolicy(supervision.RestartWithBackoff(2, time.Minute, 50*time.Millisecond, time.Second)))
	ts.h = h
	ts.ws = h.WebSocket(o.ws)
	mux := http.NewServeMux()
	mux.Handle(o.path, ts.ws)
	mux.Handle("/socket/longpoll", h.LongPoll(o.lp))
	ts.srv = httptest.NewServer(mux)
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

func (ts *testServer) shutdown(t *testing.T) {
	if ts.closed {
		return
	}
	ts.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ts.ep.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.srv.Close()
}

func (ts *testServer) url(path, query string) string {
	if path == "" {
		path = "/socket/websocket"
	}
	u := "ws" + strings.TrimPrefix(ts.srv.URL, "http") + path
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial connects with the V2 serializer unless query says otherwise.
func (ts *testServer) dial(t *testing.T, query string) *phxclient.Client {
	t.Helper()
	if query == "" {
		query = "vsn=2.0.0"
	}
	c, resp, err := phxclient.Dial(ts.url("", query), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	t.Cleanup(c.Close)
	return c
}

// expect reads the next frame and compares it, as JSON, with want.
func expect(t *testing.T, c *phxclient.Client, want string) {
	t.Helper()
	f, err := c.NextFrame(wait)
	if err != nil {
		t.Fatalf("waiting for %s: %v", want, err)
	}
	if f.Binary {
		t.Fatalf("got binary frame % x, want %s", f.Data, want)
	}
	if !jsonEqual(t, f.Data, []byte(want)) {
		t.Fatalf("got  %s\nwant %s", f.Data, want)
	}
}

// expectNothing checks that no frame arrives within d.
func expectNothing(t *testing.T, c *phxclient.Client, d time.Duration) {
	t.Helper()
	if f, err := c.NextFrame(d); err == nil {
		t.Fatalf("unexpected frame %s", f.Data)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON in test %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func send(t *testing.T, c *phxclient.Client, frame string) {
	t.Helper()
	if err := c.Send(frame); err != nil {
		t.Fatalf("send %s: %v", frame, err)
	}
}

// join joins topic with join_ref = ref = ref and checks the ok reply.
func join(t *testing.T, c *phxclient.Client, ref, topic string) {
	t.Helper()
	send(t, c, `["`+ref+`","`+ref+`","`+topic+`","phx_join",{}]`)
	expect(t, c, `["`+ref+`","`+ref+`","`+topic+`","phx_reply",{"status":"ok","response":{}}]`)
}

// ended waits for the Terminate of topic and returns its reason.
func (ts *testServer) waitEnded(t *testing.T) string {
	t.Helper()
	select {
	case s := <-ts.ended:
		return s
	case <-time.After(wait):
		t.Fatal("no Terminate")
		return ""
	}
}
