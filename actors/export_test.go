package actors

import (
	"context"
	"time"
)

// CrashRegistryShard makes the registry shard of topic panic.
func CrashRegistryShard(ep *Endpoint, topic string) {
	ep.reg.Crash(topic)
}

// StallRegistryShard keeps the actor of topic's registry shard busy until
// release is closed: what goes through its mailbox waits.
func StallRegistryShard(ep *Endpoint, topic string, release <-chan struct{}) {
	ep.reg.Stall(topic, release)
}

// CrashSockets makes every socket actor whose socket id is id panic.
func CrashSockets(ep *Endpoint, id string) {
	for _, pid := range ep.sockets.all() {
		ep.system.Root.Send(pid, &crashSocket{id: id})
	}
}

// Subscribers counts the subscriptions of topic.
func Subscribers(ep *Endpoint, topic string) int {
	return ep.reg.Count(topic)
}

// StepDrain makes ep's drain wait, between two batches, for a value on
// step; paused receives the interval each time the drain waits.
func StepDrain(ep *Endpoint, paused chan<- time.Duration, step <-chan struct{}) {
	ep.drainPause = func(ctx context.Context, d time.Duration) {
		paused <- d
		select {
		case <-step:
		case <-ctx.Done():
		}
	}
}

// TopicCapacity returns the capacity of topic's subscriber slice and
// whether it keeps an index.
func TopicCapacity(ep *Endpoint, topic string) (int, bool) {
	return ep.reg.Capacity(topic)
}

// StepClock makes ep's rate limits read the time from now, in
// nanoseconds. Call it before the endpoint serves anything.
func StepClock(ep *Endpoint, now func() int64) { ep.now = now }
