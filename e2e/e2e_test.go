// Package e2e runs the official phoenix JavaScript client (npm phoenix,
// pinned in package-lock.json) against a real server on loopback.
package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

type users struct{}

func (users) Connect(params map[string]string, info transport.ConnectInfo) (map[string]any, error) {
	if info.AuthToken == "let me+in/=" {
		return map[string]any{"user": "token-user"}, nil
	}
	if params["token"] != "good" {
		return nil, errors.New("bad token")
	}
	return map[string]any{"user": params["user"]}, nil
}

func (users) ID(map[string]any) string { return "" }

type room struct {
	actors.BaseChannel
	count int
}

func (r *room) Join(topic string, params actors.Payload, s *actors.Socket) (any, error) {
	if topic == "room:locked" {
		return nil, actors.Refuse(map[string]string{"reason": "unauthorized"})
	}
	var p struct {
		AfterJoin bool `json:"after_join"`
	}
	_ = actors.Decode(params, &p)
	if p.AfterJoin {
		s.Self().Send("after_join")
	}
	return map[string]string{"joined": topic}, nil
}

func (r *room) HandleInfo(msg any, s *actors.Socket) error {
	return s.Push("joined", map[string]string{"status": "connected"})
}

func (r *room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "echo":
		return actors.ReplyOK(p)
	case "shout":
		_ = s.Broadcast("shout", p)
		return actors.ReplyOK(nil)
	case "bin_push":
		_ = s.Push("bin", actors.Binary{9, 8, 7})
		return actors.ReplyOK(nil)
	case "count":
		r.count++
		return actors.ReplyOK(map[string]int{"count": r.count})
	case "whoami":
		return actors.ReplyOK(map[string]any{"user": s.Get("user")})
	case "boom":
		panic("boom")
	}
	return r.BaseChannel.HandleIn(event, p, s)
}

// presenceRoom tracks its user in the topic, with meta {"device": …} from
// the join params, and updates it on "away".
type presenceRoom struct {
	actors.BaseChannel
	p      *presence.Tracker
	user   string
	device string
}

func (r *presenceRoom) Join(_ string, params actors.Payload, s *actors.Socket) (any, error) {
	var p struct {
		User   string `json:"user"`
		Device string `json:"device"`
	}
	_ = actors.Decode(params, &p)
	r.user, r.device = p.User, p.Device
	s.Self().Send("after_join")
	return nil, nil
}

func (r *presenceRoom) HandleIn(event string, _ actors.Payload, s *actors.Socket) actors.Reply {
	if event == "away" {
		if err := r.p.Update(s, r.user, map[string]string{"device": r.device, "status": "away"}); err != nil {
			return actors.ReplyError(map[string]string{"reason": err.Error()})
		}
		return actors.ReplyOK(nil)
	}
	return actors.ReplyError(map[string]string{"reason": "unknown event"})
}

// trackingRoom tracks after the join, then pushes presence_state, as
// Phoenix apps do.
type trackingRoom struct{ presenceRoom }

func (r *trackingRoom) HandleInfo(_ any, s *actors.Socket) error {
	if err := r.p.Track(s, r.user, map[string]string{"device": r.device}); err != nil {
		return err
	}
	return s.Push(presence.EventState, r.p.List(s.Topic()))
}

func TestPhoenixJSClient(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix e2e` (make test does both)")
	}
	if _, err := os.Stat("node_modules/phoenix"); err != nil {
		t.Fatal("node_modules/phoenix is missing: run `npm ci --prefix e2e`")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH")
	}

	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := ep.Socket(users{})
	h.Channel("room:*", func() actors.Channel { return &room{} })
	h.Channel("temp:*", func() actors.Channel { return &room{} }, actors.WithPolicy(supervision.Temporary()))
	h.Channel("hist:*", func() actors.Channel { return &room{} }, actors.WithHistory(1000, 10*time.Minute))
	tracker := presence.New(ep, presence.Config{})
	h.Channel("presence:*", func() actors.Channel { return &trackingRoom{presenceRoom{p: tracker}} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.WebSocket(transport.WebSocketConfig{}))
	mux.Handle("/socket/longpoll", h.LongPoll(transport.LongPollConfig{}))
	// A socket reachable by long-poll only, as behind a proxy that breaks
	// WebSockets: its /websocket path answers 404.
	mux.Handle("/nows/longpoll", h.LongPoll(transport.LongPollConfig{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("endpoint shutdown: %v", err)
		}
		_ = srv.Shutdown(ctx)
		<-served
	}()

	tests, _ := filepath.Glob("*.test.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, tests...)...)
	cmd.Env = append(os.Environ(), "PHX_URL=ws://"+ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
