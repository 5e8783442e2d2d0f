package store

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// indexRecord returns synthetic record i of n: 20 orgs of 100 users, 30 event types,
// evenly spread over 90 days up to end, every 50th stored a few minutes late.
func indexRecord(i, n int, end time.Time) AuditRecord {
	step := 90 * 24 * time.Hour / time.Duration(n)
	t := end.Add(-time.Duration(n-i) * step)
	if i%50 == 0 {
		t = t.Add(-3 * time.Minute)
	}
	org := i % 20
	user := org*100 + (i/20)%100
	return AuditRecord{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Time: t,
		OrgID: fmt.Sprintf("00000000-0000-4000-9000-%012d", org), OrgName: fmt.Sprintf("org%d", org),
		UserID: fmt.Sprintf("00000000-0000-4000-a000-%012d", user), UserName: fmt.Sprintf("user%d", user),
		EventType: fmt.Sprintf("com/vmware/vcloud/event/object%d/action", i%30), Success: i%7 != 0,
		EntityID: fmt.Sprintf("00000000-0000-4000-b000-%012d", i%5000), EntityName: fmt.Sprintf("entity%d", i%5000),
	}
}

func TestAuditIndex_OrderAndPrune(t *testing.T) {
	var ix auditIndex
	end := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		r := indexRecord(i, n, end)
		ix.add(makeRef(uint64(i+1), 0), &r)
	}
	r := indexRecord(5, n, end)
	ix.add(3, &r) // an old sequence is ignored
	check := func(list []uint32) {
		t.Helper()
		if !slices.IsSortedFunc(list, func(a, b uint32) int {
			if before(ix.at(a), ix.at(b)) {
				return -1
			}
			return 1
		}) {
			t.Fatal("list not sorted by (time, seq)")
		}
	}
	check(ix.all)
	if len(ix.all) != n {
		t.Fatalf("len(all) = %d; want %d", len(ix.all), n)
	}
	ix.prune(401)
	check(ix.all)
	if len(ix.all) != 600 || len(ix.arena) != 600 || ix.base != 400 {
		t.Fatalf("after prune: all %d arena %d base %d; want 600 600 400", len(ix.all), len(ix.arena), ix.base)
	}
	total := 0
	for _, l := range ix.byOrg {
		check(l)
		total += len(l)
		for _, p := range l {
			if ix.at(p).ref.seq() < 401 {
				t.Fatalf("pruned seq %d still listed", ix.at(p).ref.seq())
			}
		}
	}
	if total != 600 {
		t.Fatalf("byOrg holds %d; want 600", total)
	}
	seqs, tot, _ := ix.find(&AuditQuery{PageSize: 3, Asc: true})
	if tot != 600 || len(seqs) != 3 || seqs[0].seq() != 401 && seqs[0].seq() != 450 {
		t.Fatalf("find after prune = %v, %d", seqs, tot)
	}
}

// TestAuditIndex_PruneSymbolsAndRebase checks what pruning gives back: the symbols
// of fields only the dropped records named (an entity name unique to each record)
// are freed and their numbers reused, the shared ones stay; and once the positions
// dropped reach rebaseAt they count from zero again, with every list, the id table
// and the queries as before.
func TestAuditIndex_PruneSymbolsAndRebase(t *testing.T) {
	defer func(v uint32) { rebaseAt = v }(rebaseAt)
	rebaseAt = 250
	var ix auditIndex
	at := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	rec := func(i int) AuditRecord {
		return AuditRecord{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Time: at.Add(time.Duration(i) * time.Second),
			OrgID: fmt.Sprintf("org%d", i%2), UserID: fmt.Sprintf("user%d", i%4), EventType: "type",
			EntityName: fmt.Sprintf("backup-%d", i)}
	}
	seq := uint64(0)
	add := func(from, to int) {
		for i := from; i < to; i++ {
			r := rec(i)
			seq++
			ix.add(makeRef(seq, 0), &r)
		}
	}
	// Symbols: "" plus 2 orgs, 4 users, 1 type and one name per record.
	add(0, 200)
	if got := ix.syms.numbers(); got != 1+2+4+1+200 {
		t.Fatalf("%d symbols; want %d", got, 1+2+4+1+200)
	}
	ix.prune(151) // drops records 0..149 and their 150 names
	if got := ix.syms.count(); got != 2+4+1+50 {
		t.Fatalf("%d live symbols after prune; want %d", got, 2+4+1+50)
	}
	if _, ok := ix.lookup("backup-149"); ok {
		t.Fatal("a dropped record's entity name is still a symbol")
	}
	if _, ok := ix.lookup("org1"); !ok {
		t.Fatal("a shared symbol was freed")
	}
	add(200, 350)
	if got := ix.syms.numbers(); got != 1+2+4+1+200 {
		t.Fatalf("%d symbols after adding 150 names; want the freed %d reused", got, 1+2+4+1+200)
	}
	ix.prune(301) // base reaches 300 >= rebaseAt: positions count from zero
	if ix.base != 0 || len(ix.arena) != 50 {
		t.Fatalf("after the rebase: base %d, arena %d; want 0, 50", ix.base, len(ix.arena))
	}
	for _, list := range [][]uint32{ix.all, ix.byOrg[sym(&ix, "org0")], ix.byUser[sym(&ix, "user3")]} {
		for _, p := range list {
			if p >= uint32(len(ix.arena)) {
				t.Fatalf("position %d after the rebase; the arena holds %d", p, len(ix.arena))
			}
		}
	}
	add(350, 360)
	for i, want := range map[int]bool{299: false, 300: true, 349: true, 359: true} {
		r := rec(i)
		id, _ := parseUUID(r.ID)
		if s, ok := ix.has(id, r.Time.UnixMilli()); ok != want || ok && s != uint64(i+1) {
			t.Errorf("has(%d) = %d, %v; want %v", i, s, ok, want)
		}
	}
	seqs, total, _ := ix.find(&AuditQuery{UserID: "user3", PageSize: 100, Asc: true})
	if total != 15 || len(seqs) != 15 || seqs[0].seq() != 304 || seqs[14].seq() != 360 {
		t.Fatalf("user3's records after the rebase = %v (total %d); want 304, 308 … 360", seqs, total)
	}
	e := AuditEntry{ix: &ix, e: ix.at(ix.all[0])}
	if e.EntityName() != "backup-300" || e.OrgID() != "org0" {
		t.Fatalf("first entry after the rebase: %q of %q; want backup-300 of org0", e.EntityName(), e.OrgID())
	}
}

