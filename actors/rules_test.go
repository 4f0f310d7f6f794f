package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
)

// eager tries to reach its client from Join, which Phoenix forbids.
type eager struct {
	actors.BaseChannel
	errs chan<- error
}

func (e eager) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	e.errs <- s.Push("early", nil)
	e.errs <- s.Broadcast("early", nil)
	e.errs <- s.BroadcastFrom("early", nil)
	return map[string]bool{"joined": true}, nil
}

func TestNothingReachesTheClientFromJoin(t *testing.T) {
	errs := make(chan error, 3)
	h := newEndpointHandler(t)
	h.Channel("room:*", func() actors.Channel { return eager{errs: errs} })
	ch := channeltest.Connect(t, h, nil).Join("room:1", nil)
	for range 3 {
		if err := <-errs; !errors.Is(err, actors.ErrNotJoined) {
			t.Errorf("from Join: %v, want ErrNotJoined", err)
		}
	}
	ch.AssertNoPush("early")
}

// newEndpointHandler is a socket handler on a fresh endpoint, shut down
// with the test.
func newEndpointHandler(t *testing.T) *actors.SocketHandler {
	t.Helper()
	ep := actors.NewEndpoint(actors.Config{Logger: testLogger()})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	return ep.Socket(testConnector{})
}

// One publisher's broadcasts reach a client in order among those the
// channel intercepts, and in order among those it does not; the two kinds
// take different paths (the channel's mailbox, the connection's outbox),
// so a plain broadcast may overtake an intercepted one made before it.
func TestBroadcastOrderWithIntercepts(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "vsn=2.0.0")
	join(t, c, "1", "room:order")
	const n = 200
	for i := range n {
		if err := ts.ep.Broadcast("room:order", "intercepted", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if err := ts.ep.Broadcast("room:order", "shout", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int{}
	for range 2 * n {
		m, err := c.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			I        *int `json:"i"`
			Original struct {
				I int `json:"i"`
			} `json:"original"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		i := p.Original.I // HandleOut wraps what it intercepts
		if p.I != nil {
			i = *p.I
		}
		if i != next[m.Event] {
			t.Fatalf("%s %d arrived when %d was due", m.Event, i, next[m.Event])
		}
		next[m.Event]++
	}
}
