package actors_test

import (
	"context"
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
