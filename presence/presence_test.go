package presence_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type users struct{}

func (users) Connect(params map[string]string, _ transport.ConnectInfo) (map[string]any, error) {
	return map[string]any{"user": params["user"]}, nil
}
func (users) ID(map[string]any) string { return "" }

type room struct {
	actors.BaseChannel
	p    *presence.Tracker
	user string
	// pushState: the state goes out with Tracker.PushState rather than a
	// Push of List.
	pushState bool
}

func (r *room) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	r.user = s.Get("user").(string)
	s.Self().Send("after_join")
	return nil, nil
}

func (r *room) HandleInfo(msg any, s *actors.Socket) error {
	if err := r.p.Track(s, r.user, map[string]string{"online_at": "1"}); err != nil {
		return err
	}
	if r.pushState {
		return r.p.PushState(s)
	}
	return s.Push(presence.EventState, r.p.List(s.Topic()))
}

func (r *room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	var err error
	switch event {
	case "update":
		err = r.p.Update(s, r.user, map[string]string{"online_at": "2", "status": "away"})
	case "untrack":
		err = r.p.Untrack(s, r.user)
	case "track_again":
		err = r.p.Track(s, r.user, nil)
	case "track_bad":
		err = r.p.Track(s, "x", []int{1})
	case "boom":
		panic("boom")
	case "count":
		return actors.ReplyOK(map[string]int{"count": r.p.Count(s.Topic())})
	default:
		return r.BaseChannel.HandleIn(event, p, s)
	}
	if err != nil {
		return actors.ReplyError(map[string]string{"reason": err.Error()})
	}
	return actors.ReplyOK(nil)
}

func setup(t *testing.T, cfg presence.Config) (*actors.SocketHandler, *presence.Tracker, *actors.Endpoint) {
	ep := actors.NewEndpoint(actors.Config{})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	tr := presence.New(ep, cfg)
	h := ep.Socket(users{})
	h.Channel("room:*", func() actors.Channel { return &room{p: tr} })
	h.Channel("temp:*", func() actors.Channel { return &room{p: tr} }, actors.WithPolicy(supervision.Temporary()))
	h.Channel("pushed:*", func() actors.Channel { return &room{p: tr, pushState: true} })
	return h, tr, ep
}

var ref = regexp.MustCompile(`"phx_ref":"[A-Za-z0-9_-]{16}"`)

// canon replaces every phx_ref with a fixed one, so shapes compare byte for
// byte.
func canon(b []byte) string {
	return ref.ReplaceAllString(string(b), `"phx_ref":"REF"`)
}

func join(t *testing.T, h *actors.SocketHandler, user, topic string) (*channeltest.Socket, *channeltest.Channel, channeltest.Message) {
	sock := channeltest.Connect(t, h, map[string]string{"user": user})
	ch := sock.Join(topic, nil)
	state := ch.AssertPush(presence.EventState, nil)
	return sock, ch, state
}

func TestTrackDiffAndState(t *testing.T) {
	h, tr, _ := setup(t, presence.Config{})
	_, ann, state := join(t, h, "ann", "room:1")
	if got := canon(state.Payload); got != `{"ann":{"metas":[{"online_at":"1","phx_ref":"REF"}]}}` {
		t.Fatalf("presence_state %s", got)
	}
	diff := ann.AssertBroadcast(presence.EventDiff, nil)
	if got := canon(diff.Payload); got != `{"joins":{"ann":{"metas":[{"online_at":"1","phx_ref":"REF"}]}},"leaves":{}}` {
		t.Fatalf("presence_diff %s", got)
	}

	// One user on two sockets: one key, two metas.
	_, _, state2 := join(t, h, "ann", "room:1")
	var st presence.State
	_ = json.Unmarshal(state2.Payload, &st)
	if len(st) != 1 || len(st["ann"].Metas) != 2 {
		t.Fatalf("state with ann twice: %s", state2.Payload)
	}
	if n := tr.Count("room:1"); n != 1 {
		t.Fatalf("Count = %d, want 1 key", n)
	}
	_, bob, _ := join(t, h, "bob", "room:1")
	if n := tr.Count("room:1"); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	if s := tr.Stats(); s != (presence.Stats{Topics: 1, Presences: 2, Entries: 3}) {
		t.Fatalf("Stats = %+v, want 1 topic, 2 presences (ann, bob), 3 entries (ann twice)", s)
	}
	// The metas' refs are distinct.
	list := tr.List("room:1")
	var r1, r2 struct {
		Ref string `json:"phx_ref"`
	}
	_ = json.Unmarshal(list["ann"].Metas[0], &r1)
	_ = json.Unmarshal(list["ann"].Metas[1], &r2)
	if r1.Ref == r2.Ref || len(r1.Ref) != 16 {
		t.Fatalf("refs %q %q", r1.Ref, r2.Ref)
	}

	// Update: the new meta with phx_ref_prev in joins, the old in leaves.
	bob.AssertReply(bob.Push("update", nil), "ok")
	var d struct {
		Joins, Leaves map[string]struct {
			Metas []map[string]string `json:"metas"`
		}
	}
	for {
		m := bob.AssertBroadcast(presence.EventDiff, nil)
		_ = json.Unmarshal(m.Payload, &d)
		if _, ok := d.Leaves["bob"]; ok {
			break
		}
	}
	// bob's join may have been queued still, and merged into this diff
	// (publisher.go): the update's meta is the last of the joins.
	metas := d.Joins["bob"].Metas
	joined, left := metas[len(metas)-1], d.Leaves["bob"].Metas[0]
	if joined["status"] != "away" || joined["phx_ref_prev"] != left["phx_ref"] || joined["phx_ref"] == left["phx_ref"] || left["online_at"] != "1" {
		t.Fatalf("update diff joins %v leaves %v", joined, left)
	}

	// Errors.
	bob.AssertReply(bob.Push("track_again", nil), "error", `{"reason":"presence: this channel already tracks that key"}`)
	bob.AssertReply(bob.Push("track_bad", nil), "error", `{"reason":"presence: meta must encode to a JSON object"}`)
	bob.AssertReply(bob.Push("untrack", nil), "ok")
	bob.AssertReply(bob.Push("untrack", nil), "error", `{"reason":"presence: this channel does not track that key"}`)
	if n := tr.Count("room:1"); n != 1 {
		t.Fatalf("Count after bob untracked = %d", n)
	}
}

