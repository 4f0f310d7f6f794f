package transport_test

// Long-poll tests, part two: POST bodies, other methods, the Conn a session
// writes to, session lifetime, Shutdown and concurrency (docs/protocol.md
// §5.2, §5.4, §5.5, §10 rows 36, 37, 39, 46).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/transport"
)

// §5.4, §10 row 36: ndjson lines reach Receive one by one, in order; a
// line that is not a JSON array is base64 of a binary frame.
func TestLongPollPostNDJSON(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	for _, ct := range []string{
		"application/x-ndjson",
		"application/x-ndjson; charset=utf-8", // §5.4, beyond Phoenix
		"Application/X-NDJSON",
	} {
		body := `["1","1","room:lobby","phx_join",{}]` + "\n" +
			`["1","2","room:lobby","new_msg",{"body":"a\nb"}]` + "\r\n" +
			"\n" + // empty lines are skipped (§5.4, beyond Phoenix)
			"\r\n" +
			"AQID\n" + // bytes 01 02 03
			"AAECAw==\r\n" + // padded: 00 01 02 03
			`["1","3","room:lobby","last",{}]`
		wantStatus(t, h.post(t, tq(tok), ct, body), 200)
		// Receive ran before the answer: everything is there already.
		want := []frame{
			{data: `["1","1","room:lobby","phx_join",{}]`},
			{data: `["1","2","room:lobby","new_msg",{"body":"a\nb"}]`},
			{data: "\x01\x02\x03", binary: true},
			{data: "\x00\x01\x02\x03", binary: true},
			{data: `["1","3","room:lobby","last",{}]`},
		}
		if got := received(t, s, len(want)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Receive got %+v, want %+v", ct, got, want)
		}
		if !isEmpty(s.frames) {
			t.Errorf("%s: more frames than lines", ct)
		}
	}
}

// §5.2: a line that is neither a JSON array nor base64 fails the POST
// with an HTTP 400 error page; the POST is refused as a whole, and the
// session goes on.
func TestLongPollPostBadBase64(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	for _, bad := range []string{"!!!", "AQI", `{"v1":"object"}`} {
		wantPlain(t, h.post(t, tq(tok), "application/x-ndjson", `["before"]`+"\n"+bad+"\n"+`["after"]`), http.StatusBadRequest, false)
		if !isEmpty(s.frames) {
			t.Errorf("%q: part of a refused POST reached Receive", bad)
		}
	}
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["ok"]`), 200)
	if f := waitFor(t, s.frames, "the frame"); f.data != `["ok"]` {
		t.Errorf("Receive got %q", f.data)
	}
}

// §5.4, §10 row 39: only the first MaxLines lines of a POST are processed.
func TestLongPollPostMaxLines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxLines int
		lines    int
		want     int
	}{
		{"default", 0, 150, 100},
		{"three", 3, 5, 3},
		{"fewer than the limit", 3, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLongPoll(t, transport.LongPollConfig{MaxLines: tc.maxLines})
			tok, s, _ := h.connect(t, "vsn=2.0.0")
			lines := make([]string, tc.lines)
			for i := range lines {
				lines[i] = fmt.Sprintf(`["%d"]`, i)
			}
			wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", strings.Join(lines, "\n")), 200)
			if got := received(t, s, tc.want); !reflect.DeepEqual(got, text(lines[:tc.want]...)) {
				t.Errorf("Receive got %+v", got)
			}
			// The POST was answered after its last Receive.
			if !isEmpty(s.frames) {
				t.Errorf("more than %d lines processed", tc.want)
			}
		})
	}
}

// §5.4, §10 row 46: any other content type is one frame, the whole body.
func TestLongPollPostWholeBody(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, _ := h.connect(t, "vsn=1.0.0")
	body := `{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}` + "\n" + `["not","split"]` + "\nAQID"
	for _, ct := range []string{"", "application/json", "text/plain; charset=utf-8", "application/ndjson"} {
		wantStatus(t, h.post(t, tq(tok), ct, body), 200)
		if f := waitFor(t, s.frames, "the frame"); f != (frame{data: body}) {
			t.Errorf("content type %q: Receive got %+v, want the whole body as text", ct, f)
		}
		if !isEmpty(s.frames) {
			t.Errorf("content type %q: the body was split", ct)
		}
	}
}

// §5.2: a body over the limit is an HTTP 413 error page, and reaches
// nothing.
func TestLongPollPostMaxBody(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{MaxBody: 1000})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	line := `["` + strings.Repeat("x", 996) + `"]` // 1000 bytes
	wantPlain(t, h.post(t, tq(tok), "application/x-ndjson", line+"\n"), http.StatusRequestEntityTooLarge, false)
	wantPlain(t, h.post(t, tq(tok), "application/json", line+" "), http.StatusRequestEntityTooLarge, false)
	if !isEmpty(s.frames) {
		t.Error("a body over the limit reached Receive")
	}
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", line), 200)
	if f := waitFor(t, s.frames, "the frame"); f.data != line {
		t.Errorf("Receive got %d bytes, want the 1000-byte line", len(f.data))
	}
}

func TestLongPollPostWithoutSession(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	wantStatus(t, h.post(t, "vsn=2.0.0", "application/x-ndjson", `["x"]`), 410)
	wantStatus(t, h.post(t, "vsn=2.0.0&token=", "application/x-ndjson", `["x"]`), 410)
	if !isEmpty(h.reqs) {
		t.Error("a POST made a session")
	}
}

// §5.2: OPTIONS is the CORS preflight; other methods are 400.
func TestLongPollOtherMethods(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	r := h.do(t, http.MethodOptions, "vsn=2.0.0", http.Header{
		"Access-Control-Request-Headers": {"x-phoenix-longpoll-token, content-type"},
		"Access-Control-Request-Method":  {"POST"},
		"Origin":                         {"http://127.0.0.1"},
	}, "")
	wantPlain(t, r, http.StatusOK, true)
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Headers": "x-phoenix-longpoll-token, content-type",
		"Access-Control-Allow-Methods": "get, post, options",
		"Access-Control-Max-Age":       "3600",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("OPTIONS: header %s = %q, want %q", k, got, v)
		}
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		wantPlain(t, h.do(t, m, "vsn=2.0.0", nil, ""), http.StatusBadRequest, true)
	}
	if !isEmpty(h.reqs) {
		t.Error("Connect was called")
	}
}

// Long-poll answers carry text only: a binary Send fails and leaves
// nothing behind.
func TestLongPollSendBinary(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	if err := conn.Send([]byte{1, 2}, true); !errors.Is(err, transport.ErrBinaryUnsupportedLongPoll) {
		t.Errorf("binary Send = %v, want ErrBinaryUnsupportedLongPoll", err)
	}
	if err := conn.Send([]byte(`["t"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, `["t"]`)
	if !isEmpty(s.closed) {
		t.Error("a binary Send ended the session")
	}
}

