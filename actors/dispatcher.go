package actors

import (
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// workerPool dispatches the endpoint's actors. Proto.Actor's default
// dispatcher starts a goroutine for every burst of messages an actor gets:
// each starts on a small stack and grows it again, which measured as a
// third of the CPU of a join and leave. The pool hands a mailbox to a
// worker that is waiting, whose stack has already grown, and starts a new
// worker only when none is free, so an actor that blocks never holds up
// others. Workers idle for a while exit: an idle endpoint holds few
// goroutines.
type workerPool struct {
	work       chan func() // unbuffered: a send succeeds only to a waiting worker
	quit       chan struct{}
	idle       time.Duration
	throughput int

	mu      sync.RWMutex
	stopped bool           // guarded by mu
	wg      sync.WaitGroup // the workers; Add under mu's read lock
}

func newWorkerPool(idle time.Duration, throughput int) *workerPool {
	return &workerPool{work: make(chan func()), quit: make(chan struct{}), idle: idle, throughput: throughput}
}

// Schedule implements actor.Dispatcher.
func (p *workerPool) Schedule(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	p.mu.RLock()
	if p.stopped {
		p.mu.RUnlock()
		// A message after shutdown (a late timer): run it like the
		// default dispatcher would.
		go fn()
		return
	}
	p.wg.Add(1)
	p.mu.RUnlock()
	go p.worker(fn)
}

// Throughput implements actor.Dispatcher: how many messages an actor
// handles before yielding its worker.
func (p *workerPool) Throughput() int { return p.throughput }

func (p *workerPool) worker(fn func()) {
	defer p.wg.Done()
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(p.idle)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}

// stop ends the idle workers and waits for every worker to return, or for
// ctx: a callback that never returns must not hold up shutdown forever.
func (p *workerPool) stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.quit)
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lightMailbox is the mailbox of socket and channel actors.
var lightMailbox actor.MailboxProducer = newMailbox
