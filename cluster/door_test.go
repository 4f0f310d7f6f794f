package cluster_test

import (
	"strings"
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/cluster"
)

// TestBurstsOfLargeBroadcastsKeepTheLink: broadcasts as large as a node
// relays, made faster than they can cross, fit the gRPC message limits:
// each reaches the peer or is skipped for the window, and the link is
// never lost.
func TestBurstsOfLargeBroadcastsKeepTheLink(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)

	// Bursts fill the window (8 MiB) before any acknowledgement: remote
	// batches what it holds into gRPC messages as large as the window.
	for _, size := range []int{4<<20 - 64, 1 << 20, 64 << 10} {
		big := actors.Payload{Binary: true, Data: []byte(strings.Repeat("x", size))}
		waitFor(t, "b to acknowledge what it has", func() bool { return a.peer("b").QueueBytes == 0 })
		before, skippedBefore := b.c.Stats().BroadcastsReceived, a.peer("b").Skipped[cluster.ReasonQueueFull]
		const n = 32
		for range n {
			if err := a.ep.Broadcast("room:big", "big", big); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every broadcast received or skipped", func() bool {
			return b.c.Stats().BroadcastsReceived-before+a.peer("b").Skipped[cluster.ReasonQueueFull]-skippedBefore == n
		})
		want := uint64(min(n, (8<<20)/(size+128)))
		if got := b.c.Stats().BroadcastsReceived - before; got < want {
			t.Errorf("b received %d broadcasts of %d bytes, want %d at least", got, size, want)
		}
	}
	if p := a.peer("b"); p.Downs != 0 || !p.Up {
		t.Errorf("a's b: %+v, want up and never down", p)
	}
	if d := b.c.Stats().Dropped; len(d) != 0 {
		t.Errorf("b dropped frames: %v", d)
	}
}
