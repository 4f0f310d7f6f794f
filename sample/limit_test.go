package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// At -max-conns 3 the fourth WebSocket connect is answered 503 with
// Retry-After at once; the three go on, and /metrics counts the refusal.
func TestSampleConnectionLimit(t *testing.T) {
	cmd := exec.Command(buildSample(t), "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "chat.db"),
		"-secret", testSecret, "-max-conns", "3")
	cmd.Dir = ".."
	srv := startCmd(t, cmd)
	tok, err := mustSigner(t, testSecret).Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(srv.url, "http") + "/socket/websocket?vsn=2.0.0&token=" + tok
	var open []*phxclient.Client
	for i := range 3 {
		c, _, err := phxclient.Dial(ws, nil)
		if err != nil {
			t.Fatalf("connect %d of 3: %v", i+1, err)
		}
		defer c.Close()
		_ = c.Send(fmt.Sprintf(`["1","1","bench:%d","phx_join",{}]`, i))
		if status, _ := reply(t, c, "1"); status != "ok" {
			t.Fatalf("join %d: %s", i, status)
		}
		open = append(open, c)
	}

	start := time.Now()
	_, resp, err := phxclient.Dial(ws, nil)
	if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the fourth connect: %v, %+v", err, resp)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the refusal took %v", d)
	}

	for i, c := range open {
		_ = c.Send(fmt.Sprintf(`["1","2","bench:%d","echo",{"n":%d}]`, i, i))
		if status, body := reply(t, c, "2"); status != "ok" || body != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("echo on connection %d: %s %s", i, status, body)
		}
	}
	if n := scrape(t, srv.url)[`phx_connects_refused_total{reason="limit",transport="websocket"}`]; n != 1 {
		t.Errorf("phx_connects_refused_total{reason=\"limit\"} = %v, want 1", n)
	}
}

// A client that opens far more plain HTTP connections than the server
// holds (-max-http-conns), and keeps them alive idle, does not keep
// newcomers out: each newcomer is made room for by closing the one idle
// the longest, so a health check, a token and a WebSocket join are each
// answered within a second.
func TestSampleHTTPConnectionCap(t *testing.T) {
	const limit, crowd = 64, 500
	cmd := exec.Command(buildSample(t), "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "chat.db"),
		"-secret", testSecret, "-max-http-conns", fmt.Sprint(limit))
	cmd.Dir = ".."
	srv := startCmd(t, cmd)
	host := strings.TrimPrefix(srv.url, "http://")
	get := func(c net.Conn, r *bufio.Reader, path string) (int, error) {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i := range crowd {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("crowd connection %d: %v", i, err)
		}
		defer c.Close()
		// What is answered is the crowd's business: kept alive or not,
		// refused or not, it must not keep the newcomers below out.
		_, _ = get(c, bufio.NewReader(c), "/healthz")
	}
	// The crowd's connections have been idle long enough to be closed
	// for room (a tenth of a second, transport.ConnCap's grace).
	time.Sleep(200 * time.Millisecond)

	for _, path := range []string{"/healthz", "/api/token?user_id=ann"} {
		start := time.Now()
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		code, err := get(c, bufio.NewReader(c), path)
		c.Close()
		if err != nil || code != 200 || time.Since(start) > time.Second {
			t.Fatalf("GET %s beside the crowd: %d %v in %v", path, code, err, time.Since(start))
		}
	}
	start := time.Now()
	ws := dialAs(t, srv, "ann")
	defer ws.Close()
	_ = ws.Send(`["1","1","bench:1","phx_join",{}]`)
	if status, _ := reply(t, ws, "1"); status != "ok" || time.Since(start) > time.Second {
		t.Fatalf("a WebSocket join beside the crowd: %s in %v", status, time.Since(start))
	}
	m := scrape(t, srv.url)
	if open := m["phx_http_connections"]; open > limit+1 {
		t.Errorf("phx_http_connections = %v, over %d", open, limit)
	}
	// Past the limit, every crowd connection was refused at once or later
	// closed for room.
	if n := m["phx_http_connections_closed_for_room_total"] + m["phx_http_connections_refused_total"]; n < crowd-limit {
		t.Errorf("closed for room and refused: %v, want at least %d", n, crowd-limit)
	}
}

