package presence_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// countingConn is a connection that only counts what it is sent.
type countingConn struct {
	frames *atomic.Int64
	last   *atomic.Int64 // unix nanoseconds of the latest send
}

func (c countingConn) Send([]byte, bool) error {
	c.frames.Add(1)
	c.last.Store(time.Now().UnixNano())
	return nil
}
func (countingConn) Close(int, string) {}

// BenchmarkJoinCrowd joins 10,000 members to one topic, each tracking its
// presence, and reports the frames sent to members and the time until the
// last diff went out: without batching every join is a diff to every
// member, with a window the joins of the window share one.
func BenchmarkJoinCrowd(b *testing.B) {
	const members = 10_000
	for _, tc := range []struct {
		name      string
		window    time.Duration
		pushState bool
	}{
		{"window=0s", 0, false},
		{"window=50ms", 50 * time.Millisecond, false},
		// Each newcomer's presence_state through PushState: encoded once
		// per window for all the newcomers of the window.
		{"window=50ms/PushState", 50 * time.Millisecond, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				frames, converge := joinCrowd(b, members, tc.window, tc.pushState)
				b.ReportMetric(float64(frames), "frames/op")
				b.ReportMetric(float64(converge.Milliseconds()), "converge-ms/op")
			}
		})
	}
}

func joinCrowd(b *testing.B, members int, window time.Duration, pushState bool) (int64, time.Duration) {
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxChannels: -1})
	defer func() { _ = ep.Shutdown(context.Background()) }()
	tr := presence.New(ep, presence.Config{BatchWindow: window})
	h := ep.Socket(users{})
	h.Channel("crowd:*", func() actors.Channel { return &room{p: tr, pushState: pushState} })

	var frames, last atomic.Int64
	start := time.Now()
	for i := 0; i < members; i++ {
		sess, err := h.Connect(&transport.ConnectRequest{
			Transport: "bench", Serializer: protocol.V2, Params: map[string]string{"user": fmt.Sprint("u", i)},
		})
		if err != nil {
			b.Fatal(err)
		}
		sess.Open(countingConn{&frames, &last})
		sess.Receive([]byte(`["1","1","crowd:1","phx_join",{}]`), false)
	}
	for tr.Count("crowd:1") < members {
		time.Sleep(time.Millisecond)
	}
	// Converged once nothing more is sent for a while.
	quiet := window + 100*time.Millisecond
	for time.Since(time.Unix(0, last.Load())) < quiet {
		time.Sleep(10 * time.Millisecond)
	}
	return frames.Load(), time.Unix(0, last.Load()).Sub(start)
}
