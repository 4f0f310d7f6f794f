package main

// Sample nodes on separate hosts: each node a process in a network
// namespace of its own (internal/netns), listening on 0.0.0.0 and
// advertising its host's address, and the test process a client host on
// the same bridge. The tests skip where namespaces cannot be made (not
// root, not Linux, no ip command).
//
// The sample has no flag for the cluster's heartbeat interval or down
// period, so these tests run with the defaults (1 s, down after 3 missed):
// a node cut off or frozen is down within about 3 s.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/internal/netns"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/internal/tcpproxy"
)

const (
	hostHTTPPort       = "4000"
	hostClusterPort    = "7000"
	hostsClusterSecret = "a-cluster-secret-shared-by-the-hosts"
	hostsAdminSecret   = "an-admin-secret-for-the-broadcast-api"
	// hostsDrainPeriod is the sample's shutdown timeout: a node given SIGTERM
	// exits within it.
	hostsDrainPeriod = 10 * time.Second
	// hostsHeartbeat is the sample's cluster heartbeat interval, the
	// cluster's default; nodes meet within two.
	hostsHeartbeat  = time.Second
	hostsMeetWithin = 2 * hostsHeartbeat
)

// hostNet is sample nodes on the hosts of a netns.Net.
type hostNet struct {
	t   *testing.T
	net *netns.Net
	bin string // the race-enabled sample
	dir string // databases and the wrappers
}

// newHostNet makes a network of hosts, or skips the test, then builds the
// sample.
func newHostNet(t *testing.T, hosts int) *hostNet {
	t.Helper()
	n := netns.New(t, hosts)
	return &hostNet{t: t, net: n, bin: buildSample(t), dir: t.TempDir()}
}

// clusterAddr is where host i's node listens for its peers.
func (h *hostNet) clusterAddr(i int) string {
	return net.JoinHostPort(h.net.IP(i), hostClusterPort)
}

// peers is the -peers list of the nodes on hosts.
func (h *hostNet) peers(hosts ...int) string {
	var ps []string
	for _, i := range hosts {
		ps = append(ps, h.clusterAddr(i))
	}
	return strings.Join(ps, ",")
}

// wrapper is a script that runs the sample on host i: startNode starts
// it in the sample's place, with the sample's arguments. ip netns exec
// execs the sample, so that the process startNode signals is the
// sample's own.
func (h *hostNet) wrapper(i int) string {
	path := filepath.Join(h.dir, fmt.Sprintf("sample-on-host%d", i))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := h.net.Command(i, h.bin)
	words := []string{"exec", hostsShellQuote(cmd.Path)}
	for _, a := range cmd.Args[1:] {
		words = append(words, hostsShellQuote(a))
	}
	script := "#!/bin/sh\n" + strings.Join(words, " ") + ` "$@"` + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		h.t.Fatal(err)
	}
	return path
}

func hostsShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// start runs the sample on host i as node, with its own database db,
// meeting peers (none when empty); label names it in the test's
// messages and logs. Flags in more come last, and so override the
// others (the last of a flag given wins): another -cluster-secret, say.
func (h *hostNet) start(i int, label, node, db, peers string, more ...string) *clusterNode {
	h.t.Helper()
	args := []string{
		"-addr", net.JoinHostPort("0.0.0.0", hostHTTPPort),
		"-node", node,
		"-cluster-addr", net.JoinHostPort("0.0.0.0", hostClusterPort),
		"-cluster-advertise", h.clusterAddr(i),
		"-cluster-secret", hostsClusterSecret,
		"-admin-secret", hostsAdminSecret,
	}
	if peers != "" {
		args = append(args, "-peers", peers)
	}
	args = append(args, more...)
	// startNode puts its own -addr (loopback) first: the last one given
	// wins.
	n := startNode(h.t, h.wrapper(i), filepath.Join(h.dir, db), label, args...)
	// At the end, unless stopped before: SIGTERM, and status 0 within the
	// drain period.
	h.t.Cleanup(func() { hostsStop(h.t, n) })
	// It logs the address it listens on, all interfaces ([::]): the
	// client reaches it at its host's.
	n.url = "http://" + net.JoinHostPort(h.net.IP(i), hostHTTPPort)
	return n
}

// startMesh starts node ni on host i, for each i, all given every node's
// address, and waits until each sees every other up.
func (h *hostNet) startMesh(count int) []*clusterNode {
	h.t.Helper()
	nodes, _ := h.startMeshTimed(count)
	return nodes
}

// startMeshTimed is startMesh, and says how long after the last node's
// cluster listener started (the time of its "cluster: listening" line)
// the test saw every node see every other up.
func (h *hostNet) startMeshTimed(count int) ([]*clusterNode, time.Duration) {
	h.t.Helper()
	var hosts []int
	for i := 1; i <= count; i++ {
		hosts = append(hosts, i)
	}
	peers := h.peers(hosts...)
	var nodes []*clusterNode
	for _, i := range hosts {
		name := "n" + strconv.Itoa(i)
		nodes = append(nodes, h.start(i, name, name, name+".db", peers))
	}
	// At the end, all at once: a node that does not stop on SIGTERM
	// costs its wait once, not once per node. The nodes in the slice
	// returned then, if the test has put others in their place.
	h.t.Cleanup(func() { hostsStopAll(h.t, nodes...) })
	hostsWaitMesh(h.t, 10*time.Second, nodes...)
	met := time.Now()
	var last time.Time
	for _, n := range nodes {
		at, ok := hostsLogTime(n, `msg="cluster: listening"`)
		if !ok {
			h.t.Fatalf("%s logged no \"cluster: listening\" line:\n%s", n.name, n.log())
		}
		if at.After(last) {
			last = at
		}
	}
	d := met.Sub(last)
	h.t.Logf("%d nodes met %v after the last cluster listener started", count, d.Round(time.Millisecond))
	return nodes, d
}

// hostsLogLines are the lines n logged that hold every one of subs.
func hostsLogLines(n *clusterNode, subs ...string) []string {
	var lines []string
	for _, l := range strings.Split(n.log(), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			lines = append(lines, l)
		}
	}
	return lines
}

// hostsLogTime is the time of the first line n logged that holds every
// one of subs.
func hostsLogTime(n *clusterNode, subs ...string) (time.Time, bool) {
	for _, l := range hostsLogLines(n, subs...) {
		if at, ok := hostsLineTime(l); ok {
			return at, true
		}
	}
	return time.Time{}, false
}

// hostsLineTime is the time a log line says it was logged (time=, to the
// millisecond, cut not rounded).
func hostsLineTime(line string) (time.Time, bool) {
	v, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = strings.Cut(v, " ")
	at, err := time.Parse(time.RFC3339Nano, v)
	return at, err == nil
}

