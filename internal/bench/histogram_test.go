package bench

import (
	"testing"
	"time"
)

func TestHistogram_Quantile(t *testing.T) {
	// within returns whether got is at or above want and at most 1/32 above it
	// (the bucket width), as Quantile promises.
	within := func(got, want time.Duration) bool { return got >= want && got <= want+want/32+time.Microsecond }
	tests := []struct {
		name    string
		samples func(record func(time.Duration))
		q       float64
		want    time.Duration
	}{
		{"empty", func(func(time.Duration)) {}, 0.5, 0},
		{"one sample", func(r func(time.Duration)) { r(1500 * time.Microsecond) }, 0.99, 1500 * time.Microsecond},
		{"exact below 64µs", func(r func(time.Duration)) {
			for i := 1; i <= 50; i++ {
				r(time.Duration(i) * time.Microsecond)
			}
		}, 0.5, 25 * time.Microsecond},
		{"uniform 1..1000 ms p50", func(r func(time.Duration)) {
			for i := 1; i <= 1000; i++ {
				r(time.Duration(i) * time.Millisecond)
			}
		}, 0.50, 500 * time.Millisecond},
		{"uniform 1..1000 ms p99", func(r func(time.Duration)) {
			for i := 1; i <= 1000; i++ {
				r(time.Duration(i) * time.Millisecond)
			}
		}, 0.99, 990 * time.Millisecond},
		{"p100 is max", func(r func(time.Duration)) {
			r(time.Millisecond)
			r(7777 * time.Microsecond)
		}, 1, 7777 * time.Microsecond},
		{"outlier above p90", func(r func(time.Duration)) {
			for range 99 {
				r(2 * time.Millisecond)
			}
			r(time.Second)
		}, 0.90, 2 * time.Millisecond},
		{"negative counts as zero", func(r func(time.Duration)) { r(-time.Second) }, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			tc.samples(h.Record)
			if got := h.Quantile(tc.q); !within(got, tc.want) {
				t.Errorf("Quantile(%v) = %v; want %v (+3%%)", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistogram_BucketsCoverValues(t *testing.T) {
	// Every value lies in a bucket whose upper bound is at or above it, and
	// above the previous bucket's upper bound.
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 123456, 1 << 30, 1<<44 + 12345} {
		i := bucketOf(v)
		if up := bucketUpper(i); up < v || (i > 0 && bucketUpper(i-1) >= v) {
			t.Errorf("bucketOf(%d) = %d with bounds (%d, %d]", v, i, bucketUpper(i-1), up)
		}
	}
}
