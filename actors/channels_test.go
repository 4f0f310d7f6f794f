package actors_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/supervision"
)

// docs/protocol.md §10 row 2, §4.12 and §4.11: join reply first, then the
// after-join push with the join_ref, then the broadcast with null refs; a
// heartbeat is answered on topic phoenix.
func TestJoinPushBroadcast(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "vsn=2.0.0&user=ann")
	send(t, c, `["1","1","room:lobby","phx_join",{"after_join":true}]`)
	expect(t, c, `["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["1",null,"room:lobby","joined",{"status":"connected"}]`)
	expect(t, c, `[null,null,"room:lobby","user_entered",{"user":"ann"}]`)

	send(t, c, `["1","2","room:lobby","echo",{"x":1}]`)
	expect(t, c, `["1","2","room:lobby","phx_reply",{"status":"ok","response":{"x":1}}]`)

	send(t, c, `[null,"3","phoenix","heartbeat",{}]`)
	expect(t, c, `[null,"3","phoenix","phx_reply",{"status":"ok","response":{}}]`)
}

// docs/protocol.md §10 row 1: a multi-segment mount path; V2 echoes
// join_ref, V1 never has one.
func TestJoinV1AndMultiSegmentPath(t *testing.T) {
	ts := newServer(t, serverOpts{path: "/ws/admin/websocket"})
	c2, _, err := phxclient.Dial(ts.url("/ws/admin/websocket", "vsn=2.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	join(t, c2, "1", "room:lobby")

	c1, _, err := phxclient.Dial(ts.url("/ws/admin/websocket", ""), nil) // no vsn: V1
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	send(t, c1, `{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
	expect(t, c1, `{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`)
	send(t, c1, `{"topic":"room:lobby","event":"broadcast","payload":{"a":1},"ref":"2"}`)
	expect(t, c1, `{"topic":"room:lobby","event":"shout","payload":{"a":1},"ref":null}`)
	// The V2 client on the same topic gets the same broadcast in its format.
	expect(t, c2, `[null,null,"room:lobby","shout",{"a":1}]`)
}

// Refs are echoed verbatim: a number stays a number.
func TestRefsEchoedVerbatim(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	send(t, c, `[7,8,"room:n","phx_join",{}]`)
	expect(t, c, `[7,8,"room:n","phx_reply",{"status":"ok","response":{}}]`)
	send(t, c, `[7,9,"room:n","echo",{}]`)
	expect(t, c, `[7,9,"room:n","phx_reply",{"status":"ok","response":{}}]`)
	send(t, c, `[null,10,"room:n","echo",{}]`) // null join_ref is delivered
	expect(t, c, `[7,10,"room:n","phx_reply",{"status":"ok","response":{}}]`)
	send(t, c, `["7",11,"room:n","echo",{}]`) // "7" is not 7: stale, dropped
	send(t, c, `[null,12,"phoenix","heartbeat",{}]`)
	expect(t, c, `[null,12,"phoenix","phx_reply",{"status":"ok","response":{}}]`)
}

// A client that joins with a null join_ref: replies use the join's ref,
// phx_close carries null.
func TestNullJoinRef(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	send(t, c, `[null,"4","room:x","phx_join",{}]`)
	expect(t, c, `[null,"4","room:x","phx_reply",{"status":"ok","response":{}}]`)
	send(t, c, `[null,"5","room:x","push",{"a":1}]`)
	expect(t, c, `["4",null,"room:x","pushed",{"a":1}]`)
	send(t, c, `[null,"6","room:x","phx_leave",{}]`)
	expect(t, c, `["4","6","room:x","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `[null,null,"room:x","phx_close",{}]`)
}

// docs/protocol.md §10 row 3: an intercepted event goes through HandleOut,
// which pushes a changed payload carrying the join_ref.
func TestIntercept(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:i")
	send(t, c, `["1","2","room:i","broadcast_intercepted",{"v":1}]`)
	expect(t, c, `["1",null,"room:i","intercepted",{"modified":true,"original":{"v":1}}]`)
}

// docs/protocol.md §10 rows 4 and 5: leave → reply, phx_close, the push
// from Terminate; after that, the topic is unmatched.
func TestLeave(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "3", "room:lobby")
	send(t, c, `["3","6","room:lobby","phx_leave",{}]`)
	expect(t, c, `["3","6","room:lobby","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["3","3","room:lobby","phx_close",{}]`)
	expect(t, c, `["3",null,"room:lobby","you_left",{"message":"bye!"}]`)
	if got := ts.waitEnded(t); got != "room:lobby shutdown: left" {
		t.Fatalf("Terminate reason %q", got)
	}
	send(t, c, `["3","7","room:lobby","echo",{}]`)
	expect(t, c, `[null,"7","room:lobby","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	// A leave of a topic not joined is answered ok, with no phx_close.
	send(t, c, `["3","8","room:lobby","phx_leave",{}]`)
	expect(t, c, `["3","8","room:lobby","phx_reply",{"status":"ok","response":{}}]`)
	expectNothing(t, c, 50*time.Millisecond)
}

// A leave carrying another join's ref is dropped; one without join_ref is
// accepted.
func TestStaleLeave(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "5", "room:s")
	send(t, c, `["4","6","room:s","phx_leave",{}]`)
	send(t, c, `["4","7","room:s","echo",{}]`)
	send(t, c, `[null,"8","room:s","phx_leave",{}]`)
	expect(t, c, `["5","8","room:s","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["5","5","room:s","phx_close",{}]`)
}

// docs/protocol.md §10 rows 6 and 7: the channel limit.
func TestChannelLimit(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	for i := 1; i <= 100; i++ {
		send(t, c, fmt.Sprintf(`["%d","%d","room:%d","phx_join",{}]`, i, i, i))
	}
	for i := 1; i <= 100; i++ {
		expect(t, c, fmt.Sprintf(`["%d","%d","room:%d","phx_reply",{"status":"ok","response":{}}]`, i, i, i))
	}
	send(t, c, `["101","101","room:101","phx_join",{}]`)
	expect(t, c, `["101","101","room:101","phx_reply",{"status":"error","response":{"reason":"too many channels joined"}}]`)

	one := newServer(t, serverOpts{endpoint: actors.Config{MaxChannels: 1}})
	c1 := one.dial(t, "")
	join(t, c1, "1", "room:a")
	send(t, c1, `["2","2","room:b","phx_join",{}]`)
	expect(t, c1, `["2","2","room:b","phx_reply",{"status":"error","response":{"reason":"too many channels joined"}}]`)
	// Leaving frees the slot.
	send(t, c1, `["1","3","room:a","phx_leave",{}]`)
	expect(t, c1, `["1","3","room:a","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c1, `["1","1","room:a","phx_close",{}]`)
	expect(t, c1, `["1",null,"room:a","you_left",{"message":"bye!"}]`)
	join(t, c1, "4", "room:b")
}

// docs/protocol.md §10 row 11, with Phoenix's temporary policy: a panic in
// HandleIn → phx_error with the join_ref in both positions; Terminate runs
// with the panic; the socket's other channel and other sockets carry on.
func TestCrashTemporary(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	other := ts.dial(t, "")
	join(t, c, "1", "temp:a")
	join(t, c, "2", "temp:b")
	join(t, other, "1", "temp:a")

	send(t, c, `["1","3","temp:a","boom",{}]`)
	expect(t, c, `["1","1","temp:a","phx_error",{"reason":"channel_crash"}]`)
	if got := ts.waitEnded(t); got != "temp:a panic: boom" {
		t.Fatalf("Terminate reason %q", got)
	}
	send(t, c, `["2","4","temp:b","echo",{"ok":1}]`)
	expect(t, c, `["2","4","temp:b","phx_reply",{"status":"ok","response":{"ok":1}}]`)
	send(t, other, `["1","2","temp:a","echo",{"ok":2}]`)
	expect(t, other, `["1","2","temp:a","phx_reply",{"status":"ok","response":{"ok":2}}]`)

	// The crashed topic is free: the client's rejoin works.
	join(t, c, "5", "temp:a")
	send(t, c, `["5","6","temp:a","count",{}]`)
	expect(t, c, `["5","6","temp:a","phx_reply",{"status":"ok","response":{"count":1}}]`)
}

func TestCrashInHandleInfoTemporary(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "temp:a")
	send(t, c, `["1","2","temp:a","info","crash"]`)
	expect(t, c, `["1","1","temp:a","phx_error",{"reason":"channel_crash"}]`)
}

// docs/protocol.md §10 row 21: join refused with a payload, join crash, ok
// with a reply, stop.
func TestJoinOutcomes(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	send(t, c, `["1","1","room:locked","phx_join",{}]`)
	expect(t, c, `["1","1","room:locked","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]`)
	send(t, c, `["2","2","room:c","phx_join",{"crash":true}]`)
	expect(t, c, `["2","2","room:c","phx_reply",{"status":"error","response":{"reason":"join crashed"}}]`)
	send(t, c, `["3","3","room:r","phx_join",{"reply":"hi"}]`)
	expect(t, c, `["3","3","room:r","phx_reply",{"status":"ok","response":{"reply":"hi"}}]`)
	send(t, c, `["3","4","room:r","stop",{}]`)
	expect(t, c, `["3","4","room:r","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["3","3","room:r","phx_close",{}]`)
	if got := ts.waitEnded(t); got != "room:r normal" {
		t.Fatalf("Terminate reason %q", got)
	}
	// A refused or crashed join leaves the topic free.
	join(t, c, "5", "room:c")
	send(t, c, `["5","6","room:c","stop_error",{}]`)
	expect(t, c, `["5","5","room:c","phx_error",{"reason":"channel_crash"}]`)
}

// docs/protocol.md §10 rows 13 and 20: unmatched topics.
func TestUnmatchedTopic(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	send(t, c, `["9","9","nope:1","phx_join",{}]`)
	expect(t, c, `[null,"9","nope:1","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	send(t, c, `["1","10","room:never","new_msg",{}]`)
	expect(t, c, `[null,"10","room:never","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	// An exact route does not match longer topics.
	join(t, c, "11", "exact")
	send(t, c, `["12","12","exactly","phx_join",{}]`)
	expect(t, c, `[null,"12","exactly","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
}

// docs/protocol.md §10 row 17 and §4.4: a second join of a joined topic
// replaces the channel: the new join's reply, then phx_close for the old
// join_ref; the old channel's Terminate does not run.
func TestDuplicateJoin(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:d")
	send(t, c, `["1","2","room:d","count",{}]`)
	expect(t, c, `["1","2","room:d","phx_reply",{"status":"ok","response":{"count":1}}]`)
	send(t, c, `["3","3","room:d","phx_join",{}]`)
	expect(t, c, `["3","3","room:d","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["1","1","room:d","phx_close",{}]`)
	send(t, c, `["3","4","room:d","count",{}]`)
	expect(t, c, `["3","4","room:d","phx_reply",{"status":"ok","response":{"count":1}}]`)
	// Messages for the old join are stale.
	send(t, c, `["1","5","room:d","count",{}]`)
	send(t, c, `["3","6","room:d","count",{}]`)
	expect(t, c, `["3","6","room:d","phx_reply",{"status":"ok","response":{"count":2}}]`)
	select {
	case r := <-ts.ended:
		t.Fatalf("Terminate ran for the replaced channel: %s", r)
	default:
	}
	// Exactly one subscription: one broadcast, one copy.
	send(t, c, `["3","7","room:d","broadcast",{"n":1}]`)
	expect(t, c, `[null,null,"room:d","shout",{"n":1}]`)
	expectNothing(t, c, 50*time.Millisecond)
}

// broadcast reaches every member, the sender too; broadcast_from all but
// the sender; Endpoint.Broadcast comes from outside any channel.
func TestBroadcasts(t *testing.T) {
	ts := newServer(t, serverOpts{})
	a, b := ts.dial(t, ""), ts.dial(t, "")
	join(t, a, "1", "room:b")
	join(t, b, "1", "room:b")
	send(t, a, `["1","2","room:b","broadcast",{"m":1}]`)
	expect(t, a, `[null,null,"room:b","shout",{"m":1}]`)
	expect(t, b, `[null,null,"room:b","shout",{"m":1}]`)
	send(t, a, `["1","3","room:b","broadcast_from",{"m":2}]`)
	expect(t, a, `["1","3","room:b","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, b, `[null,null,"room:b","shout",{"m":2}]`)
	expectNothing(t, a, 50*time.Millisecond)

	if err := ts.ep.Broadcast("room:b", "news", map[string]int{"m": 3}); err != nil {
		t.Fatal(err)
	}
	expect(t, a, `[null,null,"room:b","news",{"m":3}]`)
	expect(t, b, `[null,null,"room:b","news",{"m":3}]`)
	if err := ts.ep.Broadcast("room:b", "news", []int{1}); err == nil {
		t.Fatal("Broadcast of a non-object payload succeeded")
	}
	if err := ts.ep.Broadcast("room:b", "bin", actors.Binary("xyz")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*phxclient.Client{a, b} {
		m, err := c.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if m.Event != "bin" || m.JoinRef != "null" || string(m.Binary) != "xyz" {
			t.Fatalf("binary broadcast decoded as %+v", m)
		}
	}
}

// One publisher's broadcasts arrive in order, and a client's pushes are
// handled in order.
func TestOrdering(t *testing.T) {
	ts := newServer(t, serverOpts{})
	a, b := ts.dial(t, ""), ts.dial(t, "")
	join(t, a, "1", "room:o")
	join(t, b, "1", "room:o")
	const n = 500
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		send(t, a, fmt.Sprintf(`["1","%d","room:o","broadcast",{"i":%d}]`, i+2, i))
	}
	for _, c := range []*phxclient.Client{a, b} {
		for i := 0; i < n; i++ {
			buf.Reset()
			fmt.Fprintf(&buf, `[null,null,"room:o","shout",{"i":%d}]`, i)
			expect(t, c, buf.String())
		}
	}
	for i := 0; i < n; i++ {
		send(t, a, fmt.Sprintf(`["1","%d","room:o","count",{}]`, i+1000))
	}
	for i := 0; i < n; i++ {
		expect(t, a, fmt.Sprintf(`["1","%d","room:o","phx_reply",{"status":"ok","response":{"count":%d}}]`, i+1000, i+1))
	}
}

// A broadcast to a topic of many subscribers, written by several
// goroutines at once, reaches each subscriber once and in the publisher's
// order; broadcast_from still skips its sender.
func TestBroadcastToManySubscribers(t *testing.T) {
	ts := newServer(t, serverOpts{})
	const subs, n = 3*256 + 1, 20 // four parts, where there are four processors
	clients := make([]*phxclient.Client, subs)
	for i := range clients {
		clients[i] = ts.dial(t, "")
		join(t, clients[i], "1", "room:many")
	}
	pub := clients[subs/2] // in a part other than the first
	for i := 0; i < n; i++ {
		send(t, pub, fmt.Sprintf(`["1","%d","room:many","broadcast",{"i":%d}]`, i+2, i))
	}
	send(t, pub, `["1","99","room:many","broadcast_from",{"i":-1}]`)
	for _, c := range clients {
		for i := 0; i < n; i++ {
			expect(t, c, fmt.Sprintf(`[null,null,"room:many","shout",{"i":%d}]`, i))
		}
		if c == pub {
			expect(t, c, `["1","99","room:many","phx_reply",{"status":"ok","response":{}}]`)
		} else {
			expect(t, c, `[null,null,"room:many","shout",{"i":-1}]`)
		}
	}
	expectNothing(t, pub, 50*time.Millisecond)
}

// Frames that arrive while a join runs wait for it: a topic's join reply
// comes before the replies of messages sent right after it. (Across
// channels, as in Phoenix, replies may interleave.)
func TestJoinIsSynchronous(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	const n = 20
	for i := 0; i < n; i++ {
		topic := fmt.Sprintf("room:%d", i)
		send(t, c, fmt.Sprintf(`["j%d","j%d","%s","phx_join",{}]`, i, i, topic))
		send(t, c, fmt.Sprintf(`["j%d","e%d","%s","echo",{"i":%d}]`, i, i, topic, i))
		send(t, c, fmt.Sprintf(`[null,"h%d","phoenix","heartbeat",{}]`, i))
	}
	seen := map[string]bool{}
	for k := 0; k < 3*n; k++ {
		m, err := c.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		ref := strings.Trim(m.Ref, `"`)
		if strings.HasPrefix(ref, "e") && !seen["j"+ref[1:]] {
			t.Fatalf("reply to %s before its join reply", ref)
		}
		seen[ref] = true
	}
	if len(seen) != 3*n {
		t.Fatalf("got %d distinct replies, want %d", len(seen), 3*n)
	}
}

// A reply sent later, from another goroutine, through a SocketRef.
func TestReplyLater(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "1", "room:l")
	send(t, c, `["1","2","room:l","later",{}]`)
	expect(t, c, `["1","2","room:l","phx_reply",{"status":"ok","response":{"later":true}}]`)
	send(t, c, `["1","3","room:l","info",{"hello":1}]`)
	expect(t, c, `["1",null,"room:l","info",{"hello":1}]`)
	send(t, c, `["1","4","room:l","assigns",{}]`)
	expect(t, c, `["1","4","room:l","phx_reply",{"status":"ok","response":""}]`)
}

// docs/protocol.md §10 row 22: a binary push from the client; a binary
// reply and a binary push with the join_ref.
func TestBinaryPayloads(t *testing.T) {
	ts := newServer(t, serverOpts{})
	c := ts.dial(t, "")
	join(t, c, "11", "room:bin")
	// kind 0, join_ref "11", ref "12", topic, event "binary", payload 01 02
	frame := []byte{0, 2, 2, 8, 6}
	frame = append(frame, "1112room:binbinary"...)
	frame = append(frame, 1, 2)
	if err := c.SendBinary(frame); err != nil {
		t.Fatal(err)
	}
	push, err := c.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if push.Event != "bin" || push.JoinRef != `"11"` || !bytes.Equal(push.Binary, []byte{0, 1}) {
		t.Fatalf("binary push decoded as %+v", push)
	}
	reply, err := c.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Event != "phx_reply" || reply.Status != "ok" || reply.Ref != `"12"` || reply.JoinRef != `"11"` ||
		!bytes.Equal(reply.Binary, []byte{1, 2, 3, 4}) {
		t.Fatalf("binary reply decoded as %+v", reply)
	}
	// An echo of binary comes back binary.
	frame = []byte{0, 2, 2, 8, 4}
	frame = append(frame, "1113room:binecho"...)
	frame = append(frame, 9, 8, 7)
	if err := c.SendBinary(frame); err != nil {
		t.Fatal(err)
	}
	reply, err = c.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != "ok" || !bytes.Equal(reply.Binary, []byte{9, 8, 7}) {
		t.Fatalf("binary echo decoded as %+v", reply)
	}
}

// Every crash is published on the supervision stream.
func TestSupervisionEvents(t *testing.T) {
	ts := newServer(t, serverOpts{})
	events := make(chan supervision.Event, 10)
	defer ts.ep.Supervision().Subscribe(func(e supervision.Event) { events <- e }).Unsubscribe()
	c := ts.dial(t, "vsn=2.0.0&user=eve")
	join(t, c, "1", "temp:e")
	send(t, c, `["1","2","temp:e","boom",{}]`)
	expect(t, c, `["1","1","temp:e","phx_error",{"reason":"channel_crash"}]`)
	e := <-events
	var pe *actors.PanicError
	if e.Topic != "temp:e" || e.SocketID != "users_socket:eve" || e.Directive != supervision.Stop || e.Kind != "channel" ||
		!errors.As(e.Reason, &pe) || pe.Value != "boom" || !bytes.Contains(e.Stack, []byte("HandleIn")) {
		t.Fatalf("event %+v", e)
	}
}
