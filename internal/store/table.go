package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// maxAttempts bounds the compare-and-set loop of update and delete; past it the caller
// gets vcd.CodeConflict. Each attempt re-reads the key, so it takes that many
// concurrent writers winning in a row to exhaust it.
const maxAttempts = 64

// table is the in-memory cache of one KV bucket, kept current by a watcher, plus the
// writes to that bucket. Values are held by value; clone deep-copies what a T shares
// (slices), so no caller ever aliases the cache.
//
// Consistency rules (see doc.go): every value carries its KV revision, and the cache
// never replaces a value with an older revision. A local write applies its result at
// its revision before returning (read-your-writes); the watcher later delivers the same
// revision and it is ignored. A local delete leaves a tombstone at the deleted revision
// until the watcher has passed it, so a late watch event cannot resurrect the value.
type table[T any] struct {
	kind   string // entity kind, for messages and Change.Kind
	kv     jetstream.KeyValue
	logger *slog.Logger
	// keyOf maps a cache id to its KV key and idOf back; nil means the id is the key.
	keyOf func(id string) string
	idOf  func(key string) (string, bool)
	// clone deep-copies a value; nil when T holds no references.
	clone func(T) T
	// index keeps secondary indexes current; old or new is nil on insert or removal.
	// Lock held on entry (write).
	index func(id string, old, new *T)
	// emit receives a Change for each watched event after the initial load.
	emit func(Change)

	mu    sync.RWMutex
	items map[string]item[T]
	tombs tombstones // the watcher's position and the local deletes it has not passed

	last lastRev // catchUp's requests for the bucket's last revision
}

type item[T any] struct {
	rev uint64
	v   T
}

func newTable[T any](kind string, kv jetstream.KeyValue, logger *slog.Logger) *table[T] {
	return &table[T]{
		kind:   kind,
		kv:     kv,
		logger: logger.With("bucket", kv.Bucket()),
		items:  make(map[string]item[T]),
	}
}

func (t *table[T]) key(id string) string {
	if t.keyOf != nil {
		return t.keyOf(id)
	}
	return id
}

func (t *table[T]) copyOf(v T) T {
	if t.clone != nil {
		return t.clone(v)
	}
	return v
}

// get returns the cached value of id.
func (t *table[T]) get(id string) (T, uint64, bool) {
	t.mu.RLock()
	it, ok := t.items[id]
	t.mu.RUnlock()
	if ok {
		it.v = t.copyOf(it.v)
	}
	return it.v, it.rev, ok
}

// has reports whether id is cached.
func (t *table[T]) has(id string) bool {
	t.mu.RLock()
	_, ok := t.items[id]
	t.mu.RUnlock()
	return ok
}

// getBy returns the value whose id find returns from a secondary index; find runs
// under the read lock. When the index does not know it, the value may have been
// written on another node a moment ago and not be watched yet (a user created on one
// node logs in through another at once): getBy then waits until the watcher has
// delivered every revision the bucket held when it looked (catchUp) and asks the
// index once more. A miss that remains is reported as one.
func (t *table[T]) getBy(ctx context.Context, find func() (string, bool)) (T, bool) {
	if v, ok := t.cachedBy(find); ok {
		return v, true
	}
	if err := t.catchUp(ctx); err != nil {
		t.logger.Debug("index lookup could not catch up with the bucket", "err", err)
		var zero T
		return zero, false
	}
	return t.cachedBy(find)
}

// cachedBy is getBy without the catch-up.
func (t *table[T]) cachedBy(find func() (string, bool)) (T, bool) {
	t.mu.RLock()
	var it item[T]
	id, ok := find()
	if ok {
		it, ok = t.items[id]
	}
	t.mu.RUnlock()
	if ok {
		it.v = t.copyOf(it.v)
	}
	return it.v, ok
}

// list returns copies of the cached values for which keep (nil: all) reports true.
func (t *table[T]) list(keep func(*T) bool) []T {
	t.mu.RLock()
	out := make([]T, 0, len(t.items))
	for _, it := range t.items {
		if keep == nil || keep(&it.v) {
			out = append(out, t.copyOf(it.v))
		}
	}
	t.mu.RUnlock()
	return out
}

// catchUp returns once the watcher has delivered the last revision the bucket holds
// now (see the function catchUp).
func (t *table[T]) catchUp(ctx context.Context) error {
	return catchUp(ctx, t.kv, &t.last, &t.mu, &t.tombs.watchPos)
}

// put caches v at rev unless the cache holds rev or newer for id, or id was deleted
// locally at rev or later. watched marks events from the watcher. It reports whether
// the cache changed.
func (t *table[T]) put(id string, rev uint64, v T, watched bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The watcher position advances after the checks: advancing first could drop the
	// tombstone that makes this very event stale.
	if watched {
		defer t.tombs.advance(rev)
	}
	old, had := t.items[id]
	if had && old.rev >= rev {
		return false
	}
	if t.tombs.buries(id, rev) {
		return false
	}
	t.items[id] = item[T]{rev: rev, v: v}
	if t.index != nil {
		var op *T
		if had {
			op = &old.v
		}
		t.index(id, op, &v)
	}
	return true
}

