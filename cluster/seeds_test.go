package cluster_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// freePort returns a port free on every address of the machine: one free
// on 127.0.0.1 may be another connection's on 127.0.0.2, and a listener on
// 0.0.0.0 then cannot have it. Another process may still take it before
// the test binds it, but no longer because it was never free.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestOneDNSSeedForEveryNode gives three nodes the same seed, a name that
// resolves to all three (as a Kubernetes headless service does): each
// skips itself and meets the two others.
func TestOneDNSSeedForEveryNode(t *testing.T) {
	skipUnderRace(t)
	port := freePort(t)
	lookup := func(_ context.Context, host string) ([]string, error) {
		if host != "peers.test" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil
	}
	var nodes []*node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		cfg := testConfig("n"+strconv.Itoa(i+1), "peers.test:"+port)
		cfg.ListenAddr = net.JoinHostPort(ip, port)
		cfg.LookupHost = lookup
		nodes = append(nodes, startNode(t, cfg))
	}
	waitMeshed(t, nodes...)
	for _, n := range nodes {
		for _, p := range n.c.Peers() {
			if p.Node == n.name {
				t.Errorf("%s lists itself as a peer", n.name)
			}
		}
	}
}

// TestSeedsAreResolvedAgain: a seed name that resolves to nothing yet
// (the service has no ready pods) is looked up again until it does.
func TestSeedsAreResolvedAgain(t *testing.T) {
	b := startNode(t, testConfig("b"))
	var ready atomic.Bool
	var lookups atomic.Int32
	cfg := testConfig("a", "peers.test:"+portOf(t, b.c.Addr()))
	cfg.ResolveInterval = 20 * time.Millisecond
	cfg.LookupHost = func(context.Context, string) ([]string, error) {
		lookups.Add(1)
		if !ready.Load() {
			return nil, nil
		}
		return []string{"127.0.0.1"}, nil
	}
	a := startNode(t, cfg)
	waitFor(t, "three lookups", func() bool { return lookups.Load() >= 3 })
	if len(a.upPeers()) != 0 {
		t.Fatal("a met b with no address for it")
	}
	ready.Store(true)
	waitMeshed(t, a, b)
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
