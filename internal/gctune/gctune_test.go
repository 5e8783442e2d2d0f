package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name     string
		live     uint64
		rate     float64 // bytes a second
		period   time.Duration
		headroom int64
		want     int
	}{
		{"idle", 120 * mb, 0, 8 * time.Second, 512 * mb, 100},
		{"slow allocation keeps the default", 120 * mb, 10 * mb, 8 * time.Second, 512 * mb, 100},
		{"period's allocation", 120 * mb, 54 * mb, 8 * time.Second, 512 * mb, 360},
		{"capped by the headroom", 120 * mb, 200 * mb, 8 * time.Second, 512 * mb, 426},
		{"small live heap", 10 * mb, 54 * mb, 8 * time.Second, 512 * mb, 4320},
		{"no live heap yet", 0, 54 * mb, 8 * time.Second, 512 * mb, 100},
		{"disabled", 120 * mb, 54 * mb, 8 * time.Second, 0, 100},
		{"huge ratio is bounded", 1, 1e18, time.Hour, 1 << 62, 1<<31 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.rate, tc.period, tc.headroom); got != tc.want {
				t.Errorf("Percent(%d, %g, %v, %d) = %d; want %d", tc.live, tc.rate, tc.period, tc.headroom, got, tc.want)
			}
		})
	}
}

func TestConfig_Want(t *testing.T) {
	const mb = 1 << 20
	c := New(Config{Headroom: 512 * mb, BusyRate: 1000, Limit: -1}).cfg
	limited := c
	limited.Limit = 1024 * mb
	tests := []struct {
		name                  string
		c                     Config
		live, allocated, work uint64
		secs                  float64
		want                  int
	}{
		{"busy", c, 120 * mb, 54 * mb, 5000, 1, 360},
		{"busy over two seconds", c, 120 * mb, 108 * mb, 10000, 2, 360},
		{"notifications below the busy rate", c, 120 * mb, 54 * mb, 999, 1, 100},
		{"allocating without notifying (logins)", c, 120 * mb, 200 * mb, 0, 1, 100},
		{"no time passed", c, 120 * mb, 54 * mb, 5000, 0, 100},
		{"within a container's limit", limited, 120 * mb, 54 * mb, 5000, 1, 360},
		{"half of what is left to the limit", limited, 300 * mb, 200 * mb, 5000, 1, 120},
		{"less room than the default gives", limited, 600 * mb, 200 * mb, 5000, 1, 100},
		{"at the limit", limited, 1024 * mb, 200 * mb, 5000, 1, 100},
		{"over the limit", limited, 2048 * mb, 200 * mb, 5000, 1, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.want(tc.live, tc.allocated, tc.work, tc.secs); got != tc.want {
				t.Errorf("want(%d, %d, %d, %g) = %d; want %d", tc.live, tc.allocated, tc.work, tc.secs, got, tc.want)
			}
		})
	}
}

func TestParseCgroupLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"max\n", -1},                 // v2, none
		{"9223372036854771712\n", -1}, // v1, none
		{"1073741824\n", 1 << 30},     // 1 GiB
		{"", -1},
		{"garbage", -1},
	}
	for _, tc := range tests {
		if got := parseCgroupLimit(tc.in); got != tc.want {
			t.Errorf("parseCgroupLimit(%q) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestSafe(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name       string
		cur, want  int
		live, heap uint64
		safe       bool
	}{
		{"raise", 100, 350, 120 * mb, 200 * mb, true},
		{"raise with the heap large", 300, 350, 120 * mb, 450 * mb, true},
		{"lower right after a collection", 350, 300, 120 * mb, 130 * mb, true},
		{"lower with the heap past the new trigger", 350, 300, 120 * mb, 400 * mb, false},
		{"back to the default, heap small", 350, 100, 120 * mb, 170 * mb, true},
		{"back to the default, heap grown", 350, 100, 120 * mb, 300 * mb, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := safe(tc.cur, tc.want, tc.live, tc.heap); got != tc.safe {
				t.Errorf("safe(%d, %d, %d, %d) = %v; want %v", tc.cur, tc.want, tc.live, tc.heap, got, tc.safe)
			}
		})
	}
}

func TestDiffers(t *testing.T) {
	tests := []struct {
		cur, want int
		differs   bool
	}{
		{100, 100, false},
		{100, 120, true},
		{400, 100, true},
		{400, 430, false},
		{400, 450, true},
		{400, 350, true},
	}
	for _, tc := range tests {
		if got := differs(tc.cur, tc.want); got != tc.differs {
			t.Errorf("differs(%d, %d) = %v; want %v", tc.cur, tc.want, got, tc.differs)
		}
	}
}

var sink []byte

