package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// users accepts every connection; its id topic is users_socket:<user>.
type users struct{}

func (users) Connect(params map[string]string, _ transport.ConnectInfo) (map[string]any, error) {
	return map[string]any{"user": params["user"]}, nil
}

func (users) ID(a map[string]any) string { return "users_socket:" + a["user"].(string) }

// room tracks its user in presence after joining, and broadcasts "shout"
// to every member and "whisper" to every member but the sender.
type room struct {
	actors.BaseChannel
	p *presence.Tracker
}

func (r *room) Join(topic string, _ actors.Payload, s *actors.Socket) (any, error) {
	if strings.HasPrefix(topic, "room:p") {
		s.Self().Send("track")
	}
	return nil, nil
}

func (r *room) HandleInfo(_ any, s *actors.Socket) error {
	if err := r.p.Track(s, s.Get("user").(string), map[string]string{"at": "1"}); err != nil {
		return err
	}
	return s.Push(presence.EventState, r.p.List(s.Topic()))
}

func (r *room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "shout":
		return actors.Reply(okOrError(s.Broadcast("shout", p)))
	case "whisper":
		return actors.Reply(okOrError(s.BroadcastFrom("whisper", p)))
	}
	return r.BaseChannel.HandleIn(event, p, s)
}

func okOrError(err error) actors.Reply {
	if err != nil {
		return actors.ReplyError(map[string]string{"reason": err.Error()})
	}
	return actors.ReplyOK(nil)
}

// node is one endpoint of a test cluster, served over loopback.
type node struct {
	name    string
	ep      *actors.Endpoint
	h       *actors.SocketHandler
	tracker *presence.Tracker
	c       *cluster.Cluster
	srv     *httptest.Server
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

const heartbeat = 50 * time.Millisecond

const testSecret = "test secret"

func testConfig(name string, seeds ...string) cluster.Config {
	return cluster.Config{Node: name, Seeds: seeds, Secret: testSecret, HeartbeatInterval: heartbeat, DownAfter: 3}
}

// skipUnderRace skips a test that starts cluster nodes in this process when
// the race detector is on: Proto.Actor remote's Start sets gRPC's global
// logger every time, unsynchronized, while the gRPC goroutines of the nodes
// already started read it. One node per process (as in production) is
// free of it; the tests of package sample run the nodes as separate
// race-enabled processes, and make test runs this package without -race.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("several cluster nodes in one process race on gRPC's global logger (remote.Start sets it); run without -race")
	}
}

// newEndpoint starts an endpoint with no cluster, shut down at the end of
// the test.
func newEndpoint(t *testing.T) *actors.Endpoint {
	t.Helper()
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	return ep
}