// docs/architecture.md#back-pressure-and-limits: the buffer is bounded;
// overflowing it ends the session, whose token then leads nowhere.
func TestLongPollBufferOverflow(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{BufferSize: 100, Window: 5 * time.Second})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	sixty := []byte(`["` + strings.Repeat("x", 56) + `"]`)
	// A GET empties the buffer: only what waits counts.
	for range 3 {
		if err := conn.Send(sixty, false); err != nil {
			t.Fatalf("Send: %v", err)
		}
		wantMessages(t, h.get(t, tq(tok), nil), 200, tok, string(sixty))
	}
	forty := []byte(`["` + strings.Repeat("y", 36) + `"]`)
	for _, f := range [][]byte{sixty, forty} { // exactly 100 bytes fit
		if err := conn.Send(f, false); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := conn.Send([]byte("z"), false); !errors.Is(err, transport.ErrOutboxFull) {
		t.Fatalf("Send past the limit = %v, want ErrOutboxFull", err)
	}
	if err := waitFor(t, s.closed, "Closed"); !errors.Is(err, transport.ErrOutboxFull) {
		t.Errorf("Closed(%v), want ErrOutboxFull", err)
	}
	if err := conn.Send([]byte("z"), false); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after the overflow = %v, want ErrClosed", err)
	}
	if n := h.lp.Len(); n != 0 {
		t.Errorf("Len() = %d", n)
	}
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["x"]`), 410)
	if tok2 := want410(t, h.get(t, tq(tok), nil)); tok2 == tok {
		t.Error("GET found the ended session")
	}
	waitFor(t, h.reqs, "the new session's Connect")
	if !isEmpty(s.frames) {
		t.Error("the ended session received a frame")
	}
}

// Conn.Close from the session: frames buffered before it still reach a GET
// that is waiting at that moment; the session's token then leads nowhere.
func TestLongPollSessionCloses(t *testing.T) {
	t.Run("waiting GET gets what was sent before", func(t *testing.T) {
		h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
		tok, s, conn := h.connect(t, "vsn=2.0.0")
		got := h.async(http.MethodGet, tq(tok), nil, "")
		waitPolls(t, 1)
		if err := conn.Send([]byte(`["bye"]`), false); err != nil {
			t.Fatal(err)
		}
		conn.Close(transport.CloseNormal, "")
		wantMessages(t, waitFor(t, got, "the GET"), 200, tok, `["bye"]`)
		if err := waitFor(t, s.closed, "Closed"); err != nil {
			t.Errorf("Closed(%v), want nil", err)
		}
		if err := conn.Send([]byte(`["late"]`), false); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Send after Close = %v, want ErrClosed", err)
		}
		conn.Close(transport.CloseNormal, "again") // does nothing
		wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["x"]`), 410)
		if !isEmpty(s.frames) {
			t.Error("the ended session received a frame")
		}
		if tok2 := want410(t, h.get(t, tq(tok), nil)); tok2 == tok {
			t.Error("GET found the ended session")
		}
	})

	t.Run("waiting GET with nothing buffered", func(t *testing.T) {
		const window = 5 * time.Second
		h := newLongPoll(t, transport.LongPollConfig{Window: window})
		tok, s, conn := h.connect(t, "vsn=2.0.0")
		got := h.async(http.MethodGet, tq(tok), nil, "")
		waitPolls(t, 1)
		start := time.Now()
		conn.Close(transport.CloseNormal, "")
		// At once, not at the end of the window; the JS client then makes
		// a new session (§5.6).
		wantStatus(t, waitFor(t, got, "the GET"), 410)
		if d := time.Since(start); d >= window {
			t.Errorf("the waiting GET answered after %v", d)
		}
		waitFor(t, s.closed, "Closed")
	})

	t.Run("frames nobody waits for are dropped", func(t *testing.T) {
		// As in Phoenix, whose session process dies with its buffer: the
		// next GET finds no session and makes a new one.
		h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
		tok, s, conn := h.connect(t, "vsn=2.0.0")
		if err := conn.Send([]byte(`["unread"]`), false); err != nil {
			t.Fatal(err)
		}
		conn.Close(transport.CloseNormal, "")
		waitFor(t, s.closed, "Closed")
		want410(t, h.get(t, tq(tok), nil))
	})
}

