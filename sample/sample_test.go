package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/token"
)

const testSecret = "a-test-secret-key-base-of-enough-length-0123456789"

// server is the sample built and started as a user would start it.
type server struct {
	cmd  *exec.Cmd
	url  string // http://host:port
	logs chan string
	done chan error
	// logBytes and logLines count everything the server wrote to its
	// log, lines that logs had no room for included.
	logBytes, logLines atomic.Int64
}

func buildSample(t *testing.T) string {
	t.Helper()
	return buildSampleWith(t, "-race")
}

// buildSampleWith builds the sample with the go build flags given: none,
// for a test that measures latency rather than looks for races.
func buildSampleWith(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sample")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`msg=listening addr=(http://\S+)`)

func startSample(t *testing.T, bin, db string) *server {
	t.Helper()
	return startCmd(t, startArgs(bin, db))
}

// startArgs is the command startSample runs: loopback, a port of the
// system's choosing, database db, and testSecret.
func startArgs(bin, db string) *exec.Cmd {
	// No rate limits: the tests send, join and crash as fast as they
	// can; the limits have tests of their own (TestSampleRateLimits,
	// TestCrashStormLatency).
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db, "-secret", testSecret, "-msg-rate", "0", "-join-rate", "0", "-boom-rate", "0")
	cmd.Dir = ".." // where sample/assets is, as for `go run ./sample`
	return cmd
}

// startCmd starts a sample command and waits until it listens.
func startCmd(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	s, err := launch(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// launch starts a sample command and waits until it listens; unlike
// startCmd it may run off the test's goroutine.
func launch(cmd *exec.Cmd) (*server, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, logs: make(chan string, 10000), done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logBytes.Add(int64(len(line)) + 1)
			s.logLines.Add(1)
			if m := listening.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
			select {
			case s.logs <- line:
			default:
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-urls:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("sample exited at start: %v\n%s", err, s.logged())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("sample did not start listening")
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	if err := s.halt(); err != nil {
		t.Error(err)
	}
}

// halt is stop off the test's goroutine.
func (s *server) halt() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("sample exited with %v", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("sample did not stop on SIGTERM")
	}
}

func (s *server) logged() string {
	var b strings.Builder
	for {
		select {
		case l := <-s.logs:
			b.WriteString(l + "\n")
		default:
			return b.String()
		}
	}
}

// dialAs connects to srv as user, with a token signed by testSecret and
// the V2 serializer.
func dialAs(t *testing.T, srv *server, user string) *phxclient.Client {
	t.Helper()
	tok, err := mustSigner(t, testSecret).Sign(user)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.url, "http")+"/socket/websocket?vsn=2.0.0&token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustSigner(t *testing.T, secret string) *token.Signer {
	s, err := token.New(secret, tokenSalt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSampleWithPhoenixClient runs e2e/sample.spec.mjs, the rows of
// sample/README.md, against the built sample.
func TestSampleWithPhoenixClient(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix e2e` (make test does both)")
	}
	for _, dir := range []string{"../e2e/node_modules/phoenix", "assets/node_modules/phoenix"} {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("%s is missing: run `make test`", dir)
		}
	}
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))

	expired, err := mustSigner(t, testSecret).Sign("ann", token.WithSignedAt(time.Now().Add(-token.DefaultMaxAge-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := mustSigner(t, testSecret+"-but-not-quite").Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "sample.spec.mjs")
	cmd.Dir = "../e2e"
	cmd.Env = append(os.Environ(), "SAMPLE_URL="+srv.url, "EXPIRED_TOKEN="+expired, "FORGED_TOKEN="+forged)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s\nserver log:\n%s", err, out, srv.logged())
	}
	t.Logf("%s", out)

	srv.stop(t)
	logs := srv.logged()
	for _, want := range []string{"msg=connected", "msg=joined", "msg=left", `msg="channel crashed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s line in the server's log", want)
		}
	}
}

