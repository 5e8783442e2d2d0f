package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// Metrics buckets (VCD-COMPAT §9). doc.go's table lists them with the others.
//
//	herald_vapps             <vApp id>   VApp (with its VMs)
//	herald_metrics_latest    <VM id>     the VM's latest samples, binary (encodeLatest)
//	herald_metrics_settings  current     MetricsSettings
//	herald_metrics_lease     lease       metricsLease: the last publication interval claimed
const (
	bucketMetricsLatest   = "herald_metrics_latest"
	bucketMetricsSettings = "herald_metrics_settings"
	bucketMetricsLease    = "herald_metrics_lease"

	settingsKey = "current"
	leaseKey    = "lease"
)

// ChangeMetricsSettings is the Change.Kind of a write of the metrics settings.
const ChangeMetricsSettings = "metricsSettings"

// metricsState is the DB's metrics part: the vApp inventory, the latest samples per
// VM, the settings and the publication lease.
type metricsState struct {
	inv      inventory
	latest   latestCache
	latestKV jetstream.KeyValue
	settings *table[MetricsSettings]
	lease    jetstream.KeyValue
}

// LatestVM is the latest value of each metric of one VM and the revision that wrote
// it. Samples is shared with the cache and must not be modified.
type LatestVM struct {
	VMID    string
	Rev     uint64
	Samples []vcd.MetricSample
}

// MetricsSettings are the run-time metrics settings of VCD-COMPAT §9.1, shared by every
// node.
type MetricsSettings struct {
	PublishingEnabled bool `json:"publishingEnabled"`
	IntervalSeconds   int  `json:"intervalSeconds"`
	SimulatorEnabled  bool `json:"simulatorEnabled"`
}

// ensureMetricsBuckets creates or updates the metrics buckets; open retries it.
func (db *DB) ensureMetricsBuckets(ctx context.Context) (map[string]jetstream.KeyValue, error) {
	return db.ensureKV(ctx, []jetstream.KeyValueConfig{
		{Bucket: bucketVApps, Description: "herald vApp inventory by id"},
		{Bucket: bucketMetricsLatest, Description: "herald latest vm metric samples by vm id"},
		{Bucket: bucketMetricsSettings, Description: "herald metrics settings"},
		{Bucket: bucketMetricsLease, Description: "herald metrics publication lease"},
	})
}

// openMetrics starts the watchers of the metrics buckets (ensureMetricsBuckets's),
// owned by wg; open calls it.
func (db *DB) openMetrics(ctx, watchCtx context.Context, wg *sync.WaitGroup, kvs map[string]jetstream.KeyValue) error {
	m := &db.metrics
	db.initInventory(kvs[bucketVApps])
	m.latestKV = kvs[bucketMetricsLatest]
	m.lease = kvs[bucketMetricsLease]
	m.latest.init()
	m.settings = newTable[MetricsSettings](ChangeMetricsSettings, kvs[bucketMetricsSettings], db.logger)
	m.settings.emit = db.feed.publish
	for _, w := range []interface {
		watch(ctx, watchCtx context.Context, wg *sync.WaitGroup) error
	}{m.inv.t, m.settings} {
		if err := w.watch(ctx, watchCtx, wg); err != nil {
			return unavailable("load cache", err)
		}
	}
	if err := m.latest.watch(ctx, watchCtx, m.latestKV, db.logger, wg); err != nil {
		return unavailable("load cache", err)
	}
	return nil
}

// MetricsSettings returns the stored metrics settings; ok is false when none were ever
// stored, and the caller uses its configured defaults.
func (db *DB) MetricsSettings(ctx context.Context) (s MetricsSettings, ok bool, err error) {
	s, _, ok = db.metrics.settings.get(settingsKey)
	return s, ok, nil
}

// SetMetricsSettings stores s for every node.
func (db *DB) SetMetricsSettings(ctx context.Context, s MetricsSettings) error {
	return db.metrics.settings.set(ctx, settingsKey, s)
}