// With its default message rate (5 new_msg a second, bursts of 10), a
// socket that floods a room gets "rate limited" for what passes the
// burst, nothing stored or broadcast for it, and a ping still pongs; with
// a connect rate that covers loopback, a client address past its burst is
// answered 429 with Retry-After. /metrics counts both.
func TestSampleRateLimits(t *testing.T) {
	cmd := exec.Command(buildSample(t), "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "chat.db"),
		"-secret", testSecret, "-addr-connect-rate", "0.1", "-addr-connect-rate-loopback")
	cmd.Dir = ".."
	srv := startCmd(t, cmd)
	tok, err := mustSigner(t, testSecret).Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(srv.url, "http") + "/socket/websocket?vsn=2.0.0&token=" + tok
	c, _, err := phxclient.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, resp, err := phxclient.Dial(ws, nil) // a burst of 1 at 0.1/s
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second connect at once: %v, %+v", err, resp)
	}

	_ = c.Send(`["1","1","room:flood","phx_join",{}]`)
	if status, _ := reply(t, c, "1"); status != "ok" {
		t.Fatalf("join: %s", status)
	}
	const sent = 20
	for i := range sent {
		_ = c.Send(fmt.Sprintf(`["1","m%d","room:flood","new_msg",{"body":"m%d"}]`, i, i))
	}
	_ = c.Send(`["1","p","room:flood","ping",{}]`)
	limited, broadcast := 0, 0
	for {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d broadcasts and %d refusals: %v", broadcast, limited, err)
		}
		if m.Event == "new_msg" {
			broadcast++
		}
		if m.Event == "phx_reply" && strings.Contains(string(m.Payload), `{"status":"error","response":{"reason":"rate limited"}}`) {
			limited++
		}
		if m.Event == "phx_reply" && m.Ref == `"p"` {
			break
		}
	}
	// The burst passes; a slow machine may refill a token or two meanwhile.
	if broadcast < 10 || limited < 1 || broadcast+limited != sent {
		t.Errorf("%d of %d new_msg broadcast, %d rate limited", broadcast, sent, limited)
	}
	metrics := scrape(t, srv.url)
	if n := metrics[`phx_connects_refused_total{reason="rate",transport="websocket"}`]; n != 1 {
		t.Errorf(`phx_connects_refused_total{reason="rate"} = %v, want 1`, n)
	}
	if n := metrics[`phx_rate_limited_total{limit="event"}`]; n != float64(limited) {
		t.Errorf(`phx_rate_limited_total{limit="event"} = %v, want %d`, n, limited)
	}
}

// At -join-rate 2 and -boom-rate 1 the sample lets a socket join rooms 2
// times a second in bursts of 4, and crash them on request once a second
// in bursts of 2: past either, "rate limited", and the channels joined go
// on.
func TestSampleJoinAndBoomLimits(t *testing.T) {
	cmd := exec.Command(buildSample(t), "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "chat.db"), "-secret", testSecret,
		"-join-rate", "2", "-boom-rate", "1")
	cmd.Dir = ".."
	srv := startCmd(t, cmd)
	tok, err := mustSigner(t, testSecret).Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.url, "http")+"/socket/websocket?vsn=2.0.0&token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const rooms = 7
	for i := range rooms {
		_ = c.Send(fmt.Sprintf(`["j%d","j%d","room:r%d","phx_join",{}]`, i, i, i))
	}
	joined := 0
	for i := range rooms {
		switch status, response := reply(t, c, fmt.Sprintf("j%d", i)); {
		case status == "ok":
			joined++
		case response != `{"reason":"rate limited"}`:
			t.Errorf("join %d: %s %s", i, status, response)
		}
	}
	// The burst passes; a slow machine may refill a token meanwhile.
	if joined < 4 || joined > 5 {
		t.Errorf("%d of %d joins at once went through, want the burst of 4", joined, rooms)
	}

	const booms = 4
	for i := range booms {
		_ = c.Send(fmt.Sprintf(`["j0","b%d","room:r0","boom",{}]`, i))
	}
	limited := 0
	for i := range booms {
		if _, response := reply(t, c, fmt.Sprintf("b%d", i)); response == `{"reason":"rate limited"}` {
			limited++
		}
	}
	if limited < 1 || limited > 2 {
		t.Errorf("%d of %d booms at once rate limited, want all but the burst of 2", limited, booms)
	}
	_ = c.Send(`["j0","p","room:r0","ping",{}]`)
	if status, response := reply(t, c, "p"); status != "ok" {
		t.Errorf("the room crashed twice and refused the rest: ping %s %s", status, response)
	}
}
