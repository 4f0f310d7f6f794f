package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/token"
)

// buildServer builds the command pkg (a package path) into a folder of
// the test's and returns the binary.
func buildServer(t *testing.T, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and restarts a server")
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on, for a server
// that must come back on the same one.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts bin with args in the module's root and waits for its
// "listening" line.
func startServer(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../../.."
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "msg=listening") {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return cmd
		}
	}
	t.Fatalf("%s exited before listening:\n%s", bin, strings.Join(log, "\n"))
	return nil
}

// stormAgainst runs a small storm against the server bin started with
// args, restarting it once every client is ready, and returns the result.
func stormAgainst(t *testing.T, bin string, cfg config, tokens func(int) (string, error), args ...string) *Result {
	t.Helper()
	old := startServer(t, bin, args...)
	r := &runner{cfg: cfg, token: tokens}
	r.hb = newHeartbeater(r, cfg.heartbeat)
	ready := make(chan struct{})
	pids := make(chan int, 1)
	r.ready, r.restartPID = func() { close(ready) }, pids
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := &Result{Scenario: "storm"}
	done := make(chan []*conn, 1)
	go func() { done <- runStorm(ctx, r, res) }()

	select {
	case <-ready:
	case conns := <-done:
		r.closeAll(conns)
		counts, examples, _ := r.errs.snapshot()
		t.Fatalf("the storm ended before it was ready: %v %v", counts, examples)
	}
	if err := old.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = old.Wait()
	pids <- startServer(t, bin, args...).Process.Pid
	r.closeAll(<-done)
	if counts, examples, total := r.errs.snapshot(); total > 0 {
		t.Errorf("errors: %v %v", counts, examples)
	}
	printResult(res, os.Stderr)
	return res
}

// checkStorm checks what every storm reports.
func checkStorm(t *testing.T, res *Result) {
	t.Helper()
	for _, name := range []string{"cold_s", "rejoin_s", "storm_s", "rejoin_p99_ms", "downtime_s"} {
		if m, ok := res.Metric(name); !ok || m.Value <= 0 {
			t.Errorf("%s = %v, %v; want > 0", name, m.Value, ok)
		}
	}
	// In clock ticks of 10 ms: a small storm may take less than one.
	if m, ok := res.Metric("server_cpu_s"); !ok || m.Value < 0 {
		t.Errorf("server_cpu_s = %v, %v", m.Value, ok)
	}
	rejoin, _ := res.Metric("rejoin_s")
	all, _ := res.Metric("storm_s")
	if all.Value < rejoin.Value {
		t.Errorf("storm_s %v < rejoin_s %v", all.Value, rejoin.Value)
	}
}

// A few dozen clients of bench:storm-* against the floor, which is
// stopped and started again on the same address.
func TestStormFloor(t *testing.T) {
	bin := buildServer(t, "github.com/phxgo/phx/loadtest/cmd/floor")
	addr := freeAddr(t)
	cfg := config{
		urls: []string{"ws://" + addr + "/socket/websocket"}, scenario: "storm",
		n: 40, rooms: 4, connectRate: 2000, heartbeat: 30 * time.Second,
	}
	res := stormAgainst(t, bin, cfg, nil, "-addr", addr)
	checkStorm(t, res)
	if _, ok := res.Metric("presence_diffs"); ok {
		t.Error("presence counted without -presence")
	}
}

// The same against the sample's rooms, with presence: every client must
// hold its room's every member again.
func TestStormSamplePresence(t *testing.T) {
	bin := buildServer(t, "github.com/phxgo/phx/sample")
	addr := freeAddr(t)
	const secret = "storm-test-secret-key-base-0123456789abcdef"
	signer, err := token.New(secret, "user socket")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{
		urls: []string{"ws://" + addr + "/socket/websocket"}, scenario: "storm",
		n: 30, rooms: 3, connectRate: 2000, heartbeat: 30 * time.Second, presence: true,
	}
	db := filepath.Join(t.TempDir(), "chat.db")
	res := stormAgainst(t, bin, cfg, func(id int) (string, error) { return signer.Sign(userID(id)) },
		"-addr", addr, "-db", db, "-secret", secret)
	checkStorm(t, res)
	// Each of the 30 rejoins: a presence_state, and a diff to each member
	// of its room present by then, itself included.
	states, _ := res.Metric("presence_states")
	diffs, _ := res.Metric("presence_diffs")
	if states.Value < 30 || diffs.Value < 30 {
		t.Errorf("presence_states %v, presence_diffs %v; want ≥ 30 each", states.Value, diffs.Value)
	}
}
