package transport_test

// The long-poll harness: the transport behind an httptest server, with
// harness_test.go's recording Handler and Session; requests over real HTTP
// on loopback, and checks of the answers' exact shape (docs/protocol.md §5.1).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// lpHarness is one long-poll transport behind one test server, mounted at
// /socket/longpoll and at /t/{tenant}/longpoll.
type lpHarness struct {
	*harness // the Handler: records Connect, hands out recording sessions

	lp     *transport.LongPoll
	srv    *httptest.Server
	url    string // http://127.0.0.1:port/socket/longpoll
	client *http.Client

	closeOnce sync.Once
}

func newLongPoll(t *testing.T, cfg transport.LongPollConfig, opts ...option) *lpHarness {
	t.Helper()
	h := &lpHarness{
		harness: &harness{
			t:        t,
			reqs:     make(chan *transport.ConnectRequest, 256),
			sessions: make(chan *session, 256),
			refused:  make(chan *session, 256),
		},
	}
	for _, o := range opts {
		o(h.harness)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h.lp = transport.NewLongPoll(h.harness, cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket/longpoll", h.lp)
	mux.Handle("/t/{tenant}/longpoll", h.lp)
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.Start()
	h.url = h.srv.URL + "/socket/longpoll"
	c := *h.srv.Client()
	c.Timeout = waitTimeout
	h.client = &c
	t.Cleanup(h.close)
	return h
}

// close shuts the transport down, then the server. The server's Close
// waits for every handler: if one is stuck (a bug), the test fails rather
// than hangs.
func (h *lpHarness) close() {
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := h.lp.Shutdown(ctx); err != nil {
			h.t.Errorf("Shutdown at cleanup: %v", err)
		}
		done := make(chan struct{})
		go func() {
			h.srv.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			h.t.Error("the test server did not close: a handler is stuck")
		}
	})
}

// lpReply is one HTTP answer of the transport.
type lpReply struct {
	code   int
	header http.Header
	body   string
}

// request sends method to the socket URL plus "?"+query; hdr may set
// "Content-Type" and anything else.
func (h *lpHarness) request(method, query string, hdr http.Header, body string) (lpReply, error) {
	return h.requestTo(context.Background(), h.url, method, query, hdr, body)
}

func (h *lpHarness) requestTo(ctx context.Context, base, method, query string, hdr http.Header, body string) (lpReply, error) {
	target := base
	if query != "" {
		target += "?" + query
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return lpReply{}, err
	}
	for k, vs := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return lpReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return lpReply{}, err
	}
	return lpReply{code: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func (h *lpHarness) do(t *testing.T, method, query string, hdr http.Header, body string) lpReply {
	t.Helper()
	r, err := h.request(method, query, hdr, body)
	if err != nil {
		t.Fatalf("%s ?%s: %v", method, query, err)
	}
	return r
}

func (h *lpHarness) get(t *testing.T, query string, hdr http.Header) lpReply {
	t.Helper()
	return h.do(t, http.MethodGet, query, hdr, "")
}

// post sends body with the given content type ("" for none).
func (h *lpHarness) post(t *testing.T, query, contentType, body string) lpReply {
	t.Helper()
	var hdr http.Header
	if contentType != "" {
		hdr = http.Header{"Content-Type": {contentType}}
	}
	return h.do(t, http.MethodPost, query, hdr, body)
}

// async runs a request in the background; its answer arrives on the
// channel (a failed request fails the test and sends a zero lpReply).
func (h *lpHarness) async(method, query string, hdr http.Header, body string) <-chan lpReply {
	ch := make(chan lpReply, 1)
	go func() {
		r, err := h.request(method, query, hdr, body)
		if err != nil {
			h.t.Errorf("%s ?%s: %v", method, query, err)
		}
		ch <- r
	}()
	return ch
}

// connect makes a session with a first GET and returns its token, its
// recording session and the Conn the transport opened it with.
func (h *lpHarness) connect(t *testing.T, query string) (string, *session, transport.Conn) {
	t.Helper()
	tok := want410(t, h.get(t, query, nil))
	s, conn := h.accept()
	waitFor(t, h.reqs, "Connect")
	return tok, s, conn
}

// tq is the query of a poll for the session of tok, as the JS client
// writes it: the app's params, then the session token.
func tq(tok string) string { return "vsn=2.0.0&token=" + tok }

// wantBody checks r is a long-poll JSON answer (HTTP 200 and the headers
// of §5.1) whose body is exactly want.
func wantBody(t *testing.T, r lpReply, want map[string]any) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d %q, want 200 with %v", r.code, r.body, want)
	}
	for k, v := range map[string]string{
		"Content-Type":                "application/json; charset=utf-8",
		"Access-Control-Allow-Origin": "*",
		"Cache-Control":               "no-store",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %s, want %v", strings.TrimSpace(r.body), want)
	}
}

