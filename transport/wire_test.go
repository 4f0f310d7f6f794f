package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readFrame reads one unmasked server frame (RFC 6455 §5.2).
func readFrame(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return false, 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return false, 0, nil, errors.New("a server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return false, 0, nil, err
	}
	return h[0]&0x80 != 0, h[0] & 0x0f, payload, nil
}

// tryingWire returns a wire over the server end of a loopback TCP
// connection, and the client end; it skips the test where there are no
// tries.
func tryingWire(t *testing.T) (*wire, net.Conn) {
	t.Helper()
	server, client := tcpPair(t)
	w := newWire(server, 0, false)
	if w.raw == nil {
		t.Skip("no tries on this system")
	}
	return w, client
}

// fill makes tries against a client that does not read until one is
// refused (the socket is full: nothing taken, nothing held) or taken in
// part (rest, the wire held). sent counts the tries taken.
func fill(t *testing.T, try func() (ok bool, rest []byte)) (sent int, rest []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rest == nil {
		if time.Now().After(deadline) {
			t.Fatal("the socket never filled")
		}
		ok, r := try()
		if !ok {
			break
		}
		sent++
		rest = r
	}
	return sent, rest
}

// mixedFrames returns text and binary frames of every length encoding.
func mixedFrames() []Frame {
	var frames []Frame
	for i, size := range []int{0, 5, 126, 70000, 3} {
		frames = append(frames, Frame{Data: bytes.Repeat([]byte{byte('a' + i)}, size), Binary: i%2 == 1})
	}
	return frames
}

// wantFrames reads len(frames) frames from r and checks that they are
// frames, whole and in order.
func wantFrames(t *testing.T, r *bufio.Reader, frames []Frame) {
	t.Helper()
	for i, f := range frames {
		fin, op, got, err := readFrame(r)
		want := byte(1)
		if f.Binary {
			want = 2
		}
		if err != nil || !fin || op != want || !bytes.Equal(got, f.Data) {
			t.Fatalf("frame %d: fin %v op %d, %d bytes, %v", i, fin, op, len(got), err)
		}
	}
}

// A try writes a whole frame, with the shortest length encoding, text or
// binary; it refuses text that is not UTF-8 and writes nothing then.
func TestWireTryFrame(t *testing.T) {
	w, client := tryingWire(t)
	r := bufio.NewReader(client)
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 200000} {
		for _, bin := range []bool{false, true} {
			payload := bytes.Repeat([]byte{'x'}, size)
			ok, rest := w.tryFrame(payload, bin)
			if !ok {
				t.Fatalf("size %d: refused", size)
			}
			if rest != nil {
				if err := w.finishTry(rest); err != nil {
					t.Fatal(err)
				}
			}
			fin, op, got, err := readFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			want := byte(1)
			if bin {
				want = 2
			}
			if !fin || op != want || !bytes.Equal(got, payload) {
				t.Fatalf("size %d binary %v: fin %v op %d, %d bytes", size, bin, fin, op, len(got))
			}
		}
	}
	if ok, _ := w.tryFrame([]byte{0xff, 0xfe}, false); ok {
		t.Fatal("a text frame that is not UTF-8 was tried")
	}
	if ok, _ := w.tryFrame([]byte{0xff, 0xfe}, true); !ok {
		t.Fatal("binary refused")
	}
	if _, op, got, err := readFrame(r); err != nil || op != 2 || !bytes.Equal(got, []byte{0xff, 0xfe}) {
		t.Fatalf("after the refused text: op %d %x", op, got)
	}
	// After a close frame, written by gws through the wire, nothing is
	// tried: gws refuses to write after it, and so must a try.
	if _, err := w.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil {
		t.Fatal(err)
	}
	if _, op, _, err := readFrame(r); err != nil || op != 8 {
		t.Fatalf("close frame: op %d, %v", op, err)
	}
	if ok, _ := w.tryFrame([]byte("after"), false); ok {
		t.Fatal("a frame was tried after the close frame")
	}
	// Nor does gws write anything after it: a pong, or a close frame of
	// its own.
	for _, f := range [][]byte{{0x8a, 0x00}, {0x88, 0x02, 0x03, 0xe8}} {
		if _, err := w.Write(f); err == nil {
			t.Fatalf("frame % x was written after the close frame", f)
		}
	}
	// A compressed connection's frames are gws's to encode.
	if nw := newWire(w.Conn, 0, true); nw.raw != nil {
		t.Fatal("tries on a compressed connection")
	}
}

// Against a client that does not read, tries stop being taken without
// waiting: one is taken in part and holds the wire until finishTry; the
// frames then arrive whole and in order.
func TestWireTryFullSocket(t *testing.T) {
	w, client := tryingWire(t)
	frame := bytes.Repeat([]byte{'y'}, 100_000)
	sent, rest := fill(t, func() (bool, []byte) { return w.tryFrame(frame, true) })
	t.Logf("%d frames taken, the last in part: %v", sent, rest != nil)
	if rest != nil {
		if ok, _ := w.tryFrame(frame, true); ok {
			t.Fatal("a try went through while a frame was half written")
		}
	}
	done := make(chan []int, 1)
	go func() {
		r := bufio.NewReader(client)
		var sizes []int
		for len(sizes) < sent {
			_, _, p, err := readFrame(r)
			if err != nil {
				break
			}
			sizes = append(sizes, len(p))
		}
		done <- sizes
	}()
	if rest != nil {
		if err := w.finishTry(rest); err != nil {
			t.Fatal(err)
		}
	}
	sizes := <-done
	if len(sizes) != sent {
		t.Fatalf("%d frames read, %d sent", len(sizes), sent)
	}
	for i, n := range sizes {
		if n != len(frame) {
			t.Fatalf("frame %d has %d bytes", i, n)
		}
	}
	if !w.mu.TryLock() {
		t.Fatal("the wire is still held")
	}
	w.mu.Unlock()
}

