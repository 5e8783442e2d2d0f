package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// history is the DB's audit history: the stream handle, this node's query index, and
// the hand-off from the live feed to a running ProjectHistory (history_project.go).
type history struct {
	stream jetstream.Stream
	ix     auditIndex
	tap    atomic.Pointer[chan Message]
	fed    atomic.Uint64 // the last sequence the Feed delivered
	// dropped is set when the hand-off was full (history.missed).
	dropped atomic.Bool

	// direct is set on a single node (the embedded server, no cluster): this node
	// is then the history's only writer, and indexes each record when its append
	// is acknowledged instead of reading it back from the stream, which cost a
	// consumer and a tenth of herald's CPU at 5,000 events/s (issue 7). writeMu
	// orders the appends and their indexing; stale, under writeMu, says an append's
	// outcome is unknown, so the index must first read the stream's tail.
	direct  bool
	writeMu sync.Mutex
	stale   bool
	// batch holds the records of the batch appendAudits is sending (id and time,
	// as auditIndex.has matches them), under writeMu.
	batch map[batchKey]struct{}
	// enc is batchMsg's buffer for header values, under writeMu.
	enc []byte
}

// batchKey identifies a record as auditIndex.has does.
type batchKey struct {
	id uuid
	ms int64
}

// inBatch reports whether a record with rec's id and time is already in the batch
// being sent, adding it if not. writeMu held on entry.
func (h *history) inBatch(rec *AuditRecord) bool {
	id, _ := parseUUID(rec.ID)
	k := batchKey{id, rec.Time.UnixMilli()}
	if _, ok := h.batch[k]; ok {
		return true
	}
	if h.batch == nil {
		h.batch = make(map[batchKey]struct{}, historyBatch)
	}
	h.batch[k] = struct{}{}
	return false
}

// indexAppended adds rec, just stored at ref from the message logSeq (0: none) of the
// log of epoch, to the index. writeMu held on entry.
func (db *DB) indexAppended(ref recordRef, rec *AuditRecord, logSeq uint64, epoch string) {
	db.history.ix.add(ref, rec)
	db.history.ix.noteLogSeq(logSeq, epoch)
}

// markStale notes that an append's outcome is unknown, so that the index must read
// the stream's tail before the next append, and tries that at once (or the next
// append tries again). writeMu held on entry.
func (db *DB) markStale(ctx context.Context) {
	db.history.stale = true
	_ = db.resyncIfStale(ctx)
}

// resyncIfStale brings the index up to the stream's last record after an append
// whose outcome is unknown, reading the records after the last indexed one as the
// follower would. It returns a vcd.CodeUnavailable error while it cannot: the index
// is then not the authority on which ids are stored, and appends wait (a single
// node's records carry no Nats-Msg-Id for JetStream to de-duplicate them). writeMu
// held on entry.
func (db *DB) resyncIfStale(ctx context.Context) error {
	h := &db.history
	if !h.stale {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.cfg.Timeout)
	defer cancel()
	info, err := h.stream.Info(rctx)
	if err != nil {
		db.logger.Warn("audit index behind the history stream", "err", err)
		return unavailable("audit index behind the history stream", err)
	}
	target := info.State.LastSeq
	if next := h.ix.lastSeq() + 1; next <= target {
		reached := false
		err := db.followHistoryOnce(rctx, &next, target, func(seq uint64) {
			if seq >= target {
				reached = true
				cancel()
			}
		})
		if !reached {
			db.logger.Warn("audit index behind the history stream", "err", err)
			return unavailable("audit index behind the history stream", err)
		}
	}
	h.stale = false
	return nil
}

// historyPruneEvery is how often the index drops records the stream no longer holds.
const historyPruneEvery = time.Minute

// fetchWorkers bounds the direct gets QueryAudit runs at once for a page.
const fetchWorkers = 8

