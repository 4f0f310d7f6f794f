package transport_test

// Long-poll sessions whose callbacks end them, run before their Open has
// returned, or panic: each of these once deadlocked a handler, told a
// Session Closed before Open, or let a panic leave the session open.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// within is waitFor with a shorter bound, for answers that come at once
// unless something is stuck.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, d)
		panic("unreachable")
	}
}

// A Session may call its Conn from Receive: the WebSocket transport allows
// it, and replying from Receive is what sessions do. On long-poll, ending
// the session from Receive (Close, or a Send that overflows the buffer)
// locks lpSession.recv, which receive already holds on the same goroutine.
func TestLongPollEndFromReceive(t *testing.T) {
	for _, tc := range []struct {
		name    string
		act     func(transport.Conn) error
		wantErr error
	}{
		{"Close", func(c transport.Conn) error { c.Close(transport.CloseNormal, ""); return nil }, nil},
		{"overflowing Send", func(c transport.Conn) error { return c.Send([]byte(strings.Repeat("x", 200)), false) }, transport.ErrOutboxFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acted := make(chan error, 1)
			h := newLongPoll(t, transport.LongPollConfig{BufferSize: 100}, func(h *harness) {
				h.onReceive = func(s *session, f frame) {
					if f.data == `["end"]` {
						acted <- tc.act(s.conn)
					}
				}
			})
			tok, s, _ := h.connect(t, "vsn=2.0.0")
			post := h.async(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, `["end"]`)
			if err := within(t, acted, 3*time.Second, "return from the Conn call made in Receive (deadlock)"); !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
			wantStatus(t, within(t, post, 3*time.Second, "answer to the POST"), 200)
			if err := within(t, s.closed, 3*time.Second, "Closed"); !errors.Is(err, tc.wantErr) {
				t.Errorf("Closed(%v), want %v", err, tc.wantErr)
			}
			wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["x"]`), 410)
		})
	}
}

// gatedOpen holds Open until released and notes a Closed that comes before
// Open has returned.
type gatedOpen struct {
	*session
	entered, release chan struct{}
	opened           atomic.Bool
	early            atomic.Bool // Closed came before Open returned
}

func (g *gatedOpen) Open(c transport.Conn) {
	close(g.entered)
	<-g.release
	g.session.Open(c)
	g.opened.Store(true)
}

func (g *gatedOpen) Closed(err error) {
	if !g.opened.Load() {
		g.early.Store(true)
	}
	g.session.Closed(err)
}

// Closed must come after Open (the WebSocket transport calls Closed from
// the read loop, which starts after Open). open() publishes the session
// and arms its idle timer before calling Open, outside s.recv: a Shutdown
// (or the idle timer) meanwhile calls Closed before or during Open. The
// actors session, for one, sets the pid in Open that Closed reads.
func TestLongPollClosedBeforeOpen(t *testing.T) {
	g := &gatedOpen{entered: make(chan struct{}), release: make(chan struct{})}
	h := newLongPoll(t, transport.LongPollConfig{}, func(h *harness) {
		h.wrap = func(s *session) transport.Session { g.session = s; return g }
	})
	first := h.async(http.MethodGet, "vsn=2.0.0", nil, "")
	waitFor(t, g.entered, "Open")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done <- h.lp.Shutdown(ctx)
	}()
	// Let Shutdown go as far as it can while Open runs: to the session's
	// Closed (the bug), or to waiting for Open, or to its end.
	eventually(t, "Shutdown to close the session or wait", func() bool {
		return g.early.Load() || len(done) > 0 || parked("", "transport.(*LongPoll).Shutdown(") > 0
	})
	close(g.release)
	if err := waitFor(t, done, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	waitFor(t, first, "the first GET")
	waitFor(t, g.closed, "Closed")
	if g.early.Load() {
		t.Error("Closed was called before Open returned")
	}
}

// A panic in Receive ends that connection on WebSocket (logged, closed with
// 1011), as a crashed socket process ends a Phoenix long-poll session. On
// long-poll nothing recovers it: net/http does, per request, and the
// session goes on as if nothing happened, without a log through
// Config.Logger.
func TestLongPollReceivePanic(t *testing.T) {
	var logs syncBuffer
	h := newLongPoll(t, transport.LongPollConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(h *harness) {
		h.onReceive = func(_ *session, f frame) {
			if f.data == `["panic"]` {
				panic("boom")
			}
		}
	})
	tok, s, _ := h.connect(t, "vsn=2.0.0")
	_, _ = h.request(http.MethodPost, tq(tok), http.Header{"Content-Type": {"application/x-ndjson"}}, `["panic"]`)
	waitFor(t, s.frames, "the panicking frame")
	within(t, s.closed, 3*time.Second, "Closed after the panic")
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", `["after"]`), 410)
	if !strings.Contains(logs.String(), "panic") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("the panic was not logged: %q", logs.String())
	}
}
