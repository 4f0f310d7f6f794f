package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// prefix starts every name a Net makes.
	prefix = "phxnet"
	// netnsDir is where ip netns keeps its named namespaces.
	netnsDir = "/run/netns"
	// lockDir holds a lock file per tag in use.
	lockDir = "/run/phx-netns"
	// tags is how many subnets there are: 10.X.Y.0/24, X and Y in 1…254.
	tags = 254 * 254
	// maxHosts leaves .254 to the client.
	maxHosts = 253
	// clientHost is the client's last byte.
	clientHost = 254
	// checkTimeout bounds each connection of New's check.
	checkTimeout = 5 * time.Second
)

// Net is a network of hosts made by New. Its methods other than Do,
// Listen, Dial, IP, ClientIP, Namespace and Command use t and must be
// called from the test's goroutine.
type Net struct {
	t     testing.TB
	tag   int
	hosts int
	lock  *os.File // the tag's lock file, flocked
}

// New builds a network of hosts (1 to 253) and removes it at the end of
// the test; it skips the test where it cannot. See the package doc for
// what it makes.
func New(t testing.TB, hosts int) *Net {
	t.Helper()
	if hosts < 1 || hosts > maxHosts {
		t.Fatalf("netns: %d hosts: want 1 to %d", hosts, maxHosts)
	}
	switch {
	case runtime.GOOS != "linux":
		t.Skipf("netns: network namespaces are Linux's; this is %s", runtime.GOOS)
	case os.Geteuid() != 0:
		t.Skip("netns: making network namespaces needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netns: no ip command (iproute2) on this machine")
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Skipf("netns: %v", err)
	}
	sweep(t)
	n := &Net{t: t, hosts: hosts}
	var err error
	n.tag, n.lock, err = acquire(pidTag())
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(n.close)
	// A leftover of a dead run under this tag: sweep saw it, unless it
	// died since.
	removeTag(t, n.tag)

	// The first of each kind of thing made says whether this machine
	// can make it at all.
	sw := n.switchNS()
	if err := ip("netns", "add", sw); err != nil {
		t.Skipf("netns: cannot make a network namespace here: %v", err)
	}
	if err := ip("-n", sw, "link", "add", "br0", "type", "bridge"); err != nil {
		t.Skipf("netns: cannot make a bridge here: %v", err)
	}
	n.must("-n", sw, "link", "set", "lo", "up")
	n.must("-n", sw, "link", "set", "br0", "up")
	for i := 1; i <= hosts; i++ {
		h, port := n.Namespace(i), "h"+strconv.Itoa(i)
		n.must("netns", "add", h)
		if err := ip("link", "add", "eth0", "netns", h, "type", "veth", "peer", "name", port, "netns", sw); err != nil {
			if i == 1 {
				t.Skipf("netns: cannot make a veth pair here: %v", err)
			}
			t.Fatalf("netns: %v", err)
		}
		n.must("-n", sw, "link", "set", port, "master", "br0", "up")
		n.must("-n", h, "addr", "add", n.IP(i)+"/24", "dev", "eth0")
		n.must("-n", h, "link", "set", "eth0", "up")
		n.must("-n", h, "link", "set", "lo", "up")
	}
	root := n.rootLink()
	n.must("link", "add", root, "type", "veth", "peer", "name", "c", "netns", sw)
	n.must("-n", sw, "link", "set", "c", "master", "br0", "up")
	n.must("addr", "add", n.ClientIP()+"/24", "dev", root)
	n.must("link", "set", root, "up")
	if err := n.check(); err != nil {
		t.Fatalf("netns: the network is built but does not carry traffic: %v\n"+
			"(the bridge is in a namespace of its own, out of reach of this namespace's FORWARD chain;\n"+
			"a path to or from the client goes through this namespace's INPUT and OUTPUT chains,\n"+
			"which iptables -I INPUT -i %s -j ACCEPT would open)\n%s", err, root, firewallReport())
	}
	return n
}