// AuditQuery selects a page of audit records. Records are ordered by (time, sequence),
// newest first unless Asc, so that a page stays the same while records are added: pass
// back the AuditPage's MaxSeq to see the set as it was.
type AuditQuery struct {
	// OrgID and UserID restrict visibility: a non-empty OrgID keeps the records of that
	// org, a non-empty UserID those of that user; both empty means every record.
	OrgID  string
	UserID string
	// From and To bound the record time, inclusively; a zero value is open. They only
	// narrow the scan through the index: Match stays the authority (for =gt= versus =ge=).
	From, To time.Time
	// EventType, when set, keeps only the records whose event type it accepts. It is
	// called once per distinct type, so it is the cheap way to narrow a scan; Match
	// still runs on what it keeps.
	EventType func(eventType string) bool
	// Match, when set, keeps only the records it accepts. The entry is valid only during
	// the call and is reused.
	Match func(e *AuditEntry) bool
	// Asc orders oldest first.
	Asc bool
	// Page is 1-based; PageSize is the page's length (at least 1).
	Page, PageSize int
	// MaxSeq, when set, ignores records stored after that sequence.
	MaxSeq uint64
}

// AuditPage is one page of QueryAudit.
type AuditPage struct {
	Total   int           // records that match, on every page
	Records []AuditRecord // the page, in order, with Data
	// MaxSeq is the sequence bound the query saw: the query's MaxSeq, or the index's
	// newest record when that was zero. Passing it back keeps later pages stable.
	MaxSeq uint64
}

// recordRef locates a stored audit record: the sequence of its history message,
// shifted left by refSlotBits, and its place among the message's records (batchMsg).
// References sort as the records were stored.
type recordRef uint64

// refSlotBits holds a record's place in its message; auditBatchRecords fit.
const refSlotBits = 8

func makeRef(seq uint64, slot int) recordRef { return recordRef(seq<<refSlotBits | uint64(slot)) }

// seq returns the sequence of the record's message.
func (r recordRef) seq() uint64 { return uint64(r) >> refSlotBits }

// slot returns the record's place in its message.
func (r recordRef) slot() int { return int(r & (1<<refSlotBits - 1)) }

// entry is one record of the index: about 100 bytes, no payload.
type entry struct {
	ref                                             recordRef
	ms                                              int64 // time, Unix milliseconds
	id, entity, task                                uuid
	org, orgName, user, userName, typ, entName, svc uint32 // symbols
	flags                                           byte
}

// uuid is a UUID's 16 bytes; the zero value stands for "none".
type uuid [16]byte

// auditIndex is the in-memory query index of the history stream, fed in sequence order
// by followHistory. Records live in arena in sequence order; all, byOrg and byUser
// list their positions (arena index + base) sorted by (time, seq), so a visibility
// scope is one list and a time range a binary search in it.
type auditIndex struct {
	mu     sync.RWMutex
	arena  []entry
	base   uint32 // position of arena[0]; grows as pruning drops the oldest
	all    []uint32
	byOrg  map[uint32][]uint32
	byUser map[uint32][]uint32
	// Symbols: the texts of the entries' fields by number (0 is ""); pruning frees
	// a symbol no entry names any more, and add reuses freed numbers, so fields
	// unique to each record (an entity name with a timestamp in it) do not outlive
	// the records.
	syms symTable
	ids  idTable   // position by record id, for has
	last recordRef // highest reference added
	// logSeqs holds, by the epoch of the notification log (hdrLogEpoch; "" for
	// records of versions that named none), the highest log sequence a record names
	// (hdrLogSeq). Guarded by logMu.
	logMu   sync.Mutex
	logSeqs map[string]uint64
}

// sawLogSeq notes the hdrLogSeq and hdrLogEpoch values of an indexed message.
func (ix *auditIndex) sawLogSeq(seq, epoch string) {
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return // none (a record of an earlier version, or AppendAudit's)
	}
	ix.noteLogSeq(n, epoch)
}