// hostsWaitMesh waits until each node sees every other up.
func hostsWaitMesh(t *testing.T, within time.Duration, nodes ...*clusterNode) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, n := range nodes {
		var others []string
		for _, o := range nodes {
			if o != n {
				others = append(others, o.name)
			}
		}
		waitFor(t, time.Until(deadline), n.name+" seeing "+strings.Join(others, " and ")+" up", func() (bool, string) {
			return n.sees(others...)
		})
	}
}

// hostsPost makes broadcasts msg {"i": from … to-1} on bench:x through n's
// POST /api/broadcast, one after the other.
func hostsPost(n *clusterNode, from, to int) error {
	for i := from; i < to; i++ {
		body := fmt.Sprintf(`{"topic":"bench:x","event":"msg","payload":{"i":%d}}`, i)
		req, err := http.NewRequest(http.MethodPost, n.url+"/api/broadcast", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+hostsAdminSecret)
		resp, err := httpClient.Do(req)
		if err != nil {
			return fmt.Errorf("posting %d on %s: %w", i, n.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("posting %d on %s: %s %s", i, n.name, resp.Status, b)
		}
	}
	return nil
}

func hostsMustPost(t *testing.T, n *clusterNode, from, to int) {
	t.Helper()
	if err := hostsPost(n, from, to); err != nil {
		t.Fatal(err)
	}
}

// hostsWaitRanges waits until m has received each of the ranges [from, to)
// of bench messages, and checks each came whole, once and in order.
// Messages outside the ranges are not looked at, and there is no order
// between ranges (between publishers).
func hostsWaitRanges(t *testing.T, m *member, within time.Duration, ranges ...[2]int) {
	t.Helper()
	of := func(got []int, r [2]int) []int {
		var in []int
		for _, i := range got {
			if i >= r[0] && i < r[1] {
				in = append(in, i)
			}
		}
		return in
	}
	waitFor(t, within, fmt.Sprintf("%s receiving %v", m.user, ranges), func() (bool, string) {
		defer m.lock()()
		var seen []string
		all := true
		for _, r := range ranges {
			n := len(of(m.got, r))
			seen = append(seen, fmt.Sprintf("%d of %v", n, r))
			all = all && n >= r[1]-r[0]
		}
		return all, fmt.Sprintf("received %s; bad frames %q", strings.Join(seen, ", "), m.bad)
	})
	defer m.lock()()
	for _, r := range ranges {
		in := of(m.got, r)
		for k, i := range in {
			if i != r[0]+k {
				t.Fatalf("%s: of %v, %d came as the %dth: %v…", m.user, r, i, k, in[max(0, k-3):min(len(in), k+4)])
			}
		}
		if len(in) != r[1]-r[0] {
			t.Fatalf("%s: %d messages of %v, want %d", m.user, len(in), r, r[1]-r[0])
		}
	}
}

// hostsStatus is the status GET url answers.
func hostsStatus(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func hostsWaitReady(t *testing.T, n *clusterNode, within time.Duration) {
	t.Helper()
	waitFor(t, within, n.name+"'s /readyz answering 200", func() (bool, string) {
		code, err := hostsStatus(n.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, "it answers " + strconv.Itoa(code)
	})
}

// hostsStopAll sends every node SIGTERM at once, as a deploy would, and
// checks each exits with status 0 within the drain period.
func hostsStopAll(t *testing.T, nodes ...*clusterNode) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostsStop(t, n)
		}()
	}
	wg.Wait()
}

// hostsStop sends n SIGTERM and checks it exits with status 0 (stop
// fails the test otherwise) within the drain period, and says how long it
// took. A node that has exited already, stopped or killed before, is not
// timed; one that died by itself is reported by stop.
func hostsStop(t *testing.T, n *clusterNode) time.Duration {
	t.Helper()
	select {
	case <-n.exited:
		n.stop(t)
		return 0
	default:
	}
	began := time.Now()
	n.stop(t)
	d := time.Since(began)
	if d > hostsDrainPeriod {
		t.Errorf("%s took %v to stop on SIGTERM, past the drain period (%v)", n.name, d.Round(time.Millisecond), hostsDrainPeriod)
	} else {
		t.Logf("%s stopped %v after SIGTERM", n.name, d.Round(time.Millisecond))
	}
	return d
}

// hostsMembers connects user i to nodes[i] and joins each to bench:x.
func hostsMembers(t *testing.T, users []string, nodes ...*clusterNode) []*member {
	t.Helper()
	var ms []*member
	for i, n := range nodes {
		m := connect(t, n, users[i])
		m.join(t, "bench:x", "2")
		ms = append(ms, m)
	}
	return ms
}

// TestHostsMesh: three nodes on three hosts meet within two heartbeat
// intervals of the last one's cluster listener starting, each naming
// itself at its advertised address; a client of node 1 receives what is
// posted on node 3 and the reverse; and SIGTERM stops each with status 0
// within the drain period.
func TestHostsMesh(t *testing.T) {
	h := newHostNet(t, 3)
	nodes, met := h.startMeshTimed(3)
	if met > hostsMeetWithin {
		t.Errorf("the nodes met %v after the last cluster listener started, past two heartbeat intervals (%v)", met.Round(time.Millisecond), hostsMeetWithin)
	}
	n1, n3 := nodes[0], nodes[2]
	for i, n := range nodes {
		if v := n.mustView(t); v.Node != n.name || v.Addr != h.clusterAddr(i+1) {
			t.Errorf("%s's /api/cluster names it %s at %s, want %s at %s", n.name, v.Node, v.Addr, n.name, h.clusterAddr(i+1))
		}
	}
	ms := hostsMembers(t, []string{"ann", "cid"}, n1, n3)
	ann, cid := ms[0], ms[1]

	hostsMustPost(t, n3, 0, 100)
	ann.waitGot(t, 100)
	cid.waitGot(t, 100)
	hostsMustPost(t, n1, 100, 200)
	ann.waitGot(t, 200)
	cid.waitGot(t, 200)

	hostsStopAll(t, nodes...)
}

// TestHostsPartition: host 3's link cut, nodes 1 and 2 find node 3 down
// and exchange broadcasts with no loss, from the moment of the cut on;
// healed, node 3 is up again (the same run) on both, and broadcasts
// cross again both ways.
func TestHostsPartition(t *testing.T) {
	testHostsNode3CutOff(t, "the cut", func(h *hostNet, _ *clusterNode) { h.net.Cut(3) },
		func(h *hostNet, _ *clusterNode) { h.net.Heal(3) })
}

// TestHostsFrozenNode: node 3 stopped (SIGSTOP), nodes 1 and 2 find it
// down and exchange broadcasts with no loss; continued (SIGCONT), it is
// up again, the same run, and broadcasts cross both ways.
func TestHostsFrozenNode(t *testing.T) {
	// An error (the process gone) shows as node 3 never going down or
	// never coming back.
	signal := func(sig syscall.Signal) func(*hostNet, *clusterNode) {
		return func(_ *hostNet, n3 *clusterNode) { _ = n3.cmd.Process.Signal(sig) }
	}
	testHostsNode3CutOff(t, "the freeze", signal(syscall.SIGSTOP), signal(syscall.SIGCONT))
}

