package cluster_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// joinHist connects a client to n and joins topic, with {"recover":
// from} when from is not "", and returns it with its phx_recovery.
func (n *node) joinHist(t *testing.T, user, topic, from string) (*phxclient.Client, recovery) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/?vsn=2.0.0&user=" + user
	c, _, err := phxclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	params := "{}"
	if from != "" {
		params = fmt.Sprintf(`{"recover":%q}`, from)
	}
	if err := c.Send(fmt.Sprintf(`["1","1",%q,"phx_join",%s]`, topic, params)); err != nil {
		t.Fatal(err)
	}
	if m := next(t, c, "phx_reply"); !strings.Contains(string(m.Payload), `"ok"`) {
		t.Fatalf("join %s: %s", topic, m.Payload)
	}
	m, err := c.Next(5 * time.Second)
	if err != nil || m.Event != "phx_recovery" {
		t.Fatalf("after the join reply: %+v %v", m, err)
	}
	var r recovery
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatal(err)
	}
	return c, r
}

type recovery struct {
	Position  string `json:"position"`
	Recovered bool   `json:"recovered"`
	Missed    int    `json:"missed"`
}

// seen is a broadcast as a client received it.
type seen struct{ pos, event, payload string }

// collect reads n broadcasts from c.
func collect(c *phxclient.Client, n int) ([]seen, error) {
	var out []seen
	for len(out) < n {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			return out, fmt.Errorf("after %d of %d: %v", len(out), n, err)
		}
		if m.Event == "presence_state" || m.Event == "presence_diff" || m.Event == "phx_reply" {
			continue
		}
		pos, err := strconv.Unquote(m.Ref) // the ref as JSON
		if err != nil {
			return out, fmt.Errorf("broadcast %s %s without a position: %s", m.Event, m.Payload, m.Ref)
		}
		out = append(out, seen{pos, m.Event, string(m.Payload)})
	}
	return out, nil
}

// A topic that keeps a history is numbered by one node: broadcasts made
// on every node at once reach every client in one order, at the same
// positions everywhere, each publisher's in the order made, and
// BroadcastFrom skips its sender on its own node only.
func TestPositionsAreTheSameOnEveryNode(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	c := startNode(t, testConfig("c", a.c.Addr()))
	waitMeshed(t, a, b, c)
	const topic = "hist:same"
	nodes := []*node{a, b, c}
	var clients []*phxclient.Client
	for _, n := range nodes {
		cl, _ := n.joinHist(t, "u"+n.name, topic, "")
		clients = append(clients, cl)
	}
	whisperer, _ := b.joinHist(t, "w", topic, "")

	const each = 300
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for i := range each {
				if err := n.ep.Broadcast(topic, "shout", json.RawMessage(fmt.Sprintf(`{"from":%q,"i":%d}`, n.name, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range each {
			if err := whisperer.Send(fmt.Sprintf(`["1","%d",%q,"whisper",{"i":%d}]`, i+2, topic, i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	var got [][]seen
	for i, cl := range clients {
		s, err := collect(cl, 4*each)
		if err != nil {
			t.Fatalf("client on %s: %v", nodes[i].name, err)
		}
		got = append(got, s)
	}
	for i := 1; i < len(got); i++ {
		for k := range got[0] {
			if got[i][k] != got[0][k] {
				t.Fatalf("broadcast %d: %+v on %s, %+v on a", k, got[i][k], nodes[i].name, got[0][k])
			}
		}
	}
	// Each publisher's order, and no position twice.
	next := map[string]int{}
	positions := map[string]bool{}
	for _, s := range got[0] {
		if positions[s.pos] {
			t.Fatalf("position %s twice", s.pos)
		}
		positions[s.pos] = true
		var p struct {
			From string `json:"from"`
			I    int    `json:"i"`
		}
		_ = json.Unmarshal([]byte(s.payload), &p)
		key := s.event + p.From
		if p.I != next[key] {
			t.Fatalf("%s %s: %d, want %d", s.event, p.From, p.I, next[key])
		}
		next[key]++
	}
	// The whisperer got every shout and none of its whispers.
	mine, err := collect(whisperer, 3*each)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		if s.event != "shout" {
			t.Fatalf("the whisperer got %+v", s)
		}
	}
	if st := a.c.Stats().BroadcastsForwarded + b.c.Stats().BroadcastsForwarded + c.c.Stats().BroadcastsForwarded; st == 0 {
		t.Error("no broadcast was forwarded to the topic's sequencer")
	}
}

// A client whose node stops comes back on another node with the last
// position it saw and gets every broadcast made meanwhile on the nodes
// left, once, in order, at the positions the others saw: whichever node
// numbered the topic before, the stopped one included.
func TestRecoveryOnAnotherNode(t *testing.T) {
	skipUnderRace(t)
	sequencedByB := map[bool]bool{}
	defer func() {
		if !t.Failed() && (!sequencedByB[true] || !sequencedByB[false]) {
			t.Errorf("the stopped node numbered the topic: %v; want both cases", sequencedByB)
		}
	}()
	for _, topic := range []string{"hist:1", "hist:2", "hist:3", "hist:4", "hist:5", "hist:6"} {
		t.Run(topic, func(t *testing.T) {
			a := startNode(t, testConfig("a"))
			b := startNode(t, testConfig("b", a.c.Addr()))
			c := startNode(t, testConfig("c", a.c.Addr()))
			waitMeshed(t, a, b, c)
			watcher, _ := a.joinHist(t, "wa", topic, "")
			onC, _ := c.joinHist(t, "wc", topic, "")
			away, _ := b.joinHist(t, "away", topic, "")
			for i := range 5 {
				if err := c.ep.Broadcast(topic, "shout", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
					t.Fatal(err)
				}
			}
			before, err := collect(away, 5)
			if err != nil {
				t.Fatal(err)
			}
			sequencedByB[b.c.Stats().BroadcastsSequenced > 0] = true
			b.stop()
			waitMeshed(t, a, c)
			for i := 5; i < 15; i++ {
				pub := a
				if i%2 == 1 {
					pub = c
				}
				if err := pub.ep.Broadcast(topic, "shout", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
					t.Fatal(err)
				}
			}
			all, err := collect(watcher, 15)
			if err != nil {
				t.Fatal(err)
			}
			// c has delivered them all too.
			if _, err := collect(onC, 15); err != nil {
				t.Fatal(err)
			}
			back, r := c.joinHist(t, "away", topic, before[4].pos)
			if !r.Recovered || r.Missed != 10 {
				t.Fatalf("recovery on c from %s: %+v; before %+v, watcher %+v", before[4].pos, r, before, all)
			}
			missed, err := collect(back, 10)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range missed {
				if s != all[5+i] {
					t.Fatalf("missed %d: %+v, the watcher saw %+v", i, s, all[5+i])
				}
			}
			if err := a.ep.Broadcast(topic, "shout", json.RawMessage(`{"i":15}`)); err != nil {
				t.Fatal(err)
			}
			live, err := collect(back, 1)
			if err != nil || live[0].payload != `{"i":15}` {
				t.Fatalf("the live broadcast after: %+v %v", live, err)
			}
		})
	}
}