// noteLogSeq notes that an indexed record was projected from sequence n (0: none) of
// the log of epoch.
func (ix *auditIndex) noteLogSeq(n uint64, epoch string) {
	if n == 0 {
		return
	}
	ix.logMu.Lock()
	defer ix.logMu.Unlock()
	if ix.logSeqs == nil {
		ix.logSeqs = make(map[string]uint64)
	}
	if n > ix.logSeqs[epoch] {
		ix.logSeqs[epoch] = n
	}
}

// lastSeq returns the highest history sequence indexed.
func (ix *auditIndex) lastSeq() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.last.seq()
}

// projected returns the highest sequence of the log of epoch that an indexed record
// was projected from. For a log no record names it is 0 when records name other
// logs (this one was created since), and otherwise the highest sequence that records
// of versions that named no log name: theirs, unless the log was created again
// since, which the projector notices if it is shorter.
func (ix *auditIndex) projected(epoch string) uint64 {
	ix.logMu.Lock()
	defer ix.logMu.Unlock()
	if n, ok := ix.logSeqs[epoch]; ok {
		return n
	}
	for e := range ix.logSeqs {
		if e != "" {
			return 0
		}
	}
	return ix.logSeqs[""]
}

// sym returns the symbol of s for a new entry's field, adding it or counting one
// more use. Lock held on entry.
func (ix *auditIndex) sym(s string) uint32 { return ix.syms.add(s) }

// release counts one use of symbol n less, freeing it at none. Lock held on entry.
func (ix *auditIndex) release(n uint32) { ix.syms.release(n) }

// releaseAll releases the symbols of e's fields.
func (ix *auditIndex) releaseAll(e *entry) {
	for _, n := range [...]uint32{e.org, e.orgName, e.user, e.userName, e.typ, e.entName, e.svc} {
		ix.release(n)
	}
}

// lookup returns the symbol of s without adding it. Read lock held on entry.
func (ix *auditIndex) lookup(s string) (uint32, bool) { return ix.syms.lookup(s) }

// before reports whether entry a sorts before b: by time, then reference.
func before(a, b *entry) bool {
	return a.ms < b.ms || a.ms == b.ms && a.ref < b.ref
}

func (ix *auditIndex) at(pos uint32) *entry { return &ix.arena[pos-ix.base] }

// add indexes rec stored at ref. Records must come in increasing reference order;
// an older reference is ignored.
func (ix *auditIndex) add(ref recordRef, rec *AuditRecord) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ref <= ix.last {
		return
	}
	ix.last = ref
	e := entry{ref: ref, ms: rec.Time.UnixMilli(), org: ix.sym(rec.OrgID), orgName: ix.sym(rec.OrgName),
		user: ix.sym(rec.UserID), userName: ix.sym(rec.UserName), typ: ix.sym(rec.EventType),
		entName: ix.sym(rec.EntityName), svc: ix.sym(rec.ServiceNamespace)}
	e.id, _ = parseUUID(rec.ID)
	e.entity, _ = parseUUID(rec.EntityID)
	e.task, _ = parseUUID(rec.TaskID)
	if rec.Success {
		e.flags |= auditSuccess
	}
	if rec.External {
		e.flags |= auditExternal
	}
	pos := ix.base + uint32(len(ix.arena))
	ix.arena = append(ix.arena, e)
	ix.ids.add(&e.id, pos, ix.at)
	if ix.byOrg == nil {
		ix.byOrg = make(map[uint32][]uint32)
		ix.byUser = make(map[uint32][]uint32)
	}
	ix.all = ix.insert(ix.all, pos)
	ix.byOrg[e.org] = ix.insert(ix.byOrg[e.org], pos)
	ix.byUser[e.user] = ix.insert(ix.byUser[e.user], pos)
}

// insert adds pos to list in (time, seq) order. Records arrive roughly in time order,
// so this is almost always an append. Lock held on entry.
func (ix *auditIndex) insert(list []uint32, pos uint32) []uint32 {
	e := ix.at(pos)
	n := len(list)
	if n == 0 || before(ix.at(list[n-1]), e) {
		return append(list, pos)
	}
	i, _ := slices.BinarySearchFunc(list, e, func(p uint32, e *entry) int {
		if before(ix.at(p), e) {
			return -1
		}
		return 1
	})
	return slices.Insert(list, i, pos)
}