// A batch goes out as whole frames, in order, each with the shortest
// length encoding; one with a text frame that is not UTF-8, or after a
// close frame, is left to gws and nothing of it is written.
func TestWireWriteBatch(t *testing.T) {
	server, client := tcpPair(t)
	w := newWire(server, 0, false)
	r := bufio.NewReader(client)
	frames := mixedFrames()
	if ok, err := w.writeBatch(frames); !ok || err != nil {
		t.Fatalf("writeBatch = %v, %v", ok, err)
	}
	wantFrames(t, r, frames)
	bad := []Frame{{Data: []byte("fine")}, {Data: []byte{0xff}}}
	if ok, _ := w.writeBatch(bad); ok {
		t.Fatal("a batch with a text frame that is not UTF-8 was written")
	}
	if _, err := w.Write([]byte{0x88, 0x00}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := w.writeBatch(frames[:2]); ok {
		t.Fatal("a batch was written after the close frame")
	}
	if _, op, _, err := readFrame(r); err != nil || op != 8 {
		t.Fatalf("after the refused batches: op %d, %v; want the close frame", op, err)
	}
}

// A batch tried at once goes out as whole frames, in order; refused
// whole when gws would refuse one of its frames, when it has more frames
// than one write takes, or after a close frame.
func TestWireTryBatch(t *testing.T) {
	w, client := tryingWire(t)
	r := bufio.NewReader(client)
	frames := mixedFrames()
	ok, rest := w.tryBatch(frames)
	if !ok {
		t.Fatal("refused")
	}
	if rest != nil {
		if err := w.finishTry(rest); err != nil {
			t.Fatal(err)
		}
	}
	wantFrames(t, r, frames)
	if ok, _ := w.tryBatch([]Frame{{Data: []byte("fine")}, {Data: []byte{0xff}}}); ok {
		t.Fatal("a batch with a text frame that is not UTF-8 was tried")
	}
	if ok, _ := w.tryBatch(make([]Frame, maxTryBatch+1)); ok {
		t.Fatal("a batch larger than one write takes was tried")
	}
	if _, err := w.Write([]byte{0x88, 0x00}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := w.tryBatch(frames[:2]); ok {
		t.Fatal("a batch was tried after the close frame")
	}
}

// Against a client that does not read, a batch is taken in part, its
// rest spanning frames; once written, every frame arrives whole and in
// order.
func TestWireTryBatchFullSocket(t *testing.T) {
	w, client := tryingWire(t)
	var batch []Frame
	for i := range 3 {
		batch = append(batch, Frame{Data: bytes.Repeat([]byte{byte('a' + i)}, 30_000), Binary: true})
	}
	sent, rest := fill(t, func() (bool, []byte) { return w.tryBatch(batch) })
	if rest != nil {
		if ok, _ := w.tryBatch(batch); ok {
			t.Fatal("a try went through while a batch was half written")
		}
	}
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(client)
		for n := range sent * len(batch) {
			_, _, p, err := readFrame(r)
			if err != nil {
				done <- err
				return
			}
			if want := batch[n%len(batch)].Data; !bytes.Equal(p, want) {
				done <- fmt.Errorf("frame %d: %d bytes of %q, want %q", n, len(p), p[:1], want[:1])
				return
			}
		}
		done <- nil
	}()
	if rest != nil {
		if err := w.finishTry(rest); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d batches taken, the last in part: %v", sent, rest != nil)
}

// What a partial write leaves is every byte from where it stopped, across
// headers and payloads.
func TestWritevOpUnwritten(t *testing.T) {
	op := writevOps.Get().(*writevOp)
	defer writevOps.Put(op)
	op.add([]byte("abc"), false) // header 0x81 0x03
	op.add([]byte("de"), true)   // header 0x82 0x02
	all := []byte("\x81\x03abc\x82\x02de")
	for n := 1; n < len(all); n++ {
		op.n = n
		if got := op.unwritten(); !bytes.Equal(got, all[n:]) {
			t.Errorf("after %d bytes: %q, want %q", n, got, all[n:])
		}
	}
	op.reset()
}

// Every write waits at most 1.5 times the wire's timeout, even after a
// deadline was set and cleared through the wire, as gws's handshake does
// right after a write armed one.
func TestWireWriteDeadline(t *testing.T) {
	server, _ := tcpPair(t) // the client never reads
	w := newWire(server, time.Second, false)
	if _, err := w.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, 64<<20)) // far more than the socket buffers hold
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Write = %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that does not read was not cut off")
	}
}
