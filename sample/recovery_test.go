package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// chatMsg is a new_msg payload, or a message of a history.
type chatMsg struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	UserID string `json:"user_id"`
}

// recovery is a phx_recovery payload.
type recovery struct {
	Position  string `json:"position"`
	Recovered *bool  `json:"recovered"`
	Missed    *int   `json:"missed"`
}

// position is the position a broadcast carries in its ref, "" for a
// frame with none. Replies and pushes carry their join ref, broadcasts
// none.
func position(m phxclient.Message) string {
	var p string
	if m.JoinRef != "null" || m.Ref == "null" || json.Unmarshal([]byte(m.Ref), &p) != nil {
		return ""
	}
	return p
}

// next returns the next frame of c.
func next(t *testing.T, c *phxclient.Client, what string) phxclient.Message {
	t.Helper()
	m, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return m
}

// nextIs returns the payload of the next frame of c, which must be event.
func nextIs(t *testing.T, c *phxclient.Client, event string, v any) phxclient.Message {
	t.Helper()
	m := next(t, c, event)
	if m.Event != event {
		t.Fatalf("%s %s %s, want %s", m.Topic, m.Event, m.Payload, event)
	}
	if v != nil {
		if err := json.Unmarshal(m.Payload, v); err != nil {
			t.Fatalf("%s %s: %v", event, m.Payload, err)
		}
	}
	return m
}

// joinRecovering joins topic on c with params and checks the frames that
// follow: the ok reply, then phx_recovery, which it returns.
func joinRecovering(t *testing.T, c *phxclient.Client, topic, params string) recovery {
	t.Helper()
	_ = c.Send(`["1","1","` + topic + `","phx_join",` + params + `]`)
	r := nextIs(t, c, "phx_reply", nil)
	if r.Ref != `"1"` || string(r.Payload) != `{"status":"ok","response":{}}` {
		t.Fatalf("join of %s: ref %s, %s", topic, r.Ref, r.Payload)
	}
	var rec recovery
	nextIs(t, c, "phx_recovery", &rec)
	if rec.Position == "" {
		t.Fatalf("phx_recovery with no position")
	}
	return rec
}

// say has c send body to topic and waits for its broadcast back; it
// returns the message stored, and the position of every broadcast seen
// on the way, its own last.
func say(t *testing.T, c *phxclient.Client, topic, body string) (chatMsg, string) {
	t.Helper()
	_ = c.Send(fmt.Sprintf(`["1","s","%s","new_msg",{"body":%q}]`, topic, body))
	for {
		m := next(t, c, "the broadcast of "+body)
		if m.Event == "phx_reply" {
			t.Fatalf("new_msg %q answered %s", body, m.Payload)
		}
		var msg chatMsg
		if m.Event == "new_msg" && json.Unmarshal(m.Payload, &msg) == nil && msg.Body == body {
			return msg, position(m)
		}
	}
}