// has returns the sequence of the message holding the record with this id and time,
// if indexed.
func (ix *auditIndex) has(id uuid, ms int64) (uint64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	pos, ok := ix.ids.find(&id, ix.at, func(e *entry) bool { return e.ms == ms })
	if !ok {
		return 0, false
	}
	return ix.at(pos).ref.seq(), true
}

// search returns the index in list of the first entry with time ≥ ms (after: > ms).
// Read lock held on entry.
func (ix *auditIndex) search(list []uint32, ms int64, after bool) int {
	i, _ := slices.BinarySearchFunc(list, ms, func(p uint32, ms int64) int {
		t := ix.at(p).ms
		if t < ms || after && t == ms {
			return -1
		}
		return 1
	})
	return i
}

// prune drops the records with a sequence below first, which the stream no longer
// holds. The arena is in sequence order, so they are a prefix of it.
func (ix *auditIndex) prune(first uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	k, _ := slices.BinarySearchFunc(ix.arena, makeRef(first, 0), func(e entry, r recordRef) int {
		if e.ref < r {
			return -1
		}
		return 1
	})
	if k == 0 {
		return
	}
	for i := range k {
		ix.releaseAll(&ix.arena[i])
	}
	// Copy rather than re-slice, so the dropped entries' memory is freed.
	ix.arena = slices.Clone(ix.arena[k:])
	ix.base += uint32(k)
	// Positions are 32 bits: once the records dropped reach rebaseAt, the lists
	// count from arena[0] again, so an index that runs for years (2^32 records are
	// ten days at 5,000 a second) does not wrap around.
	kept, shift := ix.base, uint32(0) // positions from kept on stay
	if ix.base >= rebaseAt {
		shift, ix.base = ix.base, 0
	}
	keep := func(list []uint32) []uint32 {
		list = slices.DeleteFunc(list, func(p uint32) bool { return p < kept })
		if shift != 0 {
			for i := range list {
				list[i] -= shift
			}
		}
		return list
	}
	ix.all = keep(ix.all)
	for s, l := range ix.byOrg {
		if l = keep(l); len(l) == 0 {
			delete(ix.byOrg, s)
		} else {
			ix.byOrg[s] = l
		}
	}
	for s, l := range ix.byUser {
		if l = keep(l); len(l) == 0 {
			delete(ix.byUser, s)
		} else {
			ix.byUser[s] = l
		}
	}
	size := 64
	for size*2 < len(ix.arena)*3 {
		size *= 2
	}
	ix.ids.fill(size, ix.arena, ix.base)
}

// rebaseAt is the position base at which prune renumbers the positions from zero.
// A variable for the tests.
var rebaseAt uint32 = 1 << 31

// AuditEntry is an indexed audit record as QueryAudit's Match sees it: the index fields
// without Data. Ids are bare lowercase UUIDs where the record had UUIDs.
type AuditEntry struct {
	ix *auditIndex
	e  *entry
}

// ID returns the record's id (the event's UUID).
func (a *AuditEntry) ID() string { return formatUUID(a.e.id) }

// Time returns the record's time, in UTC, to the millisecond.
func (a *AuditEntry) Time() time.Time { return time.UnixMilli(a.e.ms).UTC() }

// OrgID returns the id of the record's org.
func (a *AuditEntry) OrgID() string { return a.ix.syms.str(a.e.org) }

// OrgName returns the name of the record's org.
func (a *AuditEntry) OrgName() string { return a.ix.syms.str(a.e.orgName) }

// UserID returns the id of the acting user.
func (a *AuditEntry) UserID() string { return a.ix.syms.str(a.e.user) }

// UserName returns the name of the acting user.
func (a *AuditEntry) UserName() string { return a.ix.syms.str(a.e.userName) }

// EventType returns the event type.
func (a *AuditEntry) EventType() string { return a.ix.syms.str(a.e.typ) }

