package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// TestProjectFrom_FormerConsumer opens a store as an earlier version left it: the
// durable consumer herald_history with some notifications acknowledged and no record
// naming its log sequence. The projector resumes after the acknowledged ones and
// deletes the consumer.
func TestProjectFrom_FormerConsumer(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	projectFrom := func() uint64 {
		t.Helper()
		from, _, err := db.projectFrom(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return from
	}
	if got := projectFrom(); got != 1 {
		t.Fatalf("projectFrom on a new store = %d; want 1", got)
	}
	var seqs []uint64
	for i := range 10 {
		seq, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte("event"))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	cons, err := db.js.CreateOrUpdateConsumer(ctx, streamNotify, jetstream.ConsumerConfig{
		Durable: consumerHistory, FilterSubject: NotifySubjectPrefix + "publish.>",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := projectFrom(), seqs[3]+1; got != want {
		t.Fatalf("projectFrom after 4 acknowledged = %d; want %d", got, want)
	}
	if _, err := db.js.Consumer(ctx, streamNotify, consumerHistory); err == nil {
		t.Fatal("the former consumer is still there")
	}
	// Records naming their log sequence take over.
	db.history.ix.sawLogSeq("7", "")
	db.history.ix.sawLogSeq("5", "")
	db.history.ix.sawLogSeq("not a number", "")
	if got := projectFrom(); got != 8 {
		t.Fatalf("projectFrom after a record of log sequence 7 = %d; want 8", got)
	}
	// And records naming the log's epoch take over from those.
	_, epoch, _ := db.projectFrom(ctx)
	db.history.ix.sawLogSeq("3", epoch)
	if got := projectFrom(); got != 4 {
		t.Fatalf("projectFrom after a record of sequence 3 of this log = %d; want 4", got)
	}
}

// TestAuditIndex_Projected: where projecting a log resumes, by the epochs and
// sequences the indexed records name.
func TestAuditIndex_Projected(t *testing.T) {
	type pos struct {
		seq   uint64
		epoch string
	}
	for _, tc := range []struct {
		name string
		seen []pos
		want uint64 // projected("e2")
	}{
		{"nothing", nil, 0},
		{"this log", []pos{{5, "e2"}, {9, "e2"}, {7, "e2"}}, 9},
		{"an earlier log only: reset since", []pos{{900, "e1"}}, 0},
		{"an earlier log, then this one", []pos{{900, "e1"}, {4, "e2"}}, 4},
		{"records of versions that named no log", []pos{{12, ""}}, 12},
		{"those and an earlier log", []pos{{12, ""}, {900, "e1"}}, 0},
		{"those and this log", []pos{{12, ""}, {3, "e2"}}, 3},
		{"no sequence", []pos{{0, "e2"}}, 0},
	} {
		var ix auditIndex
		for _, p := range tc.seen {
			ix.noteLogSeq(p.seq, p.epoch)
		}
		if got := ix.projected("e2"); got != tc.want {
			t.Errorf("%s: projected = %d; want %d", tc.name, got, tc.want)
		}
	}
}

// TestProjectHistory_LogReset recreates the notification log under a running
// projector: its sequences start over below what was projected, and the projector
// follows them instead of waiting for them to pass the old ones.
func TestProjectHistory_LogReset(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openInternal(t)
	done := make(chan error, 1)
	go func() { done <- db.ProjectHistory(ctx, Appending(numberedAudit)) }()
	defer func() { cancel(); <-done }()
	wait := func(n int) { t.Helper(); waitAuditTotal(t, db, n) }
	for i := 1; i <= 5; i++ {
		if _, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	wait(5)
	if err := db.js.DeleteStream(ctx, streamNotify); err != nil {
		t.Fatal(err)
	}
	if err := db.ensureLog(ctx); err != nil {
		t.Fatal(err)
	}
	seq, _, err := db.Append(ctx, "notify.publish.o.u", "ev-6", []byte("6"))
	if err != nil || seq != 1 {
		t.Fatalf("first append to the new log = %d, %v; want 1", seq, err)
	}
	wait(6)
}

// TestProjectHistory_LogResetUnderFeed is TestProjectHistory_LogReset with the live
// feed running, which hands the projector the new log's notifications: sequences it
// has passed already, which must make it look at the log rather than skip them, also
// when the new log grows past the old one.
func TestProjectHistory_LogResetUnderFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openInternal(t)
	fed := make(chan error, 1)
	go func() { fed <- db.Feed(ctx, 1, func(Message) {}) }()
	done := make(chan error, 1)
	go func() { done <- db.ProjectHistory(ctx, Appending(numberedAudit)) }()
	defer func() { cancel(); <-done; <-fed }()
	appendEv := func(i int) uint64 {
		t.Helper()
		seq, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for i := 1; i <= 5; i++ {
		appendEv(i)
	}
	waitAuditTotal(t, db, 5)
	if err := db.js.DeleteStream(ctx, streamNotify); err != nil {
		t.Fatal(err)
	}
	if err := db.ensureLog(ctx); err != nil {
		t.Fatal(err)
	}
	if seq := appendEv(6); seq != 1 {
		t.Fatalf("first append to the new log = %d; want 1", seq)
	}
	// More than the old log held: its sequences pass the projected ones, which
	// must not hide those below them.
	for i := 7; i <= 13; i++ {
		appendEv(i)
	}
	waitAuditTotal(t, db, 13)
}

// TestProjectHistory_LogResetWhileStopped: the log is deleted and created again while
// no projector runs, and grows past what was projected before; the next projector
// projects it from its first notification, as the records name the old log's
// epoch, not this one's.
func TestProjectHistory_LogResetWhileStopped(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	appendEv := func(i int) {
		t.Helper()
		if _, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		appendEv(i)
	}
	projectUntil(t, db, 5)
	if err := db.js.DeleteStream(ctx, streamNotify); err != nil {
		t.Fatal(err)
	}
	if err := db.ensureLog(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 6; i <= 13; i++ {
		appendEv(i) // sequences 1 to 8
	}
	projectUntil(t, db, 13)
}

// TestAppendAudit_DirectIndex checks the single node's index: a record is in
// QueryAudit when AppendAudit returns, without a follower; and after an append whose
// outcome was unknown (here: a record stored behind the index's back), the next append
// first reads the stream's tail, so neither record is missing.
func TestAppendAudit_DirectIndex(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	if !db.history.direct {
		t.Fatal("a single embedded node does not index directly")
	}
	rec := numberedRecord
	total := func() int { t.Helper(); return auditTotal(t, db) }
	for i := range 3 {
		if _, _, err := db.AppendAudit(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
		if got := total(); got != i+1 {
			t.Fatalf("after AppendAudit %d: %d records; want %d at once", i, got, i+1)
		}
	}
	// Stored, but the index was not told: as after an append that timed out.
	r := rec(3)
	m, _, err := db.auditMsg(&r, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.publishAudit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != 3 {
		t.Fatalf("%d records before the resync; want 3", got)
	}
	db.history.writeMu.Lock()
	db.history.stale = true
	db.history.writeMu.Unlock()
	if _, _, err := db.AppendAudit(ctx, rec(4)); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != 5 {
		t.Fatalf("after the resync and one more: %d records; want 5", got)
	}
	if _, dup, err := db.AppendAudit(ctx, rec(3)); err != nil || !dup {
		t.Fatalf("AppendAudit of the record the resync indexed = dup %v, %v; want dup", dup, err)
	}
	// The index is the only de-duplication: no record carries a Nats-Msg-Id.
	for seq := uint64(1); seq <= 5; seq++ {
		raw, err := db.history.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := raw.Header.Get(jetstream.MsgIDHeader); id != "" {
			t.Fatalf("record %d has Nats-Msg-Id %q; a single node sets none", seq, id)
		}
	}
	// While the index cannot read the stream's tail, it is not the authority on what
	// is stored, and appends are refused rather than risk a second copy.
	if err := db.js.DeleteStream(ctx, streamHistory); err != nil {
		t.Fatal(err)
	}
	db.history.writeMu.Lock()
	db.history.stale = true
	db.history.writeMu.Unlock()
	if _, _, err := db.AppendAudit(ctx, rec(5)); vcd.CodeOf(err) != vcd.CodeUnavailable {
		t.Fatalf("AppendAudit with a stale index and no stream = %v; want unavailable", err)
	}
	err = db.appendAudits(ctx, []AuditRecord{rec(5)}, []uint64{0}, "", func(int, error) {})
	if vcd.CodeOf(err) != vcd.CodeUnavailable {
		t.Fatalf("appendAudits with a stale index and no stream = %v; want unavailable", err)
	}
}

// numberedRecord is audit record i of the internal tests: its own id and millisecond.
func numberedRecord(i int) AuditRecord {
	return AuditRecord{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Time: time.UnixMilli(int64(1e12 + i)),
		OrgID: "o", UserID: "u", Data: []byte("x")}
}

// numberedAudit projects a notification whose payload is a number i into
// numberedRecord(i); any other payload has no record.
// Appending adapts a conversion that allocates each record to AuditFunc: the
// record's Data is appended to dst, as api.AppendAuditRecord does for the server.
// The store's external tests use it too.
func Appending(f func(Message) (AuditRecord, bool)) AuditFunc {
	return func(dst []byte, m Message) ([]byte, AuditRecord, bool) {
		rec, ok := f(m)
		if !ok {
			return dst, rec, false
		}
		n := len(dst)
		dst = append(dst, rec.Data...)
		rec.Data = dst[n:]
		return dst, rec, true
	}
}

func numberedAudit(m Message) (AuditRecord, bool) {
	i, err := strconv.Atoi(string(m.Payload))
	if err != nil {
		return AuditRecord{}, false
	}
	return numberedRecord(i), true
}

// auditTotal returns how many records QueryAudit finds.
func auditTotal(t *testing.T, db *DB) int {
	t.Helper()
	p, err := db.QueryAudit(context.Background(), AuditQuery{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p.Total
}

// waitAuditTotal waits up to 10s for QueryAudit to find n records.
func waitAuditTotal(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for auditTotal(t, db) != n {
		if time.Now().After(deadline) {
			t.Fatalf("audit records: %d; want %d", auditTotal(t, db), n)
		}
		<-tick.C
	}
}

// openInternal opens a single-node store in a temporary directory, closed when the
// test ends.
func openInternal(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestHistoryPersistMode_LostSuffix checks the history stream's persistence and what
// makes it safe: a single node creates it asynchronous; a stream created with the
// default mode (an earlier version's) keeps it; and records lost as a crash loses
// the unwritten tail of an asynchronous stream are projected again from the log.
func TestHistoryPersistMode_LostSuffix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *DB {
		t.Helper()
		db, err := Open(ctx, Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	mode := func(db *DB) jetstream.PersistModeType {
		t.Helper()
		info, err := db.history.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.Config.PersistMode
	}

	db := open()
	if got := mode(db); got != jetstream.AsyncPersistMode {
		t.Fatalf("a single node's new history persists %v; want async", got)
	}
	appendN := func(from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			if _, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(1, 15)
	projectUntil(t, db, 15)
	kept := db.history.ix.lastSeq() // the messages holding records 1-15
	appendN(16, 20)
	projectUntil(t, db, 20)
	// The crash: the messages of the last five records never reached the file.
	for seq := kept + 1; seq <= db.history.ix.lastSeq(); seq++ {
		if err := db.history.stream.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	db = open()
	if got := auditTotal(t, db); got != 15 {
		t.Fatalf("after the loss: %d records; want 15", got)
	}
	projectUntil(t, db, 20)
	if info, err := db.LogInfo(ctx); err != nil || db.history.ix.projected(info.Epoch) != 20 {
		t.Fatalf("records name sequences of the log up to %d (%v); want 20", db.history.ix.projected(info.Epoch), err)
	}
	// A history stream of the default mode, as an earlier version created it, stays.
	if err := db.js.DeleteStream(ctx, streamHistory); err != nil {
		t.Fatal(err)
	}
	cfg := db.history.stream.CachedInfo().Config
	cfg.PersistMode = jetstream.DefaultPersistMode
	if _, err := db.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db = open()
	if got := mode(db); got != jetstream.DefaultPersistMode {
		t.Fatalf("an existing default-mode history was changed to %v", got)
	}
	_ = db.Close()
	// A node that syncs every write keeps the default: its promise covers a power
	// loss, after which the unwritten part need not be a tail.
	db, err := Open(ctx, Config{DataDir: t.TempDir(), SyncAlways: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mode(db); got != jetstream.DefaultPersistMode {
		t.Fatalf("a new history with SyncAlways persists %v; want the default", got)
	}
}

// projectUntil runs a projector on db until the history holds want records.
func projectUntil(t *testing.T, db *DB, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.ProjectHistory(ctx, Appending(numberedAudit)) }()
	defer func() { cancel(); <-done }()
	waitAuditTotal(t, db, want)
}
