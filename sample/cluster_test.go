package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/internal/phxclient"
)

// clusterNode is one sample process of a cluster. Unlike server it keeps
// every line it logs, so that a race report is never lost to a full
// buffer, and it can be killed without its exit counting as a failure.
type clusterNode struct {
	name   string
	url    string // http://host:port
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is reaped
	err    error         // what Wait returned, set before exited closes
	killed bool
	once   sync.Once

	mu    sync.Mutex
	lines []string // guarded by mu
}

// startNode starts the sample with the flags of startSample and args.
func startNode(t *testing.T, bin, db, name string, args ...string) *clusterNode {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-db", db, "-secret", testSecret}, args...)...)
	cmd.Dir = ".." // where sample/assets is, as for `go run ./sample`
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{name: name, cmd: cmd, exited: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		// A Reader, not a Scanner: a line past the Scanner's limit would
		// stop the reading, and the process would block on a full pipe.
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimSuffix(line, "\n"); line != "" {
				n.mu.Lock()
				n.lines = append(n.lines, line)
				n.mu.Unlock()
				if m := listening.FindStringSubmatch(line); m != nil {
					select {
					case urls <- m[1]:
					default:
					}
				}
			}
			if err != nil {
				break
			}
		}
		n.err = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			t.Logf("%s's log:\n%s", n.name, n.log())
		}
	})
	select {
	case n.url = <-urls:
	case <-n.exited:
		t.Fatalf("%s exited at start: %v", name, n.err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start listening", name)
	}
	return n
}

func (n *clusterNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// kill ends the process as kill -9 does: its peers hear no goodbye.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	n.killed = true
	n.name += " (killed)"
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.checkRaces(t)
}

// stop sends SIGTERM and waits for a clean exit. It may run on several
// goroutines at once, for different nodes.
func (n *clusterNode) stop(t *testing.T) {
	n.once.Do(func() {
		if n.killed {
			return
		}
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
			t.Errorf("%s did not stop on SIGTERM", n.name)
			return
		}
		var exit *exec.ExitError
		switch {
		case errors.As(n.err, &exit) && exit.ExitCode() == 66:
			t.Errorf("%s exited with status 66: the race detector found a data race", n.name)
		case n.err != nil:
			t.Errorf("%s exited with %v", n.name, n.err)
		}
		n.checkRaces(t)
	})
}

func (n *clusterNode) checkRaces(t *testing.T) {
	if strings.Contains(n.log(), "DATA RACE") {
		t.Errorf("%s logged a DATA RACE", n.name)
	}
}

type clusterView struct {
	Node        string         `json:"node"`
	Addr        string         `json:"addr"`
	Incarnation string         `json:"incarnation"`
	Ready       bool           `json:"ready"`
	Peers       []cluster.Peer `json:"peers"`
	Stats       cluster.Stats  `json:"stats"`
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func getJSON(u string, v any) error {
	resp, err := httpClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (n *clusterNode) view() (clusterView, error) {
	var v clusterView
	err := getJSON(n.url+"/api/cluster", &v)
	return v, err
}

func (n *clusterNode) mustView(t *testing.T) clusterView {
	t.Helper()
	v, err := n.view()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sees says whether n's view has each of peers up; a peer written
// "name@incarnation" must be up in that run.
func (n *clusterNode) sees(peers ...string) (bool, string) {
	v, err := n.view()
	if err != nil {
		return false, err.Error()
	}
	for _, want := range peers {
		name, inc, _ := strings.Cut(want, "@")
		if !slices.ContainsFunc(v.Peers, func(p cluster.Peer) bool {
			return p.Node == name && p.Up && (inc == "" || inc == p.Incarnation)
		}) {
			return false, fmt.Sprintf("%s sees %+v", n.name, v.Peers)
		}
	}
	return true, ""
}

// seesDown says whether n's view has peer known and down.
func (n *clusterNode) seesDown(peer string) (bool, string) {
	v, err := n.view()
	if err != nil {
		return false, err.Error()
	}
	i := slices.IndexFunc(v.Peers, func(p cluster.Peer) bool { return p.Node == peer && !p.Up })
	return i >= 0, fmt.Sprintf("%s sees %+v", n.name, v.Peers)
}

// waitFor polls cond until it holds. The machine is shared and slow, so
// deadlines are generous, and a timeout says what was last seen.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; %s", what, d, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// presenceList is a presence_state payload, or one half of a diff, down
// to what the test looks at.
type presenceList map[string]struct {
	Metas []struct {
		Ref string `json:"phx_ref"`
	} `json:"metas"`
}

type presenceDiff struct {
	Joins  presenceList `json:"joins"`
	Leaves presenceList `json:"leaves"`
}

// member is a user's connection to one node, read on a goroutine of its
// own: it keeps what the test asks about, as the frames come.
type member struct {
	user string
	c    *phxclient.Client
	read chan struct{} // closed when the reader has ended

	mu      sync.Mutex
	replies map[string]string // "topic ref" → status
	history bool
	// The room:lobby presence as the JS client computes it (key →
	// phx_refs): diffs that come before the state wait for it, as there.
	state   presenceList // the first presence_state, as pushed
	pending []presenceDiff
	present map[string]map[string]bool
	joins   map[string]int // presence_diff joins seen, by key
	leaves  map[string]int // presence_diff leaves seen, by key
	got     []int          // the i of every bench:x msg, as they came
	dms     []string       // the payload of every dm, as it came
	bad     []string       // frames that made no sense
}

func connect(t *testing.T, n *clusterNode, user string) *member {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	if err := getJSON(n.url+"/api/token?user_id="+url.QueryEscape(user), &tok); err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(n.url, "http") + "/socket/websocket?vsn=2.0.0&token=" + url.QueryEscape(tok.Token)
	c, _, err := phxclient.Dial(ws, nil)
	if err != nil {
		t.Fatalf("%s connecting to %s: %v", user, n.name, err)
	}
	m := &member{user: user, c: c, read: make(chan struct{}), replies: map[string]string{},
		joins: map[string]int{}, leaves: map[string]int{}}
	go m.readLoop()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-m.read:
		case <-time.After(10 * time.Second):
			t.Errorf("%s's connection did not close", user)
		}
	})
	return m
}

