package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 513, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := bucket(v)
		if i < prev || i >= nBuckets {
			t.Fatalf("bucket(%d) = %d after %d (of %d)", v, i, prev, nBuckets)
		}
		prev = i
		lo, hi := bounds(i)
		if v < lo || v > hi {
			t.Errorf("bucket(%d) = %d holds [%d, %d]", v, i, lo, hi)
		}
		if v >= 1<<subBits && float64(hi-lo) > float64(lo)/half {
			t.Errorf("bucket %d, [%d, %d], is wider than 1/%d of its values", i, lo, hi, half)
		}
	}
	// Consecutive buckets tile the values without gaps.
	for i := 1; i < nBuckets; i++ {
		_, hi := bounds(i - 1)
		lo, _ := bounds(i)
		if hi == math.MaxInt64 {
			break
		}
		if lo != hi+1 {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, hi)
		}
	}
}

// Quantiles agree with the exact ones of a sorted copy within the
// histogram's resolution.
func TestQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		// Latency-like: mostly around 200 µs, a long tail to seconds.
		v := int64(200e3 * math.Exp(r.NormFloat64()))
		if r.IntN(1000) == 0 {
			v *= 1000
		}
		vals[i] = v
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
		want := vals[rank-1]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/half+1 {
			t.Errorf("Quantile(%v) = %d, exact %d", q, got, want)
		}
	}
	if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("count %d min %d max %d, want %d %d %d", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
	}
}

func TestSmall(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Error("empty histogram reports values")
	}
	for _, v := range []int64{5, 1, 3, -7} {
		h.Record(v)
	}
	if got := h.Quantile(0.5); got != 1 {
		t.Errorf("median of 0,1,3,5 = %d, want 1", got)
	}
	if h.Min() != 0 || h.Max() != 5 || h.Mean() != 9.0/4 {
		t.Errorf("min %d max %d mean %v", h.Min(), h.Max(), h.Mean())
	}
}

func TestConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(int64(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 8000 || h.Min() != 0 || h.Max() != 7999 {
		t.Errorf("count %d min %d max %d", h.Count(), h.Min(), h.Max())
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 997)
	}
}
