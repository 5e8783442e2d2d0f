package store

import (
	"context"
	"errors"
	"fmt"
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
	var calls atomic.Int64
	fake := statfsFunc(func(string) (uint64, error) {
		calls.Add(1)
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
	free.Store(defaultDiskReserve + 1<<20)
	db.checkDisk()
	mustAppendInternal(t, db, "after")
	if _, _, err := db.AppendAudit(ctx, numberedRecord(2)); err != nil {
		t.Errorf("AppendAudit with room again: %v", err)
	}

	// Between measurements, what appends write counts: 10 KB above the reserve
	// take two appends of 4 KB, not three.
	// (The guard's own measurement every second resets the count: an attempt it
	// falls into is made again.)
	free.Store(defaultDiskReserve + 10<<10)
	payload := make([]byte, 4<<10)
	for attempt := 0; ; attempt++ {
		before := calls.Load()
		db.checkDisk()
		var stored []bool
		for range 3 {
			_, _, err := db.Append(ctx, "notify.publish.o.u", "", payload)
			stored = append(stored, err == nil)
		}
		if calls.Load() != before+1 && attempt < 5 {
			continue
		}
		if fmt.Sprint(stored) != "[true true false]" {
			t.Errorf("appends of 4 KB with 10 KB above the reserve stored %v; want [true true false]", stored)
		}
		break
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

// TestStreamFailed: nats-server's report of a stream's write error (its exact log
// line) marks the stream failed; appends to it are refused at once, saying herald
// must be restarted, while the other streams take theirs.
func TestStreamFailed(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	var gotStream string
	var gotErr error
	l := natsLogger{l: db.logger, streamFailed: func(s string, err error) { gotStream, gotErr = s, err }}
	l.Errorf("Filestore [%s] Critical write error: %v", streamNotify, errors.New("no space left on device"))
	if gotStream != "" {
		t.Fatalf("a file store's line reported stream %q", gotStream)
	}
	l.Errorf(streamWriteErr, "$G", streamNotify, errors.New("no space left on device"))
	if gotStream != streamNotify || gotErr == nil {
		t.Fatalf("reported %q, %v; want %s and the error", gotStream, gotErr, streamNotify)
	}

	db.streamFailed(gotStream, gotErr)
	if got := db.FailedStreams(); fmt.Sprint(got) != "[NOTIFY]" {
		t.Errorf("FailedStreams = %v; want [NOTIFY]", got)
	}
	_, _, err := db.Append(ctx, "notify.publish.o.u", "", []byte("x"))
	var ve *vcd.Error
	if vcd.CodeOf(err) != vcd.CodeUnavailable || !errors.As(err, &ve) || !strings.Contains(ve.Message, "restarted") {
		t.Errorf("Append to a failed log: %v; want unavailable, saying herald must be restarted", err)
	}
	if _, _, err := db.AppendAudit(ctx, numberedRecord(1)); err != nil {
		t.Errorf("AppendAudit with only the log failed: %v", err)
	}
}
