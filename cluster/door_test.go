package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/cluster"
)

// TestBurstsOfLargeBroadcastsKeepTheLink: broadcasts as large as a node
// relays, made faster than they can cross, fit the gRPC message limits:
// each reaches the peer or is skipped for the window, and the link is
// never lost.
func TestBurstsOfLargeBroadcastsKeepTheLink(t *testing.T) {
	// Heartbeats slow enough that a peer busy with megabytes on a loaded
	// machine is not declared down for being late to acknowledge.
	slow := func(cfg cluster.Config) cluster.Config { cfg.HeartbeatInterval = 250 * time.Millisecond; return cfg }
	a := startNode(t, slow(testConfig("a")))
	b := startNode(t, slow(testConfig("b", a.c.Addr())))
	waitMeshed(t, a, b)

	// Bursts fill the window (8 MiB) before any acknowledgement: remote
	// batches what it holds into gRPC messages as large as the window.
	for _, size := range []int{4<<20 - 64, 1 << 20, 64 << 10} {
		big := actors.Payload{Binary: true, Data: []byte(strings.Repeat("x", size))}
		waitFor(t, "b to acknowledge what it has", func() bool { return a.peer("b").QueueBytes == 0 })
		before, skippedBefore := b.c.Stats().BroadcastsReceived, a.peer("b").Skipped[cluster.ReasonQueueFull]
		const n = 32
		for range n {
			if err := a.ep.Broadcast("room:big", "big", big); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every broadcast received or skipped", func() bool {
			return b.c.Stats().BroadcastsReceived-before+a.peer("b").Skipped[cluster.ReasonQueueFull]-skippedBefore == n
		})
		want := uint64(min(n, (8<<20)/(size+128)))
		if got := b.c.Stats().BroadcastsReceived - before; got < want {
			t.Errorf("b received %d broadcasts of %d bytes, want %d at least", got, size, want)
		}
	}
	if p := a.peer("b"); p.Downs != 0 || !p.Up {
		t.Errorf("a's b: %+v, want up and never down", p)
	}
	if d := b.c.Stats().Dropped; len(d) != 0 {
		t.Errorf("b dropped frames: %v", d)
	}
}

// dialFrom connects to addr over TCP from the loopback address host.
func dialFrom(t *testing.T, host, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedWithin reads conn until the node closes it, and fails the test if
// that takes longer than d; it returns how long it took.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, conn)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection from %s is still open after %v", conn.LocalAddr(), d)
	}
	return took
}

// heapNow returns the heap in use after a collection, and the bytes
// allocated since the process started.
func heapNow() (heap, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}

// refusalLines counts the lines n logged of refused peers.
func refusalLines(n *node) int {
	return strings.Count(n.logs.String(), "cluster: refused a peer")
}

// grpcPrefix is a gRPC message prefix (uncompressed) claiming size bytes.
func grpcPrefix(size uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0}, size)
}

// TestStrangersAllocateNothing: bytes from someone without the secret (a
// gRPC message prefix claiming 137 MB, a TLS record claiming 64 KiB, gRPC
// in clear) are refused before anything is read past the TLS record
// header, and their connections closed; the node's heap does not grow.
// One who holds the secret is held to the message limit.
func TestStrangersAllocateNothing(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	addr := a.c.Addr()
	const claim = 137_000_000
	garbage := map[string][]byte{
		"grpc prefix":        append(grpcPrefix(claim), make([]byte, 64<<10)...),
		"tls record":         append([]byte{0x16, 0x03, 0x01, 0xff, 0xff}, make([]byte, 64<<10)...),
		"grpc in clear text": append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), grpcPrefix(claim)...),
	}
	heap0, total0 := heapNow()
	const each = 20
	var conns int
	for name, b := range garbage {
		for range each {
			conn := dialFrom(t, "127.0.0.1", addr)
			go func() { _, _ = conn.Write(b) }()
			if took := closedWithin(t, conn, 2*time.Second); took > time.Second {
				t.Errorf("%s: closed after %v", name, took)
			}
			conn.Close()
			conns++
		}
	}
	heap1, total1 := heapNow()
	t.Logf("%d connections of garbage: heap %+.1f MB, %.1f MB allocated", conns,
		float64(int64(heap1)-int64(heap0))/1e6, float64(total1-total0)/1e6)
	if grew := int64(heap1) - int64(heap0); grew > 4<<20 {
		t.Errorf("the heap grew by %d bytes", grew)
	}
	if total := total1 - total0; total > 32<<20 {
		t.Errorf("%d bytes allocated for %d connections of garbage", total, conns)
	}
	waitFor(t, "every connection refused", func() bool { return a.c.Stats().Refused[cluster.ReasonHandshake] == uint64(conns) })

	// Past the handshake, a message prefix past the limit ends the stream
	// before its bytes are awaited.
	_, total0 = heapNow()
	for range each {
		claimOverTLS(t, addr, claim)
	}
	_, total1 = heapNow()
	t.Logf("%d streams claiming %d bytes with the secret: %.1f MB allocated", each, claim, float64(total1-total0)/1e6)
	if total := total1 - total0; total > 32<<20 {
		t.Errorf("%d bytes allocated for %d streams claiming %d bytes", total, each, claim)
	}

	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)
	if err := b.ep.Broadcast("room:1", "still", nil); err != nil {
		t.Fatal(err)
	}
	ann.AssertBroadcast("still", `{}`)
	if n := refusalLines(a); n > 1 {
		t.Errorf("%d refusals logged, want 1:\n%s", n, a.logs)
	}
}

