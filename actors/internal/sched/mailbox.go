package sched

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Mailbox is the mailbox of socket and channel actors, of which there is one
// per connection and one per joined topic. Proto.Actor's lock-free mailbox
// keeps two linked queues, each with a node of its own, allocates a node
// for every message and a closure for every burst: about 200 bytes per
// actor at rest. This one is a mutex and two slices, emptied to nothing
// when a burst was large, and schedules itself on a WorkerPool.
//
// Each queue starts on a slot of its own: a channel that joins and leaves
// gets Started, its leave and Stop, and allocating a queue for each of
// them was a tenth of a join's allocations.
//
// Its semantics are those of Proto.Actor's: system messages go before user
// messages, SuspendMailbox holds user messages back until ResumeMailbox,
// a panic in a handler is escalated to the actor's supervisor, and after
// the dispatcher's throughput the worker yields.
type Mailbox struct {
	mu        sync.Mutex
	user      []any // user messages, user[head:] pending
	head      int
	system    []any
	scheduled bool // a run is scheduled or running
	suspended bool
	firstUser [1]any
	firstSys  [1]any

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	pool       *WorkerPool // dispatcher, when it is one
}

// NewMailbox is an actor.MailboxProducer.
func NewMailbox() actor.Mailbox {
	m := &Mailbox{}
	m.user = m.firstUser[:0]
	m.system = m.firstSys[:0]
	return m
}

// keepCap is the largest queue a mailbox keeps once empty; a larger one,
// left by a burst, is released.
const keepCap = 16

func (m *Mailbox) PostUserMessage(msg any)   { m.post(&m.user, msg) }
func (m *Mailbox) PostSystemMessage(msg any) { m.post(&m.system, msg) }

func (m *Mailbox) post(queue *[]any, msg any) {
	m.mu.Lock()
	*queue = append(*queue, msg)
	schedule := m.scheduleLocked()
	m.mu.Unlock()
	if schedule {
		m.schedule()
	}
}

func (m *Mailbox) schedule() {
	if m.pool != nil {
		m.pool.schedule(m)
		return
	}
	m.dispatcher.Schedule(m.process)
}

func (m *Mailbox) run() { m.process() }

// Claim lets the caller act as the actor, on its own goroutine, if the
// actor is idle: nothing queued, no run scheduled or running, not
// suspended. Until release, the mailbox counts as running: what is posted
// meanwhile waits, and the actor runs nowhere else.
func (m *Mailbox) Claim() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.scheduled || m.suspended || len(m.system) > 0 || m.head != len(m.user) {
		return false
	}
	m.scheduled = true
	return true
}

// Release ends a claim, and schedules a run for what was posted during it.
func (m *Mailbox) Release() {
	m.mu.Lock()
	m.scheduled = false
	schedule := m.scheduleLocked()
	m.mu.Unlock()
	if schedule {
		m.schedule()
	}
}

// scheduleLocked reports whether the caller must schedule a run: there is
// work the actor may do, and no run is on its way.
func (m *Mailbox) scheduleLocked() bool {
	if m.scheduled || (len(m.system) == 0 && (m.suspended || m.head == len(m.user))) {
		return false
	}
	m.scheduled = true
	return true
}

func (m *Mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker = invoker
	m.dispatcher = dispatcher
	m.pool, _ = dispatcher.(*WorkerPool)
}

func (m *Mailbox) Start() {}

func (m *Mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user) - m.head
}

// process handles messages until none is left that the actor may take.
func (m *Mailbox) process() {
	throughput := m.dispatcher.Throughput()
	for n := 1; ; n++ {
		if n > throughput {
			n = 1
			runtime.Gosched()
		}
		msg, system, ok := m.next()
		if !ok {
			return
		}
		if !system {
			m.invoke(msg, false)
			continue
		}
		switch msg.(type) {
		case *actor.SuspendMailbox:
			m.mu.Lock()
			m.suspended = true
			m.mu.Unlock()
		case *actor.ResumeMailbox:
			m.mu.Lock()
			m.suspended = false
			m.mu.Unlock()
		default:
			m.invoke(msg, true)
		}
	}
}

// next takes the next message, system messages first, or ends the run.
func (m *Mailbox) next() (msg any, system, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.system) > 0 {
		msg = m.system[0]
		m.system[0] = nil
		m.system = m.system[1:]
		if len(m.system) == 0 {
			// Its first slot, or a queue of a burst: the next message
			// starts again on the first slot.
			m.system = m.firstSys[:0]
		}
		return msg, true, true
	}
	if m.suspended || m.head == len(m.user) {
		m.scheduled = false
		return nil, false, false
	}
	msg = m.user[m.head]
	m.user[m.head] = nil
	m.head++
	if m.head == len(m.user) {
		m.head = 0
		if cap(m.user) > keepCap {
			m.user = m.firstUser[:0]
		} else {
			m.user = m.user[:0]
		}
	}
	return msg, false, true
}

// invoke hands msg to the actor; a panic goes to its supervisor, which
// suspends the mailbox until it decides.
func (m *Mailbox) invoke(msg any, system bool) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	if system {
		m.invoker.InvokeSystemMessage(msg)
	} else {
		m.invoker.InvokeUserMessage(msg)
	}
}