// testHostsNode3CutOff runs three nodes, cuts node 3 off with cut and
// brings it back with restore (also at the end of the test, before the
// nodes stop: a stopped process takes no SIGTERM).
func testHostsNode3CutOff(t *testing.T, what string, cut, restore func(*hostNet, *clusterNode)) {
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	run3 := fmt.Sprintf("n3@%v", n3.mustView(t).Incarnation)
	ms := hostsMembers(t, []string{"ann", "bob", "cid"}, n1, n2, n3)
	ann, bob, cid := ms[0], ms[1], ms[2]
	t.Cleanup(func() { restore(h, n3) })

	began := time.Now()
	cut(h, n3)
	// At once, while node 3 is not yet known silent: what goes to it is
	// lost or held, and must hold nothing else up.
	hostsMustPost(t, n1, 0, 50)
	hostsMustPost(t, n2, 50, 100)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100})
	}
	t.Logf("1 and 2 exchanged 100 broadcasts %v after %s", time.Since(began).Round(time.Millisecond), what)
	for _, n := range []*clusterNode{n1, n2} {
		waitFor(t, 15*time.Second, n.name+" seeing n3 down", func() (bool, string) { return n.seesDown("n3") })
	}
	t.Logf("n3 down on both %v after %s", time.Since(began).Round(time.Millisecond), what)
	hostsMustPost(t, n1, 100, 150)
	hostsMustPost(t, n2, 150, 200)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100}, [2]int{100, 150}, [2]int{150, 200})
	}

	restored := time.Now()
	restore(h, n3)
	waitFor(t, 15*time.Second, "n1 seeing n3 up again", func() (bool, string) { return n1.sees("n2", run3) })
	waitFor(t, 15*time.Second, "n2 seeing n3 up again", func() (bool, string) { return n2.sees("n1", run3) })
	waitFor(t, 15*time.Second, "n3 seeing n1 and n2 up again", func() (bool, string) { return n3.sees("n1", "n2") })
	t.Logf("n3 up again %v after it was back", time.Since(restored).Round(time.Millisecond))
	hostsMustPost(t, n3, 200, 250)
	hostsMustPost(t, n1, 250, 300)
	for _, m := range []*member{ann, bob, cid} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{200, 250}, [2]int{250, 300})
	}
}

// TestHostsRestartUnderTraffic: node 2 killed (kill -9) and started
// again, the same name at the same address; once its /readyz answers 200
// (it has met its peers), 100 broadcasts posted on node 1 and 100 on
// node 2 at the same time reach every client of the room, on every node:
// all 200, each node's in order.
func TestHostsRestartUnderTraffic(t *testing.T) {
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ms := hostsMembers(t, []string{"ann", "cid"}, n1, n3)

	n2.kill(t)
	restarted := time.Now()
	n2 = h.start(2, "n2", "n2", "n2.db", h.peers(1, 2, 3))
	hostsWaitReady(t, n2, 20*time.Second)
	t.Logf("n2 ready %v after its restart", time.Since(restarted).Round(time.Millisecond))
	ms = append(ms, hostsMembers(t, []string{"bob"}, n2)...)

	errs := make(chan error, 2)
	go func() { errs <- hostsPost(n1, 0, 100) }()
	go func() { errs <- hostsPost(n2, 100, 200) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		hostsWaitRanges(t, m, 15*time.Second, [2]int{0, 100}, [2]int{100, 200})
		m.mu.Lock()
		got := len(m.got)
		m.mu.Unlock()
		if got != 200 {
			t.Errorf("%s received %d messages, want 200", m.user, got)
		}
	}
}

// hostsForward relays the TCP connections made to addr to target, until
// the test ends, keeping what each connection's client sent.
func hostsForward(t *testing.T, addr, target string) *tcpproxy.Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := tcpproxy.Serve(ln, target)
	t.Cleanup(f.Close)
	return f
}

// TestHostsSeedThroughForwarder: node 1's only seed is a TCP forwarder on
// the client host, in front of node 2's cluster listener, an address
// that is not node 2's own; node 2 has no seed. They mesh, and 2,000
// broadcasts posted on node 2 reach a client of node 1, all and in
// order.
func TestHostsSeedThroughForwarder(t *testing.T) {
	h := newHostNet(t, 2)
	fwd := hostsForward(t, net.JoinHostPort(h.net.ClientIP(), "0"), h.clusterAddr(2))
	n2 := h.start(2, "n2", "n2", "n2.db", "")
	n1 := h.start(1, "n1", "n1", "n1.db", fwd.Addr())
	t.Cleanup(func() { hostsStopAll(t, n1, n2) })
	started := time.Now()
	hostsWaitMesh(t, 15*time.Second, n1, n2)
	t.Logf("met %v after n1 started, through %d forwarded connections", time.Since(started).Round(time.Millisecond), fwd.Conns())
	for _, n := range []*clusterNode{n1, n2} {
		for _, p := range n.mustView(t).Peers {
			t.Logf("%s sees %s at %s, up %v", n.name, p.Node, p.Addr, p.Up)
		}
	}
	ms := hostsMembers(t, []string{"ann", "bob"}, n1, n2)

	posted := time.Now()
	hostsMustPost(t, n2, 0, 2000)
	for _, m := range ms {
		m.waitGot(t, 2000)
	}
	t.Logf("2,000 broadcasts posted and received in %v", time.Since(posted).Round(time.Millisecond))
}

// TestHostsImpostor: a fourth process, on a fourth host, started with the
// name of a live node (n2) and the same peers, does not displace it:
// nodes 1 and 3 keep the real n2 up, its broadcasts keep reaching node
// 1's client, the impostor's /readyz never answers 200, and it logs an
// error saying the name is in use.
func TestHostsImpostor(t *testing.T) {
	h := newHostNet(t, 4)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	real2 := fmt.Sprintf("n2@%v", n2.mustView(t).Incarnation)
	ann := hostsMembers(t, []string{"ann"}, n1)[0]

	imp := h.start(4, "impostor (n2 on host 4)", "n2", "impostor.db", h.peers(1, 2, 3))
	began := time.Now()
	inUse := func() bool {
		for _, l := range strings.Split(imp.log(), "\n") {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, "is in use") {
				return true
			}
		}
		return false
	}
	// Watched for twice the down period at least, and until the impostor
	// has said why it is not in: the state of every side, again and
	// again, while n2's broadcasts go on.
	sent := 0
	for time.Since(began) < 6*time.Second || !inUse() {
		if time.Since(began) > 20*time.Second {
			t.Fatal("the impostor logged no ERROR line saying its name is in use")
		}
		hostsMustPost(t, n2, sent, sent+1)
		sent++
		for _, n := range []*clusterNode{n1, n3} {
			if ok, seen := n.sees(real2); !ok {
				t.Fatalf("%v after the impostor started, %s no longer has the real n2 up: %s", time.Since(began).Round(time.Millisecond), n.name, seen)
			}
		}
		code, err := hostsStatus(imp.url + "/readyz")
		if err == nil && code == http.StatusOK {
			t.Fatalf("the impostor's /readyz answers 200 %v after it started, while n2 lives", time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond) // a pace for the posts, not a wait for anything
	}
	hostsWaitRanges(t, ann, 10*time.Second, [2]int{0, sent})
	t.Logf("watched for %v: %d broadcasts from n2 reached ann, and n1 and n3 kept it up", time.Since(began).Round(time.Millisecond), sent)
}