// Entries disappear with their channel: leave, crash (temporary or
// restarted), socket close. A restarted channel holds exactly one entry.
func TestAutoUntrack(t *testing.T) {
	h, tr, _ := setup(t, presence.Config{})
	_, ch, _ := join(t, h, "ann", "room:leave")
	ch.Leave()
	waitFor(t, func() bool { return tr.Count("room:leave") == 0 })

	_, ch, _ = join(t, h, "ann", "temp:crash")
	ch.Push("boom", nil)
	ch.AssertError()
	waitFor(t, func() bool { return tr.Count("temp:crash") == 0 })

	sock, _, _ := join(t, h, "ann", "room:close")
	sock.Close()
	waitFor(t, func() bool { return tr.Count("room:close") == 0 })

	_, ch, _ = join(t, h, "ann", "room:restart")
	ch.AssertReply(ch.Push("boom", nil), "error", `{"reason":"channel_crash"}`)
	ch.AssertPush(presence.EventState, nil) // the restarted instance tracked again
	if l := tr.List("room:restart"); len(l) != 1 || len(l["ann"].Metas) != 1 {
		t.Fatalf("after a restart: %v", l)
	}
}

// A presence shard is permanent: a crash loses nothing.
func TestShardCrash(t *testing.T) {
	h, tr, ep := setup(t, presence.Config{})
	evs := make(chan supervision.Event, 10)
	defer ep.Supervision().Subscribe(func(e supervision.Event) { evs <- e }).Unsubscribe()
	_, ch, _ := join(t, h, "ann", "room:s")
	for i := 1; i <= 2; i++ {
		presence.CrashShard(tr, "room:s")
		select {
		case e := <-evs:
			if e.Kind != "presence" || e.Directive != supervision.Restart || e.Restarts != i {
				t.Fatalf("crash %d: event %+v", i, e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no supervision event")
		}
	}
	if tr.Count("room:s") != 1 {
		t.Fatal("presence lost in a shard crash")
	}
	ch.AssertReply(ch.Push("update", nil), "ok")
	ch.Leave()
	waitFor(t, func() bool { return tr.Count("room:s") == 0 })
}

// With a batch window, many changes make one diff.
func TestBatching(t *testing.T) {
	h, _, _ := setup(t, presence.Config{BatchWindow: 100 * time.Millisecond})
	_, watcher, _ := join(t, h, "watcher", "room:b")
	const n = 20
	for i := 0; i < n; i++ {
		join(t, h, "u"+string(rune('a'+i)), "room:b")
	}
	var total int
	diffs := 0
	for total < n+1 {
		m := watcher.AssertBroadcast(presence.EventDiff, nil)
		var d presence.Diff
		_ = json.Unmarshal(m.Payload, &d)
		total += len(d.Joins)
		diffs++
	}
	if diffs > 3 {
		t.Fatalf("%d joins came in %d diffs; batching should gather them", total, diffs)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// PushState with a batch window: the members who join within a window get
// one state, holding them all, just before the diff of their joins.
func TestPushStateWithTheBatch(t *testing.T) {
	// A window long enough for three joins on a slow machine.
	h, tr, _ := setup(t, presence.Config{BatchWindow: time.Second})
	socks := make([]*channeltest.Socket, 3)
	chans := make([]*channeltest.Channel, 3)
	for i, user := range []string{"ann", "bob", "cid"} {
		socks[i] = channeltest.Connect(t, h, map[string]string{"user": user})
		chans[i] = socks[i].Join("pushed:1", nil)
	}
	waitFor(t, func() bool { return tr.Count("pushed:1") == 3 })
	for i, ch := range chans {
		state := ch.AssertPush(presence.EventState, nil)
		var st presence.State
		if err := json.Unmarshal(state.Payload, &st); err != nil || len(st) != 3 {
			t.Errorf("member %d's state: %s", i, state.Payload)
		}
		ch.AssertBroadcast(presence.EventDiff, nil)
	}
	// A member joining a quiet topic gets its state at once: its own
	// track starts a window, whose flush carries it.
	join(t, h, "dan", "pushed:1")
}
