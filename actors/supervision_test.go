package actors_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/supervision"
	"github.com/phxgo/phx/transport"
)

// events subscribes to the endpoint's supervision stream.
func events(t *testing.T, ts *testServer) <-chan supervision.Event {
	ch := make(chan supervision.Event, 100)
	t.Cleanup(ts.ep.Supervision().Subscribe(func(e supervision.Event) { ch <- e }).Unsubscribe)
	return ch
}

func nextEvent(t *testing.T, ch <-chan supervision.Event) supervision.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(wait):
		t.Fatal("no supervision event")
		return supervision.Event{}
	}
}

// The default policy restarts a crashed channel in place: the crashing
// push gets an error reply, the client stays joined on the same join_ref,
// the state is what Join builds, broadcasts keep arriving, and the channel
// holds exactly one subscription.
func TestRestartInPlace(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	c, other := ts.dial(t, "vsn=2.0.0&user=ann"), ts.dial(t, "")
	join(t, c, "1", "room:r")
	join(t, other, "1", "room:r")
	for i := 1; i <= 2; i++ {
		send(t, c, fmt.Sprintf(`["1","c%d","room:r","count",{}]`, i))
		expect(t, c, fmt.Sprintf(`["1","c%d","room:r","phx_reply",{"status":"ok","response":{"count":%d}}]`, i, i))
	}
	send(t, c, `["1","3","room:r","boom",{}]`)
	expect(t, c, `["1","3","room:r","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)

	e := nextEvent(t, evs)
	var pe *actors.PanicError
	if e.Directive != supervision.Restart || e.Restarts != 1 || e.Topic != "room:r" || e.Kind != "channel" ||
		e.SocketID != "users_socket:ann" || !errors.As(e.Reason, &pe) || len(e.Stack) == 0 {
		t.Fatalf("event %+v", e)
	}
	if got := ts.waitEnded(t); got != "room:r panic: boom" {
		t.Fatalf("the crashed instance's Terminate got %q", got)
	}
	send(t, c, `["1","4","room:r","count",{}]`)
	expect(t, c, `["1","4","room:r","phx_reply",{"status":"ok","response":{"count":1}}]`)

	send(t, other, `["1","2","room:r","broadcast",{"after":"restart"}]`)
	expect(t, other, `[null,null,"room:r","shout",{"after":"restart"}]`)
	expect(t, c, `[null,null,"room:r","shout",{"after":"restart"}]`)
	expectNothing(t, c, 50*time.Millisecond)
	if n := actors.Subscribers(ts.ep, "room:r"); n != 2 {
		t.Fatalf("%d subscriptions of room:r, want 2", n)
	}
}

// The client whose message crashed its channel gets the error reply
// before anything a supervision subscriber broadcasts about the crash,
// as a room announcing its members' crashes does.
func TestCrashReplyBeforeTheCrashIsPublished(t *testing.T) {
	ts := newServer(t, serverOpts{})
	t.Cleanup(ts.ep.Supervision().Subscribe(func(e supervision.Event) {
		_ = ts.ep.Broadcast(e.Topic, "crashed", map[string]string{"socket_id": e.SocketID})
	}).Unsubscribe)
	// Many sockets, each crashing once: the subscriber runs on a goroutine
	// of its own, so an event published first is seldom, not never, ahead.
	for i := range 30 {
		c := ts.dial(t, "vsn=2.0.0&user=ann")
		topic := fmt.Sprintf("room:crash-%d", i)
		join(t, c, "1", topic)
		send(t, c, `["1","2","`+topic+`","boom",{}]`)
		expect(t, c, `["1","2","`+topic+`","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)
		expect(t, c, `[null,null,"`+topic+`","crashed",{"socket_id":"users_socket:ann"}]`)
		c.Close()
	}
}

// Past the budget (3 restarts in 5 s) the fourth crash stops the channel:
// phx_error, and Terminate ran for every instance.
func TestRestartBudget(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	c := ts.dial(t, "")
	join(t, c, "1", "room:b")
	for i := 1; i <= 3; i++ {
		send(t, c, fmt.Sprintf(`["1","%d","room:b","boom",{}]`, i))
		expect(t, c, fmt.Sprintf(`["1","%d","room:b","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`, i))
		if e := nextEvent(t, evs); e.Directive != supervision.Restart || e.Restarts != i {
			t.Fatalf("crash %d: event %+v", i, e)
		}
	}
	send(t, c, `["1","4","room:b","boom",{}]`)
	expect(t, c, `["1","1","room:b","phx_error",{"reason":"channel_crash"}]`)
	if e := nextEvent(t, evs); e.Directive != supervision.Stop || e.Restarts != 3 {
		t.Fatalf("fourth crash: event %+v", e)
	}
	for i := 0; i < 4; i++ {
		if got := ts.waitEnded(t); got != "room:b panic: boom" {
			t.Fatalf("Terminate %d got %q", i, got)
		}
	}
	waitFor(t, func() bool { return actors.Subscribers(ts.ep, "room:b") == 0 })
	// The client rejoins, as the phoenix client does after phx_error.
	join(t, c, "5", "room:b")
}

// Crashes in HandleInfo and HandleOut restart too; they had no client
// message to answer.
func TestRestartFromInfoAndOut(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	c := ts.dial(t, "")
	join(t, c, "1", "room:io")
	send(t, c, `["1","2","room:io","count",{}]`)
	expect(t, c, `["1","2","room:io","phx_reply",{"status":"ok","response":{"count":1}}]`)
	send(t, c, `["1","3","room:io","info","crash"]`)
	if e := nextEvent(t, evs); e.Directive != supervision.Restart {
		t.Fatalf("event %+v", e)
	}
	send(t, c, `["1","4","room:io","count",{}]`)
	expect(t, c, `["1","4","room:io","phx_reply",{"status":"ok","response":{"count":1}}]`)

	send(t, c, `["1","5","room:io","broadcast_intercepted",{"crash":true}]`)
	if e := nextEvent(t, evs); e.Directive != supervision.Restart || e.Restarts != 2 {
		t.Fatalf("event %+v", e)
	}
	send(t, c, `["1","6","room:io","echo",{}]`)
	expect(t, c, `["1","6","room:io","phx_reply",{"status":"ok","response":{}}]`)
}

// A restart whose Join refuses, or crashes, ends the channel with phx_error.
func TestRestartJoinFails(t *testing.T) {
	for _, topic := range []string{"refuse_restart:1", "crash_restart:1"} {
		t.Run(topic, func(t *testing.T) {
			ts := newServer(t, serverOpts{})
			c := ts.dial(t, "")
			join(t, c, "1", topic)
			send(t, c, `["1","2","`+topic+`","boom",{}]`)
			expect(t, c, `["1","2","`+topic+`","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)
			expect(t, c, `["1","1","`+topic+`","phx_error",{"reason":"channel_crash"}]`)
			send(t, c, `["1","3","`+topic+`","echo",{}]`)
			expect(t, c, `[null,"3","`+topic+`","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
			// The subscription of the instance that crashed goes too.
			waitFor(t, func() bool { return actors.Subscribers(ts.ep, topic) == 0 })
		})
	}
}

// With backoff, the restart waits; messages wait for it in order.
func TestRestartWithBackoff(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	c := ts.dial(t, "")
	join(t, c, "1", "backoff:1")
	send(t, c, `["1","2","backoff:1","boom",{}]`)
	for i := 3; i < 10; i++ {
		send(t, c, fmt.Sprintf(`["1","%d","backoff:1","count",{}]`, i))
	}
	expect(t, c, `["1","2","backoff:1","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)
	if e := nextEvent(t, evs); e.Directive != supervision.Restart || e.Delay != 50*time.Millisecond {
		t.Fatalf("event %+v", e)
	}
	for i := 3; i < 10; i++ {
		expect(t, c, fmt.Sprintf(`["1","%d","backoff:1","phx_reply",{"status":"ok","response":{"count":%d}}]`, i, i-2))
	}
}

// A channel crashing over and over, beside healthy channels on the same
// socket and on other sockets: they lose nothing and keep their order.
func TestCrashIsolation(t *testing.T) {
	ts := newServer(t, serverOpts{})
	crasher := ts.dial(t, "")
	peer := ts.dial(t, "")
	join(t, crasher, "1", "temp:bad")
	join(t, crasher, "2", "room:good")
	join(t, peer, "1", "room:good")

	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Crash, rejoin, crash...: the crashing client sends these
		// alongside the healthy traffic.
		for i := 0; i < 50; i++ {
			_ = crasher.Send(fmt.Sprintf(`["j%d","j%d","temp:bad","phx_join",{}]`, i, i))
			_ = crasher.Send(fmt.Sprintf(`["j%d","b%d","temp:bad","boom",{}]`, i, i))
		}
	}()
	for i := 0; i < n; i++ {
		send(t, peer, fmt.Sprintf(`["1","%d","room:good","count",{}]`, i))
	}
	for i := 0; i < n; i++ {
		expect(t, peer, fmt.Sprintf(`["1","%d","room:good","phx_reply",{"status":"ok","response":{"count":%d}}]`, i, i+1))
	}
	wg.Wait()
	send(t, crasher, `["2","x","room:good","count",{}]`)
	for {
		m, err := crasher.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if m.Topic == "room:good" {
			if m.Ref != `"x"` || !strings.Contains(string(m.Payload), `"count":1`) {
				t.Fatalf("healthy channel on the crashing socket answered %+v %s", m, m.Payload)
			}
			break
		}
	}
}

// A registry shard is permanent: it restarts and loses no subscriber.
func TestRegistryShardCrash(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	a, b := ts.dial(t, ""), ts.dial(t, "")
	join(t, a, "1", "room:s")
	join(t, b, "1", "room:s")
	for i := 1; i <= 2; i++ {
		actors.CrashRegistryShard(ts.ep, "room:s")
		if e := nextEvent(t, evs); e.Kind != "registry" || e.Directive != supervision.Restart || e.Restarts != i {
			t.Fatalf("crash %d: event %+v", i, e)
		}
	}
	send(t, a, `["1","2","room:s","broadcast",{"still":true}]`)
	expect(t, a, `[null,null,"room:s","shout",{"still":true}]`)
	expect(t, b, `[null,null,"room:s","shout",{"still":true}]`)
	// The restarted shard still owns its subscriptions: a leave removes one.
	send(t, b, `["1","3","room:s","phx_leave",{}]`)
	expect(t, b, `["1","3","room:s","phx_reply",{"status":"ok","response":{}}]`)
	waitFor(t, func() bool { return actors.Subscribers(ts.ep, "room:s") == 1 })
}

// A socket actor that fails closes its own connection with 1011 and
// terminates its channels; other connections carry on.
func TestSocketCrash(t *testing.T) {
	ts := newServer(t, serverOpts{})
	evs := events(t, ts)
	victim, bystander := ts.dial(t, "vsn=2.0.0&user=victim"), ts.dial(t, "vsn=2.0.0&user=bystander")
	join(t, victim, "1", "room:v")
	join(t, bystander, "1", "room:v")
	actors.CrashSockets(ts.ep, "users_socket:victim")
	if e := nextEvent(t, evs); e.Kind != "socket" || e.Directive != supervision.Stop {
		t.Fatalf("event %+v", e)
	}
	select {
	case <-victim.Done():
	case <-time.After(wait):
		t.Fatal("the failed socket's connection is still open")
	}
	if code := victim.CloseCode(); code != transport.CloseInternalError {
		t.Fatalf("close code %d, want 1011", code)
	}
	if got := ts.waitEnded(t); got != "room:v panic: socket crash requested" {
		t.Fatalf("Terminate got %q", got)
	}
	send(t, bystander, `["1","2","room:v","echo",{}]`)
	expect(t, bystander, `["1","2","room:v","phx_reply",{"status":"ok","response":{}}]`)
}

// waitFor polls cond: for states that have no signal of their own.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// A supervision subscriber that blocks delays no socket: crashes are still
// answered, heartbeats too, and the subscriber only loses its own events.
func TestBlockedSubscriberDelaysNoSocket(t *testing.T) {
	ts := newServer(t, serverOpts{endpoint: actors.Config{Policy: ptr(supervision.RestartInPlace(10_000, time.Minute))}})
	block := make(chan struct{})
	stuck := ts.ep.Supervision().Subscribe(func(supervision.Event) { <-block })
	t.Cleanup(func() {
		close(block)
		stuck.Unsubscribe()
	})
	evs := events(t, ts)
	c := ts.dial(t, "vsn=2.0.0")
	join(t, c, "1", "room:s")
	n := supervision.SubscriberQueue + 10
	for i := range n {
		ref := fmt.Sprint(i + 2)
		send(t, c, `["1","`+ref+`","room:s","boom",{}]`)
		expect(t, c, `["1","`+ref+`","room:s","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)
		nextEvent(t, evs)
		ts.waitEnded(t) // the crashed instance's Terminate
	}
	send(t, c, `[null,"hb","phoenix","heartbeat",{}]`)
	expect(t, c, `[null,"hb","phoenix","phx_reply",{"status":"ok","response":{}}]`)
	if d := stuck.Dropped(); d < 9 {
		t.Errorf("the stuck subscriber lost %d events, want at least 9", d)
	}
}

func ptr[T any](v T) *T { return &v }