// claimOverTLS opens a gRPC stream to remote's Receive with the secret,
// by hand, and sends a message prefix claiming size bytes; it returns once
// the node ends the stream.
func claimOverTLS(t *testing.T, addr string, size uint32) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cluster.ClientTLS(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		f := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
		f = binary.BigEndian.AppendUint32(f, stream)
		return append(f, payload...)
	}
	var hdrs []byte // HPACK literals, never indexed, no Huffman
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/remote.Remoting/Receive"},
		{":authority", "a"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		hdrs = append(hdrs, 0x10, byte(len(kv[0])))
		hdrs = append(hdrs, kv[0]...)
		hdrs = append(hdrs, byte(len(kv[1])))
		hdrs = append(hdrs, kv[1]...)
	}
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = append(out, frame(0x4, 0, 0, nil)...)              // SETTINGS
	out = append(out, frame(0x1, 0x4, 1, hdrs)...)           // HEADERS, END_HEADERS
	out = append(out, frame(0x0, 0, 1, grpcPrefix(size))...) // DATA
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var h [9]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			t.Fatalf("waiting for the stream to end: %v", err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if _, err := io.CopyN(io.Discard, conn, int64(n)); err != nil {
			t.Fatal(err)
		}
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&(1<<31-1)
		switch {
		case typ == 0x4 && flags&0x1 == 0: // SETTINGS: acknowledge
			_, _ = conn.Write(frame(0x4, 0x1, 0, nil))
		case stream == 1 && (typ == 0x3 || typ == 0x1 && flags&0x1 != 0): // RST_STREAM, or trailers
			return
		case typ == 0x7: // GOAWAY
			return
		}
	}
}

// TestUnfinishedHandshakesAreClosed: a connection that sends nothing, or
// starts a TLS handshake and stops, is closed once HandshakeTimeout has
// passed, counted and logged once.
func TestUnfinishedHandshakesAreClosed(t *testing.T) {
	cfg := testConfig("a")
	cfg.HandshakeTimeout = 200 * time.Millisecond
	a := startNode(t, cfg)
	for name, b := range map[string][]byte{
		"nothing":         nil,
		"half a record":   {0x16, 0x03, 0x01, 0x00, 0x80, 0x01},
		"a record header": {0x16, 0x03, 0x01},
	} {
		conn := dialFrom(t, "127.0.0.1", a.c.Addr())
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		took := closedWithin(t, conn, 3*time.Second)
		t.Logf("%s: closed after %v", name, took)
		if took < 100*time.Millisecond || took > 2*time.Second {
			t.Errorf("%s: closed after %v, want 200 ms", name, took)
		}
	}
	waitFor(t, "three timeouts counted", func() bool {
		s := a.c.Stats()
		return s.Refused[cluster.ReasonTimeout] == 3 && s.Handshaking == 0
	})
	if n := refusalLines(a); n != 1 {
		t.Errorf("%d refusals logged, want 1:\n%s", n, a.logs)
	}
}

// TestConnectionsPastTheCapAreClosed: with MaxConnections held, a new
// connection is closed at once and counted; the peers already connected
// relay as before, and a place freed is taken again.
func TestConnectionsPastTheCapAreClosed(t *testing.T) {
	cfg := testConfig("a")
	cfg.MaxConnections = 8
	a := startNode(t, cfg)
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	waitFor(t, "b's connection open", func() bool { s := a.c.Stats(); return s.Connections == 1 && s.Handshaking == 0 })

	var idle []net.Conn
	for range 7 {
		idle = append(idle, dialFrom(t, "127.0.0.1", a.c.Addr()))
	}
	waitFor(t, "seven connections handshaking", func() bool { return a.c.Stats().Handshaking == 7 })
	for range 3 {
		conn := dialFrom(t, "127.0.0.1", a.c.Addr())
		if took := closedWithin(t, conn, 2*time.Second); took > 500*time.Millisecond {
			t.Errorf("a connection past the cap closed after %v", took)
		}
	}
	if got := a.c.Stats().Refused[cluster.ReasonTooMany]; got != 3 {
		t.Errorf("%d connections refused past the cap, want 3", got)
	}
	// b's link is older than the strangers: it goes on both ways.
	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)
	bob := channeltest.Connect(t, b.h, map[string]string{"user": "bob"}).Join("room:1", nil)
	if err := b.ep.Broadcast("room:1", "to_a", nil); err != nil {
		t.Fatal(err)
	}
	ann.AssertBroadcast("to_a", `{}`)
	if err := a.ep.Broadcast("room:1", "to_b", nil); err != nil {
		t.Fatal(err)
	}
	bob.AssertBroadcast("to_b", `{}`)

	for _, c := range idle {
		c.Close()
	}
	waitFor(t, "the strangers' places freed", func() bool { return a.c.Stats().Handshaking == 0 })
	if n := refusalLines(a); n != 1 {
		t.Errorf("%d refusals logged, want 1:\n%s", n, a.logs)
	}
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, b, c)
}

