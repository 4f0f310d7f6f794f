package transport

import (
	"io"
	"net"
	"testing"
	"time"
)

// Behind a ConnCap, a WebSocket's connection still takes the writes that
// never wait (the cap's wrapper once hid the TCP connection, and every
// frame took a goroutine), and its write side can still be shut alone,
// the client's frames still read.
func TestCappedConnKeepsTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := NewConnCap(ConnCapConfig{Max: 8}).Listener(ln)
	defer capped.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := capped.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	w := newWire(conn, time.Second, false)
	if canTry {
		if w.raw == nil {
			t.Fatal("no writes that never wait behind the cap")
		}
		if ok, rest := w.tryFrame([]byte("hi"), false); !ok || rest != nil {
			t.Fatalf("tryFrame = %v, %q", ok, rest)
		}
		frame := make([]byte, 4)
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(client, frame); err != nil || string(frame) != "\x81\x02hi" {
			t.Fatalf("read %q, %v", frame, err)
		}
	}

	if err := w.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after CloseWrite the client read %d bytes, %v; want EOF", n, err)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "x" {
		t.Fatalf("the server read %q, %v after shutting its write side", got, err)
	}
}
