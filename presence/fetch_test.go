package presence_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/presence"
)

// names is a Fetch that loads each key's name and counts its calls.
type names struct {
	mu    sync.Mutex
	calls [][]string
}

func (n *names) fetch(topic string, keys []string) map[string]map[string]any {
	n.mu.Lock()
	n.calls = append(n.calls, keys)
	n.mu.Unlock()
	out := map[string]map[string]any{}
	for _, k := range keys {
		if k != "anonymous" {
			out[k] = map[string]any{"user": map[string]string{"name": strings.ToUpper(k)}}
		}
	}
	return out
}

func (n *names) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.calls)
}

// Fetch enriches presence_state and presence_diff beside "metas", and runs
// once per diff, however many members receive it.
func TestFetch(t *testing.T) {
	var n names
	h, tr, _ := setup(t, presence.Config{Fetch: n.fetch})
	_, ann, state := join(t, h, "ann", "room:f")
	if got := canon(state.Payload); got != `{"ann":{"metas":[{"online_at":"1","phx_ref":"REF"}],"user":{"name":"ANN"}}}` {
		t.Fatalf("presence_state %s", got)
	}
	ann.AssertBroadcast(presence.EventDiff, nil) // ann's own join
	_, bob, _ := join(t, h, "bob", "room:f")
	_, cid, _ := join(t, h, "anonymous", "room:f")
	// The two joins reach ann as one diff or two: the shard's publisher
	// merges the changes made while it delivers.
	joins, diffs := diffJoins(t, ann, "bob", "anonymous")
	if got := joins["bob"]; got != `{"metas":[{"online_at":"1","phx_ref":"REF"}],"user":{"name":"BOB"}}` {
		t.Fatalf("bob's join as ann sees it: %s", got)
	}
	if got := joins["anonymous"]; got != `{"metas":[{"online_at":"1","phx_ref":"REF"}]}` {
		t.Fatalf("a key Fetch left out: %s", got)
	}
	diffJoins(t, bob, "bob", "anonymous")
	diffJoins(t, cid, "anonymous")

	// Fetch ran once per diff, each fetched before it was sent (ann's
	// join's, then those ann saw), and once per List (each joiner's
	// presence_state), all received above: not once per client a diff
	// reached.
	if c, want := n.count(), 1+diffs+3; c != want {
		t.Errorf("Fetch called %d times, want %d", c, want)
	}
	var st presence.State
	if err := json.Unmarshal(state.Payload, &st); err != nil || len(st["ann"].Metas) != 1 {
		t.Errorf("a state with fields decodes: %v %+v", err, st)
	}
	if l := tr.List("room:f"); l["bob"].Fields["user"] == nil || l["anonymous"].Fields != nil {
		t.Errorf("List: %+v", l)
	}
}

// diffJoins reads the presence_diffs c receives until they have joined
// every key of want, and returns each key's entry, its phx_refs made
// alike, and how many diffs it read. A diff merged from several joins
// may also bring a newcomer a member its state already holds.
func diffJoins(t *testing.T, c *channeltest.Channel, want ...string) (map[string]string, int) {
	t.Helper()
	joins := map[string]string{}
	for n := 1; ; n++ {
		var d struct{ Joins, Leaves map[string]json.RawMessage }
		m := c.AssertBroadcast(presence.EventDiff, nil)
		if err := json.Unmarshal(m.Payload, &d); err != nil || len(d.Leaves) != 0 {
			t.Fatalf("presence_diff %s: %v", m.Payload, err)
		}
		for k, v := range d.Joins {
			joins[k] = canon(v)
		}
		if !slices.ContainsFunc(want, func(k string) bool { _, ok := joins[k]; return !ok }) {
			return joins, n
		}
	}
}

func TestPresenceFieldNamedMetas(t *testing.T) {
	_, err := json.Marshal(presence.Presence{Fields: map[string]any{"metas": 1}})
	if err == nil {
		t.Fatal("a field named metas was encoded")
	}
}