// PutSamples merges each VM's samples into its latest values (a sample replaces the
// stored one of its name unless that one is newer) and stores the result with one KV
// write per VM, all in flight at once, compare-and-set on the revision the cache
// holds; a VM whose write lost a race is merged again from KV. It returns once every
// write is stored, and the cache holds them. It does not check that the VMs exist or
// the names are valid: the caller did.
func (db *DB) PutSamples(ctx context.Context, batch []vcd.VMSamples) error {
	c := &db.metrics.latest
	type pending struct {
		vm     string
		add    []vcd.MetricSample
		merged []vcd.MetricSample
		fut    jetstream.PubAckFuture
	}
	// One allocation each for the encoded values and the merged sample lists of the
	// whole batch, sub-sliced per VM; the cache keeps the merged lists. The size is
	// that of encodeLatest for the stored and the new samples together, an upper
	// bound of the merged ones (assuming the longest name for every sample made this
	// allocation most of ingestion's garbage).
	size, count := 0, 0
	encoded := func(ss []vcd.MetricSample) {
		for _, s := range ss {
			size += 1 + min(len(s.Name), maxNameLen) + 8 + binary.MaxVarintLen64
		}
	}
	c.mu.Lock()
	for _, b := range batch {
		cur := c.items[b.VMID].samples
		count += len(cur) + len(b.Samples)
		size += 1 + binary.MaxVarintLen64
		encoded(cur)
		encoded(b.Samples)
	}
	c.mu.Unlock()
	buf := make([]byte, 0, size)
	all := make([]vcd.MetricSample, 0, count)
	ps := make([]pending, len(batch))
	for i, b := range batch {
		cur, rev := c.get(b.VMID)
		room := all[len(all):cap(all)]
		merged := mergeSamples(room[:0:len(room)], cur, b.Samples)
		if len(merged) > 0 && len(room) >= len(merged) && &merged[0] == &room[0] {
			all = all[:len(all)+len(merged)]
		}
		start := len(buf)
		buf = encodeLatest(buf, merged)
		msg := &nats.Msg{
			Subject: "$KV." + bucketMetricsLatest + "." + b.VMID,
			Data:    buf[start:len(buf):len(buf)],
			Header:  nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(rev, 10)}},
		}
		ps[i] = pending{vm: b.VMID, add: b.Samples, merged: merged}
		fut, err := db.js.PublishMsgAsync(msg)
		if err != nil {
			ps[i].fut = nil // written again below
			continue
		}
		ps[i].fut = fut
	}
	var errs []error
	for _, p := range ps {
		if p.fut != nil {
			select {
			case ack := <-p.fut.Ok():
				c.put(p.vm, ack.Sequence, p.merged, false)
				continue
			case <-p.fut.Err():
				// Usually a lost compare-and-set; putOne re-reads and merges again.
			case <-ctx.Done():
				return unavailable("put samples", ctx.Err())
			}
		}
		if err := db.putOne(ctx, p.vm, p.add); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// putOne merges add into VM vm's latest samples read from KV and writes them with
// compare-and-set, retrying after a concurrent change.
func (db *DB) putOne(ctx context.Context, vm string, add []vcd.MetricSample) error {
	kv := db.metrics.latestKV
	for attempt := 1; ; attempt++ {
		var cur []vcd.MetricSample
		var rev uint64
		e, err := kv.Get(ctx, vm)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return unavailable("get samples", err)
		default:
			rev = e.Revision()
			if cur, err = db.metrics.latest.decode(e.Value()); err != nil {
				cur = nil // an undecodable value is replaced
			}
		}
		merged := mergeSamples(nil, cur, add)
		data := encodeLatest(nil, merged)
		var nrev uint64
		if rev == 0 {
			nrev, err = kv.Create(ctx, vm, data)
		} else {
			nrev, err = kv.Update(ctx, vm, data, rev)
		}
		if err == nil {
			db.metrics.latest.put(vm, nrev, merged, false)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return unavailable("put samples", err)
		}
		if attempt >= maxAttempts {
			return vcd.Wrap(vcd.CodeConflict, err, "The samples were changed concurrently; try again.")
		}
		if err := backoff(ctx, attempt); err != nil {
			return unavailable("put samples", err)
		}
	}
}

// mergeSamples appends to dst the samples of cur with those of add merged in: a sample
// replaces the one of the same name unless that one is newer; new names come last.
func mergeSamples(dst, cur, add []vcd.MetricSample) []vcd.MetricSample {
	start := len(dst)
	dst = append(dst, cur...)
	for _, s := range add {
		found := false
		for i := start; i < len(dst); i++ {
			if dst[i].Name == s.Name {
				if !s.Time.Before(dst[i].Time) {
					dst[i] = s
				}
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, s)
		}
	}
	return dst[start:len(dst):len(dst)]
}

// LatestSamples returns the latest value of each metric of VM vmID, from memory; nil
// when it has none. The slice is shared and must not be modified.
func (db *DB) LatestSamples(vmID string) []vcd.MetricSample {
	s, _ := db.metrics.latest.get(vmID)
	return s
}

