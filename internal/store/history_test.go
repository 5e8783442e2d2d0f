package store_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

const (
	orgA  = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	orgB  = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
	userA = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	userB = "c0000000-0000-4000-8000-000000000002"
	userC = "c0000000-0000-4000-8000-000000000003"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// auditID returns the i-th test record id.
func auditID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// testRecord returns record i: a second after t0 per i, in orgA (userA, userB
// alternating) unless i%3 == 2 (orgB, userC).
func testRecord(i int) store.AuditRecord {
	org, user := orgA, userA
	switch i % 3 {
	case 1:
		user = userB
	case 2:
		org, user = orgB, userC
	}
	return store.AuditRecord{ID: auditID(i), Time: t0.Add(time.Duration(i) * time.Second), OrgID: org, OrgName: "org-" + org[:4],
		UserID: user, UserName: "user-" + user[:4], EventType: "com/vmware/vcloud/event/session/login", Success: i%5 != 0,
		EntityID: user, EntityName: "user-" + user[:4], Data: []byte(`{"n":` + strconv.Itoa(i) + `}`)}
}

// mustAppendAudit appends records first..last and waits until the index holds them.
func mustAppendAudit(tb testing.TB, db *store.DB, first, last int) {
	tb.Helper()
	for i := first; i <= last; i++ {
		if _, dup, err := db.AppendAudit(context.Background(), testRecord(i)); err != nil || dup {
			tb.Fatalf("AppendAudit(%d) = dup %v, %v", i, dup, err)
		}
	}
	waitAudit(tb, db, last-first+1+countBefore(tb, db, first))
}

// countBefore returns how many records with an id below first the index holds.
func countBefore(tb testing.TB, db *store.DB, first int) int {
	tb.Helper()
	p, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 1,
		Match: func(e *store.AuditEntry) bool { return e.ID() < auditID(first) }})
	if err != nil {
		tb.Fatal(err)
	}
	return p.Total
}

// waitAudit waits until the index holds n records.
func waitAudit(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	waitFor(tb, fmt.Sprintf("%d audit records", n), func() bool {
		p, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 1})
		return err == nil && p.Total == n
	})
}

// dataOf returns the Data of each record of p, as text.
func dataOf(p store.AuditPage) []string {
	var out []string
	for _, r := range p.Records {
		out = append(out, string(r.Data))
	}
	return out
}

// nums returns {"n":i} for each i.
func nums(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, `{"n":`+strconv.Itoa(i)+`}`)
	}
	return out
}

func TestAppendAudit(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	rec := testRecord(1)
	rec.External = true
	rec.TaskID = strings.ToUpper(userB)
	rec.ServiceNamespace = "org.example.backup"
	seq, dup, err := db.AppendAudit(ctx, rec)
	if err != nil || dup {
		t.Fatalf("AppendAudit = %d, %v, %v", seq, dup, err)
	}
	waitAudit(t, db, 1)
	t.Run("RoundTrip", func(t *testing.T) {
		p, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 10})
		if err != nil || len(p.Records) != 1 {
			t.Fatalf("QueryAudit = %+v, %v", p, err)
		}
		want := rec
		want.TaskID = userB // lowercased
		got := p.Records[0]
		if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
			t.Errorf("time = %v; want %v in UTC", got.Time, want.Time)
		}
		got.Time = want.Time
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record = %+v; want %+v", got, want)
		}
		if p.MaxSeq != seq {
			t.Errorf("MaxSeq = %d; want %d", p.MaxSeq, seq)
		}
	})
	t.Run("DuplicateID", func(t *testing.T) {
		again := rec
		again.Data = []byte(`{"other":true}`)
		seq2, dup, err := db.AppendAudit(ctx, again)
		if err != nil || !dup || seq2 != seq {
			t.Fatalf("AppendAudit again = %d, %v, %v; want %d, dup", seq2, dup, err, seq)
		}
		p, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 10})
		if err != nil || p.Total != 1 || string(p.Records[0].Data) != string(rec.Data) {
			t.Fatalf("after duplicate: %+v, %v", p, err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for name, mod := range map[string]func(*store.AuditRecord){
			"BadID":     func(r *store.AuditRecord) { r.ID = "x" },
			"BadEntity": func(r *store.AuditRecord) { r.EntityID = "urn:vcloud:user:" + userA },
			"BadTask":   func(r *store.AuditRecord) { r.TaskID = "task" },
			"NoTime":    func(r *store.AuditRecord) { r.Time = time.Time{} },
			"LongName":  func(r *store.AuditRecord) { r.UserName = strings.Repeat("x", 5000) },
		} {
			r := testRecord(2)
			mod(&r)
			_, _, err := db.AppendAudit(ctx, r)
			wantCode(t, name, err, vcd.CodeInvalid)
		}
		_, err := db.QueryAudit(ctx, store.AuditQuery{})
		wantCode(t, "PageSize 0", err, vcd.CodeInvalid)
	})
}

