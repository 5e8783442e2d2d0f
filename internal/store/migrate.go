package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// errTargetInUse refuses a migration into a store that already has a site identity:
// merging two directories is not supported, only moving one into a new cluster.
var errTargetInUse = vcd.Errorf(vcd.CodeConflict,
	"the destination already holds a herald store (it has a site identity): migrate only into a new, empty cluster")

// migratedBuckets are the KV buckets Migrate copies, every one but herald_meta (whose
// site identity is written last) and the metrics lease (a node claims it anew).
var migratedBuckets = []string{
	bucketOrgs, bucketUsers, bucketNames, bucketSessions, bucketTokens, bucketKeys, bucketRevoked,
	bucketServiceAccounts, bucketTasks, bucketRetained, bucketMQTTSessions,
	bucketVApps, bucketMetricsLatest, bucketMetricsSettings,
}

// MigrateStats counts what Migrate copied.
type MigrateStats struct {
	Keys           int    // KV entries, all buckets
	Notifications  int    // messages of the notification log
	FirstSeq       uint64 // the log's first sequence, the same in both stores
	AuditRecords   int    // records of the audit history
	SiteID         string // the site identity, the same in both stores
	TargetReplicas int
}

// Migrate copies a single node's store (from, opened with its embedded server alone)
// into a new cluster (to: this node in cell mode, or NATSURL), so that the cluster
// continues it: the directory, login sessions, API tokens, signing keys, revoked JWT
// ids, service accounts, tasks, retained messages, persistent MQTT sessions, the
// inventory and metrics, the notification log with the same sequences (persistent
// sessions' ack floors stay valid) and the audit history. The site identity is
// written last, so the cluster's other nodes, started with serve meanwhile, wait for
// Migrate and then find a complete store (see awaitProvisioner). It refuses a
// destination that already has a site identity. Message timestamps are those of the
// copy: the retention ages (Config.LogMaxAge, HistoryMaxAge) start again.
func Migrate(ctx context.Context, from, to Config, logger *slog.Logger) (MigrateStats, error) {
	var st MigrateStats
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := to.Validate(); err != nil {
		return st, fmt.Errorf("migrate: destination: %w", err)
	}
	src, err := Open(ctx, from, logger.With("store", "source"))
	if err != nil {
		return st, fmt.Errorf("migrate: source: %w", err)
	}
	defer src.Close()
	dst := &DB{cfg: to.withDefaults(), logger: logger.With("subsystem", "store", "store", "destination"), now: time.Now}
	defer dst.Close()
	st.TargetReplicas = dst.cfg.Replicas
	pctx, cancel := context.WithTimeout(ctx, dst.cfg.StartTimeout)
	defer cancel()
	_, _, done, err := dst.prepare(pctx, true)
	defer done()
	if err != nil {
		return st, fmt.Errorf("migrate: destination: %w", err)
	}
	for _, b := range migratedBuckets {
		n, err := copyBucket(ctx, src, dst, b)
		if err != nil {
			return st, fmt.Errorf("migrate: bucket %s: %w", b, err)
		}
		st.Keys += n
	}
	// The copy keeps the log's sequences, and so its epoch: persistent sessions and
	// the history projector resume in it as in the source.
	info, err := src.LogInfo(ctx)
	if err != nil {
		return st, fmt.Errorf("migrate: notification log: %w", err)
	}
	if err := dst.setLogEpoch(ctx, info.Epoch); err != nil {
		return st, fmt.Errorf("migrate: notification log: %w", err)
	}
	if st.Notifications, st.FirstSeq, err = copyStream(ctx, src, dst, streamNotify, true, nil); err != nil {
		return st, fmt.Errorf("migrate: notification log: %w", err)
	}
	// A single node's history message may hold several records (batchMsg).
	countRecords := func(m jetstream.Msg) { st.AuditRecords += max(1, len(m.Headers().Values(hdrAudit))) }
	if _, _, err = copyStream(ctx, src, dst, streamHistory, false, countRecords); err != nil {
		return st, fmt.Errorf("migrate: audit history: %w", err)
	}
	site, err := json.Marshal(src.site)
	if err != nil {
		return st, fmt.Errorf("migrate: encode site: %w", err)
	}
	meta, err := dst.js.KeyValue(ctx, bucketMeta)
	if err != nil {
		return st, unavailable("migrate: bucket "+bucketMeta, err)
	}
	if _, err := meta.Create(ctx, siteKey, site); err != nil {
		return st, unavailable("migrate: site identity", err)
	}
	st.SiteID = src.site.ID
	logger.Info("migrated", "keys", st.Keys, "notifications", st.Notifications, "audit_records", st.AuditRecords,
		"site_id", st.SiteID, "replicas", st.TargetReplicas)
	return st, nil
}

