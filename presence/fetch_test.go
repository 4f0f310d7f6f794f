package presence_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

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
	d := ann.AssertBroadcast(presence.EventDiff, nil)
	if got := canon(d.Payload); got != `{"joins":{"bob":{"metas":[{"online_at":"1","phx_ref":"REF"}],"user":{"name":"BOB"}}},"leaves":{}}` {
		t.Fatalf("bob's join as ann sees it: %s", got)
	}
	bob.AssertBroadcast(presence.EventDiff, nil) // bob's own join
	d = bob.AssertBroadcast(presence.EventDiff, nil)
	if got := canon(d.Payload); got != `{"joins":{"anonymous":{"metas":[{"online_at":"1","phx_ref":"REF"}]}},"leaves":{}}` {
		t.Fatalf("a key Fetch left out: %s", got)
	}
	cid.AssertBroadcast(presence.EventDiff, nil)

	// Three joins: three diffs, each fetched before it was sent, and three
	// Lists (each joiner's presence_state), all received above. Six calls,
	// though the diffs reached six clients.
	if c := n.count(); c != 6 {
		t.Errorf("Fetch called %d times, want 6", c)
	}
	var st presence.State
	if err := json.Unmarshal(state.Payload, &st); err != nil || len(st["ann"].Metas) != 1 {
		t.Errorf("a state with fields decodes: %v %+v", err, st)
	}
	if l := tr.List("room:f"); l["bob"].Fields["user"] == nil || l["anonymous"].Fields != nil {
		t.Errorf("List: %+v", l)
	}
}

func TestPresenceFieldNamedMetas(t *testing.T) {
	_, err := json.Marshal(presence.Presence{Fields: map[string]any{"metas": 1}})
	if err == nil {
		t.Fatal("a field named metas was encoded")
	}
}
