package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/phxgo/phx/actors/internal/registry"
	"github.com/phxgo/phx/actors/internal/sched"
)

// socketSet is an endpoint's record of its live socket actors, and the
// gate that closes to new ones at Shutdown.
type socketSet struct {
	ep *Endpoint
	// props spawns every socket actor: sockets are never restarted, so
	// one Props serves them all, its producer handing over the actor
	// being spawned (spawning, set under mu around the synchronous Spawn).
	// A Props per socket cost each connection a quarter of a kilobyte.
	props *actor.Props

	mu          sync.Mutex
	spawning    *socketActor            // guarded by mu
	byID        map[string]*socketActor // guarded by mu; by the actor's id, its name
	byTransport map[string]int          // guarded by mu
	closing     bool                    // guarded by mu
	// releasing holds the sockets cut for a bound of the endpoint, and
	// what they held then, until they stop; guarded by mu.
	releasing map[*socketActor]int64
	wg        sync.WaitGroup // one count per live socket actor
}

func (ss *socketSet) init(ep *Endpoint, guardian actor.SupervisorStrategy) {
	ss.ep = ep
	ss.byID = make(map[string]*socketActor)
	ss.byTransport = make(map[string]int)
	ss.props = actor.PropsFromProducer(func() actor.Actor { return ss.spawning },
		actor.WithGuardian(guardian), actor.WithDispatcher(ep.pool),
		actor.WithMailbox(func() actor.Mailbox {
			// Kept by the socket, whose read goroutine routes a channel's
			// messages itself while the actor is idle.
			m := sched.NewMailbox().(*sched.Mailbox)
			ss.spawning.mbox = m
			return m
		}))
}

// closed reports whether the endpoint is closing: no socket starts.
func (ss *socketSet) closed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closing
}

// close closes the gate and returns the live sockets; ok is false if it
// was closed already.
func (ss *socketSet) close() (pids []*actor.PID, ok bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return nil, false
	}
	ss.closing = true
	pids = make([]*actor.PID, 0, len(ss.byID))
	for _, sa := range ss.byID {
		pids = append(pids, ss.ep.system.NewLocalPID(sa.name))
	}
	return pids, true
}

// all returns the live sockets.
func (ss *socketSet) all() []*actor.PID {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	pids := make([]*actor.PID, 0, len(ss.byID))
	for _, sa := range ss.byID {
		pids = append(pids, ss.ep.system.NewLocalPID(sa.name))
	}
	return pids
}

// largest returns the live socket that holds the most by held, of those
// not closing for a bound already, and marks it closing; nil for none, or
// if over, when not nil, reports false. What it held then is counted in
// releasing until it has stopped, so that the endpoint does not cut
// another for what this one is about to give back: over is asked under
// the lock that releasing is added to under, so that of two read
// goroutines that found the bound passed at once, the second sees what
// the first's cut gives back.
func (ss *socketSet) largest(over func() bool, held func(*socketActor) int64) (*socketActor, int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if over != nil && !over() {
		return nil, 0
	}
	var largest *socketActor
	var most int64
	for _, sa := range ss.byID {
		if n := held(sa); n > most && !sa.overBound.Load() {
			largest, most = sa, n
		}
	}
	if largest == nil {
		return nil, 0
	}
	largest.overBound.Store(true)
	if ss.releasing == nil {
		ss.releasing = make(map[*socketActor]int64)
	}
	ss.releasing[largest] = most
	ss.ep.releasing.Add(most)
	return largest, most
}

// counts returns how many sockets each transport has.
func (ss *socketSet) counts() map[string]int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m := make(map[string]int, len(ss.byTransport))
	for t, n := range ss.byTransport {
		m[t] = n
	}
	return m
}

// wait waits until every socket actor has stopped.
func (ss *socketSet) wait() { ss.wg.Wait() }

// start spawns and registers a socket actor, unless the endpoint is
// closing.
func (ss *socketSet) start(sa *socketActor) (*actor.PID, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return nil, ErrShutdown
	}
	ss.wg.Add(1)
	ss.spawning = sa
	pid, err := ss.ep.system.Root.SpawnNamed(ss.props, sa.name)
	ss.spawning = nil
	if err != nil {
		ss.wg.Done()
		return nil, err
	}
	ss.byID[pid.Id] = sa
	ss.byTransport[sa.transport]++
	sa.spawned.Store(true)
	if sa.disconnectAsked.Load() {
		ss.ep.system.Root.Send(pid, &socketDisconnect{})
	}
	return pid, nil
}

// subscribeID names the socket's actor and subscribes it to its id
// topic, before the connection is upgraded: a Disconnect made as soon as
// the client sees its connection open must find the socket, and a Spawn
// only schedules an actor's start.
func (ss *socketSet) subscribeID(sa *socketActor) {
	sa.name = ss.ep.system.ProcessRegistry.NextId()
	if sa.id == "" {
		return
	}
	ss.ep.reg.Subscribe(&registry.Subscription{Topic: sa.id, Sub: &registry.Subscriber{PID: ss.ep.system.NewLocalPID(sa.name), Notifier: sa}})
}

// unsubscribeID ends what subscribeID began. It may run more
// than once for a socket.
func (ss *socketSet) unsubscribeID(sa *socketActor) {
	if sa.id == "" {
		return
	}
	ss.ep.reg.Unsubscribe(sa.id, sa.name)
}

// stopped forgets a socket actor that has stopped.
func (ss *socketSet) stopped(pid *actor.PID, transport string) {
	ss.mu.Lock()
	if sa := ss.byID[pid.Id]; sa != nil {
		if n, ok := ss.releasing[sa]; ok {
			ss.ep.releasing.Add(-n)
			delete(ss.releasing, sa)
		}
	}
	delete(ss.byID, pid.Id)
	ss.byTransport[transport]--
	ss.mu.Unlock()
	ss.wg.Done()
}
