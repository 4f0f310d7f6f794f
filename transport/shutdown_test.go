package transport_test

// Shutdown: every connection closed with 1012, every goroutine waited for,
// within the caller's deadline (docs/protocol.md §4.10, §9.2;
// docs/architecture.md#ownership-and-shutdown).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/transport"
)

func TestShutdown(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	var clients []*client
	var sessions []*session
	for range 3 {
		clients = append(clients, dial(h, "", nil))
		s, _ := h.accept()
		sessions = append(sessions, s)
	}
	if n := h.ws.Len(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.ws.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown waited for every connection: no waiting needed here.
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
	for i, c := range clients {
		// 1012: clients come back once the server is up again.
		if ce := c.closeError(t); ce.Code != transport.CloseServiceRestart {
			t.Errorf("client %d: close code %d, want 1012", i, ce.Code)
		}
	}
	if n := h.ws.Len(); n != 0 {
		t.Errorf("Len() = %d after Shutdown", n)
	}

	_, resp, err := tryDial(h, "", nil, nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Errorf("dial after Shutdown: %v, %v; want 503", err, resp)
	}
	// Refused before the Handler is asked: no session is made.
	if !isEmpty(h.sessions) {
		t.Error("Connect was called after Shutdown")
	}
}

// TestShutdownDeadline: a client that never reads, with megabytes queued,
// holds a write; Shutdown must give up at its deadline and still leave no
// goroutine behind.
func TestShutdownDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newHarness(t, transport.WebSocketConfig{OutboxSize: 16 << 20}, withSmallSendBuffer)
	raw := rawHandshake(h, "", nil, 4<<10)
	s, conn := h.accept()
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	for range 64 { // 4 MiB, far beyond the socket buffers
		if err := conn.Send(chunk, true); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.ws.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	// Well before the 10 s write timeout that would otherwise end the write.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if st := s.state.Load(); st != 2 {
		t.Errorf("session state %d after Shutdown returned, want Closed", st)
	}
	_ = raw.Close()
	h.close() // the deferred leak check runs before t.Cleanup would
}

// TestShutdownPartialTry: a client that does not read takes only part of
// a tried frame, whose rest waits for the outbox's goroutine while the
// wire stays held. Shutdown forces the connection closed before that
// goroutine gets to write the rest, as can happen to any slow client on a
// loaded server; the rest's write must then fail and let go of the wire,
// and Shutdown return. The session is kept busy in Receive meanwhile, so
// that the write of the rest is the first to find the connection closed.
func TestShutdownPartialTry(t *testing.T) {
	if !transport.CanTry {
		t.Skip("no tries on this system")
	}
	busy := make(chan struct{})
	h := newHarness(t, transport.WebSocketConfig{OutboxSize: 16 << 20}, withSmallSendBuffer, func(h *harness) {
		h.onReceive = func(*session, frame) { <-busy }
	})
	// With the bug, the cleanup's Shutdown would never return: this test
	// runs its own.
	h.closeOnce.Do(func() { t.Cleanup(h.srv.Close) })
	raw := rawHandshake(h, "", nil, 4<<10)
	s, conn := h.accept()
	release := sync.OnceFunc(func() { close(busy) })
	defer release()
	raw.writeFrame(t, 0x1, []byte("busy"))
	waitFor(t, s.frames, "the frame that keeps Receive busy")

	entered, finished, resume := transport.HoldFinishTry(conn)
	// Far larger than the socket buffers: the try writes part of it.
	if err := conn.Send(bytes.Repeat([]byte("z"), 1<<20), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, entered, "a try taken in part")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.ws.Shutdown(ctx) }()
	// The client sees the end of the connection once Shutdown has forced
	// it closed.
	_ = raw.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.Copy(io.Discard, raw.br); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("Shutdown did not force the connection closed")
	}
	close(resume)
	waitFor(t, finished, "the rest of the try to be given up")
	release()
	if err := waitFor(t, shut, "Shutdown"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
}
