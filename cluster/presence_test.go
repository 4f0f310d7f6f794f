package cluster_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/presence"
)

// keys returns the keys of topic in n's presence, and their metas' count.
func (n *node) keys(topic string) string {
	var ks []string
	for k, p := range n.tracker.List(topic) {
		ks = append(ks, k+"×"+string(rune('0'+len(p.Metas))))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

func waitKeys(t *testing.T, topic, want string, nodes ...*node) {
	t.Helper()
	waitFor(t, "presence "+want, func() bool {
		for _, n := range nodes {
			if n.keys(topic) != want {
				return false
			}
		}
		return true
	})
}

// diffs reads the presence diffs that reach ch, and returns the keys
// joined and left.
func diff(t *testing.T, ch *channeltest.Channel) (joins, leaves []string) {
	t.Helper()
	m := ch.AssertBroadcast(presence.EventDiff, nil)
	var d presence.Diff
	if err := json.Unmarshal(m.Payload, &d); err != nil {
		t.Fatal(err)
	}
	for k := range d.Joins {
		joins = append(joins, k)
	}
	for k := range d.Leaves {
		leaves = append(leaves, k)
	}
	sort.Strings(joins)
	sort.Strings(leaves)
	return joins, leaves
}

func TestPresenceConvergesAcrossNodes(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, b, c)

	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:p", nil)
	ann.AssertPush(presence.EventState, nil)
	waitKeys(t, "room:p", "ann×1", a, b, c)
	bobSock := channeltest.Connect(t, b.h, map[string]string{"user": "bob"})
	bob := bobSock.Join("room:p", nil)
	state := bob.AssertPush(presence.EventState, nil)
	if !strings.Contains(string(state.Payload), metaOf(t, a, "ann")) {
		t.Errorf("bob's presence_state %s lacks ann's meta %s", state.Payload, metaOf(t, a, "ann"))
	}
	cid := channeltest.Connect(t, c.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "ann×1 bob×1 cid×1", a, b, c)
	if got := a.tracker.Count("room:p"); got != 3 {
		t.Errorf("Count on a: %d, want 3", got)
	}

	// ann sees each join once, one diff each, sent by her own node; joins
	// made on different nodes come in no set order.
	var joined []string
	for range 3 {
		joins, leaves := diff(t, ann)
		if len(joins) != 1 || len(leaves) != 0 {
			t.Fatalf("diff: joins %v leaves %v, want one join", joins, leaves)
		}
		joined = append(joined, joins[0])
	}
	if sort.Strings(joined); strings.Join(joined, " ") != "ann bob cid" {
		t.Errorf("joins seen by ann: %v", joined)
	}
	ann.AssertNoPush(presence.EventDiff)

	bobSock.Close()
	joins, leaves := diff(t, ann)
	if len(joins) != 0 || len(leaves) != 1 || leaves[0] != "bob" {
		t.Fatalf("diff: joins %v leaves %v, want bob's leave", joins, leaves)
	}
	waitKeys(t, "room:p", "ann×1 cid×1", a, b, c)
	// cid may or may not have seen bob join, depending on whether c
	// learned of it before cid subscribed; bob's leave it sees once.
	for {
		_, leaves := diff(t, cid)
		if len(leaves) == 1 && leaves[0] == "bob" {
			break
		}
	}
	cid.AssertNoPush(presence.EventDiff)
}

// metaOf returns the JSON of user's one meta in n's view of room:p.
func metaOf(t *testing.T, n *node, user string) string {
	t.Helper()
	p := n.tracker.List("room:p")[user]
	if len(p.Metas) != 1 {
		t.Fatalf("%s has %d metas", user, len(p.Metas))
	}
	return string(p.Metas[0])
}

func TestPeerKilledIsDeclaredDownAndItsPresencesLeave(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, b, c)

	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:p", nil)
	channeltest.Connect(t, c.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "ann×1 cid×1", a, b, c)
	diff(t, ann) // ann
	diff(t, ann) // cid

	killed := time.Now()
	cluster.Crash(c.c) // no goodbye: as kill -9 looks to its peers
	_, leaves := diff(t, ann)
	if len(leaves) != 1 || leaves[0] != "cid" {
		t.Fatalf("leaves %v, want cid", leaves)
	}
	// Down after 3 silent heartbeats; the bound is the down
	// period plus 1 s.
	if took, limit := time.Since(killed), 3*heartbeat+time.Second; took > limit {
		t.Errorf("cid left %v after the kill, past %v", took, limit)
	}
	waitKeys(t, "room:p", "ann×1", a, b)
	waitFor(t, "a and b to see c down", func() bool {
		return strings.Join(a.upPeers(), ",") == "b" && strings.Join(b.upPeers(), ",") == "a"
	})
	// Nothing is queued for a peer that is down: broadcasts still flow
	// between the living.
	bob := channeltest.Connect(t, b.h, map[string]string{"user": "bob"}).Join("room:w", nil)
	if err := a.ep.Broadcast("room:w", "still", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	bob.AssertBroadcast("still", `{"n":1}`)
}

func TestRestartedPeerReplacesItsEntries(t *testing.T) {
	a := startNode(t, testConfig("a"))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, c)

	ann := channeltest.Connect(t, a.h, map[string]string{"user": "ann"}).Join("room:p", nil)
	channeltest.Connect(t, c.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "ann×1 cid×1", a, c)
	diff(t, ann)
	diff(t, ann)

	// c dies and comes back at once at its address, before a could see it
	// down: its new run's entries replace the old ones, with no duplicate
	// and no ghost.
	oldInc := c.c.Incarnation()
	cluster.Crash(c.c)
	cfg := testConfig("c", a.c.Addr())
	cfg.ListenAddr = c.c.Addr()
	c2 := startNode(t, cfg)
	if c2.c.Incarnation() == oldInc {
		t.Fatalf("incarnation %s again after a restart", oldInc)
	}
	waitFor(t, "a to meet c's new run", func() bool {
		for _, p := range a.c.Peers() {
			if p.Node == "c" && p.Up && p.Incarnation == c2.c.Incarnation() {
				return true
			}
		}
		return false
	})
	waitKeys(t, "room:p", "ann×1", a)
	channeltest.Connect(t, c2.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "ann×1 cid×1", a, c2)
	_, leaves := diff(t, ann)
	if len(leaves) != 1 || leaves[0] != "cid" {
		t.Fatalf("leaves %v, want the old cid", leaves)
	}
	joins, _ := diff(t, ann)
	if len(joins) != 1 || joins[0] != "cid" {
		t.Fatalf("joins %v, want the new cid", joins)
	}
	ann.AssertNoPush(presence.EventDiff)
}

