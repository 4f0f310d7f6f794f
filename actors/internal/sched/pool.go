package sched

import (
	"context"
	"slices"
	"sync"
	"time"
)

// WorkerPool dispatches the endpoint's actors. Proto.Actor's default
// dispatcher starts a goroutine for every burst of messages an actor gets:
// each starts on a small stack and grows it again, which measured as a
// third of the CPU of a join and leave. The pool hands a mailbox to a
// worker that is waiting, whose stack has already grown, and starts a new
// worker only when none is free, so an actor that blocks never holds up
// others.
//
// Idle workers are a stack: work goes to the one that became idle last.
// Handing it to the one waiting longest (an unbuffered channel's order)
// kept every worker of a storm alive under a trickle of work, since each
// hand-off reset another worker's idle time. With the stack, the workers
// at its bottom stay idle, and those idle for a while exit, down to a
// floor kept for the next burst: an idle endpoint holds few goroutines.
type WorkerPool struct {
	idleTime   time.Duration
	floor      int
	throughput int

	mu      sync.Mutex
	idle    []*poolWorker  // waiting workers, the latest to wait last; guarded by mu
	live    int            // workers started and not returned; guarded by mu
	trims   uint64         // trims done so far; guarded by mu
	trim    *time.Timer    // the next trim, while workers above the floor wait; guarded by mu
	stopped bool           // guarded by mu
	wg      sync.WaitGroup // the workers; Add under mu
}

// poolWorker is a worker's hand-off slot: whoever takes the worker off the
// idle stack sends it one task, or nil, which makes it exit.
type poolWorker struct {
	work chan task
	// since is the number of trims done when the worker last became idle.
	since uint64
}

// Floor is how many idle workers stay for the next burst however long
// they wait.
const Floor = 8

// NewWorkerPool makes a pool whose workers idle longer than idle exit,
// down to floor; an actor handles throughput messages before it yields
// its worker.
func NewWorkerPool(idle time.Duration, floor, throughput int) *WorkerPool {
	return &WorkerPool{idleTime: idle, floor: floor, throughput: throughput}
}

// task is what a worker runs. A mailbox is one itself, so that scheduling
// it costs no closure; a function is one through funcTask.
type task interface{ run() }

type funcTask func()

func (f funcTask) run() { f() }

// Schedule implements actor.Dispatcher (Proto.Actor's).
func (p *WorkerPool) Schedule(fn func()) { p.schedule(funcTask(fn)) }

func (p *WorkerPool) schedule(t task) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.work <- t
		return
	}
	if p.stopped {
		p.mu.Unlock()
		// A message after shutdown (a late timer): run it like the
		// default dispatcher would.
		go t.run()
		return
	}
	p.live++
	p.wg.Add(1)
	p.mu.Unlock()
	go p.worker(t)
}

// Throughput implements actor.Dispatcher: how many messages an actor
// handles before yielding its worker.
func (p *WorkerPool) Throughput() int { return p.throughput }

// worker runs functions until it is handed nil. Between two it waits on
// its slot alone: a select that also watched a timer and the pool's stop
// cost every hand-off a good part of its time, so idle workers are
// retired by trimIdle and stop, which hand them nil.
func (p *WorkerPool) worker(t task) {
	defer p.wg.Done()
	w := &poolWorker{work: make(chan task, 1)}
	for t != nil {
		t.run()
		p.mu.Lock()
		if p.stopped {
			p.live--
			p.mu.Unlock()
			return
		}
		w.since = p.trims
		p.idle = append(p.idle, w)
		if len(p.idle) > p.floor && p.trim == nil {
			p.trim = time.AfterFunc(p.idleTime, p.trimIdle)
		}
		p.mu.Unlock()
		t = <-w.work
	}
}

// trimIdle retires, down to the floor, the workers that have been idle
// since before the previous trim: between one and two idle times. The
// oldest idle workers are at the bottom of the stack.
func (p *WorkerPool) trimIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trim = nil
	if p.stopped {
		return
	}
	p.trims++
	n := 0
	for n < len(p.idle) && p.live > p.floor && p.idle[n].since+1 < p.trims {
		p.idle[n].work <- nil
		p.live--
		n++
	}
	p.idle = slices.Delete(p.idle, 0, n)
	if len(p.idle) > p.floor {
		p.trim = time.AfterFunc(p.idleTime, p.trimIdle)
	}
}

// Workers reports how many workers are alive.
func (p *WorkerPool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// Stop ends the idle workers and waits for every worker to return, or for
// ctx: a callback that never returns must not hold up shutdown forever.
func (p *WorkerPool) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	if p.trim != nil {
		p.trim.Stop()
		p.trim = nil
	}
	for _, w := range p.idle {
		w.work <- nil
		p.live--
	}
	p.idle = nil
	p.mu.Unlock()
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
