package netns

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echo serves, on host i, a TCP echo on port 7777 until the test ends.
func echo(t *testing.T, n *Net, i int) string {
	t.Helper()
	addr := net.JoinHostPort(n.IP(i), "7777")
	ln, err := n.Listen(i, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return addr
}

// roundTrip writes msg on c and reads it back.
func roundTrip(c net.Conn, msg string, within time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	return readBack(c, msg, within)
}

func readBack(c net.Conn, msg string, within time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(within))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return errors.New("echoed " + strconv.Quote(string(got)) + ", sent " + strconv.Quote(msg))
	}
	return nil
}

// TestTwoHostsTalk: hosts reach each other and the client over TCP; Cut
// stops it in both directions, silently (a connection open across the
// cut is not reset); Heal brings it back, the open connection included.
func TestTwoHostsTalk(t *testing.T) {
	n := New(t, 2)
	if n.ClientIP() != strings.TrimSuffix(n.IP(1), "1")+"254" {
		t.Fatalf("client %s, host 1 %s: not one /24", n.ClientIP(), n.IP(1))
	}
	out, err := n.Command(1, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " "+n.IP(1)+"/24 ") {
		t.Fatalf("host 1's eth0: %v\n%s", err, out)
	}
	addr := echo(t, n, 2)

	c, err := n.Dial(1, "tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("host 1 to host 2: %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "hello", 5*time.Second); err != nil {
		t.Fatalf("host 1 to host 2: %v", err)
	}
	fromClient, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the client to host 2: %v", err)
	}
	_ = fromClient.Close()

	n.Cut(2)
	carrier := func() string {
		out, err := n.Command(2, "ip", "-o", "link", "show", "eth0").CombinedOutput()
		if err != nil {
			t.Fatalf("host 2's eth0: %v\n%s", err, out)
		}
		return string(out)
	}
	if l := carrier(); !strings.Contains(l, "NO-CARRIER") {
		t.Errorf("host 2's eth0 across the cut: %s, want NO-CARRIER", l)
	}
	if c2, err := n.Dial(1, "tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("host 1 reached host 2 across the cut")
	}
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("the client reached host 2 across the cut")
	}
	// Host 2 cannot get out either.
	if c2, err := n.Dial(2, "tcp", net.JoinHostPort(n.IP(1), "7777"), time.Second); err == nil {
		c2.Close()
		t.Fatal("host 2 reached host 1 across the cut")
	}
	// Written across the cut: nothing comes back, and nothing breaks.
	if _, err := io.WriteString(c, "across"); err != nil {
		t.Fatalf("writing across the cut: %v", err)
	}
	if err := readBack(c, "across", 500*time.Millisecond); err == nil {
		t.Fatal("an echo came back across the cut")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("reading across the cut: %v, want a timeout", err)
	}

	healed := time.Now()
	n.Heal(2)
	if l := carrier(); strings.Contains(l, "NO-CARRIER") {
		t.Errorf("host 2's eth0 after the heal: %s", l)
	}
	var c3 net.Conn
	for {
		if c3, err = n.Dial(1, "tcp", addr, time.Second); err == nil {
			break
		}
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("host 1 to host 2 after the heal: %v", err)
		}
	}
	defer c3.Close()
	if err := roundTrip(c3, "again", 5*time.Second); err != nil {
		t.Fatalf("host 1 to host 2 after the heal: %v", err)
	}
	// The connection open across the cut gets its echo once TCP
	// retransmits.
	if err := readBack(c, "across", 15*time.Second); err != nil {
		t.Fatalf("the connection open across the cut: %v", err)
	}
	t.Logf("reachable again %v after the heal", time.Since(healed).Round(time.Millisecond))
}