// §5.5, §10 row 37: a session nobody polls for 1.5 windows ends.
func TestLongPollIdleExpiry(t *testing.T) {
	const window = 100 * time.Millisecond
	h := newLongPoll(t, transport.LongPollConfig{Window: window})
	start := time.Now()
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	if err := waitFor(t, s.closed, "Closed"); err != nil {
		t.Errorf("Closed(%v), want nil", err)
	}
	// Phoenix checks every 1.5 windows, so its sessions end 1.5 to 3
	// windows after the last poll; the upper bound here only catches a
	// session that never ends.
	switch d := time.Since(start); {
	case d < window*3/2:
		t.Errorf("ended after %v, before 1.5 windows", d)
	case d > window*3/2+2*time.Second:
		t.Errorf("ended after %v, long after 1.5 windows", d)
	}
	if n := h.lp.Len(); n != 0 {
		t.Errorf("Len() = %d", n)
	}
	if err := conn.Send([]byte(`["x"]`), false); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send = %v, want ErrClosed", err)
	}
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["x"]`), 410)
	want410(t, h.get(t, tq(tok), nil))
}

// A client that keeps polling keeps its session, window after window.
func TestLongPollPollingKeepsSessionAlive(t *testing.T) {
	// The 0.5-window margin between one GET's 204 and the next GET is what
	// a loaded machine has to fit into: 200 ms windows leave 100 ms.
	const window = 200 * time.Millisecond
	h := newLongPoll(t, transport.LongPollConfig{Window: window})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	start := time.Now()
	for time.Since(start) < 5*window {
		wantMessages(t, h.get(t, tq(tok), nil), 204, tok)
	}
	if !isEmpty(s.closed) {
		t.Fatal("a polled session ended")
	}
	if n := h.lp.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}

func TestLongPollLen(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	var conns []transport.Conn
	for i := range 3 {
		_, _, conn := h.connect(t, "")
		conns = append(conns, conn)
		if n := h.lp.Len(); n != i+1 {
			t.Errorf("Len() = %d, want %d", n, i+1)
		}
	}
	conns[1].Close(transport.CloseNormal, "")
	if n := h.lp.Len(); n != 2 {
		t.Errorf("Len() = %d after a Close, want 2", n)
	}
	wantStatus(t, h.get(t, "vsn=123.1.1", nil), 403)
	if n := h.lp.Len(); n != 2 {
		t.Errorf("Len() = %d after a refusal, want 2", n)
	}
}

// docs/architecture.md#ownership-and-shutdown: Shutdown ends every session,
// answers waiting GETs, refuses new sessions, and leaves no goroutine or
// timer behind.
func TestLongPollShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const window = 5 * time.Second
	h := newLongPoll(t, transport.LongPollConfig{Window: window})
	var toks []string
	var sessions []*session
	var conns []transport.Conn
	for range 3 {
		tok, s, conn := h.connect(t, "vsn=2.0.0")
		toks, sessions, conns = append(toks, tok), append(sessions, s), append(conns, conn)
	}
	waiting := h.async(http.MethodGet, tq(toks[0]), nil, "")
	waitPolls(t, 1)
	if err := conns[1].Send([]byte(`["unread"]`), false); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	if err := h.lp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	for i, s := range sessions {
		select {
		case err := <-s.closed:
			if err != nil {
				t.Errorf("session %d: Closed(%v), want nil", i, err)
			}
		default:
			t.Errorf("session %d: Shutdown returned before Closed", i)
		}
	}
	wantStatus(t, waitFor(t, waiting, "the waiting GET"), 410)
	if d := time.Since(start); d >= window {
		t.Errorf("the waiting GET answered %v after Shutdown", d)
	}
	if n := h.lp.Len(); n != 0 {
		t.Errorf("Len() = %d after Shutdown", n)
	}
	for i, conn := range conns {
		if err := conn.Send([]byte(`["x"]`), false); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("session %d: Send after Shutdown = %v, want ErrClosed", i, err)
		}
	}

	// No new session, and the Handler is not even asked.
	wantStatus(t, h.get(t, "vsn=2.0.0", nil), 403)
	wantStatus(t, h.get(t, tq(toks[1]), nil), 403)
	wantStatus(t, h.post(t, tq(toks[2]), "application/x-ndjson", `["x"]`), 410)
	if !isEmpty(h.reqs) {
		t.Error("Connect was called after Shutdown")
	}
	if err := h.lp.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	h.close() // the deferred leak check runs before t.Cleanup would
}

// serialCheck fails the test if two Receive calls overlap, and can hold
// Receive on a given frame until released.
type serialCheck struct {
	*session
	inflight atomic.Int32
	overlap  atomic.Bool
	holdOn   string        // the frame to hold on
	held     chan struct{} // closed when Receive holds
	release  chan struct{}
}

func (c *serialCheck) Receive(data []byte, binary bool) {
	if c.inflight.Add(1) > 1 {
		c.overlap.Store(true)
	}
	defer c.inflight.Add(-1)
	if c.holdOn != "" && string(data) == c.holdOn {
		close(c.held)
		<-c.release
	}
	runtime.Gosched() // give an overlapping call every chance to show
	c.session.Receive(data, binary)
}

// Two POSTs at once: each one's lines stay together and in order, and
// Receive calls never overlap (Session's contract: one goroutine).
func TestLongPollConcurrentPosts(t *testing.T) {
	batch := func(name string, n int) []string {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = fmt.Sprintf(`["%s%d"]`, name, i)
		}
		return lines
	}

	t.Run("second waits for the first", func(t *testing.T) {
		check := &serialCheck{holdOn: `["A0"]`, held: make(chan struct{}), release: make(chan struct{})}
		h := newLongPoll(t, transport.LongPollConfig{}, func(h *harness) {
			h.wrap = func(s *session) transport.Session { check.session = s; return check }
		})
		tok, s, _ := h.connect(t, "vsn=2.0.0")
		a, b := batch("A", 50), batch("B", 50)
		first := h.async(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, strings.Join(a, "\n"))
		waitFor(t, check.held, "Receive of the first POST")
		second := h.async(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, strings.Join(b, "\n"))
		eventually(t, "the second POST to wait for the first", func() bool { return parked("sync.Mutex.Lock", fnReceive) == 1 })
		close(check.release)
		wantStatus(t, waitFor(t, first, "the first POST"), 200)
		wantStatus(t, waitFor(t, second, "the second POST"), 200)
		if got := received(t, s, 100); !reflect.DeepEqual(got, text(append(a, b...)...)) {
			t.Errorf("Receive order %+v", got)
		}
		if check.overlap.Load() {
			t.Error("Receive calls overlapped")
		}
	})

	t.Run("many at once", func(t *testing.T) {
		check := &serialCheck{}
		h := newLongPoll(t, transport.LongPollConfig{}, func(h *harness) {
			h.wrap = func(s *session) transport.Session { check.session = s; return check }
		})
		tok, s, _ := h.connect(t, "vsn=2.0.0")
		const posts, lines = 8, 25
		var replies []<-chan lpReply
		for p := range posts {
			body := strings.Join(batch(string(rune('A'+p)), lines), "\n")
			replies = append(replies, h.async(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, body))
		}
		for _, r := range replies {
			wantStatus(t, waitFor(t, r, "a POST"), 200)
		}
		got := received(t, s, posts*lines)
		// Each POST is a run of its own lines, in order.
		seen := map[byte]bool{}
		for i := 0; i < len(got); i += lines {
			name := got[i].data[2]
			if seen[name] {
				t.Fatalf("POST %c is split: %+v", name, got)
			}
			seen[name] = true
			if want := text(batch(string(name), lines)...); !reflect.DeepEqual(got[i:i+lines], want) {
				t.Fatalf("POST %c: %+v, want %+v", name, got[i:i+lines], want)
			}
		}
		if check.overlap.Load() {
			t.Error("Receive calls overlapped")
		}
	})
}

// A Close while a POST is being received: Closed comes after the last
// Receive, never during or before it.
func TestLongPollCloseDuringPost(t *testing.T) {
	check := &serialCheck{holdOn: `["hold"]`, held: make(chan struct{}), release: make(chan struct{})}
	h := newLongPoll(t, transport.LongPollConfig{}, func(h *harness) {
		h.wrap = func(s *session) transport.Session { check.session = s; return check }
	})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	post := h.async(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, "[\"a\"]\n[\"hold\"]\n[\"c\"]")
	waitFor(t, check.held, "Receive to hold")
	// Close returns at once (it may be called from inside Receive); the
	// Session hears of it when the Receive under way returns.
	conn.Close(transport.CloseNormal, "")
	if !isEmpty(s.closed) {
		t.Fatal("Closed was called during Receive")
	}
	// Already closing: a new POST is refused and reaches nothing.
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["new"]`), 410)
	close(check.release)
	waitFor(t, s.closed, "Closed")
	// The POST under way was taken whole; the session's own checks saw
	// every Receive before Closed.
	wantStatus(t, waitFor(t, post, "the POST"), 200)
	if got := received(t, s, 3); !reflect.DeepEqual(got, text(`["a"]`, `["hold"]`, `["c"]`)) {
		t.Errorf("Receive got %+v", got)
	}
	if !isEmpty(s.frames) {
		t.Error("a frame was received after Closed")
	}
}

