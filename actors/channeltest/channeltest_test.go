package channeltest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

type users struct{}

func (users) Connect(params map[string]string, _ transport.ConnectInfo) (map[string]any, error) {
	if params["user"] == "" {
		return nil, errors.New("who are you?")
	}
	return map[string]any{"user": params["user"]}, nil
}

func (users) ID(a map[string]any) string { return "users_socket:" + a["user"].(string) }

type counter struct {
	actors.BaseChannel
	n int
}

func (c *counter) Join(topic string, _ actors.Payload, s *actors.Socket) (any, error) {
	if topic == "counter:secret" && s.Get("user") != "admin" {
		return nil, actors.Refuse(map[string]string{"reason": "unauthorized"})
	}
	s.Self().Send("hello")
	return map[string]string{"topic": topic}, nil
}

func (c *counter) HandleInfo(msg any, s *actors.Socket) error {
	return s.Push("hello", map[string]any{"user": s.Get("user")})
}

func (c *counter) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "inc":
		c.n++
		_ = s.Broadcast("count", map[string]int{"n": c.n})
		return actors.ReplyOK(map[string]int{"n": c.n})
	case "silent":
		return actors.NoReply()
	case "boom":
		panic("boom")
	case "bin":
		return actors.ReplyOK(actors.Binary{1, 2})
	}
	return c.BaseChannel.HandleIn(event, p, s)
}

func setup(t *testing.T) *actors.SocketHandler {
	h, _ := setupEndpoint(t)
	return h
}

func setupEndpoint(t *testing.T) (*actors.SocketHandler, *actors.Endpoint) {
	ep := actors.NewEndpoint(actors.Config{})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	h := ep.Socket(users{})
	h.Channel("counter:*", func() actors.Channel { return &counter{} })
	h.Channel("temp:*", func() actors.Channel { return &counter{} }, actors.WithPolicy(supervision.Temporary()))
	return h, ep
}

// The README's "What a crash does" example.
func TestObserveRestarts(t *testing.T) {
	handler, ep := setupEndpoint(t)

	restarts := make(chan supervision.Event, 10)
	defer ep.Supervision().Subscribe(func(e supervision.Event) { restarts <- e }).Unsubscribe()

	sock := channeltest.Connect(t, handler, map[string]string{"user": "ann"})
	ch := sock.Join("counter:lobby", nil)
	ch.AssertReply(ch.Push("boom", nil), "error", `{"reason":"channel_crash"}`)
	select {
	case e := <-restarts:
		if e.Directive != supervision.Restart || e.Restarts != 1 {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(channeltest.Timeout):
		t.Fatal("no supervision event")
	}
}

func TestHarness(t *testing.T) {
	h := setup(t)
	if _, err := channeltest.TryConnect(t, h, nil); err == nil {
		t.Fatal("connect without user accepted")
	}
	sock := channeltest.Connect(t, h, map[string]string{"user": "ann"})
	ch := sock.Join("counter:1", nil)
	if string(ch.JoinResponse) != `{"topic":"counter:1"}` {
		t.Fatalf("join response %s", ch.JoinResponse)
	}
	ch.AssertPush("hello", map[string]string{"user": "ann"})

	ref := ch.Push("inc", nil)
	ch.AssertReply(ref, "ok", `{"n":1}`)
	ch.AssertBroadcast("count", `{"n":1}`)
	ch.AssertNoReply(ch.Push("silent", nil))
	ch.AssertReply(ch.Push("nope", nil), "error", map[string]string{"reason": "unknown event"})
	ch.AssertReply(ch.Push("bin", nil), "ok", actors.Binary{1, 2})

	_, reply := sock.TryJoin("counter:secret", nil)
	if reply.Status != "error" || string(reply.Payload) != `{"reason":"unauthorized"}` {
		t.Fatalf("secret join answered %s %s", reply.Status, reply.Payload)
	}

	// The default policy restarts the channel in place: the crashing push
	// is answered, the state is Join's again.
	ch.AssertReply(ch.Push("boom", nil), "error", `{"reason":"channel_crash"}`)
	ch.AssertPush("hello", nil) // the restarted instance's Join sent it again
	ch.AssertReply(ch.Push("inc", nil), "ok", `{"n":1}`)
	ch.Leave()

	temp := sock.Join("temp:1", nil)
	temp.Push("boom", nil)
	temp.AssertError()
	temp.AssertNoPush("count")
	again := sock.Join("temp:1", nil)
	again.AssertReply(again.Push("inc", nil), "ok", `{"n":1}`)
	again.Leave()
}

// A topic with more subscribers than the registry scans (it then indexes
// them): leaves remove exactly the leaver, broadcasts reach the rest.
func TestManySubscribers(t *testing.T) {
	h := setup(t)
	var chans []*channeltest.Channel
	for i := 0; i < 40; i++ {
		sock := channeltest.Connect(t, h, map[string]string{"user": fmt.Sprint("u", i)})
		chans = append(chans, sock.Join("counter:big", nil))
	}
	for i := 0; i < 40; i += 2 {
		chans[i].Leave()
	}
	chans[1].AssertReply(chans[1].Push("inc", nil), "ok", `{"n":1}`)
	for i, ch := range chans {
		if i%2 == 1 {
			ch.AssertBroadcast("count", `{"n":1}`)
		} else {
			ch.AssertNoPush("count")
		}
	}
}
