package actors_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/internal/seam"
	"github.com/phxgo/phx/transport"
)

// recordingRelay is a relay that keeps what it is handed, as package
// cluster's would send it on.
type recordingRelay struct {
	mu     sync.Mutex
	events []string
	refuse error
}

func (r *recordingRelay) Relay(topic, event string, p actors.Payload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		return r.refuse
	}
	r.events = append(r.events, topic+" "+event+" "+string(p.Data))
	return nil
}

func (r *recordingRelay) Forward(topic, event string, p actors.Payload, from string) (bool, error) {
	return false, r.Relay(topic, event, p)
}

func (r *recordingRelay) Sequenced(topic, event string, p actors.Payload, origin, from string, at, prev seam.Position) {
}

func (r *recordingRelay) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

type shouter struct{ actors.BaseChannel }

func (shouter) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

func (shouter) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	var err error
	switch event {
	case "all":
		err = s.Broadcast("all", p)
	case "others":
		err = s.BroadcastFrom("others", p)
	}
	if err != nil {
		return actors.ReplyError(map[string]string{"reason": err.Error()})
	}
	return actors.ReplyOK(nil)
}

type anyone struct{}

func (anyone) Connect(map[string]string, transport.ConnectInfo) (map[string]any, error) {
	return nil, nil
}
func (anyone) ID(map[string]any) string { return "" }

// TestRelaySeesEveryBroadcastOfThisNode: Broadcast, BroadcastFrom and
// Endpoint.Broadcast reach the relay in the order made, LocalBroadcast
// does not, and a relay's error refuses the broadcast everywhere.
func TestRelaySeesEveryBroadcastOfThisNode(t *testing.T) {
	ep := actors.NewEndpoint(actors.Config{})
	defer ep.Shutdown(context.Background())
	relay := &recordingRelay{}
	seam.Of(ep).SetRelay(relay)
	h := ep.Socket(anyone{})
	h.Channel("room:*", func() actors.Channel { return shouter{} })
	ch := channeltest.Connect(t, h, nil).Join("room:1", nil)

	ch.AssertReply(ch.Push("all", map[string]int{"n": 1}), "ok")
	ch.AssertBroadcast("all", `{"n":1}`)
	ch.AssertReply(ch.Push("others", map[string]int{"n": 2}), "ok")
	if err := ep.Broadcast("room:1", "ep", map[string]int{"n": 3}); err != nil {
		t.Fatal(err)
	}
	ch.AssertBroadcast("ep", `{"n":3}`)
	if err := ep.LocalBroadcast("room:1", "local", map[string]int{"n": 4}); err != nil {
		t.Fatal(err)
	}
	ch.AssertBroadcast("local", `{"n":4}`)
	want := []string{`room:1 all {"n":1}`, `room:1 others {"n":2}`, `room:1 ep {"n":3}`}
	if got := relay.seen(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("relayed %q, want %q", got, want)
	}

	relay.mu.Lock()
	relay.refuse = errors.New("too large to relay")
	relay.mu.Unlock()
	ch.AssertReply(ch.Push("all", map[string]int{"n": 5}), "error", `{"reason":"too large to relay"}`)
	ch.AssertNoPush("all")
	if err := ep.LocalBroadcast("room:1", "local", map[string]int{"n": 6}); err != nil {
		t.Errorf("LocalBroadcast goes through no relay: %v", err)
	}

	seam.Of(ep).SetRelay(nil)
	ch.AssertReply(ch.Push("all", map[string]int{"n": 7}), "ok")
	if got := relay.seen(); len(got) != 3 {
		t.Errorf("relayed after SetRelay(nil): %q", got)
	}
}
