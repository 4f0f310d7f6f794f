package main

import (
	"fmt"
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