func TestQueryAudit(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	mustAppendAudit(t, db, 0, 11) // 0..11: orgA/userA 0,3,6,9; orgA/userB 1,4,7,10; orgB/userC 2,5,8,11
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	tests := []struct {
		name  string
		q     store.AuditQuery
		total int
		want  []string
	}{
		{"AllDescDefault", store.AuditQuery{PageSize: 3}, 12, nums(11, 10, 9)},
		{"AllAsc", store.AuditQuery{PageSize: 3, Asc: true}, 12, nums(0, 1, 2)},
		{"Page2", store.AuditQuery{PageSize: 5, Page: 2}, 12, nums(6, 5, 4, 3, 2)},
		{"PastEnd", store.AuditQuery{PageSize: 5, Page: 4}, 12, nil},
		{"Org", store.AuditQuery{PageSize: 10, OrgID: orgB}, 4, nums(11, 8, 5, 2)},
		{"User", store.AuditQuery{PageSize: 10, UserID: userB}, 4, nums(10, 7, 4, 1)},
		{"UserInOtherOrg", store.AuditQuery{PageSize: 10, UserID: userB, OrgID: orgB}, 0, nil},
		{"UnknownOrg", store.AuditQuery{PageSize: 10, OrgID: "nope"}, 0, nil},
		{"Range", store.AuditQuery{PageSize: 10, From: at(3), To: at(5)}, 3, nums(5, 4, 3)},
		{"RangeSubMillisecond", store.AuditQuery{PageSize: 10, From: at(3).Add(time.Microsecond), To: at(4).Add(time.Microsecond)}, 2, nums(4, 3)},
		{"FromOnlyOrg", store.AuditQuery{PageSize: 10, From: at(6), OrgID: orgA, Asc: true}, 4, nums(6, 7, 9, 10)},
		{"Match", store.AuditQuery{PageSize: 2, Match: func(e *store.AuditEntry) bool { return !e.Success() }}, 3, nums(10, 5)},
		{"MatchFields", store.AuditQuery{PageSize: 10, Match: func(e *store.AuditEntry) bool {
			return e.UserName() == "user-c000" && e.OrgID() == orgB && e.EntityID() == userC && e.TaskID() == "" &&
				e.Time().Equal(at(8))
		}}, 1, nums(8)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := db.QueryAudit(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tc.total || !slices.Equal(dataOf(p), tc.want) {
				t.Errorf("QueryAudit = total %d %v; want %d %v", p.Total, dataOf(p), tc.total, tc.want)
			}
		})
	}
	t.Run("OutOfOrderTimes", func(t *testing.T) {
		// A record stored later with an earlier time sorts by its time.
		r := testRecord(100)
		r.Time = at(4).Add(500 * time.Millisecond)
		if _, _, err := db.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
		waitAudit(t, db, 13)
		p, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 3, From: at(4), To: at(5), Asc: true})
		if err != nil || !slices.Equal(dataOf(p), nums(4, 100, 5)) {
			t.Fatalf("QueryAudit = %v, %v; want %v", dataOf(p), err, nums(4, 100, 5))
		}
	})
}