func TestHealedPartitionResyncs(t *testing.T) {
	a := startNode(t, testConfig("a"))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, c)

	channeltest.Connect(t, c.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "cid×1", a, c)

	cluster.Isolate(c.c, true)
	waitFor(t, "a to see c down", func() bool { return len(a.upPeers()) == 0 })
	waitKeys(t, "room:p", "", a)
	// A change made during the partition reaches a after it heals.
	channeltest.Connect(t, c.h, map[string]string{"user": "cyd"}).Join("room:p", nil)
	waitKeys(t, "room:p", "cid×1 cyd×1", c)

	inc := c.c.Incarnation()
	cluster.Isolate(c.c, false)
	waitKeys(t, "room:p", "cid×1 cyd×1", a)
	for _, p := range a.c.Peers() {
		if p.Node == "c" && p.Incarnation != inc {
			t.Errorf("c's incarnation changed: %s, was %s", p.Incarnation, inc)
		}
	}
}

func TestGoodbyeDropsPresencesAtOnce(t *testing.T) {
	a := startNode(t, testConfig("a"))
	c := startNode(t, cluster.Config{Node: "c", Seeds: []string{a.c.Addr()}, Secret: "test secret", HeartbeatInterval: time.Minute})
	waitFor(t, "a and c to meet", func() bool { return len(a.upPeers()) == 1 && len(c.upPeers()) == 1 })
	channeltest.Connect(t, c.h, map[string]string{"user": "cid"}).Join("room:p", nil)
	waitKeys(t, "room:p", "cid×1", a)
	// With a minute between heartbeats, only the goodbye can tell a.
	c.stop()
	waitKeys(t, "room:p", "", a)
}
