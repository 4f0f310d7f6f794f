package presence_test

import (
	"slices"
	"sync"
	"testing"

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
