package channeltest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
)

// inbox subscribes to its user's topic in Join (unless told not to after
// a restart) and forwards what arrives there to its client.
type inbox struct {
	actors.BaseChannel
	skipAfterRestart bool
	joins            *int
	waited           chan error // what "wait" saw
}

func (c *inbox) Join(topic string, p actors.Payload, s *actors.Socket) (any, error) {
	*c.joins++
	if c.skipAfterRestart && *c.joins > 1 {
		return nil, nil
	}
	return nil, s.Subscribe("user:" + s.Get("user").(string))
}

func (c *inbox) HandleInfo(msg any, s *actors.Socket) error {
	if b, ok := msg.(actors.Broadcast); ok {
		return s.Push("fwd", map[string]any{"topic": b.Topic, "event": b.Event, "payload": b.Payload})
	}
	return nil
}

func (c *inbox) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "boom":
		panic("boom")
	case "unsubscribe":
		if err := s.Unsubscribe("user:" + s.Get("user").(string)); err != nil {
			return actors.ReplyError(map[string]string{"reason": err.Error()})
		}
		return actors.ReplyOK(nil)
	case "own":
		return actors.ReplyOK(map[string]string{"err": s.Subscribe(s.Topic()).Error()})
	case "wait":
		// Blocks until the channel ends: the client leaving must not
		// wait for it.
		<-s.Context().Done()
		c.waited <- s.Context().Err()
		return actors.ReplyOK(nil)
	}
	return c.BaseChannel.HandleIn(event, p, s)
}

type inboxSetup struct {
	ep     *actors.Endpoint
	h      *actors.SocketHandler
	waited chan error
}

func inboxes(t *testing.T, skipAfterRestart bool) inboxSetup {
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	h := ep.Socket(users{})
	joins := 0
	waited := make(chan error, 10)
	h.Channel("inbox:*", func() actors.Channel {
		return &inbox{skipAfterRestart: skipAfterRestart, joins: &joins, waited: waited}
	})
	return inboxSetup{ep, h, waited}
}

// A subscription made in Join delivers to HandleInfo, once per broadcast
// across a crash and restart in place, and ends with the channel.
func TestSubscriptionAcrossRestart(t *testing.T) {
	in := inboxes(t, false)
	ep := in.ep
	sock := channeltest.Connect(t, in.h, map[string]string{"user": "ann"})
	ch := sock.Join("inbox:1", nil)
	if err := ep.Broadcast("user:ann", "dm", map[string]string{"body": "one"}); err != nil {
		t.Fatal(err)
	}
	ch.AssertPush("fwd", `{"topic":"user:ann","event":"dm","payload":{"body":"one"}}`)

	ch.AssertReply(ch.Push("boom", nil), "error", `{"reason":"channel_crash"}`)
	_ = ep.Broadcast("user:ann", "dm", map[string]string{"body": "two"})
	ch.AssertPush("fwd", `{"topic":"user:ann","event":"dm","payload":{"body":"two"}}`)
	ch.AssertNoPush("fwd") // subscribed once, not once per instance

	before := ep.Stats().BroadcastDeliveries
	ch.AssertReply(ch.Push("own", nil), "ok", `{"err":"actors: a channel cannot subscribe to its own topic"}`)
	ch.Leave()
	_ = ep.Broadcast("user:ann", "dm", map[string]string{"body": "three"})
	if n := ep.Stats().BroadcastDeliveries - before; n != 0 {
		t.Errorf("%d deliveries to a topic whose only subscriber left", n)
	}
}

// A restarted instance that does not subscribe again gets nothing: the
// subscription belonged to the instance that crashed.
func TestSubscriptionEndsWithItsInstance(t *testing.T) {
	in := inboxes(t, true)
	ep := in.ep
	sock := channeltest.Connect(t, in.h, map[string]string{"user": "bob"})
	ch := sock.Join("inbox:1", nil)
	ch.AssertReply(ch.Push("boom", nil), "error", `{"reason":"channel_crash"}`)
	// Answered by the restarted instance: the restart is done.
	ch.AssertReply(ch.Push("unsubscribe", nil), "ok")
	before := ep.Stats().BroadcastDeliveries
	_ = ep.Broadcast("user:bob", "dm", nil)
	ch.AssertNoPush("fwd")
	if n := ep.Stats().BroadcastDeliveries - before; n != 0 {
		t.Errorf("%d deliveries after the subscribing instance crashed", n)
	}
}

func TestUnsubscribe(t *testing.T) {
	in := inboxes(t, false)
	ep := in.ep
	sock := channeltest.Connect(t, in.h, map[string]string{"user": "cid"})
	ch := sock.Join("inbox:1", nil)
	ch.AssertReply(ch.Push("unsubscribe", nil), "ok")
	ch.AssertReply(ch.Push("unsubscribe", nil), "ok") // again: nothing to do
	_ = ep.Broadcast("user:cid", "dm", nil)
	ch.AssertNoPush("fwd")
}

// Context is cancelled when the client leaves, even while a callback
// waits on it: the socket cancels it as it routes the leave. The same when
// the connection closes.
func TestContextEndsWithTheChannel(t *testing.T) {
	in := inboxes(t, false)
	sock := channeltest.Connect(t, in.h, map[string]string{"user": "dan"})
	ch := sock.Join("inbox:1", nil)
	ref := ch.Push("wait", nil)
	ch.AssertNoReply(ref)
	ch.Leave()
	if err := <-in.waited; err != context.Canceled {
		t.Fatalf("after a leave: %v", err)
	}
	ch.AssertReply(ref, "ok")

	ch = sock.Join("inbox:2", nil)
	ch.AssertNoReply(ch.Push("wait", nil))
	sock.Close()
	if err := <-in.waited; err != context.Canceled {
		t.Fatalf("after the connection closed: %v", err)
	}
}
