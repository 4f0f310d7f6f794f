package tcpproxy_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/internal/tcpproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// An echo server behind the proxy: what a client sends comes back through
// it, is kept, and Close ends everything.
func TestRelaysAndKeepsWhatClientsSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.Serve(pln, ln.Addr().String())
	for _, msg := range []string{"hello", "again"} {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q, %v", msg, got, err)
		}
		c.Close()
	}
	if p.Conns() != 2 {
		t.Errorf("%d connections relayed, want 2", p.Conns())
	}
	if sent := p.Sent(); len(sent) != 2 || !bytes.Equal(sent[0], []byte("hello")) || !bytes.Equal(sent[1], []byte("again")) {
		t.Errorf("kept %q", sent)
	}
	p.Close()
	ln.Close()
	<-done
}
