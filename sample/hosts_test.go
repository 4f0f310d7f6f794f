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
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/netns"
)

const (
	hostHTTPPort       = "4000"
	hostClusterPort    = "7000"
	hostsClusterSecret = "a-cluster-secret-shared-by-the-hosts"
	hostsAdminSecret   = "an-admin-secret-for-the-broadcast-api"
	// hostsDrainPeriod is the sample's shutdown timeout: a node given SIGTERM
	// exits within it.
	hostsDrainPeriod = 10 * time.Second
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
// messages and logs.
func (h *hostNet) start(i int, label, node, db, peers string) *clusterNode {
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
	// startNode puts its own -addr (loopback) first: the last one given
	// wins.
	n := startNode(h.t, h.wrapper(i), filepath.Join(h.dir, db), label, args...)
	// It logs the address it listens on, all interfaces ([::]): the
	// client reaches it at its host's.
	n.url = "http://" + net.JoinHostPort(h.net.IP(i), hostHTTPPort)
	return n
}

// startMesh starts node ni on host i, for each i, all given every node's
// address, and waits until each sees every other up.
func (h *hostNet) startMesh(count int) []*clusterNode {
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
	// costs its wait once, not once per node.
	h.t.Cleanup(func() { hostsStopTogether(h.t, nodes...) })
	started := time.Now()
	hostsWaitMesh(h.t, 10*time.Second, nodes...)
	h.t.Logf("%d nodes met %v after the last started", count, time.Since(started).Round(time.Millisecond))
	return nodes
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
// checks each exits cleanly within the drain period.
func hostsStopAll(t *testing.T, nodes ...*clusterNode) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			n.stop(t) // status 0, or the test fails
			if d := time.Since(began); d > hostsDrainPeriod {
				t.Errorf("%s took %v to stop on SIGTERM, past the drain period (%v)", n.name, d.Round(time.Millisecond), hostsDrainPeriod)
			} else {
				t.Logf("%s stopped %v after SIGTERM", n.name, d.Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
}

// hostsStopTogether stops the nodes at once, as their cleanups would
// one after the other.
func hostsStopTogether(t *testing.T, nodes ...*clusterNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop(t)
		}()
	}
	wg.Wait()
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

// TestHostsMesh: three nodes on three hosts meet within seconds, each
// naming itself at its advertised address; a client of node 1 receives
// what is posted on node 3 and the reverse; and SIGTERM stops each
// cleanly.
func TestHostsMesh(t *testing.T) {
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
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
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	run3 := fmt.Sprintf("n3@%v", n3.mustView(t).Incarnation)
	ms := hostsMembers(t, []string{"ann", "bob", "cid"}, n1, n2, n3)
	ann, bob, cid := ms[0], ms[1], ms[2]
	t.Cleanup(func() { h.net.Heal(3) }) // before the nodes stop

	cut := time.Now()
	h.net.Cut(3)
	// At once, while node 3 is not yet known silent: what goes to it is
	// lost in the cut, and must hold nothing else up.
	hostsMustPost(t, n1, 0, 50)
	hostsMustPost(t, n2, 50, 100)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100})
	}
	t.Logf("1 and 2 exchanged 100 broadcasts %v after the cut", time.Since(cut).Round(time.Millisecond))
	for _, n := range []*clusterNode{n1, n2} {
		waitFor(t, 15*time.Second, n.name+" seeing n3 down", func() (bool, string) { return n.seesDown("n3") })
	}
	t.Logf("n3 down on both %v after the cut", time.Since(cut).Round(time.Millisecond))
	hostsMustPost(t, n1, 100, 150)
	hostsMustPost(t, n2, 150, 200)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100}, [2]int{100, 150}, [2]int{150, 200})
	}

	healed := time.Now()
	h.net.Heal(3)
	waitFor(t, 15*time.Second, "n1 seeing n3 up again", func() (bool, string) { return n1.sees("n2", run3) })
	waitFor(t, 15*time.Second, "n2 seeing n3 up again", func() (bool, string) { return n2.sees("n1", run3) })
	waitFor(t, 15*time.Second, "n3 seeing n1 and n2 up again", func() (bool, string) { return n3.sees("n1", "n2") })
	t.Logf("n3 up again %v after the heal", time.Since(healed).Round(time.Millisecond))
	hostsMustPost(t, n3, 200, 250)
	hostsMustPost(t, n1, 250, 300)
	for _, m := range []*member{ann, bob, cid} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{200, 250}, [2]int{250, 300})
	}
}

