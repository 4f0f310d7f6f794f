package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// The "listening" line is what tests, scripts and operators wait for: a
// SIGTERM any time after it must drain the server and exit with status 0,
// never kill it. The signal is sent the moment the line is read, again and
// again, since a window before the handler is installed is a race.
func TestSampleDrainsOnSIGTERMRightAfterListening(t *testing.T) {
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	for i := range 10 {
		srv, err := launch(startArgs(bin, db))
		if err != nil {
			t.Fatal(err)
		}
		err = srv.halt()
		logs := srv.logged()
		if err != nil {
			t.Fatalf("start %d: %v\nlog:\n%s", i+1, err, logs)
		}
		if !strings.Contains(logs, `msg="shutting down"`) {
			t.Fatalf("start %d: exited with no drain\nlog:\n%s", i+1, logs)
		}
	}
}

// A second instance started on a port in use fails before it writes
// anything: no database, no secret file beside it, and a message that
// names the address and the flag that chooses another.
func TestSampleOnBusyPortCreatesNothing(t *testing.T) {
	bin := buildSample(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []string{"-addr", "-pprof"} {
		t.Run(flag, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "chat.db"), flag, busy.Addr().String()}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = ".."
			cmd.Env = withoutEnv(os.Environ(), "SECRET_KEY_BASE") // so that it would make the secret file
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero status\n%s", err, out)
			}
			want := "listen tcp " + busy.Addr().String()
			if !strings.Contains(string(out), want) || !strings.Contains(string(out), "(choose another with "+flag+")") {
				t.Errorf("output names not %q and %s:\n%s", want, flag, out)
			}
			if made, _ := os.ReadDir(dir); len(made) != 0 {
				var names []string
				for _, e := range made {
					names = append(names, e.Name())
				}
				t.Errorf("made %v before failing\n%s", names, out)
			}
		})
	}
}

// Ctrl-C on `make run` signals every process of the terminal's group:
// make, and the server under it. The server drains and exits with status
// 0, and make, seeing its recipe succeed, prints no "***" line. Before
// that, make run says it is building.
func TestMakeRunStopsQuietlyOnCtrlC(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1: make run installs the page's JavaScript with npm (make test does both)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "run", "BIN="+dir,
		"ARGS=-addr 127.0.0.1:0 -db "+filepath.Join(dir, "chat.db")+" -secret "+testSecret)
	cmd.Dir = ".."
	// As a person runs it: not as a sub-make of `make test`.
	cmd.Env = withoutEnv(withoutEnv(withoutEnv(os.Environ(), "MAKEFLAGS"), "MFLAGS"), "MAKELEVEL")
	// A process group of its own, as a terminal gives a command, so that
	// the SIGINT below reaches every process of it, as Ctrl-C does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var (
		mu    sync.Mutex
		lines []string
	)
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	listened := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		once := sync.OnceFunc(func() { close(listened) })
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if listening.MatchString(sc.Text()) {
				once()
			}
		}
	}()
	select {
	case <-listened:
	case <-read:
		_ = cmd.Wait()
		t.Fatalf("make run ended before the server listened:\n%s", output())
	case <-ctx.Done():
		t.Fatalf("the server did not listen:\n%s", output())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-read
	err = cmd.Wait()
	out := output()
	t.Logf("make run, then SIGINT to its group: %v\n%s", err, out)
	if !strings.Contains(out, `msg="shutting down"`) {
		t.Errorf("the server did not drain")
	}
	if strings.Contains(out, "***") {
		t.Errorf("make reports the recipe failed")
	}
	// A first build is silent for a minute or more: it is announced.
	if said, built := strings.Index(out, "building the sample"), strings.Index(out, "go build"); said < 0 || built < 0 || said > built {
		t.Errorf("the build is not announced before it starts")
	}
	// GNU make, interrupted itself, waits for its recipe, then ends by the
	// same signal, as a shell expects of a command the user interrupted;
	// an exit status of its own would be a failure it reports.
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("make ended with %v, want status 0 or SIGINT", err)
		}
	} else if err != nil {
		t.Error(err)
	}
}

// -drain-batch and -drain-interval pace the sockets' closing on SIGTERM,
// as Phoenix's drainer: three sockets a batch of one apart are closed in
// three batches, and with the defaults in one.
func TestSampleDrainFlags(t *testing.T) {
	bin := buildSample(t)
	for _, tc := range []struct {
		name    string
		flags   []string
		batches int
	}{
		{"defaults", nil, 1},
		{"one at a time", []string{"-drain-batch", "1", "-drain-interval", "10ms"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := startArgs(bin, filepath.Join(t.TempDir(), "chat.db"))
			cmd.Args = append(cmd.Args, tc.flags...)
			srv := startCmd(t, cmd)
			for i := range 3 {
				// Joined, so that its socket is one the drain closes.
				c := dialAs(t, srv, fmt.Sprintf("drained-%d", i))
				_ = c.Send(`["1","1","bench:drain","phx_join",{}]`)
				if _, err := awaitReply(c, "1", nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := srv.halt(); err != nil {
				t.Fatal(err)
			}
			logs := srv.logged()
			// A "draining" line follows every batch but the last.
			if got := strings.Count(logs, `msg=draining`); got != tc.batches-1 {
				t.Errorf("%d draining lines, want %d\n%s", got, tc.batches-1, logs)
			}
		})
	}
}

// Once shutdown has begun the port refuses connections, as Phoenix's
// drainer suspends its listener, while the sockets still open wait for
// their batch: a client that comes back is refused at once rather than
// answered 503, and a load balancer's probe finds the node gone.
func TestSampleRefusesConnectionsOnceDraining(t *testing.T) {
	cmd := startArgs(buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	cmd.Args = append(cmd.Args, "-drain-batch", "1", "-drain-interval", "3s")
	srv := startCmd(t, cmd)
	clients := make([]*phxclient.Client, 2)
	for i := range clients {
		clients[i] = dialAs(t, srv, fmt.Sprintf("drained-%d", i))
		_ = clients[i].Send(`["1","1","bench:drain","phx_join",{}]`)
		if _, err := awaitReply(clients[i], "1", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The first batch is closed: shutdown is under way.
	var first, second *phxclient.Client
	select {
	case <-clients[0].Done():
		first, second = clients[0], clients[1]
	case <-clients[1].Done():
		first, second = clients[1], clients[0]
	case <-time.After(10 * time.Second):
		t.Fatal("no socket closed within 10s of SIGTERM")
	}
	if code := first.CloseCode(); code != 1012 {
		t.Errorf("the first socket closed with %d, want 1012", code)
	}
	host := strings.TrimPrefix(srv.url, "http://")
	// The listener is closed beside the drain, on a goroutine of its own:
	// it may take a moment after the first close.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.Dial("tcp", host)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("a connection during the drain: %v, want refused", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-second.Done():
		t.Fatal("the second socket was closed before its batch")
	default:
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("sample exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sample did not stop after its drain")
	}
	if code := second.CloseCode(); code != 1012 {
		t.Errorf("the second socket closed with %d, want 1012", code)
	}
}