// remove applies a delete (or purge) event the watcher delivered at rev.
func (t *table[T]) remove(id string, rev uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.tombs.advance(rev)
	old, ok := t.items[id]
	if !ok || old.rev >= rev {
		return false
	}
	t.drop(id, old)
	return true
}

// forget applies a local delete of the value id had at rev. Until the watcher passes
// rev it may still deliver that value (or an older one), so a tombstone remembers rev.
func (t *table[T]) forget(id string, rev uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.items[id]; ok && old.rev <= rev {
		t.drop(id, old)
	}
	t.tombs.bury(id, rev)
}

// drop removes id from the cache. Lock held on entry.
func (t *table[T]) drop(id string, old item[T]) {
	delete(t.items, id)
	if t.index != nil {
		t.index(id, &old.v, nil)
	}
}

// tombstones is a watched cache's position in its bucket's watch and the local
// deletes the watcher has not passed yet: until it delivers a deleted revision it
// may still deliver that value or an older one, which must not come back (doc.go,
// Cache). The cache's lock guards it.
type tombstones struct {
	byKey map[string]uint64 // key → revision of a local delete
	watchPos
}

// buries reports whether a value of key at rev is no newer than a local delete.
func (ts *tombstones) buries(key string, rev uint64) bool {
	tomb, ok := ts.byKey[key]
	return ok && rev <= tomb
}

// bury records a local delete of key at rev, unless the watcher has passed rev.
func (ts *tombstones) bury(key string, rev uint64) {
	if ts.seen >= rev {
		return
	}
	if ts.byKey == nil {
		ts.byKey = make(map[string]uint64)
	}
	ts.byKey[key] = rev
}

// advance records that the watcher has delivered rev and drops the tombstones it has
// passed: no older event can follow. It reports whether the position moved.
func (ts *tombstones) advance(rev uint64) bool {
	if !ts.watchPos.advance(rev) {
		return false
	}
	for key, tomb := range ts.byKey {
		if tomb <= rev {
			delete(ts.byKey, key)
		}
	}
	return true
}

// watch starts the watcher of the bucket. It returns once the watcher delivered the
// initial values, which are then in the cache; the goroutine it starts, owned by wg,
// applies later events until the watcher stops (ctx done or connection closed).
func (t *table[T]) watch(ctx, watchCtx context.Context, wg *sync.WaitGroup) error {
	return watchBucket(ctx, watchCtx, t.kv, wg, bucketWatch{apply: func(e jetstream.KeyValueEntry, loaded bool) {
		id, deleted, ok := t.apply(e)
		if ok && loaded && t.emit != nil {
			t.emit(Change{Kind: t.kind, ID: id, Deleted: deleted})
		}
	}})
}

// bucketWatch is what watchBucket calls.
type bucketWatch struct {
	// apply takes each entry; loaded is false for the bucket's values at the start,
	// true for the changes after them.
	apply func(e jetstream.KeyValueEntry, loaded bool)
	// loaded, if not nil, runs once the values at the start are applied.
	loaded func()
	// stopped, if not nil, runs when the watcher stops.
	stopped func()
}