// TestHostsFrozenNode: node 3 stopped (SIGSTOP), nodes 1 and 2 find it
// down and exchange broadcasts with no loss; continued (SIGCONT), it is
// up again, the same run, and broadcasts cross both ways.
func TestHostsFrozenNode(t *testing.T) {
	h := newHostNet(t, 3)
	nodes := h.startMesh(3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	run3 := fmt.Sprintf("n3@%v", n3.mustView(t).Incarnation)
	ms := hostsMembers(t, []string{"ann", "bob", "cid"}, n1, n2, n3)
	ann, bob, cid := ms[0], ms[1], ms[2]
	// Before the nodes stop: a stopped process takes no SIGTERM.
	t.Cleanup(func() { _ = n3.cmd.Process.Signal(syscall.SIGCONT) })

	frozen := time.Now()
	if err := n3.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	hostsMustPost(t, n1, 0, 50)
	hostsMustPost(t, n2, 50, 100)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100})
	}
	t.Logf("1 and 2 exchanged 100 broadcasts %v after the freeze", time.Since(frozen).Round(time.Millisecond))
	for _, n := range []*clusterNode{n1, n2} {
		waitFor(t, 15*time.Second, n.name+" seeing n3 down", func() (bool, string) { return n.seesDown("n3") })
	}
	t.Logf("n3 down on both %v after the freeze", time.Since(frozen).Round(time.Millisecond))
	hostsMustPost(t, n1, 100, 150)
	hostsMustPost(t, n2, 150, 200)
	for _, m := range []*member{ann, bob} {
		hostsWaitRanges(t, m, 10*time.Second, [2]int{0, 50}, [2]int{50, 100}, [2]int{100, 150}, [2]int{150, 200})
	}

	thawed := time.Now()
	if err := n3.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "n1 seeing n3 up again", func() (bool, string) { return n1.sees("n2", run3) })
	waitFor(t, 15*time.Second, "n2 seeing n3 up again", func() (bool, string) { return n2.sees("n1", run3) })
	waitFor(t, 15*time.Second, "n3 seeing n1 and n2 up", func() (bool, string) { return n3.sees("n1", "n2") })
	t.Logf("n3 up again %v after SIGCONT", time.Since(thawed).Round(time.Millisecond))
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

// hostsForwarder relays TCP connections made to its listener to target, and
// counts them.
type hostsForwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool // guarded by mu; nil once closed
	count int
}

// hostsForward listens on addr and relays what comes to target, until the
// test ends.
func hostsForward(t *testing.T, addr, target string) *hostsForwarder {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &hostsForwarder{ln: ln, target: target, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *hostsForwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.relay(c)
		}()
	}
}

// track keeps c, to close at the end; false once the forwarder is closed.
func (f *hostsForwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *hostsForwarder) relay(in net.Conn) {
	defer in.Close()
	if !f.track(in) {
		return
	}
	out, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	if !f.track(out) {
		return
	}
	f.mu.Lock()
	f.count++
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(out, in)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(in, out)
		done <- struct{}{}
	}()
	<-done // one way ended: end both
	in.Close()
	out.Close()
	<-done
}

func (f *hostsForwarder) relayed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (f *hostsForwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
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
	n1 := h.start(1, "n1", "n1", "n1.db", fwd.ln.Addr().String())
	t.Cleanup(func() { hostsStopTogether(t, n1, n2) })
	started := time.Now()
	hostsWaitMesh(t, 15*time.Second, n1, n2)
	t.Logf("met %v after n1 started, through %d forwarded connections", time.Since(started).Round(time.Millisecond), fwd.relayed())
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