// Hosts is how many hosts n has.
func (n *Net) Hosts() int { return n.hosts }

// Subnet is n's subnet, 10.X.Y.0/24.
func (n *Net) Subnet() string { return n.addr(0) + "/24" }

// IP is host i's address, 10.X.Y.i; hosts count from 1.
func (n *Net) IP(i int) string {
	n.host(i)
	return n.addr(i)
}

// ClientIP is the test process's address on n, 10.X.Y.254: hosts reach
// a listener of the test's there.
func (n *Net) ClientIP() string { return n.addr(clientHost) }

// Namespace is the name of host i's network namespace, for ip netns.
func (n *Net) Namespace(i int) string {
	n.host(i)
	return fmt.Sprintf("%s%d-h%d", prefix, n.tag, i)
}

// Command is the command name with args, to run on host i: in its
// network namespace, by ip netns exec, which execs the command in its
// place (the process started is the command's own, so signals sent to it
// reach the command).
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Namespace(i), name}, args...)...)
}

// Cut takes host i off the network, as if its cable were pulled: its
// bridge port goes down, and nothing passes between it and anyone else,
// the client included, until Heal.
func (n *Net) Cut(i int) {
	n.t.Helper()
	n.host(i)
	n.must("-n", n.switchNS(), "link", "set", "h"+strconv.Itoa(i), "down")
}

// Heal puts host i back on the network after Cut.
func (n *Net) Heal(i int) {
	n.t.Helper()
	n.host(i)
	n.must("-n", n.switchNS(), "link", "set", "h"+strconv.Itoa(i), "up")
}