// TestTuner_RaisesWhileBusy drives a real Tuner: while the busy count advances and
// the test allocates, the percentage rises above the default; when the count
// stops it returns to the default; when the Tuner stops the process has its
// percentage back.
func TestTuner_RaisesWhileBusy(t *testing.T) {
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)

	var busy atomic.Uint64
	changes := make(chan int, 100)
	tu := New(Config{
		Headroom: 256 << 20,
		Limit:    -1,
		Period:   time.Second,
		Interval: 10 * time.Millisecond,
		Busy:     busy.Load,
		Changed:  func(p int) { changes <- p },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tu.Run(ctx) }()

	if p := <-changes; p != DefaultPercent {
		t.Fatalf("first percentage %d; want %d", p, DefaultPercent)
	}
	// Busy: allocate about 1 MB per turn until the Tuner raises the percentage.
	deadline := time.After(20 * time.Second)
raise:
	for {
		select {
		case p := <-changes:
			if p <= DefaultPercent {
				t.Fatalf("percentage %d while busy; want more than %d", p, DefaultPercent)
			}
			if cur, ok := tu.Current(); !ok || cur != p {
				t.Fatalf("Current() = %d, %v; want %d, true", cur, ok, p)
			}
			break raise
		case <-deadline:
			t.Fatal("the percentage did not rise while busy")
		default:
			busy.Add(1)
			sink = make([]byte, 1<<20)
		}
	}
	// Idle: the count stops; after a collection (a lower percentage waits for the
	// heap to be small, see safe) the next change is back to the default.
	sink = nil
	runtime.GC()
	for p := DefaultPercent + 1; p != DefaultPercent; {
		select {
		case p = <-changes:
		case <-deadline:
			t.Fatal("the percentage did not return to the default when idle")
		}
	}
	cancel()
	<-done
	if _, ok := tu.Current(); ok {
		t.Error("Current() reports a running Tuner after Run returned")
	}
	if got := debug.SetGCPercent(before); got != 150 {
		t.Errorf("percentage after Run = %d; want the process's 150 back", got)
	}
}

// TestTuner_OnePerProcess: a second Tuner does not run while one does, and a
// disabled one never does.
func TestTuner_OnePerProcess(t *testing.T) {
	var busy atomic.Uint64
	started := make(chan struct{})
	first := New(Config{Headroom: 1 << 20, Interval: time.Hour, Busy: busy.Load, Changed: func(int) { close(started) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); first.Run(ctx) }()
	<-started

	for _, cfg := range []Config{
		{Headroom: 1 << 20, Busy: busy.Load}, // another while the first runs
	} {
		second := New(cfg)
		second.Run(context.Background()) // returns at once, or the test hangs
		if _, ok := second.Current(); ok {
			t.Error("a second Tuner runs beside the first")
		}
	}
	cancel()
	<-done
	for _, cfg := range []Config{
		{Headroom: 0, Busy: busy.Load},
		{Headroom: 1 << 20},
	} {
		tu := New(cfg)
		tu.Run(context.Background()) // returns at once, or the test hangs
		if _, ok := tu.Current(); ok {
			t.Errorf("disabled Tuner %+v runs", cfg)
		}
	}
}

func TestConfig_Release(t *testing.T) {
	c := Config{Quiet: 1 << 20, ReleaseMin: 32 << 20, ReleaseEvery: time.Minute}
	const mb = 1 << 20
	tests := []struct {
		name            string
		allocated, work uint64
		secs            float64
		heap, base      uint64
		ago             time.Duration
		want            bool
	}{
		{"quiet after a burst", 100 << 10, 0, 1, 200 * mb, 40 * mb, time.Hour, true},
		{"grown by just the minimum", 0, 0, 1, 72 * mb, 40 * mb, time.Minute, true},
		{"grown by less", 0, 0, 1, 71 * mb, 40 * mb, time.Hour, false},
		{"allocating", 2 * mb, 0, 1, 200 * mb, 40 * mb, time.Hour, false},
		{"allocating over two seconds", 3 * mb, 0, 2, 200 * mb, 40 * mb, time.Hour, false},
		{"little over two seconds", 1 * mb, 0, 2, 200 * mb, 40 * mb, time.Hour, true},
		{"working", 0, 1, 1, 200 * mb, 40 * mb, time.Hour, false},
		{"released a moment ago", 0, 0, 1, 200 * mb, 40 * mb, 59 * time.Second, false},
		{"no time passed", 0, 0, 0, 200 * mb, 40 * mb, time.Hour, false},
		{"first release", 0, 0, 1, 32 * mb, 0, time.Duration(1<<63 - 1), true},
	}
	for _, tt := range tests {
		if got := c.release(tt.allocated, tt.work, tt.secs, tt.heap, tt.base, tt.ago); got != tt.want {
			t.Errorf("%s: release = %v; want %v", tt.name, got, tt.want)
		}
	}
	off := c
	off.Quiet = -1
	if off.release(0, 0, 1, 200*mb, 0, time.Hour) {
		t.Error("release with Quiet < 0")
	}
}

// TestTuner_ReleasesWhenQuiet: memory a burst left behind goes back to the operating
// system once the process is quiet.
func TestTuner_ReleasesWhenQuiet(t *testing.T) {
	var busy atomic.Uint64
	released := make(chan uint64, 1)
	tu := New(Config{
		Headroom:   256 << 20,
		Limit:      -1,
		Interval:   20 * time.Millisecond,
		Busy:       busy.Load,
		ReleaseMin: 16 << 20,
		Released:   func(n uint64) { released <- n },
	})
	// The burst: 64 MiB of small objects, garbage by the time the Tuner looks.
	burstSink = make([][]byte, 16<<10)
	for i := range burstSink {
		burstSink[i] = make([]byte, 4<<10)
	}
	burstSink = nil

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tu.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case n := <-released:
		if n < 32<<20 {
			t.Fatalf("released %d MiB; want most of the burst's 64", n>>20)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing released while quiet")
	}
}

var burstSink [][]byte