// hostsConn is a client's connection to a node, joined to bench:x: it
// keeps every msg {"p": publisher, "k": number} that comes, with the time
// it was read, and the times its join was answered and its end read.
type hostsConn struct {
	user string
	node string // the node's name, for messages
	c    *phxclient.Client
	done chan struct{} // closed once the reader has read the end

	mu     sync.Mutex
	joined time.Time // guarded by mu: when the join's ok was read; zero before
	closed time.Time // guarded by mu: when the end was read; zero before
	got    []hostsMsg
	bad    []string
}

type hostsMsg struct {
	p, k int
	at   time.Time
}

// hostsDial connects user to the node at base (http://host:port) and joins
// bench:x, as a phoenix client does, and returns once the join is answered
// ok.
func hostsDial(t *testing.T, base, node, user string) *hostsConn {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	if err := getJSON(base+"/api/token?user_id="+url.QueryEscape(user), &tok); err != nil {
		t.Fatalf("%s's token from %s: %v", user, node, err)
	}
	ws := "ws" + strings.TrimPrefix(base, "http") + "/socket/websocket?vsn=2.0.0&token=" + url.QueryEscape(tok.Token)
	c, _, err := phxclient.Dial(ws, nil)
	if err != nil {
		t.Fatalf("%s connecting to %s: %v", user, node, err)
	}
	hc := &hostsConn{user: user, node: node, c: c, done: make(chan struct{})}
	go hc.read()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-hc.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s's connection to %s did not close", user, node)
		}
	})
	if err := c.Send(`["1","1","bench:x","phx_join",{}]`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, user+" joining bench:x on "+node, func() (bool, string) {
		defer hc.lock()()
		return !hc.joined.IsZero(), fmt.Sprintf("bad frames %q", hc.bad)
	})
	return hc
}

func (hc *hostsConn) lock() func() {
	hc.mu.Lock()
	return hc.mu.Unlock
}

func (hc *hostsConn) read() {
	defer close(hc.done)
	for {
		msg, err := hc.c.Next(time.Minute)
		now := time.Now()
		switch {
		case errors.Is(err, phxclient.ErrTimeout):
			continue
		case errors.Is(err, phxclient.ErrClosed):
			hc.mu.Lock()
			hc.closed = now
			hc.mu.Unlock()
			return
		}
		hc.mu.Lock()
		switch {
		case err != nil:
			hc.bad = append(hc.bad, err.Error())
		case msg.Event == "phx_reply" && msg.Topic == "bench:x" && msg.Ref == `"1"`:
			var r struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(msg.Payload, &r); err != nil || r.Status != "ok" {
				hc.bad = append(hc.bad, fmt.Sprintf("join reply %s", msg.Payload))
			} else {
				hc.joined = now
			}
		case msg.Event == "msg":
			var m struct {
				P *int `json:"p"`
				K *int `json:"k"`
			}
			if err := json.Unmarshal(msg.Payload, &m); err != nil || m.P == nil || m.K == nil {
				hc.bad = append(hc.bad, fmt.Sprintf("msg %s", msg.Payload))
			} else {
				hc.got = append(hc.got, hostsMsg{*m.P, *m.K, now})
			}
		}
		hc.mu.Unlock()
	}
}

// from returns the messages of publisher p, as they came.
func (hc *hostsConn) from(p int) []hostsMsg {
	defer hc.lock()()
	var ms []hostsMsg
	for _, m := range hc.got {
		if m.p == p {
			ms = append(ms, m)
		}
	}
	return ms
}

// span is the time hc was joined: from its join's answer to its end
// (zero while open).
func (hc *hostsConn) span() hostsSpan {
	defer hc.lock()()
	return hostsSpan{hc.joined, hc.closed}
}

// checkOrder fails the test if the messages of a publisher came out of
// order or twice.
func (hc *hostsConn) checkOrder(t *testing.T) {
	t.Helper()
	defer hc.lock()()
	last := map[int]int{}
	for i, m := range hc.got {
		if l, ok := last[m.p]; ok && m.k <= l {
			t.Errorf("%s on %s: publisher %d's %d came after its %d (message %d of %d)", hc.user, hc.node, m.p, m.k, l, i, len(hc.got))
		}
		last[m.p] = m.k
	}
	if len(hc.bad) > 0 {
		t.Errorf("%s on %s: frames that made no sense: %q", hc.user, hc.node, hc.bad)
	}
}

// hostsSpan is a stretch of time, from its start to its end (zero: not
// ended).
type hostsSpan struct{ from, to time.Time }

// holds says a post begun at sent and answered at acked lies wholly in s.
func (s hostsSpan) holds(sent, acked time.Time) bool {
	return !sent.Before(s.from) && (s.to.IsZero() || acked.Before(s.to))
}

func hostsAnyHolds(spans []hostsSpan, sent, acked time.Time) bool {
	return slices.ContainsFunc(spans, func(s hostsSpan) bool { return s.holds(sent, acked) })
}

// hostsPosted is one POST /api/broadcast of msg {"p","k"}: when it was
// sent, and when its 202 came (zero if none did).
type hostsPosted struct {
	p, k        int
	sent, acked time.Time
	err         string
}

// hostsPublisher posts numbered messages on bench:x through one node's
// POST /api/broadcast, and keeps every post.
type hostsPublisher struct {
	p      int
	base   string
	client *http.Client

	mu    sync.Mutex
	posts []hostsPosted // guarded by mu
}

func newHostsPublisher(t *testing.T, p int, base string) *hostsPublisher {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &hostsPublisher{p: p, base: base, client: &http.Client{Timeout: 2 * time.Second, Transport: tr}}
}

