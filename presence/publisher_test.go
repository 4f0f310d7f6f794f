package presence_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/presence"
)

// A shard answers Track while its diffs are still being delivered, and the
// changes it makes meanwhile reach the members as one diff, in which a
// member that came and went is both joined and left.
func TestTrackDoesNotWaitForDelivery(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	// Fetch runs where diffs are delivered: the diff of bob's join alone
	// holds up the delivery until release.
	var held sync.Once
	fetch := func(_ string, keys []string) map[string]map[string]any {
		if slices.Equal(keys, []string{"bob"}) {
			held.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	}
	h, tr, _ := setup(t, presence.Config{Shards: 1, Fetch: fetch})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})

	_, ann, _ := join(t, h, "ann", "room:p")
	ann.AssertBroadcast(presence.EventDiff, nil) // ann's own join
	join(t, h, "bob", "room:p")
	<-entered
	// Were the shard waiting for the delivery, these Tracks would time
	// out and their channels crash before their presence_state.
	join(t, h, "cid", "room:p")
	join(t, h, "dan", "room:p")
	eve, _, _ := join(t, h, "eve", "room:p")
	eve.Close()
	waitFor(t, func() bool { return tr.Count("room:p") == 4 })
	close(release)
	released = true

	if got := canon(ann.AssertBroadcast(presence.EventDiff, nil).Payload); got != `{"joins":{"bob":{"metas":[{"online_at":"1","phx_ref":"REF"}]}},"leaves":{}}` {
		t.Fatalf("the diff delivered first: %s", got)
	}
	want := `{"joins":{"cid":{"metas":[{"online_at":"1","phx_ref":"REF"}]},"dan":{"metas":[{"online_at":"1","phx_ref":"REF"}]},"eve":{"metas":[{"online_at":"1","phx_ref":"REF"}]}},` +
		`"leaves":{"eve":{"metas":[{"online_at":"1","phx_ref":"REF"}]}}}`
	if got := canon(ann.AssertBroadcast(presence.EventDiff, nil).Payload); got != want {
		t.Fatalf("the changes made during the delivery, merged:\n got %s\nwant %s", got, want)
	}
	ann.AssertNoPush(presence.EventDiff)
}

// announcingRoom is a room that sends its state with PushState and says
// on pushed when it has asked for it.
type announcingRoom struct {
	room
	pushed chan<- string
}

func (r *announcingRoom) HandleInfo(msg any, s *actors.Socket) error {
	err := r.room.HandleInfo(msg, s)
	r.pushed <- r.user
	return err
}

// Newcomers whose state goes out in a round get none of the round's diffs
// of their topic, before their state or after it: the state, read when
// it is sent, holds them. The members from earlier rounds get them all.
func TestStateCoversTheDiffsOfItsRound(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var held sync.Once
	fetch := func(_ string, keys []string) map[string]map[string]any {
		if slices.Equal(keys, []string{"bob"}) {
			held.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	}
	h, tr, _ := setup(t, presence.Config{Shards: 1, Fetch: fetch})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	pushed := make(chan string, 1)
	h.Channel("covered:*", func() actors.Channel {
		return &announcingRoom{room: room{p: tr, pushState: true}, pushed: pushed}
	})
	// join returns once the user's channel has tracked it and asked for
	// its state.
	join := func(user string) *channeltest.Channel {
		ch := channeltest.Connect(t, h, map[string]string{"user": user}).Join("covered:p", nil)
		if got := <-pushed; got != user {
			t.Fatalf("%s asked for its state, want %s", got, user)
		}
		return ch
	}
	joins := func(users ...string) string {
		s := `{"joins":{`
		for i, u := range users {
			if i > 0 {
				s += ","
			}
			s += `"` + u + `":{"metas":[{"online_at":"1","phx_ref":"REF"}]}`
		}
		return s + `},"leaves":{}}`
	}

	ann := join("ann")
	ann.AssertPush(presence.EventState, nil)
	// The delivery of bob's diff or state, on another topic, holds up the
	// next round. Both go out on the publisher's goroutine (pushed:* sends
	// its state with PushState, not List, which would run Fetch on the
	// channel's).
	channeltest.Connect(t, h, map[string]string{"user": "bob"}).Join("pushed:hold", nil)
	<-entered
	cid := join("cid")
	dan := join("dan")
	close(release)
	released = true

	// Whether ann's own join reached ann before its state depends on the
	// round it was in; cid's and dan's reach ann one by one.
	got := canon(ann.AssertBroadcast(presence.EventDiff, nil).Payload)
	if got == joins("ann") {
		got = canon(ann.AssertBroadcast(presence.EventDiff, nil).Payload)
	}
	if got != joins("cid") {
		t.Fatalf("ann's diff of cid's join: %s", got)
	}
	if got := canon(ann.AssertBroadcast(presence.EventDiff, nil).Payload); got != joins("dan") {
		t.Fatalf("ann's diff of dan's join: %s", got)
	}
	for _, ch := range []*channeltest.Channel{cid, dan} {
		var st presence.State
		if err := json.Unmarshal(ch.AssertPush(presence.EventState, nil).Payload, &st); err != nil || len(st) != 3 {
			t.Fatalf("a newcomer's state: %v, %v", st, err)
		}
	}
	// The next diff cid and dan get is eve's, of a later round: none of
	// their round reached them, before their state or after it.
	join("eve")
	for _, ch := range []*channeltest.Channel{ann, cid, dan} {
		if got := canon(ch.AssertBroadcast(presence.EventDiff, nil).Payload); got != joins("eve") {
			t.Fatalf("the diff after the round: %s, want eve's join", got)
		}
	}
}
