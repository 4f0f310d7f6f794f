package actors_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/internal/seam"
)

// histServer is a test server whose "hist:*" topics keep their last size
// broadcasts.
func histServer(t *testing.T, size int, cfg actors.Config) *testServer {
	t.Helper()
	ts := newServer(t, serverOpts{endpoint: cfg})
	ts.h.Channel("hist:*", func() actors.Channel { return plain{} }, actors.WithHistory(size, time.Minute))
	return ts
}

// plain joins anyone and does nothing else.
type plain struct{ actors.BaseChannel }

func (plain) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

// frame is a V2 frame taken apart.
type frame struct {
	joinRef, ref *string
	topic, event string
	payload      json.RawMessage
}

func nextFrame(t *testing.T, c *phxclient.Client) frame {
	t.Helper()
	f, err := c.NextFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(f.Data, &parts); err != nil || len(parts) != 5 {
		t.Fatalf("not a V2 frame: %s", f.Data)
	}
	var fr frame
	_ = json.Unmarshal(parts[0], &fr.joinRef)
	_ = json.Unmarshal(parts[1], &fr.ref)
	_ = json.Unmarshal(parts[2], &fr.topic)
	_ = json.Unmarshal(parts[3], &fr.event)
	fr.payload = parts[4]
	return fr
}

type recovery struct {
	Position  string `json:"position"`
	Recovered *bool  `json:"recovered"`
	Missed    *int   `json:"missed"`
}

// joinRecovering joins topic, with {"recover": from} unless from is nil,
// and returns the phx_recovery that follows the reply.
func joinRecovering(t *testing.T, c *phxclient.Client, ref, topic string, from any) recovery {
	t.Helper()
	params := "{}"
	if from != nil {
		b, _ := json.Marshal(map[string]any{"recover": from})
		params = string(b)
	}
	send(t, c, fmt.Sprintf(`["%s","%s","%s","phx_join",%s]`, ref, ref, topic, params))
	expect(t, c, fmt.Sprintf(`["%s","%s","%s","phx_reply",{"status":"ok","response":{}}]`, ref, ref, topic))
	f := nextFrame(t, c)
	if f.event != "phx_recovery" || f.joinRef == nil || *f.joinRef != ref || f.ref != nil {
		t.Fatalf("after the join reply: %+v %s", f, f.payload)
	}
	var r recovery
	if err := json.Unmarshal(f.payload, &r); err != nil || r.Position == "" {
		t.Fatalf("phx_recovery %s", f.payload)
	}
	return r
}

// expectBroadcast reads a broadcast of event with payload {"n": n} and
// returns its position.
func expectBroadcast(t *testing.T, c *phxclient.Client, topic string, n int) string {
	t.Helper()
	f := nextFrame(t, c)
	if f.topic != topic || f.event != "shout" || f.joinRef != nil || f.ref == nil || string(f.payload) != fmt.Sprintf(`{"n":%d}`, n) {
		t.Fatalf("want broadcast %d with a position, got %+v %s", n, f, f.payload)
	}
	return *f.ref
}

