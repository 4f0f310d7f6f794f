package transport_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// At a connection limit of 3, the fourth connect is answered 503 with
// Retry-After at once, without an upgrade or a Connect; the three keep
// working; the refusals are counted and logged once; a connection that
// ends frees its slot.
func TestWebSocketConnectionLimit(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, transport.WebSocketConfig{MaxConns: 3, Logger: slog.New(slog.NewTextHandler(logs, nil))}, withEcho)
	var open []*client
	for range 3 {
		open = append(open, dial(h, "", nil))
		h.accept()
		waitFor(t, h.reqs, "Connect")
	}
	for range 2 {
		start := time.Now()
		_, resp, err := tryDial(h, "", nil, nil)
		if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a connect past the limit: %v, %+v", err, resp)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the refusal took %v", d)
		}
	}
	if !isEmpty(h.reqs) {
		t.Fatal("Connect ran for a connect past the limit")
	}
	for i, c := range open {
		msg := strings.Repeat("x", i+1)
		c.send(t, msg)
		if f := c.next(t); f.data != msg {
			t.Fatalf("connection %d: echo %q", i, f.data)
		}
	}
	if s := h.ws.Stats(); s.ConnectsRefused[transport.RefusedLimit] != 2 {
		t.Errorf("refusals counted: %v", s.ConnectsRefused)
	}
	if n := strings.Count(logs.String(), "connection limit reached"); n != 1 {
		t.Errorf("%d log lines for 2 refusals, want 1:\n%s", n, logs.String())
	}

	_ = open[0].conn.WriteClose(1000, nil)
	<-open[0].done
	eventually(t, "a free slot", func() bool { return h.ws.Len() == 2 })
	dial(h, "", nil)
	h.accept()
	h.close()
	if !strings.Contains(logs.String(), "2 websocket connects refused at the connection limit") {
		t.Errorf("the refusals were not summed at shutdown:\n%s", logs.String())
	}
}

// Long-poll sessions are bounded the same way: the GET that would open
// one more is answered 503 with Retry-After, and the open sessions go on.
func TestLongPollSessionLimit(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{MaxSessions: 2})
	var toks []string
	for range 2 {
		tok, _, _ := h.connect(t, tq(""))
		toks = append(toks, tok)
	}
	r := h.get(t, tq(""), nil)
	if r.code != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("a third session: HTTP %d %q, Retry-After %q", r.code, r.body, r.header.Get("Retry-After"))
	}
	for _, tok := range toks {
		wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["1","1","t","a",{}]`), 200)
	}
	if s := h.lp.Stats(); s.ConnectsRefused[transport.RefusedLimit] != 1 {
		t.Errorf("refusals counted: %v", s.ConnectsRefused)
	}
}

// The default limit leaves a reserve below the open-file limit.
func TestDefaultMaxConns(t *testing.T) {
	if n := transport.DefaultMaxConns(); n < 64 {
		t.Fatalf("DefaultMaxConns() = %d", n)
	}
}
