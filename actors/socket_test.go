package actors_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

func dialStatus(t *testing.T, url string, header http.Header) int {
	t.Helper()
	c, resp, err := phxclient.Dial(url, header)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

// docs/protocol.md §10 rows 15 and 18: refused connects answer before any
// upgrade.
func TestConnectRefused(t *testing.T) {
	ts := newServer(t, serverOpts{})
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"vsn=2.0.0&token=bad", http.StatusForbidden},
		{"vsn=2.0.0&token=ratelimit", http.StatusTooManyRequests},
		{"vsn=123.1.1", http.StatusForbidden},
		{"vsn=2.0.0&token=good", http.StatusSwitchingProtocols},
	} {
		if got := dialStatus(t, ts.url("", tc.query), nil); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.query, got, tc.want)
		}
	}
}

// docs/protocol.md §10 rows 8 and 26: params and connect info reach Connect.
func TestConnectInfo(t *testing.T) {
	ts := newServer(t, serverOpts{})
	h := http.Header{"X-Custom": {"v"}, "User-Agent": {"tester"}, "Cookie": {"secret"}}
	c, _, err := phxclient.Dial(ts.url("", "vsn=2.0.0&user=u1&a=1&a=2"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info := <-ts.infos
	if info.Header.Get("X-Custom") != "v" || info.Header.Get("User-Agent") != "tester" || info.Header.Get("Cookie") != "" {
		t.Errorf("headers %v", info.Header)
	}
	if info.URI.Path != "/socket/websocket" || !strings.Contains(info.URI.RawQuery, "user=u1") || info.PeerAddr == "" {
		t.Errorf("uri %v peer %q", info.URI, info.PeerAddr)
	}
	join(t, c, "1", "room:p")
	send(t, c, `["1","2","room:p","assigns",{}]`)
	expect(t, c, `["1","2","room:p","phx_reply",{"status":"ok","response":"u1"}]`)
}

// Assigns come from Connect and are shared by a socket's channels; what one
// channel assigns stays its own, across its later callbacks.
func TestAssignsPerChannel(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "vsn=2.0.0&user=ann")
	join(t, c, "1", "room:a")
	join(t, c, "2", "room:b")
	send(t, c, `["1","3","room:a","assign",{"key":"user","value":"changed"}]`)
	expect(t, c, `["1","3","room:a","phx_reply",{"status":"ok","response":{"user":"changed"}}]`)
	send(t, c, `["1","4","room:a","assign",{"key":"mood","value":"fine"}]`)
	expect(t, c, `["1","4","room:a","phx_reply",{"status":"ok","response":{"mood":"fine","user":"changed"}}]`)
	send(t, c, `["1","5","room:a","assigns",{}]`)
	expect(t, c, `["1","5","room:a","phx_reply",{"status":"ok","response":"changed"}]`)
	send(t, c, `["2","6","room:b","assigns",{}]`)
	expect(t, c, `["2","6","room:b","phx_reply",{"status":"ok","response":"ann"}]`)
	send(t, c, `["2","7","room:b","assign",{"key":"other","value":"x"}]`)
	expect(t, c, `["2","7","room:b","phx_reply",{"status":"ok","response":{"other":"x","user":"ann"}}]`)
	send(t, c, `["2","8","room:b","params",{}]`)
	expect(t, c, `["2","8","room:b","phx_reply",{"status":"ok","response":{"user":"ann","vsn":"2.0.0"}}]`)
}

// docs/protocol.md §10 row 16: a disconnect broadcast on the socket id
// closes every socket of that user with 1001, and their channels terminate
// as disconnected.
func TestDisconnectBroadcast(t *testing.T) {
	ts := newServer(t, serverOpts{})
	a1, a2, b := ts.dial(t, "vsn=2.0.0&user=ann"), ts.dial(t, "vsn=2.0.0&user=ann"), ts.dial(t, "vsn=2.0.0&user=bob")
	join(t, a1, "1", "room:x")
	join(t, a1, "2", "room:y")
	join(t, a2, "1", "room:x")
	join(t, b, "1", "room:x")
	if err := ts.ep.Broadcast("users_socket:ann", "other", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.ep.Broadcast("users_socket:ann", "disconnect", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*phxclient.Client{a1, a2} {
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatal("socket not closed")
		}
		if code := c.CloseCode(); code != transport.CloseGoingAway {
			t.Errorf("close code %d, want 1001", code)
		}
	}
	for i := 0; i < 3; i++ {
		if got := ts.waitEnded(t); !strings.HasSuffix(got, "shutdown: disconnected") {
			t.Errorf("Terminate reason %q", got)
		}
	}
	send(t, b, `["1","2","room:x","echo",{}]`)
	expect(t, b, `["1","2","room:x","phx_reply",{"status":"ok","response":{}}]`)
}

// A disconnect broadcast made as soon as the client has its connection
// open, before it has sent anything, closes it: the socket id is
// subscribed before the upgrade is answered, not when the socket's actor
// gets to start.
func TestDisconnectRightAfterOpen(t *testing.T) {
	ts := newServer(t, serverOpts{})
	for i := 0; i < 100; i++ {
		user := fmt.Sprintf("u%d", i)
		c := ts.dial(t, "vsn=2.0.0&user="+user)
		if err := ts.ep.Disconnect("users_socket:" + user); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatalf("socket %d not closed", i)
		}
		if code := c.CloseCode(); code != transport.CloseGoingAway {
			t.Fatalf("socket %d: close code %d, want 1001", i, code)
		}
	}
}

// docs/protocol.md §10 row 12: closing the connection terminates its channels.
func TestCloseTerminatesChannels(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:a")
	join(t, c, "2", "room:b")
	c.Close()
	got := []string{ts.waitEnded(t), ts.waitEnded(t)}
	for _, g := range got {
		if !strings.Contains(g, "shutdown: closed") {
			t.Errorf("Terminate reason %q", g)
		}
	}
}

// docs/protocol.md §10 row 19: heartbeats are answered; a silent socket is
// closed after the idle timeout, with a code that makes clients come back.
func TestIdleTimeout(t *testing.T) {
	ts := newServer(t, serverOpts{ws: transport.WebSocketConfig{IdleTimeout: 200 * time.Millisecond}})
	c := ts.dial(t, "")
	send(t, c, `[null,"1","phoenix","heartbeat",{}]`)
	expect(t, c, `[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("idle socket not closed")
	}
	if code := c.CloseCode(); code != transport.CloseGoingAway {
		t.Errorf("close code %d, want 1001", code)
	}
}

// Bad input closes the offending connection (1011 for undecodable frames,
// 1009 for oversized ones); every other connection carries on.
func TestBadInput(t *testing.T) {
	ts := newServer(t, serverOpts{ws: transport.WebSocketConfig{MaxFrameSize: 1 << 16}})
	healthy := ts.dial(t, "")
	join(t, healthy, "1", "room:h")

	for _, tc := range []struct {
		name  string
		frame func(c *phxclient.Client) error
		code  int
	}{
		{"not json", func(c *phxclient.Client) error { return c.Send("{{{") }, transport.CloseInternalError},
		{"short array", func(c *phxclient.Client) error { return c.Send(`["1","1","room:x","phx_join"]`) }, transport.CloseInternalError},
		{"topic not string", func(c *phxclient.Client) error { return c.Send(`["1","1",5,"phx_join",{}]`) }, transport.CloseInternalError},
		{"object", func(c *phxclient.Client) error { return c.Send(`{"topic":"x"}`) }, transport.CloseInternalError},
		{"binary kind 7", func(c *phxclient.Client) error { return c.SendBinary([]byte{7, 1, 2}) }, transport.CloseInternalError},
		{"binary truncated", func(c *phxclient.Client) error { return c.SendBinary([]byte{0, 9, 9, 9, 9, 1}) }, transport.CloseInternalError},
		{"oversized", func(c *phxclient.Client) error {
			return c.Send(`["1","1","room:x","e",{"a":"` + strings.Repeat("x", 1<<17) + `"}]`)
		}, transport.CloseMessageTooBig},
		{"invalid utf8", func(c *phxclient.Client) error { return c.SendFrame(gws.OpcodeText, []byte{'"', 0xff, '"'}) }, transport.CloseInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t, "")
			join(t, c, "1", "room:h")
			if err := tc.frame(c); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("connection not closed")
			}
			if code := c.CloseCode(); code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			if got := ts.waitEnded(t); !strings.HasPrefix(got, "room:h ") {
				t.Errorf("Terminate %q", got)
			}
			send(t, healthy, `["1","2","room:h","echo",{"still":"here"}]`)
			expect(t, healthy, `["1","2","room:h","phx_reply",{"status":"ok","response":{"still":"here"}}]`)
		})
	}
	// V1 sockets cannot take binary frames.
	c, _, err := phxclient.Dial(ts.url("", "vsn=1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SendBinary([]byte{0, 0, 0, 1, 1, 'x', 'e'})
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("V1 socket sent a binary frame was not closed")
	}
	if code := c.CloseCode(); code != transport.CloseInternalError {
		t.Errorf("close code %d, want 1011", code)
	}
}

// A flood of joins from many connections: each gets its answers, none is
// lost, and everything is torn down.
func TestJoinFlood(t *testing.T) {
	ts := newServer(t, serverOpts{endpoint: actorsConfigUnlimited()})
	const conns, joins = 20, 150
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		c := ts.dial(t, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < joins; j++ {
				if err := c.Send(`["1","1","room:flood","phx_join",{}]`); err != nil {
					errs <- err
					return
				}
			}
			// Every join replaces the previous one: joins replies, joins-1 closes.
			for j := 0; j < 2*joins-1; j++ {
				if _, err := c.Next(wait); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Shutdown closes every socket with 1012 and runs every channel's Terminate.
func TestShutdown(t *testing.T) {
	ts := newServer(t, serverOpts{})
	a, b := ts.dial(t, ""), ts.dial(t, "")
	join(t, a, "1", "room:a")
	join(t, b, "1", "room:b")
	join(t, b, "2", "room:c")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ts.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ts.closed = true
	ts.srv.Close()
	if len(ts.ended) != 3 {
		t.Fatalf("%d Terminates ran before Shutdown returned, want 3", len(ts.ended))
	}
	for _, c := range []*phxclient.Client{a, b} {
		<-c.Done()
		if code := c.CloseCode(); code != transport.CloseServiceRestart {
			t.Errorf("close code %d, want 1012", code)
		}
	}
}

// Shutdown closes sockets in batches of Config.Drain, pausing between
// batches so that each starts an interval after the one before, as
// Phoenix's drainer does; every client gets 1012.
func TestShutdownDrainsInBatches(t *testing.T) {
	ts := newServer(t, serverOpts{endpoint: actors.Config{Drain: actors.Drain{BatchSize: 2, Interval: time.Hour}}})
	paused, step := make(chan time.Duration, 1), make(chan struct{})
	actors.StepDrain(ts.ep, paused, step)
	var clients []*phxclient.Client
	for i := range 5 {
		c := ts.dial(t, "")
		join(t, c, "1", fmt.Sprintf("room:%d", i))
		clients = append(clients, c)
	}
	shut := make(chan error, 1)
	go func() { shut <- ts.ep.Shutdown(context.Background()) }()

	closed := map[*phxclient.Client]bool{}
	// awaitBatch waits for n more clients to be closed, then checks that
	// the others are still open while the drain pauses.
	awaitBatch := func(n int) {
		t.Helper()
		for range n {
			cases := make([]reflect.SelectCase, 0, len(clients))
			open := make([]*phxclient.Client, 0, len(clients))
			for _, c := range clients {
				if !closed[c] {
					cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.Done())})
					open = append(open, c)
				}
			}
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(wait))})
			i, _, _ := reflect.Select(cases)
			if i == len(open) {
				t.Fatalf("%d of 5 clients closed, want %d more", len(closed), n)
			}
			closed[open[i]] = true
			if code := open[i].CloseCode(); code != transport.CloseServiceRestart {
				t.Errorf("close code %d, want 1012", code)
			}
		}
	}
	for _, batch := range []int{2, 2} {
		awaitBatch(batch)
		select {
		case d := <-paused:
			if d > time.Hour || d < time.Hour-wait {
				t.Fatalf("paused for %v, want the interval less the batch's time", d)
			}
		case <-time.After(wait):
			t.Fatal("the drain did not pause after a batch")
		}
		for _, c := range clients {
			select {
			case <-c.Done():
				if !closed[c] {
					t.Fatal("a client of the next batch was closed during the pause")
				}
			default:
			}
		}
		step <- struct{}{}
	}
	awaitBatch(1)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	ts.closed = true
	ts.srv.Close()
	if len(paused) != 0 {
		t.Error("the drain paused after its last batch")
	}
	if len(ts.ended) != 5 {
		t.Errorf("%d Terminates ran, want 5", len(ts.ended))
	}
}

// A Shutdown whose context ends during the drain closes the sockets left at
// once and returns the context's error.
func TestShutdownDrainCut(t *testing.T) {
	ts := newServer(t, serverOpts{endpoint: actors.Config{Drain: actors.Drain{BatchSize: 1, Interval: time.Hour}}})
	a, b, c := ts.dial(t, ""), ts.dial(t, ""), ts.dial(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan error, 1)
	go func() { shut <- ts.ep.Shutdown(ctx) }()
	first := 0
	select {
	case <-a.Done():
	case <-b.Done():
		first = 1
	case <-c.Done():
		first = 2
	case <-time.After(wait):
		t.Fatal("no socket closed")
	}
	cancel()
	for i, cl := range []*phxclient.Client{a, b, c} {
		select {
		case <-cl.Done():
		case <-time.After(wait):
			t.Fatalf("client %d still open after the cut (the first closed was %d)", i, first)
		}
	}
	select {
	case err := <-shut:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown = %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown did not return")
	}
	ts.closed = true
	ts.srv.Close()
}

// docs/protocol.md §10 row 28: the transport mounted at a custom path with
// path variables; the variables reach Connect as params.
func TestPathVariables(t *testing.T) {
	ts := newServer(t, serverOpts{path: "/custom/{socket_var}/{path_var}/path"})
	c, _, err := phxclient.Dial(ts.url("/custom/sv/pv/path", "vsn=2.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	join(t, c, "1", "room:p")
	send(t, c, `["1","2","room:p","params",{}]`)
	expect(t, c, `["1","2","room:p","phx_reply",{"status":"ok","response":{"socket_var":"sv","path_var":"pv","vsn":"2.0.0"}}]`)
}

// gatedJoin's Join holds its channel until the gate opens: a join stuck
// on a slow database.
type gatedJoin struct {
	actors.BaseChannel
	gate <-chan struct{}
}

func (g gatedJoin) Join(string, actors.Payload, *actors.Socket) (any, error) {
	<-g.gate
	return nil, nil
}

// A client flooding frames while its join runs is cut off with 1008; the
// others carry on.
func TestFloodDuringJoin(t *testing.T) {
	ts := newServer(t, serverOpts{})
	gate := make(chan struct{})
	defer close(gate)
	ts.h.Channel("gated:*", func() actors.Channel { return gatedJoin{gate: gate} })
	healthy := ts.dial(t, "")
	join(t, healthy, "1", "room:h")
	c := ts.dial(t, "")
	var frames []string
	frames = append(frames, `["1","1","gated:1","phx_join",{}]`)
	for i := 0; i < 5000; i++ {
		frames = append(frames, `[null,"h","phoenix","heartbeat",{}]`)
	}
	for _, f := range frames {
		if err := c.Send(f); err != nil {
			break
		}
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("flooding socket not closed")
	}
	if code := c.CloseCode(); code != transport.ClosePolicyViolation {
		t.Errorf("close code %d, want 1008", code)
	}
	send(t, healthy, `["1","2","room:h","echo",{}]`)
	expect(t, healthy, `["1","2","room:h","phx_reply",{"status":"ok","response":{}}]`)
}