// watchBucket starts a watcher of every key of kv (with opts) and returns once its
// values at the start are applied; the goroutine it starts, owned by wg, applies later
// changes until the watcher stops (watchCtx done or connection closed). If ctx ends
// first, the watcher is stopped and the error says so.
func watchBucket(ctx, watchCtx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup, bw bucketWatch, opts ...jetstream.WatchOpt) error {
	w, err := kv.WatchAll(watchCtx, opts...)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if bw.stopped != nil {
			defer bw.stopped()
		}
		// The updates channel closes when the watcher's subscription ends; a nil
		// entry marks the end of the values at the start.
		loaded := false
		for e := range w.Updates() {
			if e != nil {
				bw.apply(e, loaded)
				continue
			}
			if !loaded {
				loaded = true
				if bw.loaded != nil {
					bw.loaded()
				}
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		_ = w.Stop()
		return fmt.Errorf("load %s: %w", kv.Bucket(), ctx.Err())
	}
}

// apply puts a watch event into the cache and reports the id and whether it was a
// delete; ok is false for entries that are not ours (undecodable key or value).
func (t *table[T]) apply(e jetstream.KeyValueEntry) (id string, deleted, ok bool) {
	id = e.Key()
	if t.idOf != nil {
		if id, ok = t.idOf(e.Key()); !ok {
			t.logger.Warn("ignoring foreign key", "key", e.Key(), "revision", e.Revision())
			t.skip(e.Revision())
			return "", false, false
		}
	}
	if e.Operation() != jetstream.KeyValuePut {
		t.remove(id, e.Revision())
		return id, true, true
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.logger.Warn("ignoring undecodable value", "key", e.Key(), "revision", e.Revision(), "err", err)
		t.skip(e.Revision())
		return "", false, false
	}
	t.put(id, e.Revision(), v, true)
	return id, false, true
}

func (t *table[T]) skip(rev uint64) {
	t.mu.Lock()
	t.tombs.advance(rev)
	t.mu.Unlock()
}

// load reads id from KV, bypassing the cache, and caches what it read.
func (t *table[T]) load(ctx context.Context, id string) (T, uint64, error) {
	var v T
	e, err := t.kv.Get(ctx, t.key(id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return v, 0, notFound(t.kind, id)
	case err != nil:
		return v, 0, unavailable("get "+t.kind, err)
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return v, 0, fmt.Errorf("decode %s %s: %w", t.kind, id, err)
	}
	t.put(id, e.Revision(), t.copyOf(v), false)
	return v, e.Revision(), nil
}

// current returns the cached value of id, or reads it from KV when the cache does not
// hold it yet (written on another node, watcher behind).
func (t *table[T]) current(ctx context.Context, id string) (T, uint64, error) {
	if v, rev, ok := t.get(id); ok {
		return v, rev, nil
	}
	return t.load(ctx, id)
}

// byID is current for a lookup by an id from outside the store: one that cannot be a
// key is not found (noun names it in the error) without a request.
func (t *table[T]) byID(ctx context.Context, id, noun string) (T, error) {
	if !validID(id) {
		var zero T
		return zero, notFound(noun, id)
	}
	v, _, err := t.current(ctx, id)
	return v, err
}

// create writes v under id if id does not exist; errExists if it does.
func (t *table[T]) create(ctx context.Context, id string, v T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", t.kind, err)
	}
	rev, err := t.kv.Create(ctx, t.key(id), data)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return errExists
	case err != nil:
		return unavailable("create "+t.kind, err)
	}
	t.put(id, rev, t.copyOf(v), false)
	return nil
}

// set writes v under id unconditionally.
func (t *table[T]) set(ctx context.Context, id string, v T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", t.kind, err)
	}
	rev, err := t.kv.Put(ctx, t.key(id), data)
	if err != nil {
		return unavailable("put "+t.kind, err)
	}
	t.put(id, rev, t.copyOf(v), false)
	return nil
}

// update runs fn on a private copy of id's current value and writes the result with
// compare-and-set on the revision it read, re-reading and re-running fn when another
// writer got there first. An error from fn or check (which sees the value fn started
// from and its result) aborts the update and is returned unchanged.
func (t *table[T]) update(ctx context.Context, id string, fn func(*T) error, check func(old, new *T) error) (T, error) {
	var zero T
	cur, rev, err := t.current(ctx, id)
	if err != nil {
		return zero, err
	}
	for attempt := 1; ; attempt++ {
		// cur is private: a copy from get or a fresh decode from load.
		next := t.copyOf(cur)
		if err := fn(&next); err != nil {
			return zero, err
		}
		if check != nil {
			if err := check(&cur, &next); err != nil {
				return zero, err
			}
		}
		data, err := json.Marshal(next)
		if err != nil {
			return zero, fmt.Errorf("encode %s: %w", t.kind, err)
		}
		nrev, err := t.kv.Update(ctx, t.key(id), data, rev)
		if err == nil {
			t.put(id, nrev, t.copyOf(next), false)
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return zero, unavailable("update "+t.kind, err)
		}
		if attempt >= maxAttempts {
			return zero, vcd.Wrap(vcd.CodeConflict, err, fmt.Sprintf("The %s was changed concurrently; try again.", t.kind))
		}
		if err := backoff(ctx, attempt); err != nil {
			return zero, unavailable("update "+t.kind, err)
		}
		if cur, rev, err = t.load(ctx, id); err != nil {
			return zero, err
		}
	}
}

// delete removes id with compare-and-set on the revision it last read, so that the
// value it returns (for releasing its name) is the one deleted.
func (t *table[T]) delete(ctx context.Context, id string) (T, error) {
	var zero T
	cur, rev, err := t.current(ctx, id)
	if err != nil {
		return zero, err
	}
	for attempt := 1; ; attempt++ {
		err := t.kv.Delete(ctx, t.key(id), jetstream.LastRevision(rev))
		if err == nil {
			t.forget(id, rev)
			return cur, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return zero, unavailable("delete "+t.kind, err)
		}
		if attempt >= maxAttempts {
			return zero, vcd.Wrap(vcd.CodeConflict, err, fmt.Sprintf("The %s was changed concurrently; try again.", t.kind))
		}
		if cur, rev, err = t.load(ctx, id); err != nil {
			return zero, err
		}
	}
}

// backoff waits a random time that grows with attempt, so that writers contending for
// one key spread out instead of colliding again. The first retries are immediate: the
// re-read alone usually resolves a conflict between two writers.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 3 {
		return ctx.Err()
	}
	limit := time.Duration(min(attempt, 20)) * time.Millisecond
	timer := time.NewTimer(rand.N(limit) + 1)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