// Success reports whether the operation succeeded.
func (a *AuditEntry) Success() bool { return a.e.flags&auditSuccess != 0 }

// External reports whether the record is of an external event.
func (a *AuditEntry) External() bool { return a.e.flags&auditExternal != 0 }

// EntityID returns the entity's id, or "".
func (a *AuditEntry) EntityID() string { return formatUUID(a.e.entity) }

// EntityName returns the entity's name.
func (a *AuditEntry) EntityName() string { return a.ix.syms.str(a.e.entName) }

// TaskID returns the task's id, or "".
func (a *AuditEntry) TaskID() string { return formatUUID(a.e.task) }

// ServiceNamespace returns the external event's service namespace, or "".
func (a *AuditEntry) ServiceNamespace() string { return a.ix.syms.str(a.e.svc) }

// find runs q over the index and returns the references of the page, the total and
// the sequence bound used.
func (ix *auditIndex) find(q *AuditQuery) (refs []recordRef, total int, maxSeq uint64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	maxSeq = ix.last.seq()
	if q.MaxSeq != 0 && q.MaxSeq < maxSeq {
		maxSeq = q.MaxSeq
	}
	list := ix.all
	wantOrg, checkOrg := uint32(0), false
	switch {
	case q.UserID != "":
		u, ok := ix.lookup(q.UserID)
		if !ok {
			return nil, 0, maxSeq
		}
		list = ix.byUser[u]
		if q.OrgID != "" {
			if wantOrg, checkOrg = ix.lookup(q.OrgID); !checkOrg {
				return nil, 0, maxSeq
			}
		}
	case q.OrgID != "":
		o, ok := ix.lookup(q.OrgID)
		if !ok {
			return nil, 0, maxSeq
		}
		list = ix.byOrg[o]
	}
	lo, hi := 0, len(list)
	if !q.From.IsZero() {
		lo = ix.search(list, q.From.UnixMilli(), false)
	}
	if !q.To.IsZero() {
		// Milliseconds: a bound inside a millisecond keeps that millisecond.
		hi = ix.search(list, q.To.UnixMilli(), true)
	}
	if lo >= hi {
		return nil, 0, maxSeq
	}
	skip := (max(q.Page, 1) - 1) * q.PageSize
	if q.Match == nil && q.EventType == nil && !checkOrg {
		if excl, ok := ix.newer(list, lo, hi, maxSeq, q); ok {
			return ix.slice(list, lo, hi, excl, skip, q), hi - lo - len(excl), maxSeq
		}
	}
	view := AuditEntry{ix: ix}
	var types []int8 // per event-type symbol: 0 not yet asked, 1 kept, -1 dropped
	if q.EventType != nil {
		types = make([]int8, ix.syms.numbers())
	}
	for k := lo; k < hi; k++ {
		i := k
		if !q.Asc {
			i = hi - 1 - (k - lo)
		}
		e := ix.at(list[i])
		if e.ref.seq() > maxSeq || checkOrg && e.org != wantOrg {
			continue
		}
		if types != nil {
			if types[e.typ] == 0 {
				types[e.typ] = -1
				if q.EventType(ix.syms.str(e.typ)) {
					types[e.typ] = 1
				}
			}
			if types[e.typ] < 0 {
				continue
			}
		}
		if q.Match != nil {
			view.e = e
			if !q.Match(&view) {
				continue
			}
		}
		total++
		if total > skip && len(refs) < q.PageSize {
			refs = append(refs, e.ref)
		}
	}
	return refs, total, maxSeq
}

// maxExcluded bounds the records stored after a query's MaxSeq that the unfiltered
// path handles by position; beyond it, find scans.
const maxExcluded = 4096