// copyBucket puts every current key of bucket from src into dst and returns how many.
func copyBucket(ctx context.Context, src, dst *DB, bucket string) (int, error) {
	from, err := src.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	to, err := dst.js.KeyValue(ctx, bucket)
	if err != nil {
		return 0, err
	}
	w, err := from.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, err
	}
	defer func() { _ = w.Stop() }()
	n := 0
	for e := range w.Updates() {
		if e == nil {
			return n, nil // the initial values are done
		}
		if _, err := to.Put(ctx, e.Key(), e.Value()); err != nil {
			return n, fmt.Errorf("put %s: %w", e.Key(), err)
		}
		n++
	}
	return n, errors.New("watcher stopped")
}

// copyStream appends every message of stream name from src to dst, in order, with
// its subject, data and headers (but Nats-Msg-Id). With sameSeq, dst's first
// sequence is set to src's and every message must land at its source sequence (the
// notification log's sequences are persistent sessions' cursors); an interior gap
// in the source is then an error. copied, if not nil, is called with each message
// copied.
func copyStream(ctx context.Context, src, dst *DB, name string, sameSeq bool, copied func(jetstream.Msg)) (n int, first uint64, err error) {
	ss, err := src.js.Stream(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	state := ss.CachedInfo().State
	if state.Msgs == 0 {
		return 0, state.FirstSeq, nil
	}
	ds, err := dst.js.Stream(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	if sameSeq && state.FirstSeq > 1 {
		// Purging up to a sequence beyond the last one moves the first sequence there.
		if err := ds.Purge(ctx, jetstream.WithPurgeSequence(state.FirstSeq)); err != nil {
			return 0, 0, fmt.Errorf("set first sequence: %w", err)
		}
	}
	cons, err := ss.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, 0, err
	}
	expect := state.FirstSeq
	// Appends are pipelined, up to a window, and their acknowledgements checked
	// in order: the leader stores one connection's messages in the order sent.
	var pending []jetstream.PubAckFuture
	var seqs []uint64
	check := func(all bool) error {
		for len(pending) > 0 && (all || len(pending) >= 256) {
			select {
			case ack := <-pending[0].Ok():
				if sameSeq && ack.Sequence != seqs[0] {
					return fmt.Errorf("message %d stored as %d", seqs[0], ack.Sequence)
				}
			case err := <-pending[0].Err():
				return fmt.Errorf("append %d: %w", seqs[0], err)
			case <-ctx.Done():
				return ctx.Err()
			}
			pending, seqs = pending[1:], seqs[1:]
		}
		return nil
	}
	for uint64(n) < state.Msgs {
		// Never more than remain: Fetch waits until it has as many as asked for.
		batch, err := cons.Fetch(int(min(500, state.Msgs-uint64(n))), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return n, 0, err
		}
		got, past := 0, false
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return n, 0, err
			}
			seq := md.Sequence.Stream
			if seq > state.LastSeq {
				past = true // appended to the source after we began
				continue
			}
			// The message id is left behind: a source holding one id twice (apart by
			// more than the dedup window) would otherwise lose the second copy.
			out := &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()}
			out.Header.Del(jetstream.MsgIDHeader)
			var opts []jetstream.PublishOpt
			if sameSeq {
				if seq != expect {
					return n, 0, fmt.Errorf("source sequence %d after %d: a gap cannot be kept", seq, expect-1)
				}
				opts = append(opts, jetstream.WithExpectLastSequence(seq-1))
			}
			f, err := dst.js.PublishMsgAsync(out, opts...)
			if err != nil {
				return n, 0, fmt.Errorf("append %d: %w", seq, err)
			}
			pending, seqs = append(pending, f), append(seqs, seq)
			if err := check(false); err != nil {
				return n, 0, err
			}
			expect = seq + 1
			n++
			if copied != nil {
				copied(m)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return n, 0, err
		}
		if past {
			break
		}
		if got == 0 {
			return n, 0, fmt.Errorf("%d of %d messages read", n, state.Msgs)
		}
	}
	if err := check(true); err != nil {
		return n, 0, err
	}
	return n, state.FirstSeq, nil
}