// TestSampleInBrowser drives the chat page in headless Chromium. The
// sample runs as `make run` runs it, without -secret; the spec stops and
// restarts it through a control server of this test's (CONTROL_URL), on
// the same address, so that its open pages can come back.
func TestSampleInBrowser(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix e2e` (make test does both)")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium package (.ci/run does)", chromium)
	}
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	ctl := &restarter{bin: bin, db: db}
	srv, err := ctl.start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ctl.addr = strings.TrimPrefix(srv.url, "http://")
	t.Cleanup(func() {
		if err := ctl.stop(); err != nil {
			t.Error(err)
		}
	})
	control := httptest.NewServer(ctl)
	defer control.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "browser.spec.mjs")
	cmd.Dir = "../e2e"
	cmd.Env = append(os.Environ(), "SAMPLE_URL="+srv.url, "CHROMIUM="+chromium, "CONTROL_URL="+control.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s\nserver log:\n%s", err, out, ctl.logged())
	}
	t.Logf("%s", out)
}

// restarter serves POST /stop and POST /start[?secret=S] to the browser
// spec: the sample stopped as SIGTERM stops it, and started again on the
// same address and database, without -secret unless one is given.
type restarter struct {
	bin, db, addr string

	mu   sync.Mutex
	srv  *server  // nil while stopped; guarded by mu
	logs []string // of the servers stopped; guarded by mu
}

func (r *restarter) start(addr, secret string) (*server, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return nil, fmt.Errorf("already running")
	}
	args := []string{"-addr", addr, "-db", r.db}
	if secret != "" {
		args = append(args, "-secret", secret)
	}
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = ".."
	cmd.Env = withoutEnv(os.Environ(), "SECRET_KEY_BASE")
	srv, err := launch(cmd)
	if err != nil {
		return nil, err
	}
	r.srv = srv
	return srv, nil
}

func (r *restarter) stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return nil
	}
	err := r.srv.halt()
	r.logs = append(r.logs, r.srv.logged())
	r.srv = nil
	return err
}

func (r *restarter) logged() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := strings.Join(r.logs, "--- restarted\n")
	if r.srv != nil {
		all += "--- running\n" + r.srv.logged()
	}
	return all
}

func (r *restarter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var err error
	switch {
	case req.Method == http.MethodPost && req.URL.Path == "/stop":
		err = r.stop()
	case req.Method == http.MethodPost && req.URL.Path == "/start":
		_, err = r.start(r.addr, req.URL.Query().Get("secret"))
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// History survives a restart; a stop on SIGTERM runs the channels'
// terminate (their "left" lines) before the process exits.
func TestSampleHistorySurvivesRestart(t *testing.T) {
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	srv := startSample(t, bin, db)
	c := dialAs(t, srv, "ann")
	_ = c.Send(`["1","1","room:keep","phx_join",{}]`)
	_ = c.Send(`["1","2","room:keep","new_msg",{"body":"remember me"}]`)
	// The broadcast reaching its sender says the message is stored; the
	// presence frames may come before or after it.
	for {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Event == "new_msg" && strings.Contains(string(m.Payload), `"body":"remember me"`) {
			break
		}
	}
	srv.stop(t)
	<-c.Done()
	if logs := srv.logged(); !strings.Contains(logs, "msg=left topic=room:keep") {
		t.Errorf("no terminate on SIGTERM; log:\n%s", logs)
	}

	srv = startSample(t, bin, db)
	c = dialAs(t, srv, "ann")
	defer c.Close()
	_ = c.Send(`["1","1","room:keep","phx_join",{}]`)
	// The reply, then the room's position (the history of broadcasts is
	// the new process's, empty), then the stored history.
	for _, want := range []string{"phx_reply", "phx_recovery"} {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Event != want {
			t.Fatalf("after the join: %s %s, want %s", m.Event, m.Payload, want)
		}
	}
	m, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Event != "history" || !strings.Contains(string(m.Payload), `"body":"remember me"`) || !strings.Contains(string(m.Payload), `"id":1`) {
		t.Fatalf("history after restart: %s %s", m.Event, m.Payload)
	}
}

var _ = io.Discard
