// Package gctune gives Go's garbage collector more room while herald is busy.
//
// Every notification herald stores and delivers allocates about 10 KB, most of it
// short-lived buffers of the embedded NATS server and client. With the default
// GOGC of 100 and a live heap of about 120 MB, a node taking 5,000 notifications
// a second collected every two seconds, and each collection's marking (20-65 ms of
// wall time, a quarter of the processors) delayed hundreds of deliveries by
// more than 10 ms on a 2-core machine: that burst was the 99th percentile of the
// delivery latency (docs/PERFORMANCE.md).
//
// A Tuner raises the GC percentage while work flows so that the heap may grow by
// what the process allocates in Config.Period beyond its live size, up to
// Config.Headroom bytes: at that load, one collection every few seconds instead of
// every two. When the work stops it sets the percentage back (once the heap is
// small again, see safe), so idle connections keep the default's memory per
// connection. The room is at most half of what
// lies between the live heap and the process's memory limit (GOMEMLIMIT, or a
// container's cgroup limit), and GOMEMLIMIT still bounds the heap whatever the
// percentage. GOGC set in the environment turns the Tuner off.
//
// When the process turns quiet (no work, little allocation), the Tuner also returns
// the heap's free memory to the operating system once (debug.FreeOSMemory). Go keeps
// a heap as large as its last goal, twice the live heap: after a burst of connects
// the memory a parked connection costs the process would otherwise be twice what it
// holds, until the process allocates enough again.
package gctune

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultPercent is the GC percentage outside busy periods: Go's own default.
const DefaultPercent = 100

// Config configures a Tuner.
type Config struct {
	// Headroom bounds the heap, in bytes, that a busy process may grow beyond its
	// live size before a collection. Zero or less disables the Tuner.
	Headroom int64
	// Period is the wanted time between collections while busy; default 8s.
	Period time.Duration
	// Interval is how often the Tuner looks at the work and the heap; default 1s.
	Interval time.Duration
	// Busy returns a count that advances while there is work (herald: the sequence
	// of the last notification its live feed delivered). The process is busy in an
	// interval in which it advanced by at least BusyRate a second.
	Busy func() uint64
	// BusyRate is the least rate of Busy's count that is busy; default 1 (any
	// advance). Below herald's 1,000 notifications a second the collector runs every
	// ten seconds or so anyway, and logins or connects, which allocate much and
	// notify little, should not give the heap room.
	BusyRate float64
	// Changed, when set, is called with each percentage the Tuner sets.
	Changed func(percent int)
	// Quiet is the allocation rate, in bytes a second, below which an interval
	// without work is quiet; default 1 MiB. At the end of a quiet interval the Tuner
	// collects and returns the heap's free memory to the operating system if the
	// heap (its objects, live or not, and its free memory not yet returned) has
	// grown by at least ReleaseMin (default 32 MiB) since the last such release,
	// and that release is at least ReleaseEvery (default 2 s) ago. Negative:
	// never.
	Quiet        float64
	ReleaseMin   int64
	ReleaseEvery time.Duration
	// Released, when set, is called with the bytes each release returned.
	Released func(bytes uint64)
	// Limit is the memory the process may use, in bytes: the heap the Tuner allows
	// grows by at most half of what lies between the live heap and it, so that the
	// room given never takes a container over its limit. Zero: New reads it from Go's
	// memory limit (GOMEMLIMIT) or else the cgroup's (memory.max); negative: none.
	Limit int64
}

// Percent returns the GC percentage that lets a heap with live bytes grow by what
// is allocated at allocPerSec bytes a second in period, capped at headroom bytes:
// never below DefaultPercent.
func Percent(live uint64, allocPerSec float64, period time.Duration, headroom int64) int {
	if live == 0 || headroom <= 0 {
		return DefaultPercent
	}
	room := math.Min(allocPerSec*period.Seconds(), float64(headroom))
	p := room * 100 / float64(live)
	if p <= DefaultPercent || math.IsNaN(p) {
		return DefaultPercent
	}
	return int(math.Min(p, math.MaxInt32))
}

// want returns the percentage for an interval of secs seconds in which the
// process allocated allocated bytes and did work, with live bytes live.
func (c Config) want(live, allocated, work uint64, secs float64) int {
	if secs <= 0 || float64(work)/secs < c.BusyRate {
		return DefaultPercent
	}
	headroom := c.Headroom
	if c.Limit > 0 {
		headroom = min(headroom, (c.Limit-int64(min(live, math.MaxInt64/2)))/2)
	}
	return Percent(live, float64(allocated)/secs, c.Period, headroom)
}

// release reports whether to collect and return the heap's free memory now, at the
// end of an interval of secs seconds in which the process allocated allocated bytes
// and did work, with the heap at heap bytes (objects and unreturned free memory),
// base after the last release, which was ago.
func (c Config) release(allocated, work uint64, secs float64, heap, base uint64, ago time.Duration) bool {
	if c.Quiet < 0 || secs <= 0 || work > 0 || float64(allocated)/secs >= c.Quiet {
		return false
	}
	return heap >= base+uint64(c.ReleaseMin) && ago >= c.ReleaseEvery
}

