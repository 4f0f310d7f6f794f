package presence_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/phxgo/phx/presence"
)

func meta(ref, prev string) json.RawMessage {
	if prev != "" {
		return json.RawMessage(`{"phx_ref":"` + ref + `","phx_ref_prev":"` + prev + `","s":"away"}`)
	}
	return json.RawMessage(`{"phx_ref":"` + ref + `"}`)
}

// TestAnotherNodesEntries applies the entries of another node as the
// cluster does, and checks what this node's clients see.
func TestAnotherNodesEntries(t *testing.T) {
	h, tr, _ := setup(t, presence.Config{Node: "here"})
	_, me, _ := join(t, h, "me", "room:1")
	me.AssertBroadcast(presence.EventDiff, nil) // my own join

	tr.ApplyNode("there", []presence.Change{{Topic: "room:1", Key: "ann", Ref: "r1", Meta: meta("r1", "")}})
	me.AssertBroadcast(presence.EventDiff, `{"joins":{"ann":{"metas":[{"phx_ref":"r1"}]}},"leaves":{}}`)
	waitFor(t, func() bool { return tr.Count("room:1") == 2 })

	// An update: one diff, the new meta joining and the old leaving.
	tr.ApplyNode("there", []presence.Change{{Topic: "room:1", Key: "ann", Ref: "r2", Meta: meta("r2", "r1"), LeftRef: "r1"}})
	me.AssertBroadcast(presence.EventDiff, `{"joins":{"ann":{"metas":[{"phx_ref":"r2","phx_ref_prev":"r1","s":"away"}]}},"leaves":{"ann":{"metas":[{"phx_ref":"r1"}]}}}`)

	// The same changes again, and the leave of an entry never held: no
	// diff, no duplicate.
	tr.ApplyNode("there", []presence.Change{
		{Topic: "room:1", Key: "ann", Ref: "r2", Meta: meta("r2", "r1"), LeftRef: "r1"},
		{Topic: "room:1", Key: "zed", LeftRef: "r9"},
	})
	// A node's own name is never applied from outside.
	tr.ApplyNode("here", []presence.Change{{Topic: "room:1", Key: "ghost", Ref: "r8", Meta: meta("r8", "")}})
	me.AssertNoPush(presence.EventDiff)
	if p := tr.List("room:1")["ann"]; len(p.Metas) != 1 {
		t.Errorf("ann has %d metas, want 1", len(p.Metas))
	}

	// A full state replaces the node's entries: ann leaves, bob joins,
	// in one diff.
	tr.ReplaceNode("there", []presence.Change{{Topic: "room:1", Key: "bob", Ref: "r3", Meta: meta("r3", "")}})
	me.AssertBroadcast(presence.EventDiff, `{"joins":{"bob":{"metas":[{"phx_ref":"r3"}]}},"leaves":{"ann":{"metas":[{"phx_ref":"r2","phx_ref_prev":"r1","s":"away"}]}}}`)

	// The node is down: all its entries leave.
	tr.ReplaceNode("there", nil)
	me.AssertBroadcast(presence.EventDiff, `{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":"r3"}]}}}`)
	waitFor(t, func() bool { return tr.Count("room:1") == 1 })
}

// TestReplicateFeedsThisNodesChanges: the feed gets the entries held when
// it is set, then every change, and never another node's.
func TestReplicateFeedsThisNodesChanges(t *testing.T) {
	h, tr, _ := setup(t, presence.Config{Node: "here"})
	_, ann, _ := join(t, h, "ann", "room:1")

	var mu sync.Mutex
	var fed []presence.Change
	tr.Replicate(func(c presence.Change) {
		mu.Lock()
		fed = append(fed, c)
		mu.Unlock()
	})
	got := func() []presence.Change {
		mu.Lock()
		defer mu.Unlock()
		return append([]presence.Change(nil), fed...)
	}
	if f := got(); len(f) != 1 || f[0].Key != "ann" || f[0].Ref == "" || f[0].LeftRef != "" {
		t.Fatalf("fed at start: %+v", f)
	}
	first := got()[0].Ref

	ann.AssertReply(ann.Push("update", nil), "ok")
	tr.ApplyNode("there", []presence.Change{{Topic: "room:1", Key: "bob", Ref: "r1", Meta: meta("r1", "")}})
	ann.AssertReply(ann.Push("untrack", nil), "ok")
	waitFor(t, func() bool { return len(got()) == 3 })
	f := got()
	if f[1].LeftRef != first || f[1].Ref == "" {
		t.Errorf("update fed as %+v", f[1])
	}
	if f[2].LeftRef != f[1].Ref || f[2].Ref != "" {
		t.Errorf("untrack fed as %+v", f[2])
	}
	tr.Replicate(nil)
}
