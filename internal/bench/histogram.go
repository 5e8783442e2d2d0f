package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values are microseconds. Values below subBuckets are counted
// exactly; above, each power of two [2^k, 2^(k+1)) is split into subBuckets/2 equal
// buckets, so a reported percentile is within 1/32 (about 3 %) of the true value.
// 40 powers of two cover up to about 2^45 µs, far beyond any bounded run.
const (
	subBits    = 6
	subBuckets = 1 << subBits // 64
	halfSub    = subBuckets / 2
	maxPow     = 40
	numBuckets = subBuckets + maxPow*halfSub
)

// Histogram counts latencies in log-linear buckets, HDR style: fixed memory whatever
// the number of samples, and safe for concurrent Record calls (atomic counters), so
// every subscriber of a run can share one.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64 // µs
}

// bucketOf returns the bucket index of v µs.
func bucketOf(v int64) int {
	if v < subBuckets {
		return int(max(v, 0))
	}
	// k is the position of the highest set bit, at least subBits.
	k := bits.Len64(uint64(v)) - 1
	sub := int(v>>(k-subBits+1)) - halfSub // 0..halfSub-1
	i := subBuckets + (k-subBits)*halfSub + sub
	return min(i, numBuckets-1)
}

// bucketUpper returns the largest value, in µs, counted in bucket i.
func bucketUpper(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	j := i - subBuckets
	k := j/halfSub + subBits
	sub := int64(j%halfSub + halfSub)
	shift := k - subBits + 1
	return (sub+1)<<shift - 1
}

// Record adds one sample. Negative durations (clock steps) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := d.Microseconds()
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest sample, exactly (to the microsecond).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Quantile returns the value below or at which a fraction q (0 < q <= 1) of the
// samples lie: the upper bound of the bucket holding the sample of rank
// ceil(q·count), capped at Max. It returns 0 when there are no samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := min(bucketUpper(i), h.max.Load())
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}