func startNode(t *testing.T, cfg cluster.Config) *node {
	t.Helper()
	skipUnderRace(t)
	n := &node{name: cfg.Node, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n.ep = actors.NewEndpoint(actors.Config{Logger: log})
	n.tracker = presence.New(n.ep, presence.Config{Node: cfg.Node})
	n.h = n.ep.Socket(users{})
	n.h.Channel("room:*", func() actors.Channel { return &room{p: n.tracker} })
	n.h.Channel("hist:*", func() actors.Channel { return &room{p: n.tracker} }, actors.WithHistory(10_000, time.Minute))
	cfg.Presence = n.tracker
	c, err := cluster.Start(n.ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.c = c
	n.srv = httptest.NewServer(n.h.WebSocket(transport.WebSocketConfig{}))
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.ep == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.ep.Shutdown(ctx)
	n.srv.Close()
	n.ep = nil
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upPeers returns the names of the peers n sees up.
func (n *node) upPeers() []string {
	var up []string
	for _, p := range n.c.Peers() {
		if p.Up {
			up = append(up, p.Node)
		}
	}
	return up
}

func waitMeshed(t *testing.T, nodes ...*node) {
	t.Helper()
	waitFor(t, "every node to see every other up", func() bool {
		for _, n := range nodes {
			if len(n.upPeers()) != len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

// dial connects a phoenix client (V2) as user to n and joins topic.
func (n *node) dial(t *testing.T, user, topic string) *phxclient.Client {
	t.Helper()
	url := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/?vsn=2.0.0&user=" + user
	c, _, err := phxclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Send(fmt.Sprintf(`["1","1",%q,"phx_join",{}]`, topic)); err != nil {
		t.Fatal(err)
	}
	m := next(t, c, "phx_reply")
	if !strings.Contains(string(m.Payload), `"ok"`) {
		t.Fatalf("join %s: %s", topic, m.Payload)
	}
	return c
}

// next returns the next message of event, skipping others.
func next(t *testing.T, c *phxclient.Client, event string) phxclient.Message {
	t.Helper()
	for {
		m, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s: %v", event, err)
		}
		if m.Event == event {
			return m
		}
	}
}

func TestBroadcastReachesEveryNodeOnceInOrder(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	c := startNode(t, testConfig("c", b.c.Addr())) // meets a through b
	waitMeshed(t, a, b, c)

	const n = 10_000
	clients := []*phxclient.Client{a.dial(t, "ann", "room:seq"), b.dial(t, "bob", "room:seq"), c.dial(t, "cid", "room:seq")}
	// Remote subscriptions are local to each node: every node has its own
	// subscriber, so a broadcast needs no membership exchange.
	before := a.c.Stats()
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				m, err := cl.Next(10 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("message %d: %v", i, err)
					return
				}
				if want := fmt.Sprintf(`{"i":%d}`, i); m.Event != "seq" || string(m.Payload) != want {
					errs <- fmt.Errorf("message %d: got %s %s, want seq %s", i, m.Event, m.Payload, want)
					return
				}
			}
			if m, err := cl.Next(200 * time.Millisecond); err == nil && m.Event == "seq" {
				errs <- fmt.Errorf("a message past the last: %s", m.Payload)
			}
		}()
	}
	for i := range n {
		if err := a.ep.Broadcast("room:seq", "seq", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after := a.c.Stats()
	if got := after.BroadcastsRelayed - before.BroadcastsRelayed; got != n {
		t.Errorf("broadcasts relayed: %d, want %d", got, n)
	}
	if got := after.BroadcastFrames - before.BroadcastFrames; got != 2*n {
		t.Errorf("remote messages: %d for %d broadcasts to 2 peers, want %d", got, n, 2*n)
	}
	if got := b.c.Stats().BroadcastsReceived + c.c.Stats().BroadcastsReceived; got != 2*n {
		t.Errorf("broadcasts received by b and c: %d, want %d", got, 2*n)
	}
}

func TestBroadcastFromSkipsOnlyItsSender(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)

	sender := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:w", nil)
	sameNode := channeltest.Connect(t, a.h, map[string]string{"user": "amy"}).Join("room:w", nil)
	otherNode := channeltest.Connect(t, b.h, map[string]string{"user": "bob"}).Join("room:w", nil)

	sender.AssertReply(sender.Push("whisper", map[string]int{"n": 1}), "ok")
	sameNode.AssertBroadcast("whisper", `{"n":1}`)
	otherNode.AssertBroadcast("whisper", `{"n":1}`)
	sender.AssertNoPush("whisper")

	otherNode.AssertReply(otherNode.Push("shout", map[string]int{"n": 2}), "ok")
	for _, ch := range []*channeltest.Channel{sender, sameNode, otherNode} {
		ch.AssertBroadcast("shout", `{"n":2}`)
		ch.AssertNoPush("shout")
	}
}

func TestDisconnectReachesSocketsOnEveryNode(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, b, c)

	onC := c.dial(t, "ann", "room:1")
	other := c.dial(t, "bob", "room:1")
	if err := b.ep.Broadcast("users_socket:ann", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-onC.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("ann's socket on c is still open")
	}
	if code := onC.CloseCode(); code != 1001 {
		t.Errorf("close code %d, want 1001", code)
	}
	select {
	case <-other.Done():
		t.Fatal("bob's socket was closed too")
	case <-time.After(100 * time.Millisecond):
	}
}
