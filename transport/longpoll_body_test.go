package transport_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// postStream POSTs to the session of tok, over a connection of its own,
// a body that the test writes as it goes (in chunks, or as much as
// length, when not negative, declares), through the returned writer: an
// HTTP client would buffer it. The answer arrives on the channel.
func (h *lpHarness) postStream(t *testing.T, tok string, length int64) (io.WriteCloser, <-chan lpReply) {
	t.Helper()
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	framing := "Transfer-Encoding: chunked"
	if length >= 0 {
		framing = fmt.Sprintf("Content-Length: %d", length)
	}
	if _, err := fmt.Fprintf(c, "POST /socket/longpoll?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\n%s\r\n\r\n",
		tq(tok), h.srv.Listener.Addr(), framing); err != nil {
		t.Fatal(err)
	}
	ch := make(chan lpReply, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			ch <- lpReply{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- lpReply{code: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	if length >= 0 {
		return c, ch
	}
	return chunked{c}, ch
}

// chunked writes each Write as one chunk.
type chunked struct{ net.Conn }

func (c chunked) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(c.Conn, "%x\r\n%s\r\n", len(p), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func answer(t *testing.T, ch <-chan lpReply, what string) lpReply {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("no answer to %s", what)
		return lpReply{}
	}
}

// A body is read as it arrives and its lines as they come: once
// MaxLines lines are read (empty ones too), the POST is answered
// without reading the rest, which a client may never send.
func TestLongPollBodyReadAsItArrives(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	tok, s, _ := h.connect(t, tq(""))
	w, reply := h.postStream(t, tok, -1)
	if _, err := io.WriteString(w, `["1","1","t","first",{}]`+"\n"+strings.Repeat("\n", 99)+`["1","2","t","past the cap",{}]`+"\n"); err != nil {
		t.Fatal(err)
	}
	if r := answer(t, reply, "a POST of 100 lines and more to come"); r.code != http.StatusOK {
		t.Fatalf("answer %d %q", r.code, r.body)
	}
	if got := received(t, s, 1); got[0].data != `["1","1","t","first",{}]` {
		t.Fatalf("received %v", got)
	}
	if !isEmpty(s.frames) {
		t.Error("a line past MaxLines was handled")
	}
}

// A body whose declared length is past MaxBody is refused before any of
// it is read, and one whose line grows past what a message may be is
// refused as soon as it does, the rest unread.
func TestLongPollBodyRefusedAtOnce(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{MaxBody: 10_000, MaxFrameSize: 1000})
	tok, s, _ := h.connect(t, tq(""))
	_, reply := h.postStream(t, tok, 10_001)
	if r := answer(t, reply, "a POST declared too long"); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer %d %q", r.code, r.body)
	}
	w, reply := h.postStream(t, tok, -1)
	if _, err := io.WriteString(w, `["`+strings.Repeat("x", 2000)); err != nil {
		t.Fatal(err)
	}
	if r := answer(t, reply, "a line past the frame size, and more to come"); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer %d %q", r.code, r.body)
	}
	if !isEmpty(s.frames) {
		t.Error("a refused body reached Receive")
	}
	if got := h.lp.Stats().PostsRefused[transport.RefusedTooLarge]; got != 2 {
		t.Errorf("refused as too large: %d", got)
	}
}

// What the bodies being read hold together is bounded: past
// MaxBodiesBytes a POST is answered 503 with Retry-After, and once the
// bodies holding it are done, POSTs are taken again.
func TestLongPollBodiesBudget(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{MaxBodiesBytes: 10_000})
	tok, s, _ := h.connect(t, tq(""))
	slow, slowReply := h.postStream(t, tok, -1)
	if _, err := io.WriteString(slow, `["`+strings.Repeat("x", 8000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow body held", func() bool { return h.lp.Stats().BodyBytes >= 8000 })

	line := `["1","1","t","e","` + strings.Repeat("y", 4000) + `"]`
	r := h.post(t, tq(tok), "application/x-ndjson", line)
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("a POST past the budget: %d %v %q", r.code, r.header, r.body)
	}
	if got := h.lp.Stats().PostsRefused[transport.RefusedBudget]; got != 1 {
		t.Errorf("refused for the budget: %d", got)
	}

	_ = slow.Close()
	answer(t, slowReply, "the slow POST, cut")
	eventually(t, "the slow body given back", func() bool { return h.lp.Stats().BodyBytes == 0 })
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", line), http.StatusOK)
	if got := received(t, s, 1); got[0].data != line {
		t.Fatalf("received %d bytes", len(got[0].data))
	}
}