// TestCleanupLeavesNothing: once the test that made a Net is over, no
// namespace, link or lock of its tag is left.
func TestCleanupLeavesNothing(t *testing.T) {
	var n *Net
	var names []string
	ran := t.Run("net", func(t *testing.T) {
		n = New(t, 3)
		names = found()[n.tag]
		if c, err := n.Dial(3, "tcp", net.JoinHostPort(n.ClientIP(), "1"), time.Second); err == nil {
			c.Close() // nothing listens there: refused, but reached
		}
	})
	if !ran {
		t.Fatal("the subtest failed")
	}
	if n == nil {
		t.Skip("the subtest skipped: no namespaces here")
	}
	slices.Sort(names)
	want := []string{"link " + n.rootLink(), "namespace " + n.Namespace(1), "namespace " + n.Namespace(2), "namespace " + n.Namespace(3), "namespace " + n.switchNS()}
	if !slices.Equal(names, want) {
		t.Errorf("while it lived, the Net had %q, want %q", names, want)
	}
	if left := found()[n.tag]; len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
	if _, err := os.Stat(lockPath(n.tag)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file %s: %v, want it gone", lockPath(n.tag), err)
	}
	out, err := exec.Command("ip", "-4", "-o", "route", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), n.Subnet()) {
		t.Errorf("a route to %s is left:\n%s", n.Subnet(), out)
	}
}

