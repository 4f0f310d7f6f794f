package sched

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// stepDispatcher runs nothing itself: the test runs what was scheduled.
type stepDispatcher struct {
	scheduled []func()
}

func (d *stepDispatcher) Schedule(fn func()) { d.scheduled = append(d.scheduled, fn) }
func (d *stepDispatcher) Throughput() int    { return 3 }

func (d *stepDispatcher) runAll() {
	for len(d.scheduled) > 0 {
		fn := d.scheduled[0]
		d.scheduled = d.scheduled[1:]
		fn()
	}
}

// recordingInvoker records what the mailbox hands over; a "panic" message
// panics.
type recordingInvoker struct {
	got       []string
	escalated []any
}

func (r *recordingInvoker) InvokeSystemMessage(m any) { r.got = append(r.got, fmt.Sprint("sys:", m)) }
func (r *recordingInvoker) InvokeUserMessage(m any) {
	if m == "panic" {
		panic("boom")
	}
	r.got = append(r.got, fmt.Sprint(m))
}
func (r *recordingInvoker) EscalateFailure(reason, m any) { r.escalated = append(r.escalated, m) }

func TestMailboxOrderAndPriority(t *testing.T) {
	d, inv := &stepDispatcher{}, &recordingInvoker{}
	m := NewMailbox()
	m.RegisterHandlers(inv, d)
	m.PostUserMessage("u1")
	m.PostUserMessage("u2")
	m.PostSystemMessage("s1")
	if len(d.scheduled) != 1 {
		t.Fatalf("%d runs scheduled, want 1", len(d.scheduled))
	}
	d.runAll()
	if want := []string{"sys:s1", "u1", "u2"}; !slices.Equal(inv.got, want) {
		t.Fatalf("got %v, want %v", inv.got, want)
	}
	m.PostUserMessage("u3")
	d.runAll()
	if inv.got[len(inv.got)-1] != "u3" || m.UserMessageCount() != 0 {
		t.Fatalf("got %v, %d left", inv.got, m.UserMessageCount())
	}
}

func TestMailboxSuspendHoldsUserMessages(t *testing.T) {
	d, inv := &stepDispatcher{}, &recordingInvoker{}
	m := NewMailbox()
	m.RegisterHandlers(inv, d)
	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("u1")
	d.runAll()
	if len(inv.got) != 0 || m.UserMessageCount() != 1 {
		t.Fatalf("suspended mailbox delivered %v", inv.got)
	}
	m.PostUserMessage("u2") // no run for a suspended mailbox
	if len(d.scheduled) != 0 {
		t.Fatal("a run was scheduled while suspended")
	}
	m.PostSystemMessage("restart") // system messages still go through
	m.PostSystemMessage(&actor.ResumeMailbox{})
	d.runAll()
	if want := []string{"sys:restart", "u1", "u2"}; !slices.Equal(inv.got, want) {
		t.Fatalf("got %v, want %v", inv.got, want)
	}
}

func TestMailboxEscalatesPanics(t *testing.T) {
	d, inv := &stepDispatcher{}, &recordingInvoker{}
	m := NewMailbox()
	m.RegisterHandlers(inv, d)
	m.PostUserMessage("u1")
	m.PostUserMessage("panic")
	m.PostUserMessage("u2")
	d.runAll()
	if !slices.Equal(inv.escalated, []any{"panic"}) || !slices.Equal(inv.got, []string{"u1", "u2"}) {
		t.Fatalf("escalated %v, got %v", inv.escalated, inv.got)
	}
}

// A burst's queue is released once handled: an idle actor keeps little.
func TestMailboxReleasesBurstQueue(t *testing.T) {
	d, inv := &stepDispatcher{}, &recordingInvoker{}
	m := NewMailbox().(*Mailbox)
	m.RegisterHandlers(inv, d)
	for i := range 1000 {
		m.PostUserMessage(i)
	}
	d.runAll()
	if len(inv.got) != 1000 || cap(m.user) > keepCap {
		t.Fatalf("%d handled, queue capacity %d left", len(inv.got), cap(m.user))
	}
}

// Messages from concurrent senders arrive in each sender's order, each
// once, on the endpoint's dispatcher.
func TestMailboxConcurrentSenders(t *testing.T) {
	pool := NewWorkerPool(time.Second, Floor, 300)
	defer func() { _ = pool.Stop(context.Background()) }()
	inv := &countingInvoker{last: map[int]int{}, done: make(chan struct{})}
	inv.want = 4 * 5000
	m := NewMailbox()
	m.RegisterHandlers(inv, pool)
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 5000; i++ {
				m.PostUserMessage([2]int{s, i})
			}
		}()
	}
	wg.Wait()
	select {
	case <-inv.done:
	case <-time.After(10 * time.Second):
		t.Fatal("messages lost") // n is not read here: the run may still be writing it
	}
	if inv.err != nil {
		t.Fatal(inv.err)
	}
}

type countingInvoker struct {
	last    map[int]int // only the mailbox's run touches it, one at a time
	n, want int
	err     error
	done    chan struct{}
}

func (c *countingInvoker) InvokeSystemMessage(any) {}
func (c *countingInvoker) InvokeUserMessage(m any) {
	v := m.([2]int)
	if c.err == nil && v[1] != c.last[v[0]]+1 {
		c.err = fmt.Errorf("sender %d: %d after %d", v[0], v[1], c.last[v[0]])
	}
	c.last[v[0]] = v[1]
	if c.n++; c.n == c.want {
		close(c.done)
	}
}
func (c *countingInvoker) EscalateFailure(reason, _ any) { c.err = fmt.Errorf("panic: %v", reason) }
