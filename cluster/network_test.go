package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/internal/tcpproxy"
)

// TestListenOnAllInterfaces: nodes that listen on 0.0.0.0 and advertise
// an address of their own mesh, relay, and stop within their bound.
func TestListenOnAllInterfaces(t *testing.T) {
	var nodes []*node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		port := freePort(t)
		cfg := testConfig(fmt.Sprint("n", i+1))
		cfg.ListenAddr = "0.0.0.0:" + port
		cfg.AdvertiseAddr = ip // the listener's port is added
		if i > 0 {
			cfg.Seeds = []string{nodes[0].c.Addr()}
		}
		n := startNode(t, cfg)
		if want := net.JoinHostPort(ip, port); n.c.Addr() != want {
			t.Fatalf("advertised %s, want %s", n.c.Addr(), want)
		}
		nodes = append(nodes, n)
	}
	waitMeshed(t, nodes...)
	cid := channeltest.Connect(t, nodes[2].h, map[string]string{"user": "cid"}).Join("room:1", nil)
	if err := nodes[0].ep.Broadcast("room:1", "over", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	cid.AssertBroadcast("over", `{"n":1}`)
	for _, n := range nodes {
		start := time.Now()
		n.stop()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s took %v to stop", n.name, took)
		}
	}
}

// forward relays connections from a loopback address of its own to addr:
// a seed reached under another name (a VIP, a Kubernetes service).
func forward(t *testing.T, addr string) *tcpproxy.Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.Serve(ln, addr)
	t.Cleanup(p.Close)
	return p
}