// wantStatus checks r is exactly {"status":n}.
func wantStatus(t *testing.T, r lpReply, n int) {
	t.Helper()
	wantBody(t, r, map[string]any{"status": float64(n)})
}

// wantMessages checks r is exactly {"status":n,"token":tok,"messages":msgs}.
func wantMessages(t *testing.T, r lpReply, n int, tok string, msgs ...string) {
	t.Helper()
	list := []any{}
	for _, m := range msgs {
		list = append(list, m)
	}
	wantBody(t, r, map[string]any{"status": float64(n), "token": tok, "messages": list})
}

// want410 checks r is a new session's answer and returns its token.
func want410(t *testing.T, r lpReply) string {
	t.Helper()
	var a struct{ Token string }
	_ = json.Unmarshal([]byte(r.body), &a)
	if a.Token == "" {
		t.Fatalf("HTTP %d %q, want a new session (410 with a token)", r.code, r.body)
	}
	wantMessages(t, r, 410, a.Token)
	return a.Token
}

// wantPlain checks a non-JSON answer: its HTTP status and that its body is
// empty (or, with empty false, is not a long-poll JSON answer).
func wantPlain(t *testing.T, r lpReply, code int, empty bool) {
	t.Helper()
	if r.code != code {
		t.Errorf("HTTP %d %q, want %d", r.code, r.body, code)
	}
	if empty && r.body != "" {
		t.Errorf("body %q, want none", r.body)
	}
	if !empty && strings.HasPrefix(r.body, "{") {
		t.Errorf("body %q, want an error page, not JSON", r.body)
	}
}

// parked counts goroutines that are blocked (neither running nor runnable)
// in a state starting with state ("" for any) with fn on their stack. A GET
// waiting inside the transport raises no signal: the goroutine dump is the
// only witness of it, so tests poll it with eventually.
func parked(state, fn string) int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		i, j := strings.IndexByte(header, '['), strings.LastIndexByte(header, ']')
		if i < 0 || j < i {
			continue
		}
		st := header[i+1 : j]
		if strings.HasPrefix(st, "running") || strings.HasPrefix(st, "runnable") || !strings.HasPrefix(st, state) {
			continue
		}
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

const (
	fnPoll    = "transport.(*lpSession).poll("
	fnReceive = "transport.(*lpSession).receive("
)

// waitPolls waits until n GETs are waiting for frames.
func waitPolls(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d waiting GETs", n), func() bool { return parked("select", fnPoll) == n })
}

// received takes the n frames Receive got, in order.
func received(t *testing.T, s *session, n int) []frame {
	t.Helper()
	got := make([]frame, 0, n)
	for i := range n {
		got = append(got, waitFor(t, s.frames, "frame "+strconv.Itoa(i)))
	}
	return got
}

// text makes the text frames lines.
func text(lines ...string) []frame {
	fs := make([]frame, 0, len(lines))
	for _, l := range lines {
		fs = append(fs, frame{data: l})
	}
	return fs
}