// A member that comes back with the position of the last broadcast it saw
// gets, after its join reply, what it missed, in order, then the live
// broadcasts, none twice; one whose position the history no longer
// covers, or never did, gets recovered: false and nothing old.
func TestRecovery(t *testing.T) {
	ts := histServer(t, 5, actors.Config{})
	const topic = "hist:1"
	away := ts.dial(t, "")
	start := joinRecovering(t, away, "1", topic, nil)
	if start.Recovered != nil || start.Missed != nil {
		t.Fatalf("a join that did not ask: %+v", start)
	}
	shout := func(n int) {
		t.Helper()
		if err := ts.ep.Broadcast(topic, "shout", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
	}
	shout(1)
	last := expectBroadcast(t, away, topic, 1)
	away.Close()
	for n := 2; n <= 4; n++ {
		shout(n)
	}

	back := ts.dial(t, "")
	r := joinRecovering(t, back, "1", topic, last)
	if r.Recovered == nil || !*r.Recovered || *r.Missed != 3 {
		t.Fatalf("recovery %+v", r)
	}
	var positions []string
	for n := 2; n <= 4; n++ {
		positions = append(positions, expectBroadcast(t, back, topic, n))
	}
	if r.Position != positions[2] {
		t.Errorf("phx_recovery says %s, the last missed is at %s", r.Position, positions[2])
	}
	shout(5)
	expectBroadcast(t, back, topic, 5)

	// From the start of the topic (before broadcast 1): five kept, of six.
	shout(6)
	expectBroadcast(t, back, topic, 6)
	for _, from := range []any{start.Position, "forged", 42, last + "0"} {
		c := ts.dial(t, "")
		r := joinRecovering(t, c, "1", topic, from)
		if r.Recovered == nil || *r.Recovered || *r.Missed != 0 {
			t.Fatalf("recovering from %v: %+v", from, r)
		}
		shout(7)
		expectBroadcast(t, c, topic, 7) // the live one, and nothing old before it
		expectBroadcast(t, back, topic, 7)
	}
	if s := ts.ep.Stats().History; s.Topics != 1 || s.Broadcasts != 5 || s.Bytes <= 5*64 {
		t.Errorf("history stats %+v", s)
	}
}

// A topic with no history route gets no phx_recovery and its broadcasts
// no position, as before.
func TestNoHistoryNoPositions(t *testing.T) {
	ts := histServer(t, 5, actors.Config{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:plain")
	if err := ts.ep.Broadcast("room:plain", "shout", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, `[null,null,"room:plain","shout",{"n":1}]`)
}

// Members rejoining with their last position while broadcasts keep
// coming see every broadcast once, in order: no gap between what a join
// recovers and what follows it live.
func TestRecoveryUnderTraffic(t *testing.T) {
	ts := histServer(t, 100_000, actors.Config{})
	const topic = "hist:race"
	var stop atomic.Bool
	var seen atomic.Int64 // the n of the last broadcast the member saw
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; !stop.Load(); n++ {
			// Paced to the member, so that the history always covers
			// what it misses while away.
			for s := seen.Load(); s != 0 && int64(n)-s > 20 && !stop.Load(); s = seen.Load() {
				time.Sleep(50 * time.Microsecond)
			}
			_ = ts.ep.Broadcast(topic, "shout", map[string]int{"n": n})
		}
	}()
	defer func() {
		stop.Store(true)
		<-done
	}()
	c := ts.dial(t, "")
	var last string
	want := 0 // the n of the next broadcast; 0 before the first
	rejoins := 1000
	if testing.Short() {
		rejoins = 100
	}
	for i := range rejoins {
		ref := strconv.Itoa(i + 1)
		var from any
		if last != "" {
			from = last
		}
		r := joinRecovering(t, c, ref, topic, from)
		if last != "" && (r.Recovered == nil || !*r.Recovered) {
			t.Fatalf("rejoin %d did not recover: %+v", i, r)
		}
		missed := 0
		if r.Missed != nil {
			missed = *r.Missed
		}
		// What was missed, then at least one live broadcast.
		for got := 0; got < missed+1; got++ {
			f := nextFrame(t, c)
			if f.event != "shout" {
				t.Fatalf("rejoin %d: %+v", i, f)
			}
			var p struct{ N int }
			_ = json.Unmarshal(f.payload, &p)
			if want != 0 && p.N != want {
				t.Fatalf("rejoin %d: broadcast %d after %d", i, p.N, want-1)
			}
			want, last = p.N+1, *f.ref
			seen.Store(int64(p.N))
		}
		send(t, c, fmt.Sprintf(`["%s","l%s","%s","phx_leave",{}]`, ref, ref, topic))
		// Broadcasts may come before the leave's reply; they are counted.
		for {
			f := nextFrame(t, c)
			if f.event == "shout" {
				var p struct{ N int }
				_ = json.Unmarshal(f.payload, &p)
				if p.N != want {
					t.Fatalf("rejoin %d: broadcast %d after %d", i, p.N, want-1)
				}
				want, last = p.N+1, *f.ref
				seen.Store(int64(p.N))
				continue
			}
			if f.event == "phx_close" {
				break
			}
			if f.event != "phx_reply" {
				t.Fatalf("rejoin %d: %+v", i, f)
			}
		}
	}
}

// V1 clients recover alike: the position is in the message's ref.
func TestRecoveryV1(t *testing.T) {
	ts := histServer(t, 5, actors.Config{})
	v1 := ts.dial(t, "vsn=1.0.0")
	send(t, v1, `{"topic":"hist:v1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
	expect(t, v1, `{"topic":"hist:v1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`)
	f, err := v1.NextFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Event   string
		Payload recovery
		Ref     *string
	}
	if err := json.Unmarshal(f.Data, &rec); err != nil || rec.Event != "phx_recovery" || rec.Payload.Position == "" || rec.Ref != nil {
		t.Fatalf("after the join reply: %s", f.Data)
	}
	if err := ts.ep.Broadcast("hist:v1", "shout", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	f, err = v1.NextFrame(wait)
	if err != nil {
		t.Fatal(err)
	}
	var b struct{ Ref *string }
	if err := json.Unmarshal(f.Data, &b); err != nil || b.Ref == nil || *b.Ref == rec.Payload.Position {
		t.Fatalf("broadcast %s after position %s", f.Data, rec.Payload.Position)
	}
	again := ts.dial(t, "vsn=1.0.0")
	send(t, again, `{"topic":"hist:v1","event":"phx_join","payload":{"recover":"`+rec.Payload.Position+`"},"ref":"1","join_ref":"1"}`)
	expect(t, again, `{"topic":"hist:v1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`)
	expect(t, again, `{"topic":"hist:v1","event":"phx_recovery","payload":{"position":"`+*b.Ref+`","recovered":true,"missed":1},"ref":null}`)
	expect(t, again, `{"topic":"hist:v1","event":"shout","payload":{"n":1},"ref":"`+*b.Ref+`"}`)
}

// The histories of all topics together stay under Config.HistoryBytes:
// past it, the topics broadcast to longest ago lose theirs first, and a
// member recovering from one is told it cannot.
func TestHistoryBudget(t *testing.T) {
	ts := histServer(t, 1000, actors.Config{HistoryBytes: 64 << 10})
	c := ts.dial(t, "")
	oldest := joinRecovering(t, c, "1", "hist:old", nil)
	body := strings.Repeat("x", 1000)
	for i := range 200 {
		if err := ts.ep.Broadcast(fmt.Sprint("hist:", i%20), "shout", map[string]string{"b": body}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The oldest topic's only broadcast.
			if err := ts.ep.Broadcast("hist:old", "shout", map[string]int{"n": 1}); err != nil {
				t.Fatal(err)
			}
			expectBroadcast(t, c, "hist:old", 1)
		}
	}
	s := ts.ep.Stats().History
	if s.Bytes > 64<<10 || s.Cleared == 0 {
		t.Fatalf("histories hold %d bytes of a 64 KiB budget, %d cleared", s.Bytes, s.Cleared)
	}
	again := ts.dial(t, "")
	if r := joinRecovering(t, again, "1", "hist:old", oldest.Position); r.Recovered == nil || *r.Recovered {
		t.Fatalf("recovered from a cleared history: %+v", r)
	}
}

// The route that serves a topic decides whether it keeps a history: one
// declared before a route that keeps one, and matching first, keeps none.
func TestHistoryFollowsTheServingRoute(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ts.h.Channel("kept:plain", func() actors.Channel { return plain{} })
	ts.h.Channel("kept:*", func() actors.Channel { return plain{} }, actors.WithHistory(10, time.Minute))
	c := ts.dial(t, "")
	join(t, c, "1", "kept:plain")
	if err := ts.ep.Broadcast("kept:plain", "shout", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, `[null,null,"kept:plain","shout",{"n":1}]`)
	joinRecovering(t, c, "2", "kept:other", nil)
	if err := ts.ep.Broadcast("kept:other", "shout", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	expectBroadcast(t, c, "kept:other", 2)
}

// sequencingRelay stands for a cluster's relay: it records what this
// node sequenced, and forwards every broadcast while forward is set.
type sequencingRelay struct {
	mu        sync.Mutex
	forward   bool
	forwarded []string // "event from"
	sequenced []string // "event origin from at prev"
}

func (r *sequencingRelay) Relay(string, string, actors.Payload) error { return nil }

func (r *sequencingRelay) Forward(topic, event string, p actors.Payload, from string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forward {
		r.forwarded = append(r.forwarded, event+" "+from)
	}
	return r.forward, nil
}

func (r *sequencingRelay) Sequenced(topic, event string, p actors.Payload, origin, from string, at, prev seam.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sequenced = append(r.sequenced, fmt.Sprintf("%s %s %s %d %d", event, origin, from, at.Seq, prev.Seq))
}

// In a cluster one node numbers a topic's broadcasts: this node hands
// its own to the relay (Forward) when another node sequences the topic,
// delivers what that node numbered at its positions (DeliverAt), the
// publishing channel skipped, and numbers what other nodes forward to it
// (Sequence), telling the relay each position in order. A recovery then
// spans positions numbered here and elsewhere; a gap in what another
// node numbered makes it refuse rather than recover in part.
func TestRecoveryAcrossSequencers(t *testing.T) {
	ts := histServer(t, 100, actors.Config{})
	const topic = "hist:seq"
	rel := &sequencingRelay{}
	hooks := seam.Of(ts.ep)
	hooks.SetRelay(rel)
	defer hooks.SetRelay(nil)

	c := ts.dial(t, "")
	start := joinRecovering(t, c, "1", topic, nil)
	if err := ts.ep.Broadcast(topic, "shout", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	p1 := expectBroadcast(t, c, topic, 1)

	// Another node sequences the topic now.
	rel.mu.Lock()
	rel.forward = true
	rel.mu.Unlock()
	if err := ts.ep.Broadcast(topic, "shout", map[string]int{"n": 99}); err != nil {
		t.Fatal(err)
	}
	other := uuid.Must(uuid.NewV7())
	at := func(seq uint64) seam.Position { return seam.Position{Epoch: other, Seq: seq} }
	payload := func(n int) actors.Payload { return actors.Payload{Data: fmt.Appendf(nil, `{"n":%d}`, n)} }
	// It numbered the forwarded broadcast 5, after 4, which this node
	// never saw: what this node kept before is no longer recoverable.
	hooks.DeliverAt(topic, "shout", payload(2), "", at(5), at(4))
	p2 := expectBroadcast(t, c, topic, 2)
	hooks.DeliverAt(topic, "shout", payload(3), "", at(6), at(5))
	p3 := expectBroadcast(t, c, topic, 3)
	// Forwarded here by node n2, whose channel "x" it skips there only.
	hooks.Sequence(topic, "shout", payload(4), "n2", "x")
	p4 := expectBroadcast(t, c, topic, 4)

	rel.mu.Lock()
	forwarded, sequenced := rel.forwarded, rel.sequenced
	rel.mu.Unlock()
	if len(forwarded) != 1 || forwarded[0] != "shout " {
		t.Errorf("forwarded %q", forwarded)
	}
	if len(sequenced) != 2 || sequenced[0] != "shout   1 0" || sequenced[1] != "shout n2 x 1 6" {
		t.Errorf("sequenced %q", sequenced)
	}
	c.Close()

	back := ts.dial(t, "")
	if r := joinRecovering(t, back, "2", topic, p2); r.Recovered == nil || !*r.Recovered || *r.Missed != 2 {
		t.Fatalf("from the other node's 5: %+v", r)
	}
	if got := expectBroadcast(t, back, topic, 3); got != p3 {
		t.Errorf("position of 3: %s, want %s", got, p3)
	}
	if got := expectBroadcast(t, back, topic, 4); got != p4 {
		t.Errorf("position of 4: %s, want %s", got, p4)
	}
	for _, from := range []string{p1, start.Position} {
		again := ts.dial(t, "")
		if r := joinRecovering(t, again, "3", topic, from); r.Recovered == nil || *r.Recovered || *r.Missed != 0 {
			t.Errorf("from %s, before the gap: %+v", from, r)
		}
		again.Close()
	}
}