// TestSeedUnderAnotherAddress: a node whose only seed is a proxy to its
// peer meets the peer at the peer's own address and drops the proxy; no
// frame between them is lost for having come two ways.
func TestSeedUnderAnotherAddress(t *testing.T) {
	b := startNode(t, testConfig("b"))
	vip := forward(t, b.c.Addr())
	a := startNode(t, testConfig("a", vip.Addr()))
	waitMeshed(t, a, b)

	const n = 5000
	ann := a.dial(t, "ann", "room:seq")
	done := make(chan error, 1)
	go func() {
		for i := range n {
			m, err := ann.Next(10 * time.Second)
			if err != nil {
				done <- fmt.Errorf("message %d: %v", i, err)
				return
			}
			if want := fmt.Sprintf(`{"i":%d}`, i); string(m.Payload) != want {
				done <- fmt.Errorf("message %d: %s, want %s", i, m.Payload, want)
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		if err := b.ep.Broadcast("room:seq", "seq", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			time.Sleep(heartbeat) // let heartbeats interleave, as they would
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := a.c.Stats().Dropped; len(d) != 0 {
		t.Errorf("a dropped frames: %v", d)
	}
	for _, p := range a.c.Peers() {
		if p.Node == "b" && p.Addr != b.c.Addr() {
			t.Errorf("a reaches b at %s, not at its own address %s", p.Addr, b.c.Addr())
		}
	}
}

// TestRestartedNodeLosesNothingOnceReady: a node killed and started again
// at its address is Ready only once broadcasts flow both ways: then
// broadcasts made at once on either side all arrive.
func TestRestartedNodeLosesNothingOnceReady(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	for round := range 3 {
		addr := b.c.Addr()
		cluster.Crash(b.c)
		b.stop()
		cfg := testConfig("b", a.c.Addr())
		cfg.ListenAddr = addr
		b = startNode(t, cfg)
		waitFor(t, "b's new run to be ready", b.c.Ready)

		onA, onB := a.dial(t, "ann", "room:r"), b.dial(t, "bob", "room:r")
		const each = 100
		var wg sync.WaitGroup
		for _, from := range []*node{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := from.ep.Broadcast("room:r", "m", map[string]any{"from": from.name, "i": i}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		for _, c := range []*phxclient.Client{onA, onB} {
			got := 0
			for got < 2*each {
				m, err := c.Next(5 * time.Second)
				if err != nil {
					t.Fatalf("round %d: %d of %d broadcasts arrived: %v\na: %+v %+v\nb: %+v %+v\n%s\n%s", round, got, 2*each, err, a.c.Stats(), a.c.Peers(), b.c.Stats(), b.c.Peers(), a.logs, b.logs)
				}
				if m.Event == "m" {
					got++
				}
			}
			c.Close()
		}
	}
}

// TestNameInUseIsRefused: a second process under a live node's name is
// refused by every node; the live one is never evicted. Once the live one
// is gone, the name is free.
func TestNameInUseIsRefused(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	bInc := b.c.Incarnation()

	impostor := startNode(t, testConfig("b", a.c.Addr(), b.c.Addr()))
	waitFor(t, "a to refuse the impostor", func() bool { return a.c.Stats().Refused[cluster.ReasonNameInUse] >= 2 })
	waitFor(t, "b to refuse the impostor", func() bool { return b.c.Stats().Refused[cluster.ReasonNameInUse] >= 1 })
	waitFor(t, "the impostor to hear why", func() bool {
		return strings.Contains(impostor.logs.String(), `node name \"b\" is in use by a live node at `+b.c.Addr())
	})
	// The log line follows the first refusal; the other may come after.
	waitFor(t, "the impostor to count both refusals", func() bool {
		return impostor.c.Stats().RefusedByPeers[cluster.ReasonNameInUse] >= 2
	})
	if impostor.c.Ready() {
		t.Error("the impostor says it is ready")
	}
	for _, p := range a.c.Peers() {
		if p.Node == "b" && (!p.Up || p.Incarnation != bInc) {
			t.Errorf("a's b: %+v, want the live run %s up", p, bInc)
		}
	}
	bob := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)
	if err := b.ep.Broadcast("room:1", "still", nil); err != nil {
		t.Fatal(err)
	}
	bob.AssertBroadcast("still", `{}`)
	if !strings.Contains(a.logs.String(), "refused a node whose name is in use") {
		t.Error("a did not log the refusal")
	}
	if !strings.Contains(b.logs.String(), "another process uses this node's name") {
		t.Error("b did not log the other process")
	}

	// The live b dies: once it is down, the name is the other's.
	cluster.Crash(b.c)
	waitFor(t, "a to meet the new b", func() bool {
		for _, p := range a.c.Peers() {
			if p.Node == "b" && p.Up && p.Incarnation == impostor.c.Incarnation() {
				return true
			}
		}
		return false
	})
	waitFor(t, "the new b to be ready", impostor.c.Ready)
}

// rawFrame sends one frame to n's relay through a raw peer holding the
// secret.
func (p *rawPeer) frame(t *testing.T, n *node, b []byte) {
	t.Helper()
	p.send(t, n.c.Addr(), "google.protobuf.BytesValue", "phx-cluster", bytesValue(t, b))
}

// TestFramesAreNotReplayed: a frame taken once is refused when it comes
// again, on its connection or another, and by the receiver's next run;
// bytes recorded off a connection between nodes are refused outright.
func TestFramesAreNotReplayed(t *testing.T) {
	a := startNode(t, testConfig("a"))
	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)

	// A node "x" that holds the secret, speaking by hand.
	x := uuid.Must(uuid.NewV7())
	hello := cluster.HeartbeatFrame("x", x, "127.0.0.1:1", a.c, 1)
	shout := cluster.BroadcastFrame("x", x, a.c, 2, "room:1", "shout", `{"n":1}`)
	p := dialRaw(t, a.c.Addr())
	p.frame(t, a, hello)
	p.frame(t, a, shout)
	ann.AssertBroadcast("shout", `{"n":1}`)

	p.frame(t, a, shout)
	dialRaw(t, a.c.Addr()).frame(t, a, shout)
	waitFor(t, "two duplicates dropped", func() bool { return a.c.Stats().Dropped[cluster.ReasonDuplicate] == 2 })
	ann.AssertNoPush("shout")

	// a's next run, at the same address, takes none of it.
	addr := a.c.Addr()
	a.stop()
	cfg := testConfig("a")
	cfg.ListenAddr = addr
	a = startNode(t, cfg)
	ann = channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)
	p = dialRaw(t, a.c.Addr())
	p.frame(t, a, hello)
	p.frame(t, a, shout)
	waitFor(t, "two stale frames dropped", func() bool { return a.c.Stats().Dropped[cluster.ReasonStale] == 2 })
	ann.AssertNoPush("shout")

	// The wire between two nodes: what b sent a, recorded and played to a
	// again, is refused before any frame is read.
	vip := forward(t, a.c.Addr())
	b := startNode(t, testConfig("b", vip.Addr()))
	waitMeshed(t, a, b)
	if err := b.ep.Broadcast("room:1", "wire", nil); err != nil {
		t.Fatal(err)
	}
	ann.AssertBroadcast("wire", `{}`)
	received := a.c.Stats().FramesReceived
	for _, rec := range vip.Sent() {
		if len(rec) == 0 {
			continue
		}
		conn, err := net.Dial("tcp", a.c.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(rec)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // until a closes it
		conn.Close()
	}
	b.stop()
	ann.AssertNoPush("wire")
	if got := a.c.Stats().Refused[cluster.ReasonHandshake]; got == 0 {
		t.Error("a did not count the replayed connections as refused handshakes")
	}
	// Only b's own goodbye may have arrived meanwhile.
	if got := a.c.Stats().FramesReceived - received; got > 2 {
		t.Errorf("a received %d frames from replayed connections", got)
	}
}

// TestMemoryPerPeer: what a node holds for its peers is bounded by the
// cluster, not by remote's defaults (a million-slot queue per peer, 15 MB
// each): five nodes meshed hold at most 8 MB of heap each above five lone
// nodes.
func TestMemoryPerPeer(t *testing.T) {
	skipUnderRace(t)
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	start := func(meshed bool) int64 {
		before := heap()
		var nodes []*node
		for i := range 5 {
			cfg := testConfig(fmt.Sprint("n", i))
			if meshed && i > 0 {
				cfg.Seeds = []string{nodes[0].c.Addr()}
			}
			nodes = append(nodes, startNode(t, cfg))
		}
		if meshed {
			waitMeshed(t, nodes...)
			// Presence states and heartbeats have crossed every link.
			waitFor(t, "every node ready", func() bool {
				for _, n := range nodes {
					if !n.c.Ready() {
						return false
					}
				}
				return true
			})
		}
		if meshed {
			waitFor(t, "heartbeats on every link", func() bool {
				for _, n := range nodes {
					for _, p := range n.c.Peers() {
						if p.FramesSent < 8 {
							return false
						}
					}
				}
				return true
			})
		}
		held := heap() - before
		for _, n := range nodes {
			n.stop()
		}
		return held
	}
	lone := start(false)
	meshed := start(true)
	perNode := (meshed - lone) / 5
	t.Logf("five lone nodes: %.1f MB; meshed: %.1f MB; %.2f MB per node for its 4 peers",
		float64(lone)/1e6, float64(meshed)/1e6, float64(perNode)/1e6)
	if perNode > 8<<20 {
		t.Errorf("each node holds %.1f MB for its 4 peers, want at most 8 MB", float64(perNode)/1e6)
	}
}

// peer returns n's view of the peer named name.
func (n *node) peer(name string) cluster.Peer {
	for _, p := range n.c.Peers() {
		if p.Node == name {
			return p
		}
	}
	return cluster.Peer{}
}

// TestPeerThatCannotKeepUpIsBounded: frames to a peer that acknowledges
// nothing stop at the window, the rest are skipped and counted, and the
// peer is declared down; once it answers again it is up again.
func TestPeerThatCannotKeepUpIsBounded(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)

	cluster.Isolate(b.c, true) // b takes nothing and answers nothing
	big := json.RawMessage(`{"x":"` + strings.Repeat("x", 256<<10) + `"}`)
	for range 64 { // 16 MiB
		if err := a.ep.Broadcast("room:big", "big", big); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "frames to b skipped", func() bool { return a.peer("b").Skipped[cluster.ReasonQueueFull] > 0 })
	p := a.peer("b")
	if p.QueueBytes > 8<<20 {
		t.Errorf("%d bytes in flight to b, want at most 8 MiB", p.QueueBytes)
	}
	if !p.Slow && p.Up {
		t.Errorf("b is up and not slow: %+v", p)
	}
	waitFor(t, "b declared down", func() bool { p := a.peer("b"); return !p.Up && p.Downs == 1 })
	// The two views are read apart, while heartbeats may still be skipped;
	// once b is down they must agree.
	waitFor(t, "node-wide queue_full equal to b's", func() bool {
		return a.c.Stats().Skipped[cluster.ReasonQueueFull] == a.peer("b").Skipped[cluster.ReasonQueueFull]
	})
	if p := a.peer("b"); p.Queue != 0 || p.QueueBytes != 0 {
		t.Errorf("b down with %d frames, %d bytes in flight", p.Queue, p.QueueBytes)
	}

	cluster.Isolate(b.c, false)
	waitMeshed(t, a, b)
	bob := channeltest.Connect(t, b.h, map[string]string{"user": "bob"}).Join("room:1", nil)
	if err := a.ep.Broadcast("room:1", "back", nil); err != nil {
		t.Fatal(err)
	}
	bob.AssertBroadcast("back", `{}`)
}