// newer returns the indexes in list[lo:hi], ascending, of the records stored after
// maxSeq, found from the end of the arena (which is in sequence order) rather than by
// scanning the list. It reports false when there are too many. Read lock held on
// entry.
func (ix *auditIndex) newer(list []uint32, lo, hi int, maxSeq uint64, q *AuditQuery) ([]int, bool) {
	k, _ := slices.BinarySearchFunc(ix.arena, makeRef(maxSeq+1, 0), func(e entry, r recordRef) int {
		if e.ref < r {
			return -1
		}
		return 1
	})
	if len(ix.arena)-k > maxExcluded {
		return nil, false
	}
	var excl []int
	for a := k; a < len(ix.arena); a++ {
		e := &ix.arena[a]
		i, found := slices.BinarySearchFunc(list, e, func(p uint32, e *entry) int {
			switch x := ix.at(p); {
			case x == e:
				return 0
			case before(x, e):
				return -1
			}
			return 1
		})
		if found && i >= lo && i < hi {
			excl = append(excl, i)
		}
	}
	slices.Sort(excl)
	return excl, true
}

// slice returns the references of the page of list[lo:hi] without the indexes excl
// (ascending), skipping skip records, in q's order. Read lock held on entry.
func (ix *auditIndex) slice(list []uint32, lo, hi int, excl []int, skip int, q *AuditQuery) []recordRef {
	if !q.Asc {
		// Mirror the excluded indexes into descending order.
		m := make([]int, len(excl))
		for n, x := range excl {
			m[len(excl)-1-n] = lo + hi - 1 - x
		}
		excl = m
	}
	pos := func(j int) int { // the j-th index of the range in query order
		if q.Asc {
			return j
		}
		return lo + hi - 1 - j
	}
	j, x := lo+skip, 0
	for ; x < len(excl) && excl[x] <= j; x++ {
		j++
	}
	var refs []recordRef
	for ; j < hi && len(refs) < q.PageSize; j++ {
		if x < len(excl) && excl[x] == j {
			x++
			continue
		}
		refs = append(refs, ix.at(list[pos(j)]).ref)
	}
	return refs
}

// QueryAudit returns a page of the audit records q selects, from this node's index,
// with each record's Data read from the stream by sequence. A record that retention
// removed between the index scan and the read is left out of the page. PageSize below
// 1 is vcd.CodeInvalid; failing to read the stream is vcd.CodeUnavailable.
func (db *DB) QueryAudit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.PageSize < 1 {
		return AuditPage{}, vcd.Errorf(vcd.CodeInvalid, "page size must be at least 1")
	}
	refs, total, maxSeq := db.history.ix.find(&q)
	// Each message once: the records of a page are often neighbours in one.
	var seqs []uint64
	at := make(map[uint64]int, len(refs))
	for _, r := range refs {
		if _, ok := at[r.seq()]; !ok {
			at[r.seq()] = len(seqs)
			seqs = append(seqs, r.seq())
		}
	}
	msgs := make([][]AuditRecord, len(seqs))
	errs := make([]error, len(seqs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(fetchWorkers, len(seqs)) {
		wg.Go(func() {
			for i := range next {
				msgs[i], errs[i] = db.getAudits(ctx, seqs[i])
			}
		})
	}
	for i := range seqs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return AuditPage{}, unavailable("query audit", err)
	}
	page := AuditPage{Total: total, MaxSeq: maxSeq, Records: make([]AuditRecord, 0, len(refs))}
	for _, r := range refs {
		if m := msgs[at[r.seq()]]; r.slot() < len(m) {
			page.Records = append(page.Records, m[r.slot()])
		}
	}
	return page, nil
}

// getAudits reads the records of the message at seq: none if the stream no longer
// holds it.
func (db *DB) getAudits(ctx context.Context, seq uint64) ([]AuditRecord, error) {
	m, err := db.history.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %d: %w", seq, err)
	}
	recs, err := decodeAudits(m.Header.Values(hdrAudit), m.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %d: %w", seq, err)
	}
	return recs, nil
}

