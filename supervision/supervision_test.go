package supervision

import (
	"testing"
	"time"
)

func TestStream(t *testing.T) {
	var s Stream
	got := make(chan Directive, 10)
	sub := s.Subscribe(func(e Event) { got <- e.Directive })
	s.Publish(Event{Directive: Stop})
	s.Publish(Event{Directive: Restart})
	for _, want := range []Directive{Stop, Restart} {
		if d := <-got; d != want {
			t.Fatalf("got %v, want %v", d, want)
		}
	}
	sub.Unsubscribe()
	sub.Unsubscribe()
	s.Publish(Event{Directive: Escalate})
	select {
	case d := <-got:
		t.Fatalf("%v delivered after Unsubscribe", d)
	default:
	}
}

// Totals counts what was published, with or without subscribers.
func TestStreamTotals(t *testing.T) {
	var s Stream
	if got := s.Totals(); len(got) != 0 {
		t.Fatalf("totals of a new stream: %v", got)
	}
	s.Publish(Event{Kind: "channel", Directive: Restart})
	s.Publish(Event{Kind: "socket", Directive: Stop})
	s.Publish(Event{Kind: "channel", Directive: Restart})
	s.Publish(Event{Kind: "channel", Directive: Stop})
	want := []Total{{"channel", Stop, 1}, {"channel", Restart, 2}, {"socket", Stop, 1}}
	got := s.Totals()
	if len(got) != len(want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("totals[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// A subscriber that blocks delays nobody: Publish returns at once, the
// others get every event, and the blocked one counts what it lost.
func TestStreamSlowSubscriber(t *testing.T) {
	var s Stream
	block := make(chan struct{})
	slow := s.Subscribe(func(Event) { <-block })
	defer slow.Unsubscribe()
	fast := make(chan Event, 2*SubscriberQueue)
	defer s.Subscribe(func(e Event) { fast <- e }).Unsubscribe()
	n := SubscriberQueue + 100
	for i := range n {
		s.Publish(Event{Restarts: i})
		// The fast one keeps up (a queue of its own would overflow too if
		// it fell SubscriberQueue behind).
		select {
		case e := <-fast:
			if e.Restarts != i {
				t.Fatalf("event %d arrived as %d", i, e.Restarts)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never reached the fast subscriber", i)
		}
	}
	// The slow one holds one event in its call and a queue of the rest.
	if d := slow.Dropped(); d != uint64(n-SubscriberQueue-1) && d != uint64(n-SubscriberQueue) {
		t.Errorf("dropped %d of %d", d, n)
	}
	close(block)
}

// A subscriber may unsubscribe from its own callback.
func TestStreamUnsubscribeFromCallback(t *testing.T) {
	var s Stream
	calls := make(chan struct{}, 10)
	var sub *Subscription
	ready := make(chan struct{})
	sub = s.Subscribe(func(Event) {
		<-ready
		sub.Unsubscribe()
		calls <- struct{}{}
	})
	close(ready)
	s.Publish(Event{})
	<-calls
	s.Publish(Event{})
	select {
	case <-calls:
		t.Fatal("called after it unsubscribed")
	default:
	}
}

func TestDirectiveString(t *testing.T) {
	for d, want := range map[Directive]string{Stop: "stop", Restart: "restart", Escalate: "escalate", 9: "Directive(9)"} {
		if d.String() != want {
			t.Errorf("%d: %q", int(d), d.String())
		}
	}
}

func TestBudget(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at       int // ms
		want     Directive
		delay    time.Duration
		restarts int
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		steps  []step
	}{
		{"temporary", Temporary(), []step{{0, Stop, 0, 0}, {10, Stop, 0, 0}}},
		{"zero policy is temporary", Policy{}, []step{{0, Stop, 0, 0}}},
		{"no restarts allowed", RestartInPlace(0, time.Second), []step{{0, Stop, 0, 0}}},
		{"default: fourth crash in 5 s stops", DefaultPolicy(), []step{
			{0, Restart, 0, 1}, {1000, Restart, 0, 2}, {2000, Restart, 0, 3}, {3000, Stop, 0, 3},
		}},
		{"window slides", RestartInPlace(2, time.Second), []step{
			{0, Restart, 0, 1}, {500, Restart, 0, 2}, {999, Stop, 0, 2},
			{1001, Restart, 0, 2}, // the crash at 0 left the window
			{1600, Restart, 0, 2}, // and the one at 500
			{1700, Stop, 0, 2},
		}},
		{"backoff doubles up to its maximum", RestartWithBackoff(5, 10*time.Second, 100*time.Millisecond, 300*time.Millisecond), []step{
			{0, Restart, 100 * time.Millisecond, 1}, {1, Restart, 200 * time.Millisecond, 2},
			{2, Restart, 300 * time.Millisecond, 3}, {3, Restart, 300 * time.Millisecond, 4},
			{4, Restart, 300 * time.Millisecond, 5}, {5, Stop, 0, 5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Budget
			for i, s := range tc.steps {
				d, delay, n := b.Decide(tc.policy, at(s.at))
				if d != s.want || delay != s.delay || n != s.restarts {
					t.Fatalf("step %d at %dms: got %v %v %d, want %v %v %d", i, s.at, d, delay, n, s.want, s.delay, s.restarts)
				}
			}
		})
	}
}

func TestBudgetStaysSmall(t *testing.T) {
	var b Budget
	p := RestartInPlace(3, time.Second)
	t0 := time.Unix(0, 0)
	for i := 0; i < 10_000; i++ {
		b.Decide(p, t0.Add(time.Duration(i)*time.Second))
	}
	if len(b.restarts) > 3 {
		t.Fatalf("history holds %d restarts", len(b.restarts))
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[string]Policy{
		"temporary":                  Temporary(),
		"restart in place (3 in 5s)": DefaultPolicy(),
	} {
		if got := want.String(); got != p {
			t.Errorf("got %q, want %q", got, p)
		}
	}
}

// A policy that makes no sense is refused when it is made.
func TestPoliciesThatMakeNoSense(t *testing.T) {
	for name, make := range map[string]func(){
		"negative restarts":      func() { RestartInPlace(-1, time.Second) },
		"no window":              func() { RestartInPlace(3, 0) },
		"no initial delay":       func() { RestartWithBackoff(3, time.Second, 0, time.Second) },
		"maximum below initial":  func() { RestartWithBackoff(3, time.Second, 100*time.Millisecond, 0) },
		"backoff without window": func() { RestartWithBackoff(3, 0, time.Millisecond, time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			make()
		}()
	}
	RestartWithBackoff(3, time.Second, 100*time.Millisecond, 100*time.Millisecond) // fine
}