// MetricsSince returns the latest samples of every VM written at a revision after
// after, and the revision up to which this node has seen every write: the next call's
// after. It first waits, within ctx, until the watcher has delivered this node's own
// writes, so that they are not left to the next call.
func (db *DB) MetricsSince(ctx context.Context, after uint64) ([]LatestVM, uint64) {
	c := &db.metrics.latest
	c.waitLocal(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []LatestVM
	for vm, it := range c.items {
		if it.rev > after {
			out = append(out, LatestVM{VMID: vm, Rev: it.rev, Samples: it.samples})
		}
	}
	return out, c.tombs.seen
}

// deleteLatest deletes the latest samples of the VMs.
func (db *DB) deleteLatest(ctx context.Context, vms []string) error {
	for _, vm := range vms {
		if _, rev := db.metrics.latest.get(vm); rev == 0 {
			continue
		}
		// As in SetRetained: the delete marker is published by hand for its revision.
		ack, err := db.js.PublishMsg(ctx, &nats.Msg{
			Subject: "$KV." + bucketMetricsLatest + "." + vm,
			Header:  nats.Header{"KV-Operation": []string{"DEL"}},
		})
		if err != nil {
			return unavailable("delete samples", err)
		}
		db.metrics.latest.forget(vm, ack.Sequence)
	}
	return nil
}

// metricsLease is the value of the lease key: the end of the last publication
// interval a node claimed, and the revision of herald_metrics_latest up to which
// publication is done.
type metricsLease struct {
	End  int64  `json:"end"` // Unix nanoseconds
	Seq  uint64 `json:"seq"`
	Node string `json:"node"`
}

// ClaimMetricsInterval claims the publication of the interval that ends at end, for
// this node alone: it succeeds (ok) on exactly one node of the cluster per end, by
// compare-and-set on one key, and only while no later interval was claimed. from is
// the revision up to which samples were published: the caller publishes what
// MetricsSince(from) returns, then calls CompleteMetricsInterval.
func (db *DB) ClaimMetricsInterval(ctx context.Context, end time.Time) (from uint64, ok bool, err error) {
	kv := db.metrics.lease
	next := metricsLease{End: end.UnixNano(), Node: db.cfg.ServerName}
	e, err := kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		data, _ := json.Marshal(next)
		if _, err := kv.Create(ctx, leaseKey, data); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return 0, false, nil
			}
			return 0, false, unavailable("claim metrics interval", err)
		}
		return 0, true, nil
	}
	if err != nil {
		return 0, false, unavailable("claim metrics interval", err)
	}
	var cur metricsLease
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return 0, false, fmt.Errorf("decode metrics lease: %w", err)
	}
	if cur.End >= next.End {
		return 0, false, nil
	}
	next.Seq = cur.Seq
	data, _ := json.Marshal(next)
	if _, err := kv.Update(ctx, leaseKey, data, e.Revision()); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, false, nil
		}
		return 0, false, unavailable("claim metrics interval", err)
	}
	return cur.Seq, true, nil
}

// CompleteMetricsInterval records that the interval ending at end, claimed by this
// node, published everything up to revision seq. It does nothing when another node
// has claimed a later interval since: that node then publishes from the older
// revision again, so a sample may be published twice but never lost.
func (db *DB) CompleteMetricsInterval(ctx context.Context, end time.Time, seq uint64) error {
	kv := db.metrics.lease
	e, err := kv.Get(ctx, leaseKey)
	if err != nil {
		return unavailable("complete metrics interval", err)
	}
	var cur metricsLease
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return fmt.Errorf("decode metrics lease: %w", err)
	}
	if cur.End != end.UnixNano() || cur.Seq >= seq {
		return nil
	}
	cur.Seq = seq
	data, _ := json.Marshal(cur)
	if _, err := kv.Update(ctx, leaseKey, data, e.Revision()); err != nil &&
		!errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return unavailable("complete metrics interval", err)
	}
	return nil
}

// maxNameLen bounds a stored metric name; longer names are cut (the API admits none).
const maxNameLen = 255

// latestVersion is the first byte of a herald_metrics_latest value.
const latestVersion = 1

// encodeLatest appends the binary form of samples to dst: the version, the count, then
// per sample the name's length (one byte) and bytes, the value's IEEE 754 bits (little
// endian) and the time in Unix nanoseconds (varint).
func encodeLatest(dst []byte, samples []vcd.MetricSample) []byte {
	dst = append(dst, latestVersion)
	dst = binary.AppendUvarint(dst, uint64(len(samples)))
	for _, s := range samples {
		name := s.Name
		if len(name) > maxNameLen {
			name = name[:maxNameLen]
		}
		dst = append(dst, byte(len(name)))
		dst = append(dst, name...)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.Value))
		dst = binary.AppendVarint(dst, s.Time.UnixNano())
	}
	return dst
}

var errBadLatest = errors.New("malformed latest samples")

