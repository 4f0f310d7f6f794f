package actors_test

import (
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
)

// feedReader subscribes to "feed:<id>" in Join and forwards what arrives
// there to its client.
type feedReader struct{ actors.BaseChannel }

func (feedReader) Join(topic string, _ actors.Payload, s *actors.Socket) (any, error) {
	return nil, s.Subscribe("feed:" + topic[len("reader:"):])
}

func (feedReader) HandleInfo(msg any, s *actors.Socket) error {
	if b, ok := msg.(actors.Broadcast); ok {
		return s.Push("fwd", b.Payload)
	}
	return nil
}

func (feedReader) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	if event == "unsubscribe" {
		if err := s.Unsubscribe("feed:" + s.Topic()[len("reader:"):]); err != nil {
			return actors.ReplyError(map[string]string{"reason": err.Error()})
		}
		return actors.ReplyOK(nil)
	}
	return actors.ReplyError(map[string]string{"reason": "unknown"})
}

// Subscribe and Unsubscribe make their change themselves, under the
// topic's lock: a registry shard whose actor is busy (as a storm of
// channels ending, each posting its unsubscriptions, keeps it) holds
// neither up. They used to wait for that actor, and a storm of joins
// had them give up after 5 s, refusing the joins.
func TestSubscribeDoesNotWaitForTheRegistrysActor(t *testing.T) {
	ep := actors.NewEndpoint(actors.Config{Logger: testLogger()})
	t.Cleanup(func() { _ = ep.Shutdown(t.Context()) })
	h := ep.Socket(testConnector{})
	h.Channel("reader:*", func() actors.Channel { return feedReader{} })
	release := make(chan struct{})
	defer close(release)
	actors.StallRegistryShard(ep, "feed:1", release)

	s := channeltest.Connect(t, h, nil)
	ch := s.Join("reader:1", nil)
	if err := ep.Broadcast("feed:1", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	ch.AssertPush("fwd", map[string]int{"n": 1})
	ch.AssertReply(ch.Push("unsubscribe", nil), "ok")
	if n := actors.Subscribers(ep, "feed:1"); n != 0 {
		t.Fatalf("%d subscribers of feed:1 after Unsubscribe", n)
	}
}
