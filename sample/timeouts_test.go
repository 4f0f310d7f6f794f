package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// serveWithTimeouts serves the sample's routes, with a real WebSocket
// transport, through newHTTPServer with timeouts t.
func serveWithTimeouts(t *testing.T, to httpTimeouts) (addr string, s *site) {
	t.Helper()
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.DiscardHandler)})
	s = &site{ep: ep, tokens: mustSigner(t, testSecret), open: true, longpoll: http.NotFoundHandler()}
	sock := ep.Socket(UserSocket{tokens: s.tokens})
	sock.Channel("bench:*", func() actors.Channel { return BenchChannel{} })
	s.websocket = sock.WebSocket(transport.WebSocketConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(s.routes(), to, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ep.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String(), s
}

// closedWithin reads c until the server closes it, and fails if that
// takes longer than d.
func closedWithin(t *testing.T, what string, c net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	// EOF, or a reset when the server closed with the client's bytes
	// unread: either way closed. A deadline passing means still open.
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: still open after %v (%v)", what, time.Since(start).Round(time.Millisecond), err)
	}
}

// Idle keep-alive connections, connections that never send a request and
// requests whose body trickles in are closed by the server; a WebSocket,
// hijacked at its upgrade, outlives every timeout.
func TestHTTPTimeouts(t *testing.T) {
	to := httpTimeouts{readHeader: 300 * time.Millisecond, read: 600 * time.Millisecond, write: time.Second, idle: 300 * time.Millisecond}
	addr, s := serveWithTimeouts(t, to)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	keepAlive := dial()
	_, _ = io.WriteString(keepAlive, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(keepAlive), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	closedWithin(t, "an idle keep-alive connection", keepAlive, 5*time.Second)

	closedWithin(t, "a connection that sends nothing", dial(), 5*time.Second)

	trickle := dial()
	_, _ = io.WriteString(trickle, "POST /api/broadcast HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C: // a byte at a time, for ever
			}
			if _, err := trickle.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	closedWithin(t, "a POST whose body trickles", trickle, 5*time.Second)
	close(stop)
	<-done

	// A long-poll GET waits up to its window, 10 s: the write timeout
	// must outlast it, and the read timeout too, since past it the
	// request's context is cancelled.
	if defaultTimeouts.write <= 10*time.Second || defaultTimeouts.read <= 10*time.Second {
		t.Errorf("default timeouts %+v: a long-poll window of 10 s does not fit", defaultTimeouts)
	}

	tok, err := s.tokens.Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := phxclient.Dial("ws://"+addr+"/socket/websocket?vsn=2.0.0&token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	time.Sleep(to.read + to.idle + to.write) // every timeout has passed, and the socket sends nothing meanwhile
	_ = ws.Send(`[null,"1","phoenix","heartbeat",{}]`)
	if m, err := ws.Next(5 * time.Second); err != nil || !strings.Contains(string(m.Payload), `"ok"`) {
		t.Fatalf("a WebSocket past the HTTP timeouts: %v %v", m, err)
	}
}