func (pb *hostsPublisher) post(k int) hostsPosted {
	body := fmt.Sprintf(`{"topic":"bench:x","event":"msg","payload":{"p":%d,"k":%d}}`, pb.p, k)
	ps := hostsPosted{p: pb.p, k: k}
	req, err := http.NewRequest(http.MethodPost, pb.base+"/api/broadcast", strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+hostsAdminSecret)
		ps.sent = time.Now()
		var resp *http.Response
		if resp, err = pb.client.Do(req); err == nil {
			if resp.StatusCode == http.StatusAccepted {
				ps.acked = time.Now()
			} else {
				err = errors.New(resp.Status)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if err != nil {
		ps.err = err.Error()
	}
	pb.mu.Lock()
	pb.posts = append(pb.posts, ps)
	pb.mu.Unlock()
	return ps
}

func (pb *hostsPublisher) mustPost(t *testing.T, k int) hostsPosted {
	t.Helper()
	ps := pb.post(k)
	if ps.acked.IsZero() {
		t.Fatalf("posting %d on node %d: %s", k, pb.p, ps.err)
	}
	return ps
}

// run posts k = 0, 1, … one every interval until stop is closed, whether
// the node answers or not.
func (pb *hostsPublisher) run(stop <-chan struct{}, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for k := 0; ; k++ {
		pb.post(k)
		select {
		case <-stop:
			return
		case <-tk.C:
		}
	}
}

func (pb *hostsPublisher) all() []hostsPosted {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return slices.Clone(pb.posts)
}

// hostsDuplicates logs the skipped and dropped maps of every node, and of
// each node's peers, and returns what shows frames dropped as duplicates.
func hostsDuplicates(t *testing.T, when string, nodes ...*clusterNode) []string {
	t.Helper()
	var dups []string
	for _, n := range nodes {
		v, err := n.view()
		if err != nil {
			t.Errorf("%s, %s's /api/cluster: %v", when, n.name, err)
			continue
		}
		var ps []string
		for _, p := range v.Peers {
			ps = append(ps, fmt.Sprintf("%s(up %v, downs %d) skipped %v dropped %v", p.Node, p.Up, p.Downs, p.Skipped, p.Dropped))
			if d := p.Dropped[cluster.ReasonDuplicate]; d > 0 && p.Up {
				dups = append(dups, fmt.Sprintf("%s, %s dropped %d frames of %s (up) as duplicates", when, n.name, d, p.Node))
			}
		}
		t.Logf("%s, %s: skipped %v, dropped %v; %s", when, n.name, v.Stats.Skipped, v.Stats.Dropped, strings.Join(ps, "; "))
		if d := v.Stats.Dropped[cluster.ReasonDuplicate]; d > 0 {
			dups = append(dups, fmt.Sprintf("%s, %s dropped %d frames as duplicates", when, n.name, d))
		}
	}
	return dups
}

// TestHostsRollingRestart: three nodes, a client of the room on each and a
// publisher posting on each every 20 ms, while the nodes are restarted one
// at a time (SIGTERM, exit, started again under the same name at the same
// address, ready), each client joining again once its node is ready. A
// message posted on node i must reach the client on node j when its post
// (from the request sent to the 202 read) lies wholly within a run of
// node i and a run of node j, each from its /readyz's first 200 to its
// SIGTERM, and within the client's connection, from its join's answer to
// its end, node j's run and the connection lasting 100 ms past the 202 (a
// broadcast's time to reach node j): no broadcast is lost between nodes
// that are both up.
func TestHostsRollingRestart(t *testing.T) {
	const (
		every = 20 * time.Millisecond
		// Each phase lets this many of each publisher's messages reach
		// every client before the next restart.
		perPhase = 25
	)
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	began := time.Now()
	var events []string
	event := func(format string, args ...any) {
		events = append(events, fmt.Sprintf("%+8.3fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...)))
	}
	// runs[i] holds node i's runs, from ready to SIGTERM; conns[j] the
	// connections of node j's client, one per run.
	runs := make([][]hostsSpan, 4)
	conns := make([][]*hostsConn, 4)
	users := []string{"", "ann", "bob", "cid"}
	bases := make([]string, 4)
	for i := 1; i <= 3; i++ {
		n := nodes[i-1]
		bases[i] = n.url
		hostsWaitReady(t, n, 10*time.Second)
		runs[i] = append(runs[i], hostsSpan{from: time.Now()})
	}
	for j := 1; j <= 3; j++ {
		conns[j] = append(conns[j], hostsDial(t, bases[j], nodes[j-1].name, users[j]))
	}
	event("every node ready, every client joined")

	pubs := make([]*hostsPublisher, 4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		pubs[i] = newHostsPublisher(t, i, bases[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			pubs[i].run(stop, every)
		}()
	}
	stopPublishers := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopPublishers) // before the nodes stop

	// flowing waits until each client's current connection has perPhase
	// messages of each publisher.
	flowing := func(when string) {
		t.Helper()
		waitFor(t, 15*time.Second, "every client receiving from every node "+when, func() (bool, string) {
			var seen []string
			ok := true
			for j := 1; j <= 3; j++ {
				c := conns[j][len(conns[j])-1]
				for i := 1; i <= 3; i++ {
					got := len(c.from(i))
					ok = ok && got >= perPhase
					seen = append(seen, fmt.Sprintf("%s has %d of n%d's", c.user, got, i))
				}
			}
			return ok, strings.Join(seen, ", ")
		})
	}
	flowing("before any restart")
	dups := hostsDuplicates(t, "before any restart", nodes...)

	for j := 1; j <= 3; j++ {
		name := nodes[j-1].name
		c := conns[j][len(conns[j])-1]
		term := time.Now()
		runs[j][len(runs[j])-1].to = term
		event("%s sent SIGTERM", name)
		d := hostsStop(t, nodes[j-1])
		event("%s exited, %v after SIGTERM", name, d.Round(time.Millisecond))
		waitFor(t, 5*time.Second, c.user+"'s connection to "+name+" ending", func() (bool, string) {
			return !c.span().to.IsZero(), "it is open"
		})
		if code := c.c.CloseCode(); code != 1012 {
			t.Errorf("%s's connection to %s closed with %d, want 1012 (come back)", c.user, name, code)
		}
		event("%s's connection ended (%d), %v after SIGTERM", c.user, c.c.CloseCode(), c.span().to.Sub(term).Round(time.Millisecond))

		nodes[j-1] = h.start(j, name, name, name+".db", h.peers(1, 2, 3))
		event("%s listening again", name)
		hostsWaitReady(t, nodes[j-1], 20*time.Second)
		runs[j] = append(runs[j], hostsSpan{from: time.Now()})
		event("%s ready", name)
		conns[j] = append(conns[j], hostsDial(t, bases[j], name, users[j]))
		event("%s joined again", c.user)
		flowing("after " + name + "'s restart")
		dups = append(dups, hostsDuplicates(t, "after "+name+"'s restart", nodes...)...)
	}
	stopPublishers()
	event("publishers stopped")

	// What each client's connection was owed, by publisher: the posts
	// wholly within a run of both nodes and within the connection, the
	// receiving node's run and the connection lasting transit past the
	// post's answer. A broadcast answered as the receiving node begins
	// to stop is in flight to a node that is going: it may be lost there,
	// as any broadcast to a client that leaves.
	const transit = 100 * time.Millisecond
	type owedMsg struct {
		post hostsPosted
		conn *hostsConn
	}
	owed := func() map[[2]int][]owedMsg {
		m := map[[2]int][]owedMsg{}
		for i := 1; i <= 3; i++ {
			for _, ps := range pubs[i].all() {
				if ps.acked.IsZero() || !hostsAnyHolds(runs[i], ps.sent, ps.acked) {
					continue
				}
				for j := 1; j <= 3; j++ {
					if !hostsAnyHolds(runs[j], ps.sent, ps.acked.Add(transit)) {
						continue
					}
					for _, c := range conns[j] {
						if c.span().holds(ps.sent, ps.acked.Add(transit)) {
							m[[2]int{i, j}] = append(m[[2]int{i, j}], owedMsg{ps, c})
						}
					}
				}
			}
		}
		return m
	}()
	arrived := func(o owedMsg) bool {
		return slices.ContainsFunc(o.conn.from(o.post.p), func(m hostsMsg) bool { return m.k == o.post.k })
	}
	// The last messages may still be on their way to the open
	// connections; those to closed ones have come or never will.
	waitFor(t, 10*time.Second, "the messages owed to the clients' open connections", func() (bool, string) {
		missing := 0
		for _, list := range owed {
			for _, o := range list {
				if o.conn.span().to.IsZero() && !arrived(o) {
					missing++
				}
			}
		}
		return missing == 0, fmt.Sprintf("%d not arrived", missing)
	})

	for _, e := range events {
		t.Log(e)
	}
	var lost []string
	for i := 1; i <= 3; i++ {
		posts := pubs[i].all()
		failed := 0
		why := map[string]int{}
		for _, ps := range posts {
			if ps.acked.IsZero() {
				failed++
				why[hostsErrKind(ps.err)]++
			}
		}
		t.Logf("n%d's posts not answered 202: %v", i, why)
		for j := 1; j <= 3; j++ {
			list := owed[[2]int{i, j}]
			got := 0
			for _, o := range list {
				if arrived(o) {
					got++
					continue
				}
				c := o.conn.span()
				lost = append(lost, fmt.Sprintf("n%d's %d (sent %+.3fs, 202 %+.3fs) to %s on n%d (joined %+.3fs, ended %+.3fs)",
					i, o.post.k, o.post.sent.Sub(began).Seconds(), o.post.acked.Sub(began).Seconds(),
					o.conn.user, j, c.from.Sub(began).Seconds(), c.to.Sub(began).Seconds()))
			}
			all := 0
			for _, c := range conns[j] {
				all += len(c.from(i))
			}
			t.Logf("n%d → %s on n%d: owed %d, arrived %d (%d received in all; n%d made %d posts, %d not answered 202)",
				i, users[j], j, len(list), got, all, i, len(posts), failed)
		}
	}
	for j := 1; j <= 3; j++ {
		for _, c := range conns[j] {
			c.checkOrder(t)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d owed messages lost:\n%s", len(lost), strings.Join(lost, "\n"))
	}
	dups = append(dups, hostsDuplicates(t, "at the end", nodes...)...)
	for _, d := range dups {
		t.Error(d)
	}
}

// hostsErrKind shortens a post's error to its kind, for a tally.
func hostsErrKind(err string) string {
	for _, k := range []string{"connection refused", "connection reset", "EOF", "timeout", "400", "503"} {
		if strings.Contains(err, k) {
			return k
		}
	}
	return err
}

// TestHostsFrozenNodeInFlight: node 3 frozen (SIGSTOP), messages posted
// on node 1 before nodes 1 and 2 see it down, then after; continued
// (SIGCONT). As cluster/doc.go has it, what node 1 sent before it
// declared node 3 down reaches node 3's client when it resumes, late and
// in order, and nothing posted while it is down is sent to it. Checked:
// nothing posted after node 1 declared node 3 down (the time of its "peer
// down" line) reaches node 3's client, nor anything posted after the test
// saw both nodes see it down; what arrives arrives in order, once; and
// once node 3 is up again, what is posted reaches it. Logged: how many of
// the messages posted before node 1 declared node 3 down reached node 3's
// client after SIGCONT, and how late.
func TestHostsFrozenNodeInFlight(t *testing.T) {
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	run3 := fmt.Sprintf("n3@%v", n3.mustView(t).Incarnation)
	ann := hostsDial(t, n1.url, n1.name, "ann")
	cid := hostsDial(t, n3.url, n3.name, "cid")
	pub := newHostsPublisher(t, 1, n1.url)
	// Before the nodes stop: a stopped process takes no SIGTERM.
	t.Cleanup(func() { _ = n3.cmd.Process.Signal(syscall.SIGCONT) })
	has := func(c *hostsConn, from, to int) func() (bool, string) {
		return func() (bool, string) {
			n := 0
			for _, m := range c.from(1) {
				if m.k >= from && m.k < to {
					n++
				}
			}
			return n == to-from, fmt.Sprintf("%d of [%d, %d)", n, from, to)
		}
	}

	// Through, first: the link carries.
	k := 0
	for ; k < 10; k++ {
		pub.mustPost(t, k)
	}
	waitFor(t, 10*time.Second, "cid receiving n1's first messages", has(cid, 0, k))

	frozen := time.Now()
	if err := n3.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Posted while node 3 is frozen, one every 20 ms, until the test has
	// seen both nodes see it down.
	firstPre := k
	down := map[string]time.Time{}
	for len(down) < 2 {
		if time.Since(frozen) > 15*time.Second {
			t.Fatalf("n1 and n2 did not both see n3 down within 15s of its freeze: %v", down)
		}
		pub.mustPost(t, k)
		k++
		for _, n := range []*clusterNode{n1, n2} {
			if _, ok := down[n.name]; !ok {
				if ok, _ := n.seesDown("n3"); ok {
					down[n.name] = time.Now()
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // a pace for the posts, not a wait for anything
	}
	firstPost := k
	bothDown := time.Now()
	// Posted once both see it down.
	for ; k < firstPost+50; k++ {
		pub.mustPost(t, k)
	}
	waitFor(t, 10*time.Second, "ann receiving every message posted", has(ann, 0, k))

	thawed := time.Now()
	if err := n3.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "n1 seeing n3 up again", func() (bool, string) { return n1.sees("n2", run3) })
	waitFor(t, 15*time.Second, "n2 seeing n3 up again", func() (bool, string) { return n2.sees("n1", run3) })
	waitFor(t, 15*time.Second, "n3 seeing n1 and n2 up", func() (bool, string) { return n3.sees("n1", "n2") })
	upAgain := time.Now()
	// Once up again, what is posted reaches it; and by then, what was on
	// its way before the freeze has come, or never will (the link is in
	// order).
	firstAfter := k
	for ; k < firstAfter+20; k++ {
		pub.mustPost(t, k)
	}
	waitFor(t, 10*time.Second, "cid receiving what is posted once n3 is up again", has(cid, firstAfter, k))

	// When node 1 declared node 3 down, by its own log (to the
	// millisecond, cut): a post sent after the line's millisecond was
	// relayed after the decision.
	declared, ok := hostsLogTime(n1, `msg="cluster: peer down`, "node=n3")
	if !ok {
		t.Fatalf("n1 logged no \"peer down\" line about n3:\n%s", n1.log())
	}
	declared2, _ := hostsLogTime(n2, `msg="cluster: peer down`, "node=n3")
	posts := pub.all()
	got := map[int]hostsMsg{}
	for _, m := range cid.from(1) {
		got[m.k] = m
	}
	cid.checkOrder(t)
	ann.checkOrder(t)
	var before, beforeGot, whileDown, downGot, afterGot []int
	var lateMin, lateMax time.Duration
	for _, ps := range posts[firstPre:firstAfter] {
		m, arrived := got[ps.k]
		switch {
		case ps.k >= firstPost:
			if arrived {
				afterGot = append(afterGot, ps.k)
			}
		case !ps.sent.Before(declared.Add(time.Millisecond)):
			whileDown = append(whileDown, ps.k)
			if arrived {
				downGot = append(downGot, ps.k)
			}
		case ps.acked.Before(declared):
			before = append(before, ps.k)
			if arrived {
				beforeGot = append(beforeGot, ps.k)
				late := m.at.Sub(ps.acked)
				if len(beforeGot) == 1 || late < lateMin {
					lateMin = late
				}
				lateMax = max(lateMax, late)
			}
		}
	}
	rel := func(at time.Time) string { return fmt.Sprintf("%+.3fs", at.Sub(frozen).Seconds()) }
	t.Logf("from the freeze: n1 declared n3 down at %s, n2 at %s; the test saw both see it down at %s; SIGCONT at %s; n3 up again on every side at %s",
		rel(declared), rel(declared2), rel(bothDown), rel(thawed), rel(upAgain))
	t.Logf("posted on n1 while n3 was frozen and not yet seen down by both: %d (k %d…%d); %d of them answered 202 before n1 declared n3 down",
		firstPost-firstPre, firstPre, firstPost-1, len(before))
	if len(beforeGot) > 0 {
		t.Logf("of those %d, %d reached cid after SIGCONT (k %v), %v to %v after their 202",
			len(before), len(beforeGot), hostsRanges(beforeGot), lateMin.Round(time.Millisecond), lateMax.Round(time.Millisecond))
	} else {
		t.Logf("of those %d, none reached cid", len(before))
	}
	t.Logf("posted after n1 declared n3 down: %d before the test saw both see it down (k %s), %d after (k %d…%d); of these, cid received %d and %d",
		len(whileDown), hostsRanges(whileDown), firstAfter-firstPost, firstPost, firstAfter-1, len(downGot), len(afterGot))
	if len(downGot) > 0 {
		t.Errorf("posted after n1 declared n3 down, and yet received by cid: %v", hostsRanges(downGot))
	}
	if len(afterGot) > 0 {
		t.Errorf("posted after n1 and n2 both saw n3 down, and yet received by cid: %v", hostsRanges(afterGot))
	}
	for _, l := range hostsLogLines(n3, "cluster:") {
		t.Logf("n3: %s", l)
	}
}

// hostsRanges writes ks, ascending, as ranges: "10-57 60".
func hostsRanges(ks []int) string {
	ks = slices.Clone(ks)
	slices.Sort(ks)
	var out []string
	for i := 0; i < len(ks); {
		j := i
		for j+1 < len(ks) && ks[j+1] == ks[j]+1 {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%d-%d", ks[i], ks[j]))
		} else {
			out = append(out, strconv.Itoa(ks[i]))
		}
		i = j + 1
	}
	return strings.Join(out, " ")
}

// TestHostsReplay: node 1 meets node 2 through a forwarder on the client
// host that keeps what node 1 sends through it. Once a broadcast posted
// on node 1 has reached node 2's client, the bytes of each forwarded
// connection are played again into node 2's cluster listener, each over a
// new TCP connection from the client host: node 2's client receives
// nothing more, its broadcasts_received does not grow, and the two nodes
// stay up for each other, the same runs. Twice: with the forwarder node
// 1's seed alone (it carries the hello: the nodes then talk directly),
// and with node 2 advertising the forwarder's address too, so that every
// frame from node 1 to node 2, the broadcast's included, goes through it.
func TestHostsReplay(t *testing.T) {
	for _, c := range []struct {
		name      string
		advertise bool
	}{{"seed", false}, {"advertised", true}} {
		t.Run(c.name, func(t *testing.T) { testHostsReplay(t, c.advertise) })
	}
}

func testHostsReplay(t *testing.T, advertise bool) {
	h := newHostNet(t, 2)
	fwd := hostsForward(t, net.JoinHostPort(h.net.ClientIP(), "0"), h.clusterAddr(2))
	var more []string
	if advertise {
		more = []string{"-cluster-advertise", fwd.Addr()}
	}
	n2 := h.start(2, "n2", "n2", "n2.db", "", more...)
	n1 := h.start(1, "n1", "n1", "n1.db", fwd.Addr())
	t.Cleanup(func() { hostsStopAll(t, n1, n2) })
	hostsWaitMesh(t, 15*time.Second, n1, n2)
	run1 := "n1@" + n1.mustView(t).Incarnation
	run2 := "n2@" + n2.mustView(t).Incarnation
	for _, p := range n1.mustView(t).Peers {
		t.Logf("n1 sends to %s at %s", p.Node, p.Addr)
	}
	bob := hostsDial(t, n2.url, n2.name, "bob")
	pub := newHostsPublisher(t, 1, n1.url)
	size := func() int {
		n := 0
		for _, b := range fwd.Sent() {
			n += len(b)
		}
		return n
	}
	sizeBefore := size()
	pub.mustPost(t, 0)
	waitFor(t, 10*time.Second, "bob receiving n1's message", func() (bool, string) {
		n := len(bob.from(1))
		return n == 1, fmt.Sprintf("%d received", n)
	})
	before := n2.mustView(t).Stats
	// The frame is in the recording once n1 has written it, and n2 has
	// taken it: bob has it.
	if grew := size() - sizeBefore; advertise && grew == 0 {
		t.Fatal("n1 sent nothing through the forwarder with the broadcast")
	} else {
		t.Logf("n1 sent %d bytes through the forwarder with the broadcast", grew)
	}

	recs := fwd.Sent()
	var sizes []string
	for _, b := range recs {
		sizes = append(sizes, strconv.Itoa(len(b)))
	}
	t.Logf("%d connections forwarded; n1 sent %s bytes through them", len(recs), strings.Join(sizes, ", "))
	if len(recs) == 0 {
		t.Fatal("nothing went through the forwarder")
	}
	replayed := time.Now()
	for i, b := range recs {
		c, err := net.DialTimeout("tcp", h.clusterAddr(2), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Logf("replay %d: writing: %v", i, err)
		}
		// Then nothing more, and until n2 ends the connection: whatever
		// it makes of the bytes, it has made by then. A bound, in case it
		// does not.
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		back, err := io.Copy(io.Discard, c)
		t.Logf("replay %d: %d bytes written, %d read back, then %v", i, len(b), back, hostsEnd(err))
		c.Close()
	}
	// Watched a while, as a frame taken would be delivered within
	// milliseconds: nothing more reaches bob, and n2 takes no broadcast.
	for watch := time.Now(); time.Since(watch) < time.Second; time.Sleep(50 * time.Millisecond) {
		if n := len(bob.from(1)); n != 1 {
			t.Fatalf("bob received %d messages after the replay, want the 1 from before", n)
		}
		if v := n2.mustView(t).Stats; v.BroadcastsReceived != before.BroadcastsReceived {
			t.Fatalf("n2's broadcasts_received went from %d to %d with the replay", before.BroadcastsReceived, v.BroadcastsReceived)
		}
	}
	after := n2.mustView(t).Stats
	t.Logf("n2, before and after the replay: broadcasts received %d, %d; frames received %d, %d; dropped %v, %v; refused %v, %v",
		before.BroadcastsReceived, after.BroadcastsReceived, before.FramesReceived, after.FramesReceived,
		before.Dropped, after.Dropped, before.Refused, after.Refused)
	for _, l := range hostsLogLines(n2, "cluster:") {
		if at, ok := hostsLineTime(l); ok && !at.Before(replayed.Truncate(time.Millisecond)) {
			t.Logf("n2: %s", l)
		}
	}
	if ok, seen := n1.sees(run2); !ok {
		t.Errorf("n1 no longer has n2's run up after the replay: %s", seen)
	}
	if ok, seen := n2.sees(run1); !ok {
		t.Errorf("n2 no longer has n1's run up after the replay: %s", seen)
	}
	// And the link still carries: the next message comes, alone.
	pub.mustPost(t, 1)
	waitFor(t, 10*time.Second, "bob receiving n1's next message", func() (bool, string) {
		n := len(bob.from(1))
		return n == 2, fmt.Sprintf("%d received", n)
	})
	bob.checkOrder(t)
	if v := n2.mustView(t).Stats; v.BroadcastsReceived != before.BroadcastsReceived+1 {
		t.Errorf("n2's broadcasts_received went from %d to %d with one more message", before.BroadcastsReceived, v.BroadcastsReceived)
	}
}

// hostsEnd says how a read ended.
func hostsEnd(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "the end (n2 closed it)"
	case errors.As(err, &ne) && ne.Timeout():
		return "no end within the bound (n2 kept it open)"
	}
	return err.Error()
}

// TestHostsWrongSecret: three nodes, and a fourth on a fourth host with
// another cluster secret and the same peers. Watched for 12 s at least
// (past the 10 s after which a node that met nobody says it is ready
// anyway): no good node ever has it up; it never answers /readyz 200; it
// logs an ERROR saying it was refused by a peer and counts
// refused_by_peers.secret; each good node counts refused.secret and logs
// the refusal once, not once per attempt (at most once a minute per
// peer).
func TestHostsWrongSecret(t *testing.T) {
	h := newHostNet(t, 4)
	good := h.startMesh(3)
	var runs []string
	for _, n := range good {
		runs = append(runs, n.name+"@"+n.mustView(t).Incarnation)
	}
	bad := h.start(4, "n4 (another secret)", "n4", "n4.db", h.peers(1, 2, 3),
		"-cluster-secret", "another-cluster-secret-not-the-hosts-one")
	began := time.Now()
	ip4, addr4 := h.net.IP(4), h.clusterAddr(4)
	refusals := func(n *clusterNode) []string {
		return hostsLogLines(n, `msg="cluster: refused a peer"`, "peer="+ip4)
	}
	badErrors := func() []string { return hostsLogLines(bad, "level=ERROR", "refused by a peer") }
	var state string
	looks := 0
	for {
		var seen []string
		done := time.Since(began) >= 12*time.Second && len(badErrors()) > 0
		for i, n := range good {
			v := n.mustView(t)
			for _, p := range v.Peers {
				if (p.Node == "n4" || p.Addr == addr4) && p.Up {
					t.Fatalf("%v after n4 started, %s has it up: %+v", time.Since(began).Round(time.Millisecond), n.name, p)
				}
			}
			var others []string
			for k, r := range runs {
				if k != i {
					others = append(others, r)
				}
			}
			if ok, s := n.sees(others...); !ok {
				t.Fatalf("%v after n4 started, %s lost a good peer: %s", time.Since(began).Round(time.Millisecond), n.name, s)
			}
			lines := refusals(n)
			if len(lines) > 1 {
				t.Fatalf("%s logged the refusal of %s %d times in %v:\n%s", n.name, ip4, len(lines), time.Since(began).Round(time.Millisecond), strings.Join(lines, "\n"))
			}
			done = done && v.Stats.Refused[cluster.ReasonSecret] > 0 && len(lines) == 1
			seen = append(seen, fmt.Sprintf("%s refused %v, %d lines", n.name, v.Stats.Refused, len(lines)))
		}
		v := bad.mustView(t)
		done = done && v.Stats.RefusedByPeers[cluster.ReasonSecret] > 0
		for _, p := range v.Peers {
			if p.Up {
				t.Fatalf("n4 has %s up: %+v", p.Node, p)
			}
		}
		if ready, _ := hostsStatus(bad.url + "/readyz"); ready == http.StatusOK {
			t.Fatalf("%v after n4 started, it answers /readyz 200, cut off from its cluster", time.Since(began).Round(time.Millisecond))
		}
		looks++
		state = fmt.Sprintf("%s; n4 refused_by_peers %v, %d ERROR lines, /readyz 503 at each of %d looks",
			strings.Join(seen, ", "), v.Stats.RefusedByPeers, len(badErrors()), looks)
		if done {
			break
		}
		if time.Since(began) > 25*time.Second {
			t.Fatalf("not all seen within 25s: %s", state)
		}
		time.Sleep(100 * time.Millisecond) // a pace for the looks, not a wait for anything
	}
	t.Logf("after %v: %s", time.Since(began).Round(time.Millisecond), state)
	for _, n := range good {
		for _, l := range refusals(n) {
			t.Logf("%s: %s", n.name, l)
		}
	}
	for _, l := range badErrors() {
		t.Logf("n4: %s", l)
	}
}