// TestAuditIndex_Performance loads 1,000,000 records into the index and times typical
// queries (the index part of QueryAudit; reading a page's records from the stream is
// measured separately). It runs with HERALD_PERF=1:
//
//	HERALD_PERF=1 go test ./internal/store -run TestAuditIndex_Performance -v -count=1
func TestAuditIndex_Performance(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("set HERALD_PERF=1 to run")
	}
	const n = 1_000_000
	end := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	recs := make([]AuditRecord, n)
	for i := range recs {
		recs[i] = indexRecord(i, n, end)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ix := new(auditIndex)
	start := time.Now()
	for i := range recs {
		ix.add(makeRef(uint64(i+1), 0), &recs[i])
	}
	load := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(recs) // so that the delta is the index alone
	recs = nil
	t.Logf("load %d records: %v (%.0f ns/record); heap %.1f MiB, %.0f bytes/record", n, load.Round(time.Millisecond),
		float64(load.Nanoseconds())/n, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20),
		float64(after.HeapAlloc-before.HeapAlloc)/n)

	org3 := "00000000-0000-4000-9000-000000000003"
	user := "00000000-0000-4000-a000-000000000342"
	typ := "com/vmware/vcloud/event/object13/action"
	queries := []struct {
		name string
		q    AuditQuery
	}{
		{"sysadmin latest page", AuditQuery{PageSize: 25}},
		{"sysadmin page 2 with MaxSeq", AuditQuery{PageSize: 25, Page: 2, MaxSeq: n - 10}},
		{"sysadmin last page asc", AuditQuery{PageSize: 128, Page: n / 128, Asc: true}},
		{"org admin latest page", AuditQuery{PageSize: 25, OrgID: org3}},
		{"user page, eventType filter", AuditQuery{PageSize: 25, OrgID: org3, UserID: user,
			Match: func(e *AuditEntry) bool { return strings.EqualFold(e.EventType(), typ) }}},
		{"timestamp range (1 day), sysadmin", AuditQuery{PageSize: 25, From: end.Add(-48 * time.Hour), To: end.Add(-24 * time.Hour)}},
		{"timestamp range (1 day), org admin", AuditQuery{PageSize: 25, OrgID: org3, From: end.Add(-48 * time.Hour), To: end.Add(-24 * time.Hour)}},
		{"sysadmin, eventType filter via EventType, 90 days", AuditQuery{PageSize: 25,
			EventType: func(s string) bool { return strings.EqualFold(s, typ) },
			Match:     func(e *AuditEntry) bool { return strings.EqualFold(e.EventType(), typ) }}},
		{"worst: sysadmin, Match only, 90 days", AuditQuery{PageSize: 25,
			Match: func(e *AuditEntry) bool { return strings.EqualFold(e.EventType(), typ) }}},
	}
	for _, tc := range queries {
		const runs = 21
		var times []time.Duration
		var total int
		for range runs {
			start := time.Now()
			_, total, _ = ix.find(&tc.q)
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		t.Logf("%-48s total %7d  median %9v  max %9v", tc.name, total, times[runs/2], times[runs-1])
		if times[runs/2] > 50*time.Millisecond && !strings.HasPrefix(tc.name, "worst") {
			t.Errorf("%s: median %v; want under 50ms", tc.name, times[runs/2])
		}
	}
}

