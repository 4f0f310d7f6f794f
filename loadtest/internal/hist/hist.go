// Package hist is a latency histogram in the manner of HdrHistogram:
// fixed, log-linear buckets that hold any int64 value with a relative error
// under 1/128, in constant memory, recorded from many goroutines at once
// without a lock.
//
// A value v below 256 has a bucket of its own. Above, each power of two
// [2^k, 2^(k+1)) is cut into 128 buckets of equal width 2^(k-7), so the
// width of a bucket is at most 1/128 of the values it holds.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits  = 8 // a value under 2^subBits has its own bucket
	half     = 1 << (subBits - 1)
	nBuckets = 1<<subBits + (64-subBits)*half
)

// Histogram counts values (latencies in nanoseconds, usually). The zero
// value is ready to use; a Histogram must not be copied after first use.
// All methods are safe for concurrent use; a reading taken while values are
// being recorded may miss the latest ones.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64 // wraps after 292 years of nanoseconds
	min    atomic.Int64 // valid when n > 0; stored as ^v so zero means unset
	max    atomic.Int64
}

// bucket returns the index of the bucket holding v ≥ 0.
func bucket(v int64) int {
	u := uint64(v)
	if u < 1<<subBits {
		return int(u)
	}
	shift := bits.Len64(u) - subBits // ≥ 1
	return 1<<subBits + (shift-1)*half + int(u>>shift) - half
}

// bounds returns the smallest and largest value of bucket i.
func bounds(i int) (lo, hi int64) {
	if i < 1<<subBits {
		return int64(i), int64(i)
	}
	shift := (i-1<<subBits)/half + 1
	top := uint64(half + (i-1<<subBits)%half)
	lo64 := top << shift
	hi64 := lo64 + 1<<shift - 1
	if hi64 > math.MaxInt64 {
		hi64 = math.MaxInt64
	}
	return int64(lo64), int64(hi64)
}

// Record adds one value; a negative value counts as zero.
func (h *Histogram) Record(v int64) {
	v = max(v, 0)
	h.counts[bucket(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load() // ^v, or 0 when unset
		if (m != 0 && v >= ^m) || h.min.CompareAndSwap(m, ^v) {
			break
		}
	}
}

// RecordDuration adds d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest value recorded, or 0.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Min returns the smallest value recorded, or 0.
func (h *Histogram) Min() int64 {
	if m := h.min.Load(); m != 0 {
		return ^m
	}
	return 0
}

// Mean returns the mean of the values recorded, or 0.
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value below or at which a fraction q (0 ≤ q ≤ 1) of
// the recorded values lie: the largest value of the bucket holding the
// value of rank ⌈q·n⌉, clamped to the range recorded. Like HdrHistogram, it
// errs on the high side, by less than 1/128. It returns 0 when nothing was
// recorded.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bounds(i)
			return min(max(hi, h.Min()), h.Max())
		}
	}
	return h.Max() // values recorded while we were reading
}
