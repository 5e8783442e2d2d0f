package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldmq/herald/internal/vcd"
)

// TestDiskGuard: below the reserve every kind of append is refused as unavailable,
// saying the storage is full, and nothing is stored; with room again they are
// accepted. A failed measurement holds nothing back.
func TestDiskGuard(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	if db.disk == nil {
		t.Fatal("an embedded store has no disk guard")
	}
	var free atomic.Uint64
	var fail atomic.Bool
	fake := statfsFunc(func(string) (uint64, error) {
		if fail.Load() {
			return 0, errors.New("statfs failed")
		}
		return free.Load(), nil
	})
	db.disk.statfs.Store(&fake)
	free.Store(1 << 30)
	db.checkDisk()
	mustAppendInternal(t, db, "before")
	if got, ok := db.DiskFree(); !ok || got != 1<<30 {
		t.Errorf("DiskFree = %d, %v; want 1 GiB", got, ok)
	}

	free.Store(defaultDiskReserve - 1)
	db.checkDisk()
	refused := func(what string, err error) {
		t.Helper()
		var ve *vcd.Error
		if vcd.CodeOf(err) != vcd.CodeUnavailable || !errors.As(err, &ve) || !strings.Contains(ve.Message, "storage is full") {
			t.Errorf("%s with the disk below the reserve: %v; want unavailable, storage full", what, err)
		}
	}
	_, _, err := db.Append(ctx, "notify.publish.o.u", "", []byte("x"))
	refused("Append", err)
	_, err = db.AppendAsync("notify.publish.o.u", "", []byte("x"))
	refused("AppendAsync", err)
	_, err = db.AppendBatch(ctx, []Record{{Subject: "notify.publish.o.u", Payload: []byte("x")}})
	refused("AppendBatch", err)
	_, _, err = db.AppendAudit(ctx, numberedRecord(1))
	refused("AppendAudit", err)
	if info, _ := db.LogInfo(ctx); info.Messages != 1 {
		t.Errorf("the log holds %d messages; want only the one before", info.Messages)
	}

	fail.Store(true) // unknown: nothing held back
	db.checkDisk()
	if _, ok := db.DiskFree(); ok {
		t.Error("DiskFree reports a value after a failed measurement")
	}
	mustAppendInternal(t, db, "unknown")
	fail.Store(false)
	free.Store(defaultDiskReserve)
	db.checkDisk()
	mustAppendInternal(t, db, "after")
	if _, _, err := db.AppendAudit(ctx, numberedRecord(2)); err != nil {
		t.Errorf("AppendAudit with room again: %v", err)
	}
}

// TestDiskGuard_Off: an embedded store with DiskReserve -1 watches nothing.
func TestDiskGuard_Off(t *testing.T) {
	db, err := Open(context.Background(), Config{DataDir: t.TempDir(), DiskReserve: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.disk != nil {
		t.Error("a disk guard with DiskReserve -1")
	}
	if _, ok := db.DiskFree(); ok {
		t.Error("DiskFree reports a value with the guard off")
	}
}