// openHistory loads the index from the history stream, returns when it holds every
// record stored at the call, and leaves two goroutines on wg until watchCtx ends: the
// follower, which adds new records, and the pruner, which drops expired ones.
func (db *DB) openHistory(ctx, watchCtx context.Context, wg *sync.WaitGroup) error {
	info, err := db.history.stream.Info(ctx)
	if err != nil {
		return unavailable("history info", err)
	}
	target := info.State.LastSeq
	loaded := make(chan struct{})
	var once sync.Once
	reached := func(seq uint64) {
		if seq >= target {
			once.Do(func() { close(loaded) })
		}
	}
	reached(0)
	if info.State.Msgs == 0 {
		once.Do(func() { close(loaded) })
	}
	// On a single node the follower only loads the index; appends index their
	// records from then on (history.direct).
	db.history.direct = db.singleNode()
	followCtx, stopFollow := watchCtx, context.CancelFunc(func() {})
	if db.history.direct {
		followCtx, stopFollow = context.WithCancel(watchCtx)
	}
	followed := make(chan struct{})
	wg.Go(func() {
		defer close(followed)
		db.followHistory(followCtx, info.State.FirstSeq, target, reached)
	})
	wg.Go(func() { every(watchCtx, historyPruneEvery, func() { db.pruneHistory(watchCtx) }) })
	select {
	case <-loaded:
	case <-ctx.Done():
		stopFollow()
		return unavailable("load history index", ctx.Err())
	}
	stopFollow()
	if db.history.direct {
		<-followed
	}
	return nil
}

// followHistory feeds the index from seq from on with an ordered consumer that
// delivers headers only, restarting it after a failure, until ctx is done. reached
// is told each sequence indexed, and target itself if the stream holds it no more.
func (db *DB) followHistory(ctx context.Context, from, target uint64, reached func(uint64)) {
	next := max(from, 1)
	for attempt := 1; ctx.Err() == nil; attempt++ {
		before := next
		err := db.followHistoryOnce(ctx, &next, target, reached)
		if ctx.Err() != nil || db.nc.IsClosed() {
			return
		}
		if next != before {
			attempt = 1
		}
		db.logger.Warn("history index feed restarting", "from", next, "attempt", attempt, "err", err)
		if sleepCtx(ctx, min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)) != nil {
			return
		}
	}
}

func (db *DB) followHistoryOnce(ctx context.Context, next *uint64, target uint64, reached func(uint64)) error {
	cons, err := db.js.OrderedConsumer(ctx, streamHistory, jetstream.OrderedConsumerConfig{
		DeliverPolicy:    jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:      *next,
		HeadersOnly:      true,
		MaxResetAttempts: orderedResetAttempts,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages(followOpts()...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer stopOnDone(ctx, it)()
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		seq := md.Sequence.Stream
		if seq < *next {
			continue
		}
		*next = seq + 1
		// Headers only: the records come without their Data.
		if recs, err := decodeAudits(m.Headers().Values(hdrAudit), nil); err != nil {
			db.logger.Warn("undecodable audit record", "seq", seq, "err", err)
		} else {
			for slot := range recs {
				db.history.ix.add(makeRef(seq, slot), &recs[slot])
			}
		}
		db.history.ix.sawLogSeq(m.Headers().Get(hdrLogSeq), m.Headers().Get(hdrLogEpoch))
		reached(seq)
		if md.NumPending == 0 {
			// Retention may have removed the records up to target before we read them.
			reached(target)
		}
	}
}

// pruneHistory drops the records retention removed from the index.
func (db *DB) pruneHistory(ctx context.Context) {
	info, err := db.history.stream.Info(ctx)
	if err != nil {
		return // the next call tries again
	}
	db.history.ix.prune(info.State.FirstSeq)
}

// parseUUID parses a UUID in 8-4-4-4-12 form, in either case.
func parseUUID(s string) (uuid, bool) {
	u, ok := vcd.ParseUUID(s)
	return uuid(u), ok
}

// formatUUID returns u in lowercase 8-4-4-4-12 form, or "" for the zero uuid.
func formatUUID(u uuid) string {
	if u == (uuid{}) {
		return ""
	}
	return vcd.FormatUUID(u)
}
