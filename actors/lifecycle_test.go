package actors_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
)

// A leave followed at once by a join of the same topic (a room switch and
// back) is a leave, then a join: the leave is answered, Terminate runs
// with ReasonLeft and what it pushes goes out, and only then is the new
// join answered. Here the channel is busy when the leave arrives, so the
// join reaches the socket before the channel handled the leave.
func TestLeaveThenJoinAtOnce(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:lr")
	for round := range 5 {
		old, next := 1+2*round, 3+2*round
		send(t, c, fmt.Sprintf(`["%d","b%d","room:lr","sleep",{}]`, old, round))
		send(t, c, fmt.Sprintf(`["%d","l%d","room:lr","phx_leave",{}]`, old, round))
		send(t, c, fmt.Sprintf(`["%d","%d","room:lr","phx_join",{}]`, next, next))
		expect(t, c, fmt.Sprintf(`["%d","l%d","room:lr","phx_reply",{"status":"ok","response":{}}]`, old, round))
		expect(t, c, fmt.Sprintf(`["%d","%d","room:lr","phx_close",{}]`, old, old))
		expect(t, c, fmt.Sprintf(`["%d",null,"room:lr","you_left",{"message":"bye!"}]`, old))
		expect(t, c, fmt.Sprintf(`["%d","%d","room:lr","phx_reply",{"status":"ok","response":{}}]`, next, next))
		if got := ts.waitEnded(t); got != "room:lr shutdown: left" {
			t.Fatalf("round %d: Terminate reason %q", round, got)
		}
		// The new join is the topic's channel, and the only one.
		send(t, c, fmt.Sprintf(`["%d","c%d","room:lr","count",{}]`, next, round))
		expect(t, c, fmt.Sprintf(`["%d","c%d","room:lr","phx_reply",{"status":"ok","response":{"count":1}}]`, next, round))
	}
}

// A duplicate join takes the replaced channel out of its topic before the
// new join is answered: no broadcast reaches the client twice, even while
// the replaced channel is still busy and has not stopped.
func TestDuplicateJoinNeverDoublesBroadcasts(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:dd")
	for round := range 5 {
		old, next := 1+round, 2+round
		send(t, c, fmt.Sprintf(`["%d","b%d","room:dd","sleep",{}]`, old, round))
		send(t, c, fmt.Sprintf(`["%d","%d","room:dd","phx_join",{}]`, next, next))
		expect(t, c, fmt.Sprintf(`["%d","%d","room:dd","phx_reply",{"status":"ok","response":{}}]`, next, next))
		expect(t, c, fmt.Sprintf(`["%d","%d","room:dd","phx_close",{}]`, old, old))
		// Delivery is synchronous: when Broadcast returns, every copy it
		// made is queued ahead of the echo's reply.
		if err := ts.ep.Broadcast("room:dd", "shout", map[string]int{"n": round}); err != nil {
			t.Fatal(err)
		}
		send(t, c, fmt.Sprintf(`["%d","e%d","room:dd","echo",{}]`, next, round))
		expect(t, c, fmt.Sprintf(`[null,null,"room:dd","shout",{"n":%d}]`, round))
		expect(t, c, fmt.Sprintf(`["%d","e%d","room:dd","phx_reply",{"status":"ok","response":{}}]`, next, round))
	}
}

// A channel the socket stops after a crash (a Temporary route here) is
// out of its topic before the client receives phx_error: no broadcast of
// the topic follows phx_error, however busy the registry is.
func TestNoBroadcastAfterPhxError(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "0", "room:barrier")
	release := make(chan struct{})
	defer close(release)
	actors.StallRegistryShard(ts.ep, "temp:pe", release)
	join(t, c, "1", "temp:pe")
	send(t, c, `["1","2","temp:pe","boom",{}]`)
	expect(t, c, `["1","1","temp:pe","phx_error",{"reason":"channel_crash"}]`)
	if got := ts.waitEnded(t); got != "temp:pe panic: boom" {
		t.Fatalf("Terminate reason %q", got)
	}
	if err := ts.ep.Broadcast("temp:pe", "shout", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	// Delivery is synchronous: a copy for the crashed channel would be
	// queued ahead of this reply.
	send(t, c, `["0","3","room:barrier","echo",{}]`)
	expect(t, c, `["0","3","room:barrier","phx_reply",{"status":"ok","response":{}}]`)
}

// ticker arms a timer in Join; its message says which instance armed it.
type ticker struct {
	actors.BaseChannel
	instances *atomic.Int32
	n         int32
}

type armedBy int32

func (k *ticker) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	k.n = k.instances.Add(1)
	s.Self().SendAfter(300*time.Millisecond, armedBy(k.n))
	s.Self().Send(armedBy(k.n))
	return nil, nil
}

func (k *ticker) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	if event == "boom" {
		panic("boom")
	}
	return k.BaseChannel.HandleIn(event, p, s)
}

func (k *ticker) HandleInfo(msg any, s *actors.Socket) error {
	return s.Push("tick", map[string]any{"armed_by": msg, "handled_by": k.n})
}

// What an instance sent itself, at once or with a timer, never reaches
// the instance that replaced it after a crash: in Erlang a message to a
// process that died is lost, and a restarted channel is a new process
// under the same name.
func TestMessagesToSelfDieWithTheInstance(t *testing.T) {
	ts := newServer(t, serverOpts{})
	var instances atomic.Int32
	ts.h.Channel("ticker:*", func() actors.Channel { return &ticker{instances: &instances} })
	c := ts.dial(t, "")
	send(t, c, `["1","1","ticker:1","phx_join",{}]`)
	send(t, c, `["1","2","ticker:1","boom",{}]`)
	send(t, c, `["1","3","ticker:1","boom",{}]`)
	// The third instance's timer fires last: by then every message the
	// first two sent themselves has been delivered or dropped.
	for lastOnes := 0; lastOnes < 2; {
		f, err := c.NextFrame(wait)
		if err != nil {
			t.Fatal(err)
		}
		data := string(f.Data)
		if !strings.Contains(data, `"tick"`) {
			continue
		}
		for n := 1; n <= 3; n++ {
			if strings.Contains(data, fmt.Sprintf(`"armed_by":%d,`, n)) && !strings.Contains(data, fmt.Sprintf(`"handled_by":%d}`, n)) {
				t.Fatalf("a message reached another instance than the one that sent it: %s", data)
			}
		}
		if strings.Contains(data, `"armed_by":3,`) {
			lastOnes++
		}
	}
}
