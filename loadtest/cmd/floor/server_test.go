package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/lxzan/gws"
)

// recorder is a peer that keeps what it is sent.
type recorder struct {
	frames []string
}

func (r *recorder) WriteMessage(op gws.Opcode, b []byte) error {
	if op != gws.OpcodeText {
		panic("binary frame")
	}
	r.frames = append(r.frames, string(b))
	return nil
}

// take returns the frames received since the last call.
func (r *recorder) take() []string {
	f := r.frames
	r.frames = nil
	return f
}

type client struct {
	*recorder
	st *connState
}

func newClient() client { return client{&recorder{}, new(connState)} }

func TestHandle(t *testing.T) {
	s := newServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	a, b := newClient(), newClient()
	send := func(c client, frame string, want ...string) {
		t.Helper()
		if !s.handle(c.recorder, c.st, []byte(frame)) {
			t.Fatalf("handle(%s) refused the frame", frame)
		}
		got := c.take()
		if len(got) != len(want) {
			t.Fatalf("after %s got %q, want %q", frame, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("after %s got %s, want %s", frame, got[i], want[i])
			}
		}
	}

	send(a, `[null,"1","phoenix","heartbeat",{}]`,
		`[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	send(a, `["2","2","room:x","phx_join",{}]`,
		`[null,"2","room:x","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	send(a, `["3","4","bench:e","echo",{"n":1}]`,
		`[null,"4","bench:e","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	send(a, `["3","3","bench:e","phx_join",{}]`,
		`["3","3","bench:e","phx_reply",{"status":"ok","response":{}}]`)
	send(a, `["3","4","bench:e","echo",{"n": [1, "x"]}]`,
		`["3","4","bench:e","phx_reply",{"status":"ok","response":{"n": [1, "x"]}}]`)
	send(a, `["3",5,"bench:e","what",{}]`,
		`["3",5,"bench:e","phx_reply",{"status":"error","response":{"reason":"unknown event"}}]`)

	// A broadcast reaches every member, the sender too, and no one else.
	send(b, `["7","7","bench:e","phx_join",{}]`,
		`["7","7","bench:e","phx_reply",{"status":"ok","response":{}}]`)
	c := newClient()
	send(c, `["1","1","bench:other","phx_join",{}]`,
		`["1","1","bench:other","phx_reply",{"status":"ok","response":{}}]`)
	msg := `[null,null,"bench:e","msg",{"t":1,"seq":2}]`
	send(b, `["7","8","bench:e","broadcast",{"t":1,"seq":2}]`, msg)
	if got := a.take(); len(got) != 1 || got[0] != msg {
		t.Errorf("member got %q, want %s", got, msg)
	}
	if got := c.take(); len(got) != 0 {
		t.Errorf("non-member got %q", got)
	}

	// Leave: the reply, then phx_close with the join's join_ref; the
	// member gets no more broadcasts.
	send(a, `["3","9","bench:e","phx_leave",{}]`,
		`["3","9","bench:e","phx_reply",{"status":"ok","response":{}}]`,
		`["3","3","bench:e","phx_close",{}]`)
	send(a, `["3","10","bench:e","phx_leave",{}]`,
		`["3","10","bench:e","phx_reply",{"status":"ok","response":{}}]`)
	send(b, `["7","11","bench:e","broadcast",{}]`, `[null,null,"bench:e","msg",{}]`)
	if got := a.take(); len(got) != 0 {
		t.Errorf("a member that left got %q", got)
	}

	// A closed connection leaves its topics, and empty topics go.
	s.leaveAll(b.recorder, b.st)
	s.leaveAll(c.recorder, c.st)
	if len(s.topics) != 0 {
		t.Errorf("topics left over: %v", s.topics)
	}
}

func TestHandleMalformed(t *testing.T) {
	s := newServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	a := newClient()
	for _, frame := range []string{
		`{"topic":"phoenix"}`,
		`[null,"1","phoenix","heartbeat"]`,
		`[null,"1",null,"heartbeat",{}]`,
		`[null,"1","phoenix","heart\u0062eat",{}]`,
	} {
		if s.handle(a.recorder, a.st, []byte(frame)) {
			t.Errorf("handle(%s) accepted the frame", frame)
		}
	}
}

// A broadcast to many members reaches each once, whatever the number of
// writers.
func TestFanOut(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 4099} {
		members := make([]peer, n)
		recs := make([]*recorder, n)
		for i := range members {
			recs[i] = &recorder{}
			members[i] = recs[i]
		}
		fanOut(members, []byte("x"))
		for i, r := range recs {
			if len(r.frames) != 1 {
				t.Fatalf("%d members: member %d got %d frames", n, i, len(r.frames))
			}
		}
	}
}
