//go:build race

package protocol

// raceEnabled: the race detector counts allocations of its own.
const raceEnabled = true