// A member that reconnects and rejoins with the position of the last
// broadcast it saw gets recovered:true and every message it missed, once
// and in order, before the history and the live ones; a position the
// room's history cannot answer gets recovered:false and nothing old.
func TestRoomRecovery(t *testing.T) {
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	const topic = "room:recovery"

	// A first join: reply, phx_recovery with the room's position and
	// nothing else, then history, then presence_state (ann's own
	// presence_diff may come on either side of it).
	ann := dialAs(t, srv, "ann")
	first := joinRecovering(t, ann, topic, `{}`)
	if first.Recovered != nil || first.Missed != nil {
		t.Fatalf("phx_recovery of a join that asked for nothing: %+v", first)
	}
	var hist struct {
		Messages []chatMsg `json:"messages"`
	}
	nextIs(t, ann, "history", &hist)
	if len(hist.Messages) != 0 {
		t.Fatalf("history of a new room: %+v", hist.Messages)
	}
	last := first.Position
	for {
		m := next(t, ann, "presence_state")
		if p := position(m); p != "" {
			last = p
		}
		if m.Event == "presence_state" {
			break
		}
	}

	bob := dialAs(t, srv, "bob")
	t.Cleanup(bob.Close)
	joinRecovering(t, bob, topic, `{}`)
	nextEvent(t, bob, "presence_state")

	before, p := say(t, ann, topic, "before")
	last = p
	// Everything sent to ann so far is read (a ping's answer comes after
	// it): last is the last position ann saw.
	_ = ann.Send(`["1","p","` + topic + `","ping",{}]`)
	for {
		m := next(t, ann, "pong")
		if p := position(m); p != "" {
			last = p
		}
		if m.Event == "phx_reply" && m.Ref == `"p"` {
			break
		}
	}
	ann.Close()
	<-ann.Done()
	// bob sees ann leave: her channel is gone before what she misses.
	for {
		m := next(t, bob, "ann's leave")
		var d struct {
			Leaves map[string]any `json:"leaves"`
		}
		if m.Event == "presence_diff" && json.Unmarshal(m.Payload, &d) == nil && d.Leaves["ann"] != nil {
			break
		}
	}

	// 12 messages, and a typing among them, while ann is away.
	var missed []chatMsg
	for i := 1; i <= 12; i++ {
		m, _ := say(t, bob, topic, "missed "+strconv.Itoa(i))
		missed = append(missed, m)
		if i == 6 {
			_ = bob.Send(`["1","t","` + topic + `","typing",{}]`)
			if st, resp := reply(t, bob, "t"); st != "ok" {
				t.Fatalf("typing: %s %s", st, resp)
			}
		}
	}

	ann = dialAs(t, srv, "ann")
	t.Cleanup(ann.Close)
	rec := joinRecovering(t, ann, topic, fmt.Sprintf(`{"recover":%q}`, last))
	if rec.Recovered == nil || !*rec.Recovered || rec.Missed == nil {
		t.Fatalf("phx_recovery of a rejoin from %s: %+v", last, rec)
	}
	// The missed broadcasts come next, each with its position: bob's 12
	// messages and his typing (bob's typing reaches ann, the member it
	// was not sent from). Presence diffs, ann's leave among them, are
	// not kept: each node sends its own, and the presence_state after
	// the join says who is here.
	var got []chatMsg
	var events []string
	var at string
	for i := 0; i < *rec.Missed; i++ {
		m := next(t, ann, "missed broadcast "+strconv.Itoa(i+1))
		at = position(m)
		if at == "" {
			t.Fatalf("missed broadcast %d of %d: %s %s carries no position", i+1, *rec.Missed, m.Event, m.Payload)
		}
		events = append(events, m.Event)
		if m.Event == "new_msg" {
			var c chatMsg
			if err := json.Unmarshal(m.Payload, &c); err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
	}
	if !slices.Equal(got, missed) {
		t.Fatalf("missed new_msg broadcasts:\n got %+v\nwant %+v", got, missed)
	}
	if want := len(missed) + 1; *rec.Missed != want || !slices.Contains(events, "user_typing") || slices.Contains(events, "presence_diff") {
		t.Fatalf("%d missed broadcasts %v, want %d: 12 messages, a typing", *rec.Missed, events, want)
	}
	if at != rec.Position {
		t.Errorf("phx_recovery position %s, the last missed broadcast's %s", rec.Position, at)
	}
	// Then the history, as after any join: every message of the room.
	nextIs(t, ann, "history", &hist)
	if want := append([]chatMsg{before}, missed...); !slices.Equal(hist.Messages, want) {
		t.Fatalf("history after recovery:\n got %+v\nwant %+v", hist.Messages, want)
	}
	nextEvent(t, ann, "presence_state")

	// A live message comes once, after them, and nothing else of the
	// room's messages does: none before it, and none before the answer
	// to a ping sent once it has come.
	live, _ := say(t, bob, topic, "live")
	var after []chatMsg
	pinged := false
	for {
		m := next(t, ann, "the live message")
		if m.Event == "new_msg" {
			var c chatMsg
			if err := json.Unmarshal(m.Payload, &c); err != nil {
				t.Fatal(err)
			}
			after = append(after, c)
			if c == live && !pinged {
				pinged = true
				_ = ann.Send(`["1","p","` + topic + `","ping",{}]`)
			}
		}
		if m.Event == "phx_reply" && m.Ref == `"p"` {
			break
		}
	}
	if !slices.Equal(after, []chatMsg{live}) {
		t.Fatalf("after the recovery: %+v, want only %+v", after, live)
	}

	// A position of another history (its epoch is not this one's):
	// recovered false, nothing old, and the history follows at once.
	cid := dialAs(t, srv, "cid")
	t.Cleanup(cid.Close)
	rec = joinRecovering(t, cid, topic, `{"recover":"AAAAAAAAAAAAAAAAAAAAAA.1"}`)
	if rec.Recovered == nil || *rec.Recovered || rec.Missed == nil || *rec.Missed != 0 {
		t.Fatalf("phx_recovery of a rejoin from a foreign position: %+v", rec)
	}
	nextIs(t, cid, "history", &hist)
	if len(hist.Messages) != len(missed)+2 {
		t.Fatalf("history after recovered false: %d messages", len(hist.Messages))
	}
}