// TestQueryAudit_StableWhileAppending pages through with the first page's MaxSeq while
// newer and older-timed records arrive.
func TestQueryAudit_StableWhileAppending(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	mustAppendAudit(t, db, 0, 9)
	first, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	mustAppendAudit(t, db, 10, 14)
	late := testRecord(50)
	late.Time = t0.Add(-time.Hour) // sorts last in descending order
	if _, _, err := db.AppendAudit(ctx, late); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, db, 16)
	var got []string
	got = append(got, dataOf(first)...)
	for pg := 2; pg <= 3; pg++ {
		p, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 4, Page: pg, MaxSeq: first.MaxSeq})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 10 || p.MaxSeq != first.MaxSeq {
			t.Errorf("page %d: total %d, MaxSeq %d; want 10, %d", pg, p.Total, p.MaxSeq, first.MaxSeq)
		}
		got = append(got, dataOf(p)...)
	}
	if want := nums(9, 8, 7, 6, 5, 4, 3, 2, 1, 0); !slices.Equal(got, want) {
		t.Errorf("pages = %v; want %v", got, want)
	}
}

// TestHistory_RebuildOnOpen reopens a store and finds its index complete at once.
func TestHistory_RebuildOnOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir }
	db := MustOpen(t, cfg)
	mustAppendAudit(t, db, 0, 299)
	_ = db.Close()

	db = MustOpen(t, cfg)
	ctx := context.Background()
	// No wait: Open returns with the index loaded.
	p, err := db.QueryAudit(ctx, store.AuditQuery{PageSize: 2, OrgID: orgB})
	if err != nil || p.Total != 100 || !slices.Equal(dataOf(p), nums(299, 296)) {
		t.Fatalf("after reopen: total %d %v, %v; want 100 %v", p.Total, dataOf(p), err, nums(299, 296))
	}
	// An id stored before the restart is still a duplicate.
	if _, dup, err := db.AppendAudit(ctx, testRecord(7)); err != nil || !dup {
		t.Fatalf("AppendAudit(7) after reopen = dup %v, %v; want dup", dup, err)
	}
}

// eventPayload is the test's stand-in for an event notification: "event <index>";
// anything else (a task) has no audit record.
func convert(m store.Message) (store.AuditRecord, bool) {
	s, ok := strings.CutPrefix(string(m.Payload), "event ")
	if !ok {
		return store.AuditRecord{}, false
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return store.AuditRecord{}, false
	}
	return testRecord(i), true
}

// runProjector runs ProjectHistory until the returned stop is called.
func runProjector(tb testing.TB, db *store.DB) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.ProjectHistory(ctx, store.Appending(convert)) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// appendNotifications appends events first..last to the log, each followed by a task
// message, and an event re-published under a second id (the same eventId).
func appendNotifications(tb testing.TB, db *store.DB, first, last int) {
	tb.Helper()
	for i := first; i <= last; i++ {
		mustAppend(tb, db, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte("event "+strconv.Itoa(i)))
		mustAppend(tb, db, "notify.publish.o.u", "task-"+strconv.Itoa(i), []byte("task "+strconv.Itoa(i)))
	}
	mustAppend(tb, db, "notify.publish.o.u", "ev-again-"+strconv.Itoa(first), []byte("event "+strconv.Itoa(first)))
	mustAppend(tb, db, "notify.metrics.o.v", "m-"+strconv.Itoa(first), []byte("event 999"))
}

