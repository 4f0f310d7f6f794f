// Package supervision decides what a crash does and reports every decision.
//
// A Policy tells a channel's supervisor (its socket actor) what to do when
// one of the channel's callbacks panics: restart it in place within a
// budget, or stop it. Every decision, for channels, sockets and the
// endpoint's own actors, is published as an Event on a Stream that tests
// and logs subscribe to.
package supervision

import (
	"fmt"
	"time"
)

// Directive is a supervisor's decision about a failed child.
type Directive int

const (
	// Stop ends the child: a channel's client gets phx_error and rejoins by
	// itself.
	Stop Directive = iota
	// Restart replaces the child with a fresh instance in place.
	Restart
	// Escalate hands the failure to the supervisor's own supervisor.
	Escalate
)

func (d Directive) String() string {
	switch d {
	case Stop:
		return "stop"
	case Restart:
		return "restart"
	case Escalate:
		return "escalate"
	}
	return fmt.Sprintf("Directive(%d)", int(d))
}

// Policy is what a crash of a channel does. Build one with Temporary,
// RestartInPlace or RestartWithBackoff; the zero Policy is Temporary.
type Policy struct {
	restart     bool
	maxRestarts int
	within      time.Duration
	backoff     time.Duration // delay before the first restart in a window
	maxBackoff  time.Duration
}

// Temporary never restarts: the crashed channel stops at once and its client
// gets phx_error and rejoins by itself. It is Phoenix's own behaviour
// (restart: :temporary).
func Temporary() Policy { return Policy{} }

// RestartInPlace restarts a crashed channel in place, up to maxRestarts
// times within a sliding window of within. The fresh instance runs Join
// again with the original params; the client stays joined and the message
// that crashed is answered {"reason":"channel_crash"}. Past the budget the
// channel stops as with Temporary. It panics on a budget that makes no
// sense (a negative count, or a window that is not positive), as a
// configuration mistake should show at start rather than at the first
// crash.
func RestartInPlace(maxRestarts int, within time.Duration) Policy {
	if maxRestarts < 0 {
		panic(fmt.Sprintf("supervision: RestartInPlace: negative maxRestarts %d", maxRestarts))
	}
	if within <= 0 {
		panic(fmt.Sprintf("supervision: RestartInPlace: window %v is not positive", within))
	}
	return Policy{restart: true, maxRestarts: maxRestarts, within: within}
}

// RestartWithBackoff is RestartInPlace with a delay before each restart:
// initial for the first in the window, doubling for each further one, at
// most maxDelay. Messages for the channel wait in its mailbox meanwhile.
// It panics, as RestartInPlace does, on a policy that makes no sense: an
// initial delay that is not positive (that is RestartInPlace), or a
// maximum below it.
func RestartWithBackoff(maxRestarts int, within, initial, maxDelay time.Duration) Policy {
	if initial <= 0 {
		panic(fmt.Sprintf("supervision: RestartWithBackoff: initial delay %v is not positive; without a delay use RestartInPlace", initial))
	}
	if maxDelay < initial {
		panic(fmt.Sprintf("supervision: RestartWithBackoff: maximum delay %v is below the initial %v", maxDelay, initial))
	}
	p := RestartInPlace(maxRestarts, within)
	p.backoff, p.maxBackoff = initial, maxDelay
	return p
}

// DefaultPolicy is the endpoint's policy unless configured otherwise: three
// restarts in place within five seconds.
func DefaultPolicy() Policy { return RestartInPlace(3, 5*time.Second) }

// Restarts reports whether the policy ever restarts.
func (p Policy) Restarts() bool { return p.restart && p.maxRestarts > 0 }

func (p Policy) String() string {
	switch {
	case !p.Restarts():
		return "temporary"
	case p.backoff > 0:
		return fmt.Sprintf("restart with backoff (%d in %v, from %v up to %v)", p.maxRestarts, p.within, p.backoff, p.maxBackoff)
	}
	return fmt.Sprintf("restart in place (%d in %v)", p.maxRestarts, p.within)
}

// Budget is the restart history of one child, kept by its supervisor. Its
// window slides: restarts older than the policy's window are forgotten, so
// the history stays small however long the child lives.
type Budget struct {
	restarts []time.Time
}

// Decide records a failure at now under p and returns the decision, the
// delay before a restart, and how many restarts the window holds, this one
// included.
func (b *Budget) Decide(p Policy, now time.Time) (d Directive, delay time.Duration, restarts int) {
	if !p.Restarts() {
		return Stop, 0, len(b.restarts)
	}
	keep := b.restarts[:0]
	for _, t := range b.restarts {
		if now.Sub(t) < p.within {
			keep = append(keep, t)
		}
	}
	b.restarts = keep
	if len(b.restarts) >= p.maxRestarts {
		return Stop, 0, len(b.restarts)
	}
	if p.backoff > 0 {
		delay = p.backoff << len(b.restarts)
		if delay > p.maxBackoff || delay <= 0 {
			delay = p.maxBackoff
		}
	}
	b.restarts = append(b.restarts, now)
	return Restart, delay, len(b.restarts)
}