// TestLeftoversRemoved: what a dead run left (namespaces, a link, a
// process in a namespace) under the tag New picks, or under any tag that
// no one holds, is removed before New builds; what a live holder's tag
// bears is not touched.
func TestLeftoversRemoved(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Skip(err)
	}
	mine := pidTag()
	other, held := (mine+1000)%tags, (mine+2000)%tags
	// Held while the leftovers are staged, so that the sweep of another
	// process's New does not take them away half made; held's for good.
	locks := map[int]*os.File{}
	for _, tag := range []int{mine, other, held} {
		f, err := tryLock(tag)
		if err != nil || f == nil {
			for tag, f := range locks {
				release(tag, f)
			}
			t.Skipf("tag %d is in use (%v): cannot stage a dead run's leftovers", tag, err)
		}
		locks[tag] = f
	}
	t.Cleanup(func() {
		for _, tag := range []int{mine, other, held} {
			if f := locks[tag]; f != nil {
				removeTag(t, tag)
				release(tag, f)
			}
		}
	})
	// A dead run of tag mine: a switch, a host with a process in it, the
	// root link; of tag other, a host; of tag held, a host, and a lock
	// that this test holds.
	sw := prefix + strconv.Itoa(mine) + "-sw"
	h1 := prefix + strconv.Itoa(mine) + "-h1"
	stage := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Skipf("cannot stage leftovers: %v", err)
		}
	}
	stage("netns", "add", sw)
	stage("netns", "add", h1)
	stage("link", "add", prefix+strconv.Itoa(mine), "type", "veth", "peer", "name", "c", "netns", sw)
	stage("netns", "add", prefix+strconv.Itoa(other)+"-h1")
	stage("netns", "add", prefix+strconv.Itoa(held)+"-h1")
	sleeper := exec.Command("ip", "netns", "exec", h1, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = sleeper.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = sleeper.Process.Kill()
		<-exited
	})
	// Until ip netns exec has entered h1, the sleeper is not in it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "pids", h1).Output()
		if slices.Contains(strings.Fields(string(out)), strconv.Itoa(sleeper.Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never showed in " + h1)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The run that left them is dead: its locks go.
	for _, tag := range []int{mine, other} {
		release(tag, locks[tag])
		delete(locks, tag)
	}
	t.Cleanup(func() { // should New not have removed them
		for _, tag := range []int{mine, other} {
			if f, _ := tryLock(tag); f != nil {
				removeTag(t, tag)
				release(tag, f)
			}
		}
	})
	n := New(t, 2)
	select {
	case <-exited:
		t.Logf("the process left in %s: %v", h1, waitErr)
	case <-time.After(5 * time.Second):
		t.Error("the process left in " + h1 + " still runs")
	}
	if left := found()[other]; len(left) > 0 {
		t.Errorf("a dead run's leftovers of tag %d are still there: %q", other, left)
	}
	if left := found()[held]; !slices.Equal(left, []string{"namespace " + prefix + strconv.Itoa(held) + "-h1"}) {
		t.Errorf("a held tag's things: %q, want them untouched", left)
	}
	if n.tag == mine {
		// Rebuilt under the same names; New's own check proved it works.
		t.Logf("New took tag %d again", mine)
	} else if left := found()[mine]; len(left) > 0 {
		t.Errorf("a dead run's leftovers of tag %d are still there: %q", mine, left)
	}
	if c, err := n.Dial(1, "tcp", net.JoinHostPort(n.IP(2), "1"), 2*time.Second); err == nil {
		c.Close()
	} else if !errors.Is(err, errRefused) {
		t.Errorf("host 1 to host 2: %v, want refused (reached, nothing listening)", err)
	}
}

var errRefused = syscall.ECONNREFUSED

// TestSeveralNets: Nets alive at once in one process get tags and
// subnets of their own, and each works, used at the same time as the
// others.
func TestSeveralNets(t *testing.T) {
	nets := []*Net{New(t, 2), New(t, 2), New(t, 2)}
	var subnets []string
	for _, n := range nets {
		subnets = append(subnets, n.Subnet())
	}
	slices.Sort(subnets)
	if len(slices.Compact(slices.Clone(subnets))) != len(subnets) {
		t.Errorf("subnets shared: %q", subnets)
	}
	errs := make(chan error, len(nets))
	for _, n := range nets {
		addr := echo(t, n, 2)
		go func() {
			c, err := n.Dial(1, "tcp", addr, 5*time.Second)
			if err == nil {
				err = roundTrip(c, n.Subnet(), 5*time.Second)
				c.Close()
			}
			errs <- err
		}()
	}
	for range nets {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestDoStaysInItsNamespace: the test's own goroutines are not moved by
// Do, and a thread Do used is not reused.
func TestDoStaysInItsNamespace(t *testing.T) {
	n := New(t, 1)
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Skip(err)
	}
	var inside string
	if err := n.Do(1, func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == self {
		t.Fatalf("Do ran in the test's namespace %s", self)
	}
	// Many goroutines, many threads: none of them is in host 1's.
	done := make(chan string)
	for range 50 {
		go func() {
			runtime.Gosched()
			s, _ := os.Readlink("/proc/thread-self/ns/net")
			done <- s
		}()
	}
	for range 50 {
		if s := <-done; s == inside {
			t.Fatal("a goroutine of the test ran in host 1's namespace")
		}
	}
	if mustReadlink(t, "/proc/thread-self/ns/net") != self {
		t.Fatal("the test's goroutine changed namespace")
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSubnetsClearOfTheMachines: a tag is passed over when its subnet
// holds or is held by a route or address of the machine's, except, as a
// last resort, by one wider than a /24.
func TestSubnetsClearOfTheMachines(t *testing.T) {
	cidrs := func(ss ...string) []*net.IPNet {
		var ps []*net.IPNet
		for _, s := range ss {
			_, p, err := net.ParseCIDR(s)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	tag := 254*4 + 6 // 10.5.7.0/24
	if x, y := tagSubnet(tag); x != 5 || y != 7 {
		t.Fatalf("tag %d is 10.%d.%d.0/24, want 10.5.7.0/24", tag, x, y)
	}
	for _, c := range []struct {
		taken        []string
		strict, wide bool
	}{
		{nil, true, true},
		{[]string{"192.0.2.0/24", "10.5.8.0/24", "10.4.0.0/16"}, true, true},
		{[]string{"10.5.7.0/24"}, false, false},   // the same subnet
		{[]string{"10.5.7.128/25"}, false, false}, // a part of it
		{[]string{"10.5.7.9/32"}, false, false},   // an address in it
		{[]string{"10.5.0.0/16"}, false, true},    // a wider route
		{[]string{"10.0.0.0/8"}, false, true},
	} {
		taken := cidrs(c.taken...)
		if got := subnetFree(tag, taken, false); got != c.strict {
			t.Errorf("%v: clear %v, want %v", c.taken, got, c.strict)
		}
		if got := subnetFree(tag, taken, true); got != c.wide {
			t.Errorf("%v: clear of all but wider routes %v, want %v", c.taken, got, c.wide)
		}
	}
}