// TestProjectHistory projects the log into the history, stops, lets notifications
// pile up, restarts the store and the projector, and finds every event exactly once.
func TestProjectHistory(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir }
	db := MustOpen(t, cfg)
	appendNotifications(t, db, 0, 49) // before the projector ever ran
	stop := runProjector(t, db)
	appendNotifications(t, db, 50, 99)
	waitAudit(t, db, 100)
	if err := stop(); err != nil {
		t.Fatalf("ProjectHistory = %v", err)
	}
	appendNotifications(t, db, 100, 149) // while no projector runs
	_ = db.Close()

	db = MustOpen(t, cfg)
	runProjector(t, db)
	waitAudit(t, db, 150)
	appendNotifications(t, db, 150, 159)
	waitAudit(t, db, 160)

	p, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 128, Asc: true})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 128, Asc: true, Page: 2, MaxSeq: p.MaxSeq})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range append(p.Records, p2.Records...) {
		seen[r.ID]++
	}
	for i := range 160 {
		if seen[auditID(i)] != 1 {
			t.Errorf("record %d stored %d times; want 1", i, seen[auditID(i)])
		}
	}
	if len(seen) != 160 {
		t.Errorf("%d distinct records; want 160 (metrics must not be projected)", len(seen))
	}
}

// TestProjectHistory_ClosedDB returns an unavailable error once the DB is closed.
func TestProjectHistory_ClosedDB(t *testing.T) {
	db := MustOpen(t)
	_ = db.Close()
	err := db.ProjectHistory(context.Background(), store.Appending(convert))
	wantCode(t, "ProjectHistory on a closed DB", err, vcd.CodeUnavailable)
}

