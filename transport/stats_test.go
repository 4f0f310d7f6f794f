package transport_test

import (
	"maps"
	"testing"

	"github.com/phxgo/phx/transport"
)

// Stats counts frames both ways, and every WebSocket connection's end by
// the code it ended with: the client's, the server's, or 1006 for none.
func TestWebSocketStats(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{}, withEcho)
	if s := h.ws.Stats(); s.Transport != "websocket" || s.FramesIn != 0 || s.FramesOut != 0 || len(s.Closes) != 0 {
		t.Fatalf("a new transport's stats: %+v", s)
	}

	byClient := dial(h, "", nil)
	clientSess, _ := h.accept()
	for _, m := range []string{"a", "b", "c"} {
		byClient.send(t, m)
		if f := byClient.next(t); f.data != m {
			t.Fatalf("echo of %q: %q", m, f.data)
		}
	}
	_ = byClient.conn.WriteClose(4001, nil)
	waitFor(t, clientSess.closed, "Closed of the connection the client closed")

	byServer := dial(h, "", nil)
	serverSess, serverConn := h.accept()
	serverConn.Close(transport.ClosePolicyViolation, "a limit")
	if ce := byServer.closeError(t); ce.Code != transport.ClosePolicyViolation {
		t.Fatalf("close code %d", ce.Code)
	}
	waitFor(t, serverSess.closed, "Closed of the connection the server closed")

	lost := rawHandshake(h, "", nil, 0)
	lostSess, _ := h.accept()
	_ = lost.Close() // no close frame
	waitFor(t, lostSess.closed, "Closed of the connection lost")

	// The client's 4001 is one of the codes it may choose by the
	// thousand: counted as any other.
	want := map[int]uint64{transport.CloseOther: 1, transport.ClosePolicyViolation: 1, 1006: 1}
	eventually(t, "the stats", func() bool {
		s := h.ws.Stats()
		return s.FramesIn == 3 && s.FramesOut == 3 && maps.Equal(s.Closes, want) && s.OutboxOverflows == 0
	})
}

// Long-poll counts frames POSTed and frames handed to GETs, and the
// sessions closed for a buffer overflow; it has no close codes.
func TestLongPollStats(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{BufferSize: 64})
	tok, sess, conn := h.connect(t, tq(""))
	wantStatus(t, h.post(t, tq(tok), "application/x-ndjson", "[\"1\",\"1\",\"t\",\"a\",{}]\n[\"1\",\"2\",\"t\",\"b\",{}]"), 200)
	received(t, sess, 2)
	_ = conn.Send([]byte("one"), false)
	_ = conn.Send([]byte("two"), false)
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, "one", "two")
	if err := conn.Send(make([]byte, 65), false); err != transport.ErrOutboxFull {
		t.Fatalf("a frame past the buffer: %v", err)
	}
	waitFor(t, sess.closed, "Closed after the overflow")
	s := h.lp.Stats()
	if s.Transport != "longpoll" || s.FramesIn != 2 || s.FramesOut != 2 || s.OutboxOverflows != 1 || s.Closes != nil {
		t.Fatalf("stats %+v", s)
	}
}