// cgroupMemoryFiles hold a container's memory limit (cgroup v2, then v1).
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimit returns Go's memory limit when one is set, else the cgroup's, else
// -1 (none).
func memoryLimit() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	for _, f := range cgroupMemoryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		return parseCgroupLimit(string(b))
	}
	return -1
}

// parseCgroupLimit reads a cgroup memory limit file: "max" (v2) or a number near
// 2^63 (v1) mean none, -1.
func parseCgroupLimit(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return -1
	}
	return n
}

// owner is set while a Tuner runs: the GC percentage is the process's, so only
// one Tuner may set it (tests run several herald nodes in one process).
var owner atomic.Bool

// Tuner sets the process's GC percentage; see the package documentation.
type Tuner struct {
	cfg     Config
	percent atomic.Int64 // the percentage set last; 0 while not running
}

// New returns a Tuner for cfg.
func New(cfg Config) *Tuner {
	if cfg.Period <= 0 {
		cfg.Period = 8 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.BusyRate <= 0 {
		cfg.BusyRate = 1
	}
	if cfg.Limit == 0 {
		cfg.Limit = memoryLimit()
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 1 << 20
	}
	if cfg.ReleaseMin <= 0 {
		cfg.ReleaseMin = 32 << 20
	}
	if cfg.ReleaseEvery <= 0 {
		cfg.ReleaseEvery = 2 * time.Second
	}
	return &Tuner{cfg: cfg}
}

// Current returns the GC percentage the Tuner set last, and false when it is not
// running (disabled, another Tuner runs, or stopped).
func (t *Tuner) Current() (int, bool) {
	p := t.percent.Load()
	return int(p), p != 0
}

// Run tunes until ctx is done, then sets back the percentage the process had. It
// returns at once when the Tuner is disabled, when GOGC is set in the environment
// (the operator's choice wins), or when another Tuner is running.
func (t *Tuner) Run(ctx context.Context) {
	if t.cfg.Headroom <= 0 || t.cfg.Busy == nil || os.Getenv("GOGC") != "" || !owner.CompareAndSwap(false, true) {
		return
	}
	defer owner.Store(false)
	initial := debug.SetGCPercent(DefaultPercent)
	t.set(DefaultPercent)
	defer func() {
		debug.SetGCPercent(initial)
		t.percent.Store(0)
	}()

	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(samples)
	lastAllocs, lastBusy, lastTime := samples[1].Value.Uint64(), t.cfg.Busy(), time.Now()
	var lastRelease time.Time
	var base uint64 // the heap after the last release
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			metrics.Read(samples)
			live, allocs, heap, busy := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64(), t.cfg.Busy()
			work := busy - lastBusy
			if busy < lastBusy {
				work = busy // the count started over (herald: a new log)
			}
			secs := now.Sub(lastTime).Seconds()
			want := t.cfg.want(live, allocs-lastAllocs, work, secs)
			if cur, _ := t.Current(); differs(cur, want) && safe(cur, want, live, heap) {
				debug.SetGCPercent(want)
				t.set(want)
			}
			if t.cfg.release(allocs-lastAllocs, work, secs, heap+samples[3].Value.Uint64(), base, now.Sub(lastRelease)) {
				released := samples[4].Value.Uint64()
				debug.FreeOSMemory()
				lastRelease = time.Now()
				metrics.Read(samples)
				base = samples[2].Value.Uint64() + samples[3].Value.Uint64()
				if t.cfg.Released != nil {
					t.cfg.Released(samples[4].Value.Uint64() - min(released, samples[4].Value.Uint64()))
				}
			}
			lastAllocs, lastBusy, lastTime = allocs, busy, now
		}
	}
}

func (t *Tuner) set(p int) {
	t.percent.Store(int64(p))
	if t.cfg.Changed != nil {
		t.cfg.Changed(p)
	}
}

// safe reports whether setting want over cur now leaves the heap (heap bytes, of
// which live were live after the last collection) well below the collection's
// new trigger. Raising the percentage is always safe. Lowering it below what the
// heap has already reached would start a collection at once with the heap at its
// goal, where the goroutines that allocate must do the marking themselves: at
// 5,000 notifications a second such collections delayed 1,100-1,800 deliveries
// each instead of hundreds. So a lower percentage waits until the heap is below
// halfway from live to the new goal: at once when it was set after a collection,
// otherwise after the next one.
func safe(cur, want int, live, heap uint64) bool {
	if want >= cur {
		return true
	}
	return heap < live+live*uint64(want)/200
}

// differs reports whether want is worth setting over cur: to or from the default
// whatever the size of the change, otherwise only for a change of more than a
// tenth, so that the allocation rate's noise does not reset the collector's
// pacing every second.
func differs(cur, want int) bool {
	if want == cur {
		return false
	}
	if want == DefaultPercent || cur == DefaultPercent {
		return true
	}
	return math.Abs(float64(want-cur)) > float64(cur)/10
}
