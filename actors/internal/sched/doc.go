// Package sched runs an endpoint's actors: a mailbox that costs an idle
// actor little, and a pool of workers that keeps its goroutines' grown
// stacks for the next message. It knows nothing of sockets or channels.
package sched
