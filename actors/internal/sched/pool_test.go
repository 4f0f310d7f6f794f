package sched

import (
	"context"
	"sync"
	"testing"
	"time"
)

// After a storm, a trickle of work (one function every few milliseconds)
// is served by few workers: the others exit once idle, down to the floor,
// and the floor stays however long the pool is idle.
func TestWorkerPoolShrinksUnderTrickle(t *testing.T) {
	const idle, floor = 50 * time.Millisecond, 2
	pool := NewWorkerPool(idle, floor, 300)
	defer func() { _ = pool.Stop(context.Background()) }()

	// The storm: 100 functions that block until released, so 100 workers.
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(100)
	for range 100 {
		pool.Schedule(func() {
			started.Done()
			<-gate
		})
	}
	started.Wait()
	if n := pool.Workers(); n != 100 {
		t.Fatalf("%d workers for 100 blocked functions", n)
	}
	close(gate)

	// The trickle: one function every 5 ms, ten times faster than the
	// idle time, for as long as it takes the pool to shrink.
	deadline := time.Now().Add(10 * time.Second)
	ran := make(chan struct{}, 1)
	for pool.Workers() > floor+1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still alive under a trickle of work", pool.Workers())
		}
		pool.Schedule(func() { ran <- struct{}{} })
		<-ran
		time.Sleep(5 * time.Millisecond) // the trickle's pace, not a wait for a result
	}

	// Idle: the floor stays, for the next burst.
	time.Sleep(4 * idle)
	if n := pool.Workers(); n != floor {
		t.Fatalf("%d workers after the pool went idle, want the floor of %d", n, floor)
	}
}