func (m *member) readLoop() {
	defer close(m.read)
	for {
		msg, err := m.c.Next(time.Minute)
		switch {
		case errors.Is(err, phxclient.ErrTimeout):
			continue
		case errors.Is(err, phxclient.ErrClosed):
			return
		case err != nil:
			m.mu.Lock()
			m.bad = append(m.bad, err.Error())
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		if err := m.handle(msg); err != nil {
			m.bad = append(m.bad, fmt.Sprintf("%s %s %s: %v", msg.Topic, msg.Event, msg.Payload, err))
		}
		m.mu.Unlock()
	}
}

// handle takes one message in; m.mu is held.
func (m *member) handle(msg phxclient.Message) error {
	switch msg.Event {
	case "phx_reply":
		var r struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(msg.Payload, &r); err != nil {
			return err
		}
		var ref string
		if err := json.Unmarshal([]byte(msg.Ref), &ref); err != nil {
			return err
		}
		m.replies[msg.Topic+" "+ref] = r.Status
	case "history":
		m.history = true
	case "presence_state":
		var s presenceList
		if err := json.Unmarshal(msg.Payload, &s); err != nil {
			return err
		}
		if m.state != nil {
			return errors.New("a second presence_state")
		}
		m.state = s
		m.present = map[string]map[string]bool{}
		m.apply(s, true)
		for _, d := range m.pending {
			m.applyDiff(d)
		}
		m.pending = nil
	case "presence_diff":
		var d presenceDiff
		if err := json.Unmarshal(msg.Payload, &d); err != nil {
			return err
		}
		for k := range d.Joins {
			m.joins[k]++
		}
		for k := range d.Leaves {
			m.leaves[k]++
		}
		if m.state == nil {
			m.pending = append(m.pending, d)
		} else {
			m.applyDiff(d)
		}
	case "dm":
		m.dms = append(m.dms, string(msg.Payload))
	case "msg":
		var p struct {
			I *int `json:"i"`
		}
		if err := json.Unmarshal(msg.Payload, &p); err != nil || p.I == nil {
			return errors.New("not a bench message")
		}
		m.got = append(m.got, *p.I)
	}
	return nil
}

func (m *member) applyDiff(d presenceDiff) {
	m.apply(d.Joins, true)
	m.apply(d.Leaves, false)
}

func (m *member) apply(l presenceList, join bool) {
	for k, p := range l {
		refs := m.present[k]
		if refs == nil {
			refs = map[string]bool{}
			m.present[k] = refs
		}
		for _, meta := range p.Metas {
			if join {
				refs[meta.Ref] = true
			} else {
				delete(refs, meta.Ref)
			}
		}
		if len(refs) == 0 {
			delete(m.present, k)
		}
	}
}

// presence returns the keys m's client shows, each with its count of
// metas: "ann×1 bob×1".
func (m *member) presence() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []string
	for k, refs := range m.present {
		ks = append(ks, fmt.Sprintf("%s×%d", k, len(refs)))
	}
	slices.Sort(ks)
	return strings.Join(ks, " ")
}

