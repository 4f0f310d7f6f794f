package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// capClock is a clock the test moves.
type capClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *capClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// pass makes the connections idle so far old enough to be closed.
func (c *capClock) pass() {
	c.mu.Lock()
	c.t = c.t.Add(time.Second)
	c.mu.Unlock()
}

// capServer serves h behind a ConnCap on loopback, whose clock the test
// moves.
func capServer(t *testing.T, cfg transport.ConnCapConfig, h http.Handler) (*transport.ConnCap, string, *capClock) {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cc := transport.NewConnCap(cfg)
	clock := &capClock{t: time.Unix(1_000_000, 0)}
	transport.SetConnCapClock(cc, clock.now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: cc.Handler(h), ConnState: cc.ConnState, ConnContext: cc.ConnContext}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(cc.Listener(ln))
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-done
	})
	return cc, ln.Addr().String(), clock
}

// capClient is a client connection that sends requests by hand.
type capClient struct {
	net.Conn
	r *bufio.Reader
}

func dialCap(t *testing.T, addr string) *capClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &capClient{Conn: c, r: bufio.NewReader(c)}
}

// get sends a GET of path and returns the answer's status, or 0 when the
// connection ended first; it gives up after a second.
func (c *capClient) get(path string) int {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
}

// Twice as many idle keep-alive connections as the cap: each newcomer
// is made room for by closing the one idle the longest, so a health
// check and any request are served at once.
func TestConnCapClosesTheLongestIdle(t *testing.T) {
	cc, addr, clock := capServer(t, transport.ConnCapConfig{Max: 20, Reserve: 4, ReservedPaths: []string{"/healthz"}}, okHandler())
	var crowd []*capClient
	for i := range 40 {
		clock.pass()
		c := dialCap(t, addr)
		if code := c.get("/x"); code != 200 {
			t.Fatalf("crowd connection %d: %d", i, code)
		}
		crowd = append(crowd, c)
	}
	if s := cc.Stats(); s.Open > 21 || s.Evicted < 19 {
		t.Fatalf("stats after the crowd: %+v", s)
	}
	// The first of the crowd were closed for room, the last still serve.
	if code := crowd[0].get("/x"); code != 0 {
		t.Errorf("the longest idle still answered %d", code)
	}
	if code := crowd[39].get("/x"); code != 200 {
		t.Errorf("the latest answered %d", code)
	}
	clock.pass()
	if code := dialCap(t, addr).get("/healthz"); code != 200 {
		t.Errorf("a health check: %d", code)
	}
	clock.pass()
	if code := dialCap(t, addr).get("/x"); code != 200 {
		t.Errorf("a newcomer: %d", code)
	}
}

// Connections that send nothing are idle too: they are closed first.
func TestConnCapClosesSilentConnections(t *testing.T) {
	cc, addr, clock := capServer(t, transport.ConnCapConfig{Max: 10, Reserve: 2}, okHandler())
	for range 10 {
		dialCap(t, addr)
	}
	eventually(t, "ten connections counted", func() bool { return cc.Stats().Open == 10 })
	// Silent for less than the grace: not closed, and the cap is reached.
	c := dialCap(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if resp, err := http.ReadResponse(c.r, nil); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a newcomer while the silent ones are new: %v %v", resp, err)
	}
	clock.pass()
	if code := dialCap(t, addr).get("/x"); code != 200 {
		t.Fatalf("a newcomer after ten silent connections: %d", code)
	}
	if s := cc.Stats(); s.Evicted == 0 {
		t.Errorf("stats: %+v", s)
	}
}

// When every connection is busy, the reserve serves health checks only,
// and past it a newcomer is answered 503 at once and closed.
func TestConnCapReserveAndRefusal(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/block") {
			started.Done()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	cc, addr, clock := capServer(t, transport.ConnCapConfig{Max: 6, Reserve: 2, ReservedPaths: []string{"/healthz", "/healthz/block"}}, h)
	defer close(release)
	busy := func(path string) {
		c := dialCap(t, addr)
		started.Add(1)
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		busy("/block")
	}
	waitGroup(t, &started, func() string { return fmt.Sprintf("%+v", cc.Stats()) })
	// On the reserve: a health check is served, anything else is not.
	if code := dialCap(t, addr).get("/x"); code != http.StatusServiceUnavailable {
		t.Errorf("a request on the reserve: %d", code)
	}
	if code := dialCap(t, addr).get("/healthz"); code != 200 {
		t.Errorf("a health check on the reserve: %d", code)
	}
	// The server has closed the refused connection, and counts the
	// health check's idle: the next newcomer closes it for room, the one
	// after is on the reserve.
	eventually(t, "the refused connection closed, the health check's idle", func() bool {
		s := cc.Stats()
		return s.Open == 5 && s.Idle == 1
	})
	clock.pass()
	for range 2 {
		busy("/healthz/block")
	}
	waitGroup(t, &started, func() string { return fmt.Sprintf("%+v", cc.Stats()) })
	// Every connection busy: 503 at once, before any request is read.
	c := dialCap(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("a newcomer with every connection busy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("refusal: %d %v", resp.StatusCode, resp.Header)
	}
	if s := cc.Stats(); s.Refused != 1 || s.Reserved != 1 || s.Open != 6 || s.Evicted != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// waitGroup waits for wg, or fails the test saying what state says.
func waitGroup(t *testing.T, wg *sync.WaitGroup, state func() string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("the busy requests did not all start: %s", state())
	}
}