// TestAFloodOfGarbageLogsAHandful: 100,000 garbage messages on one
// connection and 10,000 connections of garbage from 40 addresses, while
// a peer joins and relays, are all counted and logged in a handful of
// lines.
func TestAFloodOfGarbageLogsAHandful(t *testing.T) {
	a := startNode(t, testConfig("a"))
	addr := a.c.Addr()

	one := dialFrom(t, "127.0.0.1", addr)
	go func() { _, _ = one.Write(bytes.Repeat(grpcPrefix(137_000_000), 100_000)) }()
	closedWithin(t, one, 2*time.Second)

	const hosts, conns = 40, 10_000
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			for host := range work {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(host)}
				conn, err := d.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					continue
				}
				_, _ = conn.Write(grpcPrefix(137_000_000))
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}
		}()
	}
	start := time.Now()
	var b *node
	for i := range conns {
		if i == conns/10 {
			b = startNode(t, testConfig("b", addr)) // a peer meets a during the flood
		}
		work <- fmt.Sprintf("127.0.0.%d", 2+i%hosts)
	}
	close(work)
	wg.Wait()
	t.Logf("%d connections of garbage in %v", conns, time.Since(start))
	waitMeshed(t, a, b)
	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:1", nil)
	if err := b.ep.Broadcast("room:1", "through", nil); err != nil {
		t.Fatal(err)
	}
	ann.AssertBroadcast("through", `{}`)

	waitFor(t, "every connection refused", func() bool {
		s := a.c.Stats()
		return s.Refused[cluster.ReasonHandshake] == conns+1 && s.Handshaking == 0
	})
	// One line for the first host, and the burst of the others.
	lines := refusalLines(a)
	t.Logf("%d refusals logged", lines)
	if lines > 8 {
		t.Errorf("%d refusals logged, want 8 at most:\n%s", lines, a.logs)
	}
}

// TestRemoteMessagesOtherThanANodesAreRefused: one who holds the secret
// and sends what remote logs once per message and goes on reading (a
// client connection, a connect request of no kind, a disconnect request,
// an empty message), 100,000 times on each stream, is refused at the
// first: a stream starts with a server connection and carries batches
// after it. The node logs one line.
func TestRemoteMessagesOtherThanANodesAreRefused(t *testing.T) {
	a := startNode(t, testConfig("a"))
	addr := a.c.Addr()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cluster.ClientTLS(testSecret))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "x", Address: "127.0.0.1:1"}}}}}
	client := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ClientConnection{ClientConnection: &remote.ClientConnection{SystemId: "x"}}}}}
	noKind := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{}}}
	disconnect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_DisconnectRequest{DisconnectRequest: &remote.DisconnectRequest{}}}
	empty := &remote.RemoteMessage{}
	cases := []struct {
		name  string
		first *remote.RemoteMessage // sent once before the flood, if set
		flood *remote.RemoteMessage
	}{
		{"client connections", nil, client},
		{"connect requests of no kind", nil, noKind},
		{"empty messages", nil, empty},
		{"server connections", server, server},
		{"disconnect requests", server, disconnect},
		{"client connections after a server one", server, client},
	}
	for _, tc := range cases {
		stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tc.first != nil {
			if err := stream.Send(tc.first); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("%s: connect response: %v", tc.name, err)
			}
		}
		for range 100_000 {
			if err := stream.Send(tc.flood); err != nil {
				break // refused
			}
		}
		_ = stream.CloseSend()
		for {
			_, err := stream.Recv()
			if err == nil {
				continue
			}
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s: the stream ended with %v, want PermissionDenied", tc.name, err)
			}
			break
		}
	}
	if got := a.c.Stats().Refused[cluster.ReasonForeign]; got != uint64(len(cases)) {
		t.Errorf("%d streams refused, want %d", got, len(cases))
	}
	if lines := strings.Count(a.logs.String(), "\n"); lines > 3 { // listening, ready, one refusal
		t.Errorf("%d lines logged:\n%s", lines, a.logs)
	}
}
