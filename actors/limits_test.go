package actors_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// gated's HandleIn of "wait" holds its channel until the gate opens: a
// slow handler, as a channel stuck on a slow database would be.
type gated struct {
	actors.BaseChannel
	gate <-chan struct{}
}

func (gated) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

func (g gated) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	if event == "wait" {
		<-g.gate
	}
	return actors.ReplyOK(nil)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestQueuedBytesBound: a client whose channel cannot keep up is cut off
// at MaxQueuedBytes, once, and nobody else notices; a client whose channel
// keeps up sends as much as it likes.
func TestQueuedBytesBound(t *testing.T) {
	logs := &lockedBuffer{}
	ep := actors.NewEndpoint(actors.Config{MaxQueuedBytes: 256 << 10, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	gate := make(chan struct{})
	h := ep.Socket(testConnector{})
	h.Channel("slow:*", func() actors.Channel { return gated{gate: gate} })
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", h.WebSocket(transport.WebSocketConfig{}))
	srv := httptest.NewServer(mux)
	ts := &testServer{ep: ep, srv: srv}
	t.Cleanup(func() {
		close(gate)
		ts.shutdown(t)
	})

	flooder := ts.dial(t, "vsn=2.0.0")
	join(t, flooder, "1", "slow:1")
	bystander := ts.dial(t, "vsn=2.0.0")
	join(t, bystander, "1", "slow:2")
	steady := ts.dial(t, "vsn=2.0.0")
	join(t, steady, "1", "slow:3")

	send(t, flooder, `["1","2","slow:1","wait",{}]`)
	body := strings.Repeat("x", 4000)
	for i := range 200 { // 800 KB behind a handler that does not return
		if err := flooder.Send(fmt.Sprintf(`["1","%d","slow:1","push",{"b":%q}]`, i+3, body)); err != nil {
			break // closed under us: what the test waits for
		}
	}
	select {
	case <-flooder.Done():
	case <-time.After(wait):
		t.Fatal("the flooding client is still connected")
	}
	if code := flooder.CloseCode(); code != 1008 {
		t.Errorf("close code %d, want 1008", code)
	}
	if n := strings.Count(logs.String(), "MaxQueuedBytes"); n != 1 {
		t.Errorf("%d warnings for one socket, want 1:\n%s", n, logs.String())
	}

	send(t, bystander, `[null,"9","phoenix","heartbeat",{}]`)
	expect(t, bystander, `[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]`)

	// 2 MB through a channel that keeps up: what is handled is no longer
	// counted.
	for i := range 500 {
		send(t, steady, fmt.Sprintf(`["1","%d","slow:3","push",{"b":%q}]`, i+2, body))
		expect(t, steady, fmt.Sprintf(`["1","%d","slow:3","phx_reply",{"status":"ok","response":{}}]`, i+2))
	}
}

// TestJoinParamsBound: params past MaxJoinParams, which a channel would
// keep for its whole life, are refused; the socket stays, and joins
// within the bound go on.
func TestJoinParamsBound(t *testing.T) {
	ts := newServer(t, serverOpts{endpoint: actors.Config{MaxJoinParams: 1000}})
	c := ts.dial(t, "vsn=2.0.0")
	big := strings.Repeat("x", 1000)
	send(t, c, `["1","1","room:big","phx_join",{"b":"`+big+`"}]`)
	expect(t, c, `["1","1","room:big","phx_reply",{"status":"error","response":{"reason":"join params too large"}}]`)
	send(t, c, `["2","2","room:big","phx_join",{"b":"`+big[:900]+`"}]`)
	expect(t, c, `["2","2","room:big","phx_reply",{"status":"ok","response":{}}]`)
}

// TestTopicShrinks: a topic that lost most of its subscribers gives back
// their memory, and still delivers to the rest.
func TestTopicShrinks(t *testing.T) {
	ep := actors.NewEndpoint(actors.Config{Logger: testLogger()})
	defer ep.Shutdown(context.Background())
	h := ep.Socket(testConnector{})
	h.Channel("room:*", func() actors.Channel { return &room{} })
	var socks []*channeltest.Socket
	var chans []*channeltest.Channel
	for range 1000 {
		s := channeltest.Connect(t, h, nil)
		socks = append(socks, s)
		chans = append(chans, s.Join("room:big", nil))
	}
	peak, indexed := actors.TopicCapacity(ep, "room:big")
	if peak < 1000 || !indexed {
		t.Fatalf("capacity %d, indexed %v with 1000 members", peak, indexed)
	}
	for _, s := range socks[10:] {
		s.Close()
	}
	waitFor(t, func() bool { return actors.Subscribers(ep, "room:big") == 10 })
	if c, indexed := actors.TopicCapacity(ep, "room:big"); c > 64 || indexed {
		t.Errorf("capacity %d (indexed %v) for 10 members, after a peak of %d", c, indexed, peak)
	}
	if err := ep.Broadcast("room:big", "still", nil); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans[:10] {
		ch.AssertBroadcast("still", `{}`)
	}
	socks[0].Close()
	waitFor(t, func() bool { return actors.Subscribers(ep, "room:big") == 9 })
}

// TestTopicLengthBound: a topic past MaxTopicLength is refused with a
// reason and the socket stays; the log quotes only the start of it.
func TestTopicLengthBound(t *testing.T) {
	logs := &lockedBuffer{}
	ts := newServer(t, serverOpts{endpoint: actors.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	c := ts.dial(t, "vsn=2.0.0")
	long := "room:" + strings.Repeat("x", 100_000)
	send(t, c, `["1","1","`+long+`","phx_join",{}]`)
	expect(t, c, `["1","1","`+long+`","phx_reply",{"status":"error","response":{"reason":"topic too long"}}]`)
	unmatched := "nowhere:" + strings.Repeat("y", 240) // 248 bytes: within the bound, matched by no route
	send(t, c, `["2","2","`+unmatched+`","phx_join",{}]`)
	expect(t, c, `[null,"2","`+unmatched+`","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	atLimit := "room:" + strings.Repeat("z", 251) // 256 bytes, the default bound
	join(t, c, "3", atLimit)
	if n := len(logs.String()); n > 4<<10 {
		t.Errorf("%d bytes of log for a 100 kB topic", n)
	}
	for _, r := range ts.ep.Stats().Routes {
		if r.Route == "room:*" && r.JoinsRefused != 1 {
			t.Errorf("room:* counted %d refusals, want 1", r.JoinsRefused)
		}
	}
}

// frameOf pads frame's "b" string so that the frame is exactly size bytes.
func frameOf(t *testing.T, size int, head, tail string) string {
	t.Helper()
	f := head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	if len(f) != size {
		t.Fatalf("frame of %d bytes", len(f))
	}
	return f
}

// TestLargestFramesFitTheOutbox: an echo of a frame of exactly
// MaxFrameSize (1 MiB) reaches its sender, and a broadcast of one reaches a
// V1 subscriber, whose encoding of it is larger: the outbox holds several
// of the largest frames, not just one.
func TestLargestFramesFitTheOutbox(t *testing.T) {
	ts := newServer(t, serverOpts{})
	v2, v1 := ts.dial(t, "vsn=2.0.0"), ts.dial(t, "vsn=1.0.0")
	join(t, v2, "1", "room:big")
	send(t, v1, `{"topic":"room:big","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
	expect(t, v1, `{"topic":"room:big","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`)

	echo := frameOf(t, 1<<20, `["1","2","room:big","echo",{"b":"`, `"}]`)
	send(t, v2, echo)
	f, err := v2.NextFrame(wait)
	if err != nil || len(f.Data) <= 1<<20 || !strings.Contains(string(f.Data[:80]), `"phx_reply"`) {
		t.Fatalf("echo of 1 MiB: %d bytes, %v (close code %d)", len(f.Data), err, v2.CloseCode())
	}

	bcast := frameOf(t, 1<<20, `["1","3","room:big","broadcast",{"b":"`, `"}]`)
	send(t, v2, bcast)
	for _, c := range []*phxclient.Client{v2, v1} {
		f, err := c.NextFrame(wait)
		if err != nil || len(f.Data) < 1<<20-100 || !strings.Contains(string(f.Data[:80]), `shout`) {
			t.Fatalf("broadcast of 1 MiB: %d bytes, %v (close code %d)", len(f.Data), err, c.CloseCode())
		}
	}
	send(t, v1, `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"9","join_ref":null}`)
	expect(t, v1, `{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"9"}`)
}