func (m *member) lock() func() {
	m.mu.Lock()
	return m.mu.Unlock
}

func (m *member) join(t *testing.T, topic, ref string) {
	t.Helper()
	if err := m.c.Send(fmt.Sprintf(`[%q,%q,%q,"phx_join",{}]`, ref, ref, topic)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, m.user+" joining "+topic, func() (bool, string) {
		defer m.lock()()
		st, ok := m.replies[topic+" "+ref]
		return ok, fmt.Sprintf("reply %q, bad frames %q", st, m.bad)
	})
	defer m.lock()()
	if st := m.replies[topic+" "+ref]; st != "ok" {
		t.Fatalf("%s joining %s: %s", m.user, topic, st)
	}
}

// joinLobby joins room:lobby and waits for what follows a join there:
// history, then the presence state.
func (m *member) joinLobby(t *testing.T) {
	t.Helper()
	m.join(t, "room:lobby", "1")
	waitFor(t, 10*time.Second, m.user+"'s history and presence_state", func() (bool, string) {
		defer m.lock()()
		return m.history && m.state != nil, fmt.Sprintf("history %v, state %v, bad frames %q", m.history, m.state, m.bad)
	})
}

// broadcast pushes bench:x broadcasts of i = from … to-1, in order.
func (m *member) broadcast(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := m.c.Send(fmt.Sprintf(`["2","b%d","bench:x","broadcast",{"i":%d}]`, i, i)); err != nil {
			t.Fatalf("%s pushing %d: %v", m.user, i, err)
		}
	}
}

// waitGot waits for n bench messages and checks they are 0 … n-1, each
// once and in order.
func (m *member) waitGot(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%s receiving %d broadcasts", m.user, n), func() (bool, string) {
		defer m.lock()()
		return len(m.got) >= n, fmt.Sprintf("%d received, bad frames %q", len(m.got), m.bad)
	})
	defer m.lock()()
	for i, got := range m.got {
		if got != i {
			t.Fatalf("%s: broadcast %d arrived as the %dth (of %d): %v…", m.user, got, i, len(m.got), m.got[max(0, i-3):min(len(m.got), i+4)])
		}
	}
	if len(m.got) != n {
		t.Fatalf("%s: %d broadcasts, want %d", m.user, len(m.got), n)
	}
}

// checkRelayed waits for n's relay counters to pass those of before by
// sent broadcasts, each carried by one frame per peer up.
func checkRelayed(t *testing.T, n *clusterNode, before cluster.Stats, sent, peersUp uint64) {
	t.Helper()
	// The counters follow the frames' sending, which the other nodes'
	// clients may see first: poll briefly.
	waitFor(t, 5*time.Second, n.name+"'s relay counters", func() (bool, string) {
		v, err := n.view()
		if err != nil {
			return false, err.Error()
		}
		relayed := v.Stats.BroadcastsRelayed - before.BroadcastsRelayed
		frames := v.Stats.BroadcastFrames - before.BroadcastFrames
		return relayed == sent && frames == peersUp*relayed,
			fmt.Sprintf("%d broadcasts relayed in %d frames since, want %d in %d", relayed, frames, sent, peersUp*sent)
	})
}

func checkReceived(t *testing.T, n *clusterNode, before cluster.Stats, want uint64) {
	t.Helper()
	v := n.mustView(t)
	if got := v.Stats.BroadcastsReceived - before.BroadcastsReceived; got != want || v.Stats.FramesDropped != 0 {
		t.Errorf("%s received %d broadcasts (want %d) and dropped %d frames", n.name, got, want, v.Stats.FramesDropped)
	}
}

