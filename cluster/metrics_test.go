package cluster_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A node's collector reports its peers and what its relay carried.
func TestCollector(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	for range 3 {
		if err := a.ep.Broadcast("room:x", "e", map[string]int{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "b to receive the broadcasts", func() bool { return b.c.Stats().BroadcastsReceived == 3 })

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.c.Collector())
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	const want = `
# HELP phx_cluster_broadcasts_relayed_total Broadcasts made on this node and sent to other nodes.
# TYPE phx_cluster_broadcasts_relayed_total counter
phx_cluster_broadcasts_relayed_total 3
# HELP phx_cluster_broadcast_frames_total Frames that carried this node's broadcasts, one per peer up.
# TYPE phx_cluster_broadcast_frames_total counter
phx_cluster_broadcast_frames_total 3
# HELP phx_cluster_peers Peer nodes known, by state (up, down).
# TYPE phx_cluster_peers gauge
phx_cluster_peers{state="down"} 0
phx_cluster_peers{state="up"} 1
# HELP phx_cluster_peer_up 1 while the peer is up: frames flow both ways.
# TYPE phx_cluster_peer_up gauge
phx_cluster_peer_up{peer="b"} 1
# HELP phx_cluster_ready 1 once this node has met the nodes it was told of (see Cluster.Ready).
# TYPE phx_cluster_ready gauge
phx_cluster_ready 1
# HELP phx_cluster_peer_frames_skipped_total Frames not sent to the peer, by reason.
# TYPE phx_cluster_peer_frames_skipped_total counter
phx_cluster_peer_frames_skipped_total{peer="b",reason="peer_down"} 0
phx_cluster_peer_frames_skipped_total{peer="b",reason="queue_full"} 0
phx_cluster_peer_frames_skipped_total{peer="b",reason="unreachable"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"phx_cluster_broadcasts_relayed_total", "phx_cluster_broadcast_frames_total", "phx_cluster_peers",
		"phx_cluster_peer_up", "phx_cluster_ready", "phx_cluster_peer_frames_skipped_total"); err != nil {
		t.Error(err)
	}
	// 31 series of the node, 16 of its one peer.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 47 {
		t.Errorf("%d series (%v), want 47", n, err)
	}
}