// TestQueryAudit_PageFetch times whole QueryAudit calls, the index scan plus reading
// the page's records from the stream by sequence, for records stored one per message
// (AppendAudit) and several per message (projected on a single node). It runs with
// HERALD_PERF=1:
//
//	HERALD_PERF=1 go test ./internal/store -run TestQueryAudit_PageFetch -v -count=1
func TestQueryAudit_PageFetch(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("set HERALD_PERF=1 to run")
	}
	ctx := context.Background()
	const n = 5000
	pad := []byte(strings.Repeat("x", 600)) // about the size of a rendered record
	alone := MustOpen(t)
	for i := range n {
		r := testRecord(i)
		r.Data = pad
		if _, _, err := alone.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitAudit(t, alone, n)
	shared := MustOpen(t)
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = store.Record{Subject: "notify.publish.o.u", ID: "ev-" + strconv.Itoa(i), Payload: []byte("event " + strconv.Itoa(i))}
	}
	if _, err := shared.AppendBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- shared.ProjectHistory(pctx, store.Appending(func(m store.Message) (store.AuditRecord, bool) {
			r, ok := convert(m)
			r.Data = pad
			return r, ok
		}))
	}()
	waitAudit(t, shared, n)
	cancel()
	<-done
	for _, tc := range []struct {
		name string
		db   *store.DB
	}{{"one per message", alone}, {"several per message", shared}} {
		for _, q := range []store.AuditQuery{{PageSize: 25, OrgID: orgA}, {PageSize: 128, OrgID: orgA}, {PageSize: 25, UserID: userC}} {
			var times []time.Duration
			for range 21 {
				start := time.Now()
				p, err := tc.db.QueryAudit(ctx, q)
				if err != nil || len(p.Records) != q.PageSize {
					t.Fatalf("QueryAudit = %d records, %v", len(p.Records), err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			t.Logf("%s: page of %3d (user %v) with records: median %v, max %v", tc.name, q.PageSize, q.UserID != "", times[10], times[20])
		}
	}
}

// TestProjectHistory_Batches projects a backlog several batches long, with records
// the store refuses among the events, on two nodes that both project, stops one
// node's projector half-way and restarts it, and finds every event stored exactly
// once and the refused ones skipped.
func TestProjectHistory_Batches(t *testing.T) {
	_, dbs := MustOpenNodes(t, 2)
	const n = 700 // several batches of historyBatch (256)
	for i := range n {
		mustAppend(t, dbs[0], "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte("event "+strconv.Itoa(i)))
		if i%100 == 0 {
			// An id that is not a UUID: AppendAudit refuses it as invalid.
			mustAppend(t, dbs[0], "notify.publish.o.u", "bad-"+strconv.Itoa(i), []byte("event -"+strconv.Itoa(i+1)))
		}
	}
	stop := runProjector(t, dbs[0])
	waitFor(t, "a first batch", func() bool {
		p, err := dbs[0].QueryAudit(context.Background(), store.AuditQuery{PageSize: 1})
		return err == nil && p.Total > 0
	})
	if err := stop(); err != nil {
		t.Fatalf("ProjectHistory = %v", err)
	}
	runProjector(t, dbs[1])
	runProjector(t, dbs[0])
	appendNotifications(t, dbs[1], n, n+49)
	for _, db := range dbs {
		waitAudit(t, db, n+50)
	}
	seen := map[string]int{}
	for page := 1; ; page++ {
		p, err := dbs[1].QueryAudit(context.Background(), store.AuditQuery{PageSize: 128, Page: page, Asc: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen[r.ID]++
		}
		if len(p.Records) < 128 {
			break
		}
	}
	for i := range n + 50 {
		if seen[auditID(i)] != 1 {
			t.Errorf("record %d stored %d times; want 1", i, seen[auditID(i)])
		}
	}
	if len(seen) != n+50 {
		t.Errorf("%d distinct records; want %d", len(seen), n+50)
	}
}

// TestProjectHistory_FromFeed projects while the live feed runs, and loses nothing
// when the feed's hand-off overflows: the projector is held on its first
// notification while more arrive than the hand-off holds, and must read the ones it
// dropped from the log.
func TestProjectHistory_FromFeed(t *testing.T) {
	db := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedDone := make(chan error, 1)
	var fed atomic.Uint64
	go func() { feedDone <- db.Feed(ctx, 1, func(m store.Message) { fed.Store(m.Seq) }) }()
	defer func() { cancel(); <-feedDone }()
	warm := mustAppend(t, db, "notify.publish.o.u", "task-warm", []byte("task"))
	waitFor(t, "the feed", func() bool { return fed.Load() >= warm })

	release := make(chan struct{})
	var released sync.Once
	unhold := func() { released.Do(func() { close(release) }) }
	held := make(chan struct{})
	var once sync.Once
	slow := func(m store.Message) (store.AuditRecord, bool) {
		once.Do(func() { close(held); <-release })
		return convert(m)
	}
	done := make(chan error, 1)
	pctx, pcancel := context.WithCancel(context.Background())
	go func() { done <- db.ProjectHistory(pctx, store.Appending(slow)) }()
	// Whatever ends the test (a failed append below, too) lets the projector go, so
	// that it can return.
	defer func() { pcancel(); unhold(); <-done }()

	mustAppend(t, db, "notify.publish.o.u", "ev-0", []byte("event 0"))
	select {
	case <-held:
	case err := <-done:
		done <- err // for the deferred wait
		t.Fatalf("ProjectHistory = %v before its first notification", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the projector did not take its first notification within 10s")
	}
	const n = 5000 // more than the hand-off holds
	recs := make([]store.Record, 0, n)
	for i := 1; i < n; i++ {
		recs = append(recs, store.Record{Subject: "notify.publish.o.u", ID: "ev-" + strconv.Itoa(i), Payload: []byte("event " + strconv.Itoa(i))})
	}
	// Bounds for a loaded machine (a test binary built with -race among others).
	actx, acancel := context.WithTimeout(context.Background(), time.Minute)
	defer acancel()
	if _, err := db.AppendBatch(actx, recs); err != nil {
		t.Fatal(err)
	}
	unhold()
	waitAuditLong(t, db, n)
	p, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 1,
		Match: func(e *store.AuditEntry) bool { return e.ID() == auditID(n-1) || e.ID() == auditID(0) }})
	if err != nil || p.Total != 2 {
		t.Fatalf("first and last records: %d, %v; want 2", p.Total, err)
	}
}
