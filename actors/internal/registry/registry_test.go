package registry_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// conn records the frames written to it.
type conn struct {
	mu     sync.Mutex
	frames []string
}

func (c *conn) Send(frame []byte, _ bool) error {
	c.mu.Lock()
	c.frames = append(c.frames, string(frame))
	c.mu.Unlock()
	return nil
}

func (c *conn) Close(int, string) {}

func (c *conn) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.frames...)
}

// messages tags what actors are sent, so that tests can tell them apart.
type messages struct{}

type out struct{ event string }
type info struct{ topic, event string }

func (messages) Out(event string, _ protocol.Payload) any { return &out{event} }
func (messages) Info(topic, event string, _ protocol.Payload) any {
	return &info{topic, event}
}

// notifier records the events it is told of.
type notifier struct{ events chan string }

func (n notifier) Notify(_ *actor.PID, event string) { n.events <- event }

type harness struct {
	system  *actor.ActorSystem
	reg     *registry.Registry
	ser     protocol.Serializer
	crashed chan int // restarts, for every crash of a shard
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	h := &harness{system: system, ser: protocol.V2, crashed: make(chan int, 1)}
	h.reg = registry.New(registry.Config{
		System: h.system, Dispatcher: actor.NewDefaultDispatcher(300), Shards: 4, Messages: messages{},
		Log:     quiet,
		Crashed: func(_ *actor.PID, _ any, restarts int) { h.crashed <- restarts },
	})
	t.Cleanup(func() {
		h.reg.Stop()
		h.system.Shutdown()
	})
	return h
}

// inbox spawns an actor that hands on what it receives.
func (h *harness) inbox(t *testing.T) (*actor.PID, chan any) {
	t.Helper()
	got := make(chan any, 16)
	pid := h.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *out, *info:
			got <- m
		}
	}))
	t.Cleanup(func() { _ = h.system.Root.StopFuture(pid).Wait() })
	return pid, got
}

func payload() protocol.Payload { return protocol.JSON([]byte(`{"n":1}`)) }

// The fastlane writes the broadcast to the connection, the reply of a
// subscription first; intercepted events, Info subscriptions and
// notifiers go where their subscriber says; from is skipped.
func TestDispatchGoesWhereEachSubscriberSays(t *testing.T) {
	h := newHarness(t)
	pidA, gotA := h.inbox(t)
	pidB, _ := h.inbox(t)
	pidC, gotC := h.inbox(t)
	a, b := &conn{}, &conn{}
	h.reg.Subscribe(&registry.Subscription{Topic: "room:1", Sub: &registry.Subscriber{PID: pidA, Conn: a, Ser: h.ser, Intercepts: []string{"secret"}}, Reply: []byte("joined")})
	h.reg.Subscribe(&registry.Subscription{Topic: "room:1", Sub: &registry.Subscriber{PID: pidB, Conn: b, Ser: h.ser}})
	done := make(chan struct{})
	h.reg.Post(&registry.Subscription{Topic: "room:1", Sub: &registry.Subscriber{PID: pidC}, Done: done})
	<-done
	events := make(chan string, 4)
	h.reg.Subscribe(&registry.Subscription{Topic: "room:1", Sub: &registry.Subscriber{PID: h.system.NewLocalPID("sock"), Notifier: notifier{events}}})

	if n := h.reg.Dispatch("room:1", "shout", payload(), nil, registry.Sequencing{}); n != 3 {
		t.Fatalf("delivered to %d, want 3 (the notifier is not a delivery)", n)
	}
	if n := h.reg.Dispatch("room:1", "secret", payload(), pidB, registry.Sequencing{}); n != 2 {
		t.Fatalf("delivered to %d, want 2", n)
	}
	shout := `[null,null,"room:1","shout",{"n":1}]`
	if got := a.got(); len(got) != 2 || got[0] != "joined" || got[1] != shout {
		t.Errorf("a got %q", got)
	}
	if got := b.got(); len(got) != 1 || got[0] != shout {
		t.Errorf("b got %q", got)
	}
	if m := <-gotA; m.(*out).event != "secret" {
		t.Errorf("a's actor got %v", m)
	}
	for _, want := range []string{"shout", "secret"} {
		if m := <-gotC; *m.(*info) != (info{"room:1", want}) {
			t.Errorf("c got %v, want %s", m, want)
		}
		if e := <-events; e != want {
			t.Errorf("notified of %s, want %s", e, want)
		}
	}
}

// A subscription whose Closed is set is not made: its setter unsubscribed
// under the same lock, and a late subscription must not undo that.
func TestClosedSubscriptionIsNotMade(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.inbox(t)
	var closed atomic.Bool
	closed.Store(true)
	c := &conn{}
	h.reg.Subscribe(&registry.Subscription{Topic: "room:x", Sub: &registry.Subscriber{PID: pid, Conn: c, Ser: h.ser}, Reply: []byte("r"), Closed: &closed})
	if n := h.reg.Count("room:x"); n != 0 || len(c.got()) != 0 {
		t.Fatalf("%d subscriptions, %q written", n, c.got())
	}
}

// A large topic's delivery is split across goroutines and still reaches
// every subscriber once; a topic that lost most of its subscribers gives
// its memory back; a crashed shard keeps its subscriptions.
func TestSplitDeliveryShrinkAndCrash(t *testing.T) {
	h := newHarness(t)
	conns := make([]*conn, 2000)
	for i := range conns {
		conns[i] = &conn{}
		h.reg.Subscribe(&registry.Subscription{Topic: "big", Sub: &registry.Subscriber{PID: h.system.NewLocalPID(fmt.Sprint("s", i)), Conn: conns[i], Ser: h.ser}})
	}
	if n := h.reg.Dispatch("big", "e", payload(), nil, registry.Sequencing{}); n != len(conns) {
		t.Fatalf("delivered to %d of %d", n, len(conns))
	}
	for i, c := range conns {
		if len(c.got()) != 1 {
			t.Fatalf("subscriber %d got %d frames", i, len(c.got()))
		}
	}
	h.reg.Crash("big")
	if restarts := <-h.crashed; restarts != 1 {
		t.Errorf("restarts %d, want 1", restarts)
	}
	if n := h.reg.Count("big"); n != len(conns) {
		t.Fatalf("%d subscriptions after a crash", n)
	}
	for i := range conns[10:] {
		h.reg.Unsubscribe("big", fmt.Sprint("s", i+10))
	}
	if c, _ := h.reg.Capacity("big"); c > 64 {
		t.Errorf("10 subscribers left hold a capacity of %d", c)
	}
}