// latestCache is the in-memory copy of herald_metrics_latest, kept current by a KV
// watcher with the revision rules of table (doc.go, Cache).
type latestCache struct {
	mu    sync.Mutex
	items map[string]latestItem
	tombs tombstones // the watcher's position and the local deletes it has not passed
	local uint64     // highest revision this node wrote
	names map[string]string
}

type latestItem struct {
	rev     uint64
	samples []vcd.MetricSample
}

// maxInterned bounds the interned metric names.
const maxInterned = 4096

func (c *latestCache) init() {
	c.items = make(map[string]latestItem)
	c.names = make(map[string]string)
}

// decode parses a stored value. Names are interned: a watcher decodes every write of
// every node, and the set of names is small.
func (c *latestCache) decode(b []byte) ([]vcd.MetricSample, error) {
	if len(b) < 1 || b[0] != latestVersion {
		return nil, errBadLatest
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadLatest
	}
	b = b[k:]
	out := make([]vcd.MetricSample, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range out {
		if len(b) < 1 || len(b) < 1+int(b[0])+8 {
			return nil, errBadLatest
		}
		l := int(b[0])
		nb := b[1 : 1+l]
		name, ok := c.names[string(nb)]
		if !ok {
			name = string(nb)
			if len(c.names) < maxInterned {
				c.names[name] = name
			}
		}
		b = b[1+l:]
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		t, k := binary.Varint(b[8:])
		if k <= 0 {
			return nil, errBadLatest
		}
		b = b[8+k:]
		out[i] = vcd.MetricSample{Name: name, Value: v, Time: time.Unix(0, t).UTC()}
	}
	return out, nil
}

func (c *latestCache) get(vm string) ([]vcd.MetricSample, uint64) {
	c.mu.Lock()
	it := c.items[vm]
	c.mu.Unlock()
	return it.samples, it.rev
}

// holds reports whether the cache holds vm at rev or newer and, if so, records that
// the watcher delivered rev, as put would.
func (c *latestCache) holds(vm string, rev uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.items[vm]; !ok || it.rev < rev {
		return false
	}
	c.tombs.advance(rev)
	return true
}

// put caches samples at rev unless the cache holds rev or newer, or a local delete at
// rev or later. Local writes (watched false) advance local.
func (c *latestCache) put(vm string, rev uint64, samples []vcd.MetricSample, watched bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if watched {
		defer c.tombs.advance(rev)
	} else if rev > c.local {
		c.local = rev
	}
	if old, ok := c.items[vm]; ok && old.rev >= rev {
		return
	}
	if c.tombs.buries(vm, rev) {
		return
	}
	c.items[vm] = latestItem{rev: rev, samples: samples}
}

func (c *latestCache) remove(vm string, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.tombs.advance(rev)
	if old, ok := c.items[vm]; ok && old.rev < rev {
		delete(c.items, vm)
	}
}

func (c *latestCache) forget(vm string, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[vm]; ok && old.rev <= rev {
		delete(c.items, vm)
	}
	c.tombs.bury(vm, rev)
	if rev > c.local {
		c.local = rev
	}
}

// waitLocal waits until the watcher has delivered every write this node made before
// the call, or ctx ends. Writes made during the wait are not waited for: under steady
// ingestion the watcher is always a few writes behind the latest, and a moving target
// could hold publication until ctx's timeout.
func (c *latestCache) waitLocal(ctx context.Context) {
	c.mu.Lock()
	target := c.local
	c.mu.Unlock()
	c.tombs.waitFor(ctx, &c.mu, target)
}

// watch starts the watcher of herald_metrics_latest like table.watch: it returns once
// the current values are cached; the goroutine, owned by wg, runs until the watcher
// stops (watchCtx done or connection closed).
func (c *latestCache) watch(ctx, watchCtx context.Context, kv jetstream.KeyValue, logger *slog.Logger, wg *sync.WaitGroup) error {
	return watchBucket(ctx, watchCtx, kv, wg, bucketWatch{apply: func(e jetstream.KeyValueEntry, _ bool) {
		if e.Operation() != jetstream.KeyValuePut {
			c.remove(e.Key(), e.Revision())
			return
		}
		// This node's own writes are cached already (PutSamples): only the
		// revision needs recording, not a second decoding.
		if c.holds(e.Key(), e.Revision()) {
			return
		}
		s, err := c.decode(e.Value())
		if err != nil {
			logger.Warn("ignoring undecodable samples", "key", e.Key(), "revision", e.Revision())
			c.mu.Lock()
			c.tombs.advance(e.Revision())
			c.mu.Unlock()
			return
		}
		c.put(e.Key(), e.Revision(), s, true)
	}})
}