// Do runs f on an OS thread in host i's network namespace and returns
// what f returns. A socket f opens belongs to host i for good, and may be
// used from any goroutine once f has returned; goroutines f starts run
// in the test's own namespace. The thread is never used again.
func (n *Net) Do(i int, f func() error) error {
	path := filepath.Join(netnsDir, n.Namespace(i))
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine rather than
		// go back to the scheduler in host i's namespace.
		runtime.LockOSThread()
		if err := enterNetns(path); err != nil {
			done <- fmt.Errorf("netns: entering %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// Listen listens on host i, as net.Listen does.
func (n *Net) Listen(i int, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(i, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dial connects from host i, as net.DialTimeout does. The address must
// be an IP address: a name would be looked up off host i.
func (n *Net) Dial(i int, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(i, func() (err error) {
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// close removes everything n made, then releases its tag.
func (n *Net) close() {
	removeTag(n.t, n.tag)
	if left := leftovers(n.tag); len(left) > 0 {
		n.t.Errorf("netns: still there after the cleanup: %s", strings.Join(left, ", "))
	}
	release(n.tag, n.lock)
}

// check connects over every path n must carry: the client to each host,
// each host to the client, and each host to the next (host-to-host,
// across the bridge).
func (n *Net) check() error {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	client, err := net.Listen("tcp", net.JoinHostPort(n.ClientIP(), "0"))
	if err != nil {
		return err
	}
	lns = append(lns, client)
	hostLns := make([]net.Listener, n.hosts+1)
	for i := 1; i <= n.hosts; i++ {
		ln, err := n.Listen(i, "tcp", net.JoinHostPort(n.IP(i), "0"))
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		hostLns[i] = ln
	}
	// The kernel completes a handshake for a listener's backlog, whether
	// or not anyone accepts: a connection made is a path that carries.
	try := func(from string, dial func() (net.Conn, error)) error {
		c, err := dial()
		if err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		return c.Close()
	}
	for i := 1; i <= n.hosts; i++ {
		to := hostLns[i].Addr().String()
		if err := try("the client to host "+strconv.Itoa(i), func() (net.Conn, error) {
			return net.DialTimeout("tcp", to, checkTimeout)
		}); err != nil {
			return err
		}
		if err := try(fmt.Sprintf("host %d to the client", i), func() (net.Conn, error) {
			return n.Dial(i, "tcp", client.Addr().String(), checkTimeout)
		}); err != nil {
			return err
		}
		if n.hosts > 1 {
			j := i%n.hosts + 1
			if err := try(fmt.Sprintf("host %d to host %d", i, j), func() (net.Conn, error) {
				return n.Dial(i, "tcp", hostLns[j].Addr().String(), checkTimeout)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// firewallReport says what of the machine's firewall may be in the way.
func firewallReport() string {
	var b strings.Builder
	for _, f := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables"} {
		v, err := os.ReadFile("/proc/sys/net/bridge/" + f)
		if err != nil {
			fmt.Fprintf(&b, "net.bridge.%s: (br_netfilter not loaded)\n", f)
		} else {
			fmt.Fprintf(&b, "net.bridge.%s = %s\n", f, bytes.TrimSpace(v))
		}
	}
	if v, err := os.ReadFile("/proc/net/ip_tables_names"); err == nil {
		fmt.Fprintf(&b, "iptables (legacy) tables loaded: %q\n", strings.Fields(string(v)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "iptables", "-S").CombinedOutput(); err == nil {
		fmt.Fprintf(&b, "iptables -S:\n%s", out)
	}
	if out, err := exec.CommandContext(ctx, "nft", "list", "ruleset").CombinedOutput(); err == nil {
		fmt.Fprintf(&b, "nft list ruleset:\n%s", out)
	}
	return b.String()
}

func (n *Net) host(i int) {
	if i < 1 || i > n.hosts {
		panic(fmt.Sprintf("netns: no host %d: hosts are 1 to %d", i, n.hosts))
	}
}

// addr is the address of the last byte b in n's subnet.
func (n *Net) addr(b int) string {
	x, y := tagSubnet(n.tag)
	return fmt.Sprintf("10.%d.%d.%d", x, y, b)
}

func (n *Net) switchNS() string { return fmt.Sprintf("%s%d-sw", prefix, n.tag) }

func (n *Net) rootLink() string { return prefix + strconv.Itoa(n.tag) }

// must runs ip with args, and fails the test if it fails.
func (n *Net) must(args ...string) {
	n.t.Helper()
	if err := ip(args...); err != nil {
		n.t.Fatalf("netns: %v", err)
	}
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// tagSubnet is the X.Y of tag's subnet 10.X.Y.0/24.
func tagSubnet(tag int) (x, y int) { return 1 + tag/254, 1 + tag%254 }

// pidTag is the tag New tries first.
func pidTag() int { return os.Getpid() % tags }

// acquire locks the first tag from first on that no one holds and whose
// subnet is clear of the root namespace's addresses and routes; failing
// that (a route to all of 10.0.0.0/8, say), the first whose subnet only
// lies within a wider route, which its own /24 then overrides for the
// Net's life.
func acquire(first int) (int, *os.File, error) {
	taken, err := rootPrefixes()
	if err != nil {
		return 0, nil, err
	}
	for _, wider := range []bool{false, true} {
		for k := range tags {
			tag := (first + k) % tags
			if !subnetFree(tag, taken, wider) {
				continue
			}
			f, err := tryLock(tag)
			if err != nil {
				return 0, nil, err
			}
			if f != nil {
				return tag, f, nil
			}
		}
	}
	return 0, nil, errors.New("no tag is free: every 10.X.Y.0/24 is in use here")
}

// subnetFree says whether tag's subnet overlaps none of taken, or, if wider,
// none but prefixes wider than a /24.
func subnetFree(tag int, taken []*net.IPNet, wider bool) bool {
	x, y := tagSubnet(tag)
	subnet := &net.IPNet{IP: net.IPv4(10, byte(x), byte(y), 0).To4(), Mask: net.CIDRMask(24, 32)}
	for _, p := range taken {
		ones, _ := p.Mask.Size()
		switch {
		case subnet.Contains(p.IP):
			return false // in the subnet, or the subnet itself
		case p.Contains(subnet.IP) && !(wider && ones < 24):
			return false
		}
	}
	return true
}

// tryLock takes tag's lock file, or returns nil if another holds it.
func tryLock(tag int) (*os.File, error) {
	path := lockPath(tag)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			// Removed by a release since New made it.
			if err := os.MkdirAll(lockDir, 0o755); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := flock(f)
		if err != nil || !ok {
			_ = f.Close()
			return nil, err
		}
		// The holder before may have removed the file between our open
		// and our lock: a lock on a file no longer at path holds nothing.
		fi, err := f.Stat()
		cur, err2 := os.Stat(path)
		if err == nil && err2 == nil && os.SameFile(fi, cur) {
			_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
			return f, nil
		}
		_ = f.Close()
	}
}

// release removes a held lock file, then lets it go, and removes the
// lock directory if that was the last.
func release(tag int, f *os.File) {
	_ = os.Remove(lockPath(tag))
	_ = f.Close()
	_ = os.Remove(lockDir) // fails while other locks are in it
}

func lockPath(tag int) string { return filepath.Join(lockDir, strconv.Itoa(tag)+".lock") }

// rootPrefixes are the addresses and routes of the test's namespace.
func rootPrefixes() ([]*net.IPNet, error) {
	var ps []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok && p.IP.To4() != nil {
			ps = append(ps, p)
		}
	}
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(routeTypes, f[0]) {
			f = f[1:]
		}
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst := f[0]
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if _, p, err := net.ParseCIDR(dst); err == nil {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

var routeTypes = []string{"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat", "anycast"}

var (
	nsName   = regexp.MustCompile(`^` + prefix + `(\d+)-(?:sw|h\d+)$`)
	linkName = regexp.MustCompile(`^` + prefix + `(\d+)$`)
)

// found lists the namespaces and root-namespace links of every tag.
func found() map[int][]string {
	m := map[int][]string{}
	if ents, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range ents {
			if s := nsName.FindStringSubmatch(e.Name()); s != nil {
				tag, _ := strconv.Atoi(s[1])
				m[tag] = append(m[tag], "namespace "+e.Name())
			}
		}
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			if s := linkName.FindStringSubmatch(i.Name); s != nil {
				tag, _ := strconv.Atoi(s[1])
				m[tag] = append(m[tag], "link "+i.Name)
			}
		}
	}
	return m
}

// leftovers lists what bears tag's names.
func leftovers(tag int) []string { return found()[tag] }

// sweep removes what the dead runs left: the things of every tag whose
// lock no one holds.
func sweep(t testing.TB) {
	for tag := range found() {
		f, err := tryLock(tag)
		if err != nil || f == nil {
			continue // held: a live Net's
		}
		t.Logf("netns: removing what a dead run left under tag %d", tag)
		removeTag(t, tag)
		release(tag, f)
	}
}

// removeTag removes whatever bears tag's names: the processes in its
// namespaces, its root link, its namespaces. The caller holds tag's lock.
func removeTag(t testing.TB, tag int) {
	t.Helper()
	root := prefix + strconv.Itoa(tag)
	if _, err := net.InterfaceByName(root); err == nil {
		if err := ip("link", "del", root); err != nil {
			t.Errorf("netns: %v", err)
		}
	}
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		s := nsName.FindStringSubmatch(e.Name())
		if s == nil || s[1] != strconv.Itoa(tag) {
			continue
		}
		killIn(t, e.Name())
		if err := ip("netns", "del", e.Name()); err != nil {
			t.Errorf("netns: %v", err)
		}
	}
}

// killIn kills the processes in namespace ns, and waits until they are
// gone (or zombies, which hold no namespace).
func killIn(t testing.TB, ns string) {
	t.Helper()
	pids := func() []int {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
				ps = append(ps, p)
			}
		}
		return ps
	}
	ps := pids()
	if len(ps) == 0 {
		return
	}
	t.Logf("netns: killing what still runs in %s: pids %v", ns, ps)
	for _, p := range ps {
		kill(p)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(pids()) == 0 {
			return
		}
	}
}
