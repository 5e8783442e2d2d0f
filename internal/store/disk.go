package store

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// Disk guard defaults.
const (
	defaultDiskReserve = 64 << 20
	// diskCheckEvery is how often the guard measures the free space: at 5,000
	// notifications/s of 1 KB a second fills about 5 MB of the reserve.
	diskCheckEvery = time.Second
)

// diskGuard keeps the log's and the history's appends off the last Config.DiskReserve
// bytes of the embedded store's disk: it measures the free space every second and,
// between measurements, counts what appends write against it, so that a burst faster
// than the measurements stops at the reserve too. JetStream that meets a full disk
// marks the stream it was writing failed, and that stream takes nothing more until
// the server restarts, even once there is room again (nats-server keeps the stream's
// first write error); its appends are not answered and time out. herald refuses them
// itself before that, with a clear error, and takes them again as soon as retention
// or the operator makes room. The directory, users and sessions, small writes, go on
// in the reserve.
type diskGuard struct {
	dir     string
	reserve uint64
	statfs  atomic.Pointer[statfsFunc] // a test's stand-in may replace it while the guard runs
	free    atomic.Uint64              // bytes free at the last measurement
	budget  atomic.Int64               // free - reserve at the last measurement, less what appends wrote since
	low     atomic.Bool                // free < reserve at the last measurement
	failed  atomic.Bool                // the last measurement failed (logged once)
}

// appendOverhead is what the file store writes per message beside its subject and
// payload (record header, headers, checksum, index), rounded up.
const appendOverhead = 128

// statfsFunc returns the bytes free on dir's file system.
type statfsFunc func(dir string) (free uint64, err error)

// checkDisk measures the free space and notes whether it is below the reserve, logging
// the changes.
func (db *DB) checkDisk() {
	g := db.disk
	free, err := (*g.statfs.Load())(g.dir)
	if err != nil {
		if !g.failed.Swap(true) {
			db.logger.Warn("cannot measure the store's free disk space; appends are not held back", "dir", g.dir, "err", err)
		}
		g.low.Store(false)
		g.budget.Store(math.MaxInt64)
		return
	}
	g.failed.Store(false)
	g.free.Store(free)
	g.budget.Store(int64(min(free, math.MaxInt64/2)) - int64(g.reserve))
	low := free < g.reserve
	if g.low.Swap(low) != low {
		if low {
			db.logger.Error("the store's disk is nearly full: notifications are refused until there is room",
				"free_bytes", free, "reserve_bytes", g.reserve, "dir", g.dir)
		} else {
			db.logger.Warn("the store's disk has room again: notifications are accepted", "free_bytes", free)
		}
	}
}

// spendDisk counts an append of n bytes (with appendOverhead per message) against the
// disk's budget, and returns the error it fails with when that would go into the
// reserve, else nil.
func (db *DB) spendDisk(n int) error {
	g := db.disk
	if g == nil || g.budget.Add(-int64(n)) >= 0 {
		return nil
	}
	return vcd.Wrap(vcd.CodeUnavailable,
		fmt.Errorf("%d bytes free on the disk of %s at the last measurement, less what was written since, is below store.diskReserve (%d)",
			g.free.Load(), g.dir, g.reserve),
		"The notification log's storage is full.")
}

// DiskFree returns the bytes free on the embedded store's disk at the last
// measurement (every second), and false when herald does not watch it (an external
// NATS, the guard turned off, or no measurement).
func (db *DB) DiskFree() (uint64, bool) {
	g := db.disk
	if g == nil || g.failed.Load() {
		return 0, false
	}
	return g.free.Load(), true
}

// streamFailed notes that the embedded server could not write stream (a full disk
// the reserve did not foresee, an I/O error): nats-server then answers none of its
// appends until it restarts, so they are refused at once instead of each waiting for
// Config.Timeout, and the operator is told what to do.
func (db *DB) streamFailed(stream string, err error) {
	if _, had := db.failed.LoadOrStore(stream, err); !had {
		db.logger.Error("the store can no longer write a stream until herald restarts: make room on the data directory's disk (or mend it) and restart herald",
			"stream", stream, "err", err)
	}
}

// FailedStreams returns the streams the embedded server could not write since it
// started.
func (db *DB) FailedStreams() []string {
	var out []string
	db.failed.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	slices.Sort(out)
	return out
}

// canAppend returns the error an append of n bytes to stream fails with at once, or
// nil: the stream's writes failed, or the disk's reserve (spendDisk).
func (db *DB) canAppend(stream string, n int) error {
	if err, ok := db.failed.Load(stream); ok {
		return vcd.Wrap(vcd.CodeUnavailable, fmt.Errorf("stream %s: %v", stream, err),
			"The notification log's storage failed; herald must be restarted once its disk has room.")
	}
	return db.spendDisk(n)
}
