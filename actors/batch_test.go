package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// batchConn records what the socket sends: each Send as a batch of one,
// each SendBatch as one batch.
type batchConn struct {
	mu      sync.Mutex
	batches [][]string
	arrived chan struct{}
}

func (c *batchConn) Send(frame []byte, _ bool) error {
	return c.SendBatch(transport.Frame{Data: frame})
}

func (c *batchConn) SendBatch(frames ...transport.Frame) error {
	batch := make([]string, len(frames))
	for i, f := range frames {
		batch[i] = string(f.Data)
	}
	c.mu.Lock()
	c.batches = append(c.batches, batch)
	c.mu.Unlock()
	c.arrived <- struct{}{}
	return nil
}

func (c *batchConn) Close(int, string) {}

// next waits for the next batch.
func (c *batchConn) next(t *testing.T) []string {
	t.Helper()
	select {
	case <-c.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.batches[0]
	c.batches = c.batches[1:]
	return b
}

type stoppingChannel struct{ actors.BaseChannel }

func (stoppingChannel) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }
func (stoppingChannel) HandleIn(event string, _ actors.Payload, _ *actors.Socket) actors.Reply {
	if event == "done" {
		return actors.ReplyOK(map[string]string{"bye": "now"}).AndStop(actors.ShutdownReason("done"))
	}
	return actors.ReplyOK(nil)
}

// The reply that ends a channel, a leave's or one a handler returned with
// AndStop, goes out in one batch with the phx_close after it, so that a
// connection writes both with one system call.
func TestReplyAndCloseInOneBatch(t *testing.T) {
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	h := ep.Socket(testConnector{})
	h.Channel("room:*", func() actors.Channel { return stoppingChannel{} })
	sess, err := h.Connect(&transport.ConnectRequest{Transport: "test", Serializer: protocol.V2, Params: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	conn := &batchConn{arrived: make(chan struct{}, 16)}
	sess.Open(conn)
	t.Cleanup(func() { sess.Closed(nil) })

	for _, tc := range []struct {
		topic, event string
		reply        string
	}{
		{"room:a", "phx_leave", `{"status":"ok","response":{}}`},
		{"room:b", "done", `{"status":"ok","response":{"bye":"now"}}`},
	} {
		sess.Receive([]byte(fmt.Sprintf(`["1","1",%q,"phx_join",{}]`, tc.topic)), false)
		if b := conn.next(t); len(b) != 1 || !strings.Contains(b[0], "phx_reply") {
			t.Fatalf("%s: join answered with %q", tc.topic, b)
		}
		sess.Receive([]byte(fmt.Sprintf(`["1","2",%q,%q,{}]`, tc.topic, tc.event)), false)
		want := []string{
			fmt.Sprintf(`["1","2",%q,"phx_reply",%s]`, tc.topic, tc.reply),
			fmt.Sprintf(`["1","1",%q,"phx_close",{}]`, tc.topic),
		}
		if b := conn.next(t); fmt.Sprint(b) != fmt.Sprint(want) {
			t.Errorf("%s %s: sent %q, want one batch %q", tc.topic, tc.event, b, want)
		}
	}
}