// TestClusterOfThreeSamples runs three sample processes as one cluster,
// as `make cluster` does, and checks what a user of the chat relies on:
// presence and broadcasts span the nodes, with no loss, duplicate or
// reordering; a node killed is seen gone within the down period and the
// others carry on; restarted, it rejoins with no duplicate or ghost in
// anyone's presence; and every node stops cleanly, with no data race.
func TestClusterOfThreeSamples(t *testing.T) {
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")

	// Fixed cluster ports, so that a restarted node comes back at the
	// address its peers know, and one -peers list for every node. The
	// listeners stay open until all three are picked, so that no port is
	// picked twice.
	var addrs []string
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	peers := strings.Join(addrs, ",")
	start := func(name, addr string) *clusterNode {
		return startNode(t, bin, db, name, "-node", name, "-cluster-addr", addr, "-peers", peers, "-cluster-secret", "a-cluster-secret")
	}
	began := time.Now()
	n1, n2, n3 := start("n1", addrs[0]), start("n2", addrs[1]), start("n3", addrs[2])
	for _, c := range []struct {
		n      *clusterNode
		others []string
	}{{n1, []string{"n2", "n3"}}, {n2, []string{"n1", "n3"}}, {n3, []string{"n1", "n2"}}} {
		waitFor(t, 20*time.Second, c.n.name+" meeting the others", func() (bool, string) { return c.n.sees(c.others...) })
	}
	for i, n := range []*clusterNode{n1, n2, n3} {
		if v := n.mustView(t); v.Node != n.name || v.Addr != addrs[i] {
			t.Errorf("%s's /api/cluster names it %s at %s, want %s", n.name, v.Node, v.Addr, addrs[i])
		}
	}
	for _, n := range []*clusterNode{n1, n2, n3} {
		var v nodeView
		if err := getJSON(n.url+"/api/node", &v); err != nil || v != (nodeView{Node: n.name, Nodes: 3, Up: 3}) {
			t.Errorf("%s's /api/node: %+v %v", n.name, v, err)
		}
	}
	oldInc := n3.mustView(t).Incarnation
	t.Logf("three nodes up and met in %v", time.Since(began).Round(time.Millisecond))

	// Presence spans the nodes.
	ann, bob, cid := connect(t, n1, "ann"), connect(t, n2, "bob"), connect(t, n3, "cid")
	members := []*member{ann, bob, cid}
	for _, m := range members {
		m.joinLobby(t)
	}
	for _, m := range members {
		waitFor(t, 15*time.Second, m.user+" seeing everyone", func() (bool, string) {
			p := m.presence()
			return p == "ann×1 bob×1 cid×1", p
		})
	}

	// A direct message from node 1 reaches its recipient on node 3, once.
	if err := ann.c.Send(`["1","dm1","room:lobby","dm",{"to":"cid","body":"over there?"}]`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "cid's dm from ann", func() (bool, string) {
		defer cid.lock()()
		return len(cid.dms) == 1, fmt.Sprint(cid.dms)
	})
	if got := func() string { defer cid.lock()(); return cid.dms[0] }(); got != `{"body":"over there?","from":"ann"}` {
		t.Errorf("cid's dm: %s", got)
	}

	// Broadcasts span the nodes: all of them, once, in order.
	for _, m := range members {
		m.join(t, "bench:x", "2")
	}
	s1, s2, s3 := n1.mustView(t).Stats, n2.mustView(t).Stats, n3.mustView(t).Stats
	ann.broadcast(t, 0, 1000)
	for _, m := range members {
		m.waitGot(t, 1000)
	}
	checkRelayed(t, n1, s1, 1000, 2)
	checkReceived(t, n2, s2, 1000)
	checkReceived(t, n3, s3, 1000)
	t.Logf("1,000 broadcasts on three nodes after %v", time.Since(began).Round(time.Millisecond))

	// kill -9: no goodbye, so n1 and n2 must find n3 silent, in 3 missed
	// heartbeats; cid leaves their clients' presence then, not later.
	ann.mu.Lock()
	annLeft := ann.leaves["cid"]
	ann.mu.Unlock()
	bob.mu.Lock()
	bobLeft := bob.leaves["cid"]
	bob.mu.Unlock()
	killed := time.Now()
	n3.kill(t)
	for _, c := range []struct {
		m    *member
		left int
	}{{ann, annLeft}, {bob, bobLeft}} {
		waitFor(t, 8*time.Second-time.Since(killed), c.m.user+" seeing cid leave", func() (bool, string) {
			defer c.m.lock()()
			return c.m.leaves["cid"] > c.left, fmt.Sprintf("cid left %d times", c.m.leaves["cid"])
		})
		if p := c.m.presence(); p != "ann×1 bob×1" {
			t.Fatalf("%s's presence once cid left: %s", c.m.user, p)
		}
	}
	t.Logf("cid left %v after the kill", time.Since(killed).Round(time.Millisecond))
	cid.mu.Lock()
	if len(cid.got) != 1000 {
		t.Errorf("cid received %d broadcasts, want 1000", len(cid.got))
	}
	cid.mu.Unlock()
	for _, n := range []*clusterNode{n1, n2} {
		waitFor(t, 5*time.Second, n.name+" seeing n3 down", func() (bool, string) { return n.seesDown("n3") })
	}

	// The two left carry on, and nothing goes to the dead.
	s2 = n2.mustView(t).Stats
	bob.broadcast(t, 1000, 1500)
	ann.waitGot(t, 1500)
	bob.waitGot(t, 1500)
	checkRelayed(t, n2, s2, 500, 1)

	// n3 again, a new run at the same address: its peers take it for
	// what it is, and cid, back, is in everyone's presence once.
	ann.mu.Lock()
	annJoined := ann.joins["cid"]
	ann.mu.Unlock()
	bob.mu.Lock()
	bobJoined := bob.joins["cid"]
	bob.mu.Unlock()
	n3 = start("n3", addrs[2])
	inc := n3.mustView(t).Incarnation
	if inc == oldInc {
		t.Fatalf("n3's incarnation %s again after a restart", inc)
	}
	run := "n3@" + inc
	waitFor(t, 20*time.Second, "n1 meeting n3's new run", func() (bool, string) { return n1.sees("n2", run) })
	waitFor(t, 20*time.Second, "n2 meeting n3's new run", func() (bool, string) { return n2.sees("n1", run) })
	waitFor(t, 20*time.Second, "n3 meeting the others", func() (bool, string) { return n3.sees("n1", "n2") })
	cid = connect(t, n3, "cid")
	members = append(members, cid)
	cid.joinLobby(t)
	for _, c := range []struct {
		m      *member
		joined int
	}{{ann, annJoined}, {bob, bobJoined}} {
		waitFor(t, 15*time.Second, c.m.user+" seeing cid back", func() (bool, string) {
			defer c.m.lock()()
			return c.m.joins["cid"] > c.joined, fmt.Sprintf("cid joined %d times", c.m.joins["cid"])
		})
		if p := c.m.presence(); p != "ann×1 bob×1 cid×1" {
			t.Errorf("%s's presence once cid is back: %s", c.m.user, p)
		}
	}
	waitFor(t, 15*time.Second, "cid seeing everyone on n3's new run", func() (bool, string) {
		p := cid.presence()
		return strings.Contains(p, "ann×") && strings.Contains(p, "bob×"), p
	})
	if p := cid.presence(); p != "ann×1 bob×1 cid×1" {
		t.Errorf("cid's presence on n3's new run: %s", p)
	}
	// What a newcomer is given, as the node has it, not as a client
	// computes it from diffs.
	for _, c := range []struct {
		n    *clusterNode
		user string
	}{{n1, "eve"}, {n2, "fay"}} {
		m := connect(t, c.n, c.user)
		m.joinLobby(t)
		m.mu.Lock()
		var got []string
		for k, p := range m.state {
			got = append(got, fmt.Sprintf("%s×%d", k, len(p.Metas)))
		}
		m.mu.Unlock()
		slices.Sort(got)
		if want := "ann×1 bob×1 cid×1 " + c.user + "×1"; strings.Join(got, " ") != want {
			t.Errorf("presence_state on %s: %s, want %s", c.n.name, strings.Join(got, " "), want)
		}
		m.c.Close()
	}

	// Every node stops on SIGTERM, at once, as a deploy would stop them.
	var wg sync.WaitGroup
	for _, n := range []*clusterNode{n1, n2, n3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop(t)
		}()
	}
	wg.Wait()
	for _, n := range []*clusterNode{n1, n2, n3} {
		if !strings.Contains(n.log(), `msg="cluster: left"`) {
			t.Errorf("%s did not leave the cluster on SIGTERM", n.name)
		}
	}
	for _, m := range members {
		m.mu.Lock()
		if len(m.bad) > 0 {
			t.Errorf("%s's frames that made no sense: %q", m.user, m.bad)
		}
		m.mu.Unlock()
	}
	t.Logf("done in %v", time.Since(began).Round(time.Millisecond))
}