// A session that ends while a POST body is still arriving: the POST found
// the session, but its frames reach nothing and it answers 410.
func TestLongPollSessionEndsDuringPostBody(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	pr, pw := io.Pipe()
	defer pr.Close()
	req, err := http.NewRequest(http.MethodPost, h.url+"?"+tq(tok), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	answer := make(chan lpReply, 1)
	go func() {
		var r lpReply
		resp, err := h.client.Do(req)
		if err != nil {
			t.Errorf("POST: %v", err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r = lpReply{code: resp.StatusCode, header: resp.Header, body: string(b)}
		}
		answer <- r
	}()
	if _, err := io.WriteString(pw, `["a"]`+"\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the POST to read its body", func() bool { return parked("", "transport.(*LongPoll).post(") == 1 })
	conn.Close(transport.CloseNormal, "")
	waitFor(t, s.closed, "Closed")
	if _, err := io.WriteString(pw, `["b"]`); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wantStatus(t, waitFor(t, answer, "the POST"), 410)
	if !isEmpty(s.frames) {
		t.Error("a frame reached the ended session")
	}
}

// A message of a POST over MaxFrameSize is refused as WebSocket refuses
// such a frame: 413, and none of the POST's messages reaches the socket.
// A non-ndjson body is one message.
func TestLongPollPostMaxFrameSize(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{MaxFrameSize: 1000})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	small := `["1","1","t","e",{}]`
	big := `["` + strings.Repeat("x", 997) + `"]` // 1001 bytes
	wantPlain(t, h.post(t, tq(tok), "application/x-ndjson", small+"\n"+big), http.StatusRequestEntityTooLarge, false)
	wantPlain(t, h.post(t, tq(tok), "application/json", big), http.StatusRequestEntityTooLarge, false)
	if !isEmpty(s.frames) {
		t.Error("a POST with a message over the limit reached Receive")
	}
	// The default is WebSocket's: 1 MiB, so 8 MB bodies are 413 too.
	d := newLongPoll(t, transport.LongPollConfig{})
	tok, s, _ = d.connect(t, "vsn=2.0.0")
	wantPlain(t, d.post(t, tq(tok), "application/json", `["`+strings.Repeat("x", 1<<20)+`"]`), http.StatusRequestEntityTooLarge, false)
	wantStatus(t, d.post(t, tq(tok), "application/json", big), 200)
	if f := waitFor(t, s.frames, "the frame"); f.data != big {
		t.Errorf("Receive got %d bytes, want the 1001-byte body", len(f.data))
	}
}
