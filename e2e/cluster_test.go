package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The race detector's exit code when it found a race: such a node must
// fail the test even though it stopped on SIGTERM as asked.
const raceExitCode = 66

// clusterNode is one sample binary running as a node of a cluster.
type clusterNode struct {
	name string
	cmd  *exec.Cmd
	url  string // http://host:port

	mu   sync.Mutex
	logs strings.Builder

	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

func (n *clusterNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// buildClusterSample builds the sample with -race: two nodes must be two
// processes, since Proto.Actor remote writes gRPC's global logger, which
// two nodes in one race-enabled process would race on.
func buildClusterSample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sample")
	cmd := exec.Command("go", "build", "-race", "-o", bin, "./sample")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr picks a loopback port for a cluster listener. The port is free
// again once returned, so another process could take it first; every node
// must know every other's address before any starts, which leaves no
// better way.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var listeningAt = regexp.MustCompile(`msg=listening addr=(http://\S+)`)

func startClusterNode(t *testing.T, bin, name string, args ...string) *clusterNode {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-node", name}, args...)...)
	cmd.Dir = ".." // the sample finds sample/assets from the repository root
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{name: name, cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.logs.WriteString(line + "\n")
			n.mu.Unlock()
			if m := listeningAt.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		// Wait only once stderr is drained: it closes the pipe.
		_, _ = io.Copy(io.Discard, stderr)
		n.waitErr = cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			_ = cmd.Process.Kill()
			<-n.done
		}
	})
	select {
	case n.url = <-urls:
	case <-n.done:
		t.Fatalf("%s exited at start: %v\n%s", name, n.waitErr, n.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start listening\n%s", name, n.log())
	}
	return n
}

// stop sends SIGTERM and requires a clean exit: status 0 and no race
// report.
func (n *clusterNode) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("%s: SIGTERM: %v", n.name, err)
	}
	select {
	case <-n.done:
	case <-time.After(60 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		t.Errorf("%s did not stop within 60s of SIGTERM\n%s", n.name, n.log())
		return
	}
	var exit *exec.ExitError
	switch {
	case errors.As(n.waitErr, &exit) && exit.ExitCode() == raceExitCode:
		t.Errorf("%s: the race detector found a data race\n%s", n.name, n.log())
	case n.waitErr != nil:
		t.Errorf("%s exited with %v\n%s", n.name, n.waitErr, n.log())
	case strings.Contains(n.log(), "WARNING: DATA RACE"):
		t.Errorf("%s: data race reported\n%s", n.name, n.log())
	}
}

// peerUp reports whether n's /api/cluster shows peer up.
func (n *clusterNode) peerUp(peer string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/api/cluster", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET /api/cluster: %s", resp.Status)
	}
	var view struct {
		Peers []struct {
			Node string `json:"node"`
			Up   bool   `json:"up"`
		} `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		return false, err
	}
	for _, p := range view.Peers {
		if p.Node == peer {
			return p.Up, nil
		}
	}
	return false, nil
}

// waitPeer polls until n sees peer as up (or down, with up false).
func (n *clusterNode) waitPeer(t *testing.T, peer string, up bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		got, err := n.peerUp(peer)
		if err == nil && got == up {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never saw %s up=%v (last error: %v)\n%s", n.name, peer, up, last, n.log())
}

// TestClusterWithPhoenixClient runs cluster.spec.mjs: a phoenix client on
// each of two sample nodes, one cluster, chatting and sharing Presence.
func TestClusterWithPhoenixClient(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix e2e` (make test does both)")
	}
	if _, err := os.Stat("../e2e/node_modules/phoenix"); err != nil {
		t.Fatal("e2e/node_modules/phoenix is missing: run `npm ci --prefix e2e`")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH")
	}

	bin := buildClusterSample(t)
	// One database for both nodes, as `make cluster` runs them: a message
	// gets one id whichever node stored it.
	db := filepath.Join(t.TempDir(), "chat.db")
	addr1, addr2 := freeAddr(t), freeAddr(t)
	common := []string{
		"-addr", "127.0.0.1:0", "-db", db, "-secret", "a-test-secret-key-base-of-enough-length-0123456789",
		"-peers", addr1 + "," + addr2, "-cluster-secret", "a-cluster-secret-for-the-e2e-test",
	}
	n1 := startClusterNode(t, bin, "n1", append([]string{"-cluster-addr", addr1}, common...)...)
	n2 := startClusterNode(t, bin, "n2", append([]string{"-cluster-addr", addr2}, common...)...)
	n1.waitPeer(t, "n2", true)
	n2.waitPeer(t, "n1", true)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "cluster.spec.mjs")
	cmd.Env = append(os.Environ(), "NODE1_URL="+n1.url, "NODE2_URL="+n2.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s\nn1 log:\n%s\nn2 log:\n%s", err, out, n1.log(), n2.log())
	}
	t.Logf("%s", out)

	// n1 says goodbye as it stops; n2 must then count it down before it
	// stops in turn, with nobody left to tell.
	n1.stop(t)
	n2.waitPeer(t, "n1", false)
	n2.stop(t)
	for _, n := range []*clusterNode{n1, n2} {
		if !strings.Contains(n.log(), "msg=\"cluster: left\"") {
			t.Errorf("%s did not leave the cluster on SIGTERM; log:\n%s", n.name, n.log())
		}
	}
}

// TestClusterRecoveryAfterKill runs cluster_recovery.spec.mjs against
// three sample nodes: a member on n2 keeps its last position, n2 is
// killed with SIGKILL when the script asks, and the member recovers on
// n3 what was sent on n1 and n3 meanwhile.
func TestClusterRecoveryAfterKill(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix e2e` (make test does both)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH")
	}
	bin := buildClusterSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	// Messages are sent faster than a person types: no message rate.
	common := []string{
		"-addr", "127.0.0.1:0", "-db", db, "-secret", "a-test-secret-key-base-of-enough-length-0123456789",
		"-peers", strings.Join(addrs, ","), "-cluster-secret", "a-cluster-secret-for-the-e2e-test", "-msg-rate", "0",
	}
	var nodes []*clusterNode
	for i, addr := range addrs {
		nodes = append(nodes, startClusterNode(t, bin, fmt.Sprintf("n%d", i+1), append([]string{"-cluster-addr", addr}, common...)...))
	}
	for _, n := range nodes {
		for _, p := range nodes {
			if p != n {
				n.waitPeer(t, p.name, true)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "cluster_recovery.spec.mjs")
	cmd.Env = append(os.Environ(), "NODE1_URL="+nodes[0].url, "NODE2_URL="+nodes[1].url, "NODE3_URL="+nodes[2].url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.Contains(line, "KILL n2") && !killed {
			killed = true
			_ = nodes[1].cmd.Process.Kill()
			<-nodes[1].done
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node --test: %v\n%s\nn1 log:\n%s\nn3 log:\n%s", err, out.String(), nodes[0].log(), nodes[2].log())
	}
	if !killed {
		t.Fatalf("the script never asked for n2 to be killed:\n%s", out.String())
	}
	t.Logf("%s", out.String())
	nodes[0].stop(t)
	nodes[2].stop(t)
}