// TestAuditIndex_FindPaths checks that the positional path of find (no Match) agrees
// with the scanning path (a Match accepting everything) for every page, order, scope,
// range and sequence bound, with out-of-order times.
func TestAuditIndex_FindPaths(t *testing.T) {
	var ix auditIndex
	end := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	const n = 600
	for i := range n {
		r := indexRecord(i, n, end)
		ix.add(makeRef(uint64(i+1), 0), &r)
	}
	all := func(*AuditEntry) bool { return true }
	org := "00000000-0000-4000-9000-000000000003"
	user := "00000000-0000-4000-a000-000000000301"
	from, to := end.Add(-60*24*time.Hour), end.Add(-10*24*time.Hour)
	for _, base := range []AuditQuery{{}, {OrgID: org}, {UserID: user}, {From: from, To: to}, {OrgID: org, From: from}} {
		for _, maxSeq := range []uint64{0, n, n - 1, n - 37, n - 200, 1} {
			for _, asc := range []bool{false, true} {
				for _, size := range []int{1, 7, 128} {
					for pg := 1; pg <= n/size+2; pg++ {
						q := base
						q.MaxSeq, q.Asc, q.PageSize, q.Page = maxSeq, asc, size, pg
						fast, ftot, fmax := ix.find(&q)
						q.Match = all
						slow, stot, smax := ix.find(&q)
						if !slices.Equal(fast, slow) || ftot != stot || fmax != smax {
							t.Fatalf("%+v: positional %v %d %d; scan %v %d %d", q, fast, ftot, fmax, slow, stot, smax)
						}
					}
				}
			}
		}
	}
}

// TestAuditIndex_Has checks the de-duplication lookup: by id and time, among many
// records of one millisecond, and after pruning, which rebuilds the id table.
func TestAuditIndex_Has(t *testing.T) {
	var ix auditIndex
	at := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	const n = 5000
	rec := func(i int) AuditRecord {
		return AuditRecord{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Time: at, OrgID: "o", UserID: "u"}
	}
	if _, ok := ix.has(uuid{1}, at.UnixMilli()); ok {
		t.Fatal("empty index has a record")
	}
	for i := range n { // every record in the same millisecond
		r := rec(i)
		ix.add(makeRef(uint64(i+1), 0), &r)
	}
	id := func(i int) uuid {
		u, _ := parseUUID(rec(i).ID)
		return u
	}
	for _, tc := range []struct {
		i       int
		ms      int64
		wantSeq uint64
		wantOK  bool
	}{
		{0, at.UnixMilli(), 1, true},
		{4321, at.UnixMilli(), 4322, true},
		{n - 1, at.UnixMilli(), n, true},
		{n, at.UnixMilli(), 0, false},       // never added
		{7, at.UnixMilli() + 1, 0, false},   // same id, another time
		{7, at.UnixMilli() - 1e3, 0, false}, // same id, another time
	} {
		if seq, ok := ix.has(id(tc.i), tc.ms); seq != tc.wantSeq || ok != tc.wantOK {
			t.Errorf("has(%d, %d) = %d, %v; want %d, %v", tc.i, tc.ms, seq, ok, tc.wantSeq, tc.wantOK)
		}
	}
	ix.prune(4001) // keeps seqs 4001..5000, records 4000..4999
	for i, want := range map[int]bool{0: false, 3999: false, 4000: true, 4999: true} {
		if _, ok := ix.has(id(i), at.UnixMilli()); ok != want {
			t.Errorf("after prune: has(%d) = %v; want %v", i, ok, want)
		}
	}
	if ix.ids.n != 1000 {
		t.Errorf("id table holds %d after prune; want 1000", ix.ids.n)
	}
	r := rec(n)
	ix.add(makeRef(n+1, 0), &r)
	if seq, ok := ix.has(id(n), at.UnixMilli()); !ok || seq != n+1 {
		t.Errorf("has after prune and add = %d, %v", seq, ok)
	}
}

// BenchmarkAuditIndexHas is the projector's de-duplication check with 100,000 records
// in one millisecond, a producer's fixed timestamp: before the id table it scanned
// them up to the one it looked for.
func BenchmarkAuditIndexHas(b *testing.B) {
	var ix auditIndex
	at := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	ids := make([]uuid, n)
	for i := range n {
		r := AuditRecord{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Time: at}
		ix.add(makeRef(uint64(i+1), 0), &r)
		ids[i], _ = parseUUID(r.ID)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, ok := ix.has(ids[i*7919%n], at.UnixMilli()); !ok { // all over the range
			b.Fatal("missing")
		}
	}
}

// sym returns the symbol of s in ix, or 0.
func sym(ix *auditIndex, s string) uint32 {
	n, _ := ix.lookup(s)
	return n
}
