// Package ratelimit is the token bucket behind the rate limits of
// packages transport (connects per client address) and actors (client
// frames per socket, route and event). A Bucket is a value with no lock:
// its owner (a socket actor, or a table under its own mutex) is the only
// one to touch it, and it reads no clock of its own, so that tests step
// time instead of sleeping.
package ratelimit

import (
	"math"
	"time"
)

// Bucket holds up to burst tokens and gains perSecond of them a second;
// each event allowed takes one. The zero Bucket is empty: make a full one
// with Full.
type Bucket struct {
	tokens float64
	last   int64 // the clock reading (ns) tokens was last brought up to
}

// Full returns a bucket holding burst tokens at clock reading now.
func Full(burst int, now int64) Bucket {
	return Bucket{tokens: float64(burst), last: now}
}

// refill adds the tokens gained since the last reading, up to burst.
func (b *Bucket) refill(perSecond float64, burst int, now int64) {
	if now > b.last {
		b.tokens = math.Min(float64(burst), b.tokens+float64(now-b.last)*perSecond/1e9)
		b.last = now
	}
}

// Ready brings the bucket up to now and reports whether it holds a token,
// taking none.
func (b *Bucket) Ready(perSecond float64, burst int, now int64) bool {
	b.refill(perSecond, burst, now)
	return b.tokens >= 1
}

// Take takes a token, which Ready must just have found.
func (b *Bucket) Take() { b.tokens-- }

// Allow brings the bucket up to now and takes a token if it holds one.
func (b *Bucket) Allow(perSecond float64, burst int, now int64) bool {
	if !b.Ready(perSecond, burst, now) {
		return false
	}
	b.tokens--
	return true
}

// Wait is how long, from the last reading, until the bucket holds a
// token again.
func (b *Bucket) Wait(perSecond float64) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / perSecond * 1e9)
}
