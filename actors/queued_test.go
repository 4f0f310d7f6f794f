package actors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// What a socket's queued bytes count is what its waiting frames hold:
// small frames behind a handler that does not return are counted within
// a quarter of the heap they take, so that MaxQueuedBytes and
// MaxQueuedBytesHeld bound memory, not wire bytes.
func TestQueuedBytesCountWhatIsHeld(t *testing.T) {
	gate := make(chan struct{})
	ep := actors.NewEndpoint(actors.Config{MaxQueuedBytes: 1 << 30, Logger: testLogger()})
	h := ep.Socket(testConnector{})
	h.Channel("slow:*", func() actors.Channel { return gated{gate: gate} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.WebSocket(transport.WebSocketConfig{}))
	ts := &testServer{ep: ep, srv: httptest.NewServer(mux)}
	t.Cleanup(func() {
		close(gate)
		ts.shutdown(t)
	})
	c := ts.dial(t, "vsn=2.0.0")
	join(t, c, "1", "slow:1")
	send(t, c, `["1","2","slow:1","wait",{}]`)

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, pad := range []int{0, 1000} {
		measureQueued(t, ep, c, pad, heap)
	}
}

// measureQueued sends frames of a pad-byte payload behind the gated
// handler, and compares the heap they take with what is counted.
func measureQueued(t *testing.T, ep *actors.Endpoint, c *phxclient.Client, pad int, heap func() uint64) {
	t.Helper()
	const n = 10_000
	before, counted0 := heap(), ep.Stats().QueuedBytes
	var wire int
	for i := range n {
		f := fmt.Sprintf(`["1","%d","slow:1","push",{"i":%d,"p":%q}]`, i+3, i, strings.Repeat("x", pad))
		wire += len(f)
		send(t, c, f)
	}
	// The heartbeat's reply comes once the socket has routed every frame
	// before it to the channel, where they wait.
	send(t, c, `[null,"hb","phoenix","heartbeat",{}]`)
	expect(t, c, `[null,"hb","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	deadline := time.Now().Add(wait)
	for ep.Stats().QueuedBytes-counted0 < int64(wire) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	held := float64(heap()-before) / n
	counted := float64(ep.Stats().QueuedBytes-counted0) / n
	t.Logf("per frame of a %d-byte pad: %d wire bytes, %.0f held, %.0f counted", pad, wire/n, held, counted)
	if counted < held*0.75 || counted > held*1.5 {
		t.Errorf("counted %.0f bytes per frame for %.0f held", counted, held)
	}
}

// Frames waiting to be handled are bounded for every socket together: when
// many sockets, each under its own MaxQueuedBytes, add up past
// MaxQueuedBytesHeld, the one whose frames hold the most is closed
// (1008), the others go on, and once the frames are handled nothing is
// counted any more.
func TestQueuedBytesHeldAreBounded(t *testing.T) {
	gate := make(chan struct{})
	ep := actors.NewEndpoint(actors.Config{MaxQueuedBytes: 300 << 10, MaxQueuedBytesHeld: 1 << 20, Logger: testLogger()})
	h := ep.Socket(testConnector{})
	h.Channel("slow:*", func() actors.Channel { return gated{gate: gate} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.WebSocket(transport.WebSocketConfig{}))
	ts := &testServer{ep: ep, srv: httptest.NewServer(mux)}
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(gate)
		}
		ts.shutdown(t)
	})
	flood := func(c *phxclient.Client, topic string, kb int) {
		t.Helper()
		join(t, c, "1", topic)
		send(t, c, `["1","2","`+topic+`","wait",{}]`)
		body := strings.Repeat("x", 1000)
		for i := range kb {
			if err := c.Send(fmt.Sprintf(`["1","%d","%s","push",{"b":%q}]`, i+3, topic, body)); err != nil {
				return
			}
		}
		send(t, c, `[null,"hb","phoenix","heartbeat",{}]`)
	}
	big := ts.dial(t, "vsn=2.0.0")
	flood(big, "slow:big", 240)
	expect(t, big, `[null,"hb","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	var small []*phxclient.Client
	for i := range 5 {
		c := ts.dial(t, "vsn=2.0.0")
		flood(c, fmt.Sprintf("slow:%d", i), 180)
		small = append(small, c)
	}
	select {
	case <-big.Done():
	case <-time.After(wait):
		t.Fatalf("the socket holding the most is still open; queued %d", ep.Stats().QueuedBytes)
	}
	if code := big.CloseCode(); code != 1008 {
		t.Errorf("close code %d, want 1008", code)
	}
	for _, c := range small {
		expect(t, c, `[null,"hb","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	}
	if s := ep.Stats(); s.QueuedCuts != 1 {
		t.Errorf("cuts %d, want 1", s.QueuedCuts)
	}
	close(gate)
	opened = true
	deadline := time.Now().Add(wait)
	for ep.Stats().QueuedBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still counted once every frame was handled: %d", ep.Stats().QueuedBytes)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// What the sockets cut for MaxQueuedBytesHeld are giving back is set
// against the bound only up to what one socket may hold
// (MaxQueuedBytes): while the cut sockets cannot give it back, their
// channels stuck, the others do not fill the bound again meanwhile,
// however many they are. The frames waiting stay within the bound and
// one socket's worth; past it the next largest is cut, and once every
// large one is, whoever sends.
func TestQueuedBytesHeldWhileCutSocketsHoldOn(t *testing.T) {
	const perSocket, held = 300 << 10, 1 << 20
	gate := make(chan struct{})
	ep := actors.NewEndpoint(actors.Config{MaxQueuedBytes: perSocket, MaxQueuedBytesHeld: held, Logger: testLogger()})
	h := ep.Socket(testConnector{})
	h.Channel("slow:*", func() actors.Channel { return gated{gate: gate} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.WebSocket(transport.WebSocketConfig{}))
	ts := &testServer{ep: ep, srv: httptest.NewServer(mux)}
	t.Cleanup(func() {
		close(gate)
		ts.shutdown(t)
	})
	body := strings.Repeat("x", 1000)
	const sockets, frames = 8, 240 // 280 KB a socket, under its own bound
	for i := range sockets {
		c := ts.dial(t, "vsn=2.0.0")
		topic := fmt.Sprintf("slow:%d", i)
		// Any of these may find the bound passed and the socket cut.
		_ = c.Send(`["1","1","` + topic + `","phx_join",{}]`)
		_ = c.Send(`["1","2","` + topic + `","wait",{}]`)
		for k := range frames {
			if c.Send(fmt.Sprintf(`["1","%d","%s","push",{"b":%q}]`, k+3, topic, body)) != nil {
				break
			}
		}
		// The heartbeat's reply comes once every frame before it is
		// counted; a socket cut meanwhile ends instead.
		_ = c.Send(`[null,"hb","phoenix","heartbeat",{}]`)
		for {
			f, err := c.NextFrame(wait)
			if err != nil || strings.Contains(string(f.Data), `"hb"`) {
				break
			}
		}
	}
	s := ep.Stats()
	// Past the bound and one socket's worth, at most a frame a socket:
	// the one that found the count over, counted before it was looked at.
	if limit := int64(held + perSocket + sockets*(len(body)+200)); s.QueuedBytes > limit {
		t.Errorf("%d bytes queued with the cut sockets stuck, want %d at most; %d cuts", s.QueuedBytes, limit, s.QueuedCuts)
	}
	if s.QueuedCuts < 2 {
		t.Errorf("%d cuts, want the next largest cut too", s.QueuedCuts)
	}
}
