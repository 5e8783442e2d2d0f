package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// KV buckets. doc.go describes their keys and values.
const (
	bucketOrgs     = "herald_orgs"
	bucketUsers    = "herald_users"
	bucketNames    = "herald_names"
	bucketSessions = "herald_sessions"
	bucketTokens   = "herald_tokens"
	bucketKeys     = "herald_keys"
	bucketMeta     = "herald_meta"
	bucketRevoked  = "herald_revoked"
)

// DB is herald's durable store on NATS JetStream: the directory (orgs, users), login
// sessions, API tokens, signing keys, revoked JWT ids and the site identity. Reads come
// from an in-memory cache that a KV watcher keeps current with every node's writes;
// writes go to JetStream and are in the cache when the writing method returns. DB is
// safe for concurrent use.
type DB struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	srv *server.Server // embedded server; nil when connected to NATSURL
	nc  *nats.Conn
	js  jetstream.JetStream
	// live and liveJS carry the notification log's hot path alone: appends and the
	// live feed (log.go). One NATS connection delivers its messages in order through
	// one buffer and one reader, so on a shared one a live notification waited
	// behind the audit projector's batches, their acknowledgements and the KV
	// watchers' updates (p99 at 5,000 notifications/s: 30-50 ms shared, about 10 ms
	// apart; docs/PERFORMANCE.md).
	live   *nats.Conn
	liveJS jetstream.JetStream

	names    jetstream.KeyValue // uniqueness index, never cached
	orgs     *table[vcd.Org]
	users    *table[vcd.User]
	sessions *table[vcd.Session]
	tokens   *table[vcd.APIToken]
	keys     *table[vcd.SigningKey]
	revoked  *table[revocation]
	tasks    *table[TaskRecord] // herald_tasks; see task.go
	metrics  metricsState       // vApps, samples, settings, lease; see metrics.go

	mqttSessions jetstream.KeyValue // herald_mqtt_sessions, never cached; see mqttsession.go
	mqttIndex    mqttSessionIndex   // the keys of mqttSessions (mqttsession_index.go)

	// Secondary indexes, each guarded by its table's mu.
	orgByName       map[string]string            // lowercased name → org id
	userByName      map[string]map[string]string // org id → lowercased name → user id
	sessionByLegacy map[string]string            // legacy token hash → session id
	tokenBySecret   map[string]string            // secret hash → token id
	accounts        serviceAccounts              // herald_service_accounts, with its indexes

	site     vcd.Site
	feed     feed
	retained retained   // herald_retained, watched
	history  history    // stream HISTORY and its query index (history.go)
	disk     *diskGuard // the embedded store's free space (disk.go); nil when not watched
	// failed holds the streams the embedded server could not write (disk.go).
	failed sync.Map // stream name → error

	stopWatch context.CancelFunc // ends the watchers
	watchers  sync.WaitGroup     // the watcher goroutines
	closeOnce sync.Once
}

// Open starts (or connects to) NATS JetStream, creates or updates the buckets, loads
// the cache and returns when the DB is ready to serve. ctx bounds the start-up only.
// Errors reaching JetStream are vcd.CodeUnavailable.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{
		cfg:             cfg.withDefaults(),
		logger:          logger.With("subsystem", "store"),
		now:             time.Now,
		orgByName:       make(map[string]string),
		userByName:      make(map[string]map[string]string),
		sessionByLegacy: make(map[string]string),
		tokenBySecret:   make(map[string]string),
	}
	if err := db.open(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	db.logger.Info("store open", "mode", db.mode(), "site_id", db.site.ID)
	return db, nil
}

func (db *DB) mode() string {
	switch {
	case db.srv != nil && db.cfg.Cluster.Name != "":
		return "cell"
	case db.srv != nil:
		return "embedded"
	}
	return "external"
}

func (db *DB) open(ctx context.Context) error {
	// Start-up is retried, not assumed instant: in a cluster the first nodes wait
	// for a quorum, elections and enough peers for the replicas.
	ctx, cancel := context.WithTimeout(ctx, db.cfg.StartTimeout)
	defer cancel()
	kvs, metricsKVs, provisioned, err := db.prepare(ctx, false)
	if err != nil {
		return err
	}
	defer provisioned()
	db.names = kvs[bucketNames]
	db.initTables(kvs)

	// The watchers outlive ctx: they run until Close.
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	db.stopWatch = stop
	if db.srv != nil && db.cfg.DiskReserve > 0 {
		db.disk = &diskGuard{dir: db.cfg.DataDir, reserve: uint64(db.cfg.DiskReserve)}
		db.disk.statfs.Store(new(statfsFunc(statfs)))
		db.checkDisk()
		db.watchers.Go(func() { every(watchCtx, diskCheckEvery, db.checkDisk) })
	}
	for _, w := range []interface {
		watch(ctx, watchCtx context.Context, wg *sync.WaitGroup) error
	}{db.orgs, db.users, db.sessions, db.tokens, db.keys, db.revoked, db.accounts.t, db.tasks} {
		if err := w.watch(ctx, watchCtx, &db.watchers); err != nil {
			return unavailable("load cache", err)
		}
	}
	if err := db.openMetrics(ctx, watchCtx, &db.watchers, metricsKVs); err != nil {
		return err
	}
	if err := db.watchRetained(ctx, watchCtx, kvs[bucketRetained], &db.watchers); err != nil {
		return unavailable("load cache", err)
	}
	if err := db.mqttIndex.watch(ctx, watchCtx, db.mqttSessions, &db.watchers); err != nil {
		return unavailable("load cache", err)
	}
	if err := db.openHistory(ctx, watchCtx, &db.watchers); err != nil {
		return err
	}
	return db.retry(ctx, "site", func(ctx context.Context) error { return db.ensureSite(ctx, kvs[bucketMeta]) })
}

// prepare connects, waits until JetStream answers, lets one node provision a new
// cluster (awaitProvisioner; importing makes this node the one) and creates or
// updates every stream and bucket, retrying each step. done ends this node's
// provisioning announcements.
func (db *DB) prepare(ctx context.Context, importing bool) (kvs, metricsKVs map[string]jetstream.KeyValue, done func(), err error) {
	done = func() {}
	if err := db.connect(); err != nil {
		return nil, nil, done, err
	}
	if importing {
		// From the first moment, so that no peer starts provisioning meanwhile.
		done = db.sayProvisioning()
	}
	js, err := jetstream.New(db.nc, jetstream.WithDefaultTimeout(db.cfg.Timeout))
	if err != nil {
		return nil, nil, done, fmt.Errorf("jetstream: %w", err)
	}
	db.js = js
	if db.liveJS, err = jetstream.New(db.live, jetstream.WithDefaultTimeout(db.cfg.Timeout)); err != nil {
		return nil, nil, done, fmt.Errorf("jetstream: %w", err)
	}
	if err := db.waitJetStream(ctx); err != nil {
		return nil, nil, done, err
	}
	if importing {
		if db.siteExists(ctx) {
			return nil, nil, done, errTargetInUse
		}
	} else if done, err = db.awaitProvisioner(ctx); err != nil {
		return nil, nil, done, err
	}
	for _, step := range []struct {
		op string
		fn func(ctx context.Context) error
	}{
		{"buckets", func(ctx context.Context) (err error) { kvs, err = db.ensureBuckets(ctx); return err }},
		{"metrics buckets", func(ctx context.Context) (err error) { metricsKVs, err = db.ensureMetricsBuckets(ctx); return err }},
		{"log", db.ensureLog},
		{"mqtt sessions", db.openMQTTSessions},
		{"history", db.ensureHistory},
	} {
		if err := db.retry(ctx, step.op, step.fn); err != nil {
			return nil, nil, done, err
		}
	}
	return kvs, metricsKVs, done, nil
}

// connect starts the embedded server (alone, or joined to its peers in cell mode)
// and opens the two connections to it in-process (db.nc and db.live), or opens them
// to NATSURL.
func (db *DB) connect() error {
	if db.cfg.NATSURL != "" {
		opts, err := db.externalOptions()
		if err != nil {
			return err
		}
		if db.nc, err = db.connectExternal(opts); err != nil {
			return unavailable("connect to nats", err)
		}
		if db.live, err = db.connectExternal(opts); err != nil {
			return unavailable("connect to nats", err)
		}
		return nil
	}
	opts := &server.Options{
		ServerName: db.cfg.ServerName,
		// No client port unless listenLoopback opens one below.
		DontListen:         true,
		JetStream:          true,
		StoreDir:           filepath.Join(db.cfg.DataDir, "jetstream"),
		SyncInterval:       db.cfg.SyncInterval,
		SyncAlways:         db.cfg.SyncAlways,
		JetStreamMaxMemory: db.cfg.MaxMemory,
		JetStreamMaxStore:  db.cfg.MaxStore,
		NoSigs:             true, // signals belong to the herald process
	}
	var connOpts []nats.Option
	if db.cfg.Cluster.Name != "" {
		if err := db.cfg.Cluster.apply(opts); err != nil {
			return err
		}
	}
	if db.cfg.Cluster.Name != "" || !db.cfg.InProcess {
		connOpts = append(connOpts, listenLoopback(opts))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded nats server: %w", err)
	}
	srv.SetLoggerV2(natsLogger{l: db.logger.With("component", "nats"), streamFailed: db.streamFailed}, false, false, false)
	db.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(db.cfg.Timeout) {
		return vcd.Wrap(vcd.CodeUnavailable, errors.New("embedded nats server not ready"), "The store is unavailable.")
	}
	url := ""
	if db.cfg.InProcess {
		connOpts = append(connOpts, nats.InProcessServer(srv))
	} else {
		url = srv.ClientURL()
	}
	// The connection is to this process's own server alone: the peers' client
	// ports a cluster would otherwise tell it of are loopback ports of other
	// machines that refuse this process's password.
	connOpts = append(connOpts, nats.MaxReconnects(-1), nats.IgnoreDiscoveredServers())
	if db.nc, err = nats.Connect(url, append(connOpts, nats.Name("herald"))...); err != nil {
		return unavailable("connect to embedded nats", err)
	}
	if db.live, err = nats.Connect(url, append(connOpts, nats.Name("herald-live"))...); err != nil {
		return unavailable("connect to embedded nats", err)
	}
	return nil
}

// waitJetStream polls until the JetStream API answers: on a cluster it needs a meta
// leader, and even a single embedded server may still be recovering its streams.
func (db *DB) waitJetStream(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Each attempt has its own bound: without a meta leader nobody answers.
		actx, cancel := context.WithTimeout(ctx, min(db.cfg.Timeout, 2*time.Second))
		_, err := db.js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return unavailable("wait for jetstream", err)
		case <-tick.C:
		}
	}
}

// ensureBuckets creates the buckets or updates their configuration, so that a change
// of Replicas or RevokedTTL applies to an existing store.
func (db *DB) ensureBuckets(ctx context.Context) (map[string]jetstream.KeyValue, error) {
	cfgs := []jetstream.KeyValueConfig{
		{Bucket: bucketOrgs, Description: "herald orgs by id"},
		{Bucket: bucketUsers, Description: "herald users by id"},
		{Bucket: bucketNames, Description: "herald name uniqueness index"},
		{Bucket: bucketSessions, Description: "herald login sessions by id"},
		{Bucket: bucketTokens, Description: "herald api tokens by id"},
		{Bucket: bucketKeys, Description: "herald jwt signing keys by kid"},
		{Bucket: bucketServiceAccounts, Description: "herald mqtt service accounts by id"},
		{Bucket: bucketTasks, Description: "herald producer tasks by id"},
		{Bucket: bucketMeta, Description: "herald site identity"},
		{Bucket: bucketRetained, Description: "herald mqtt retained messages by topic"},
		{
			Bucket: bucketRevoked, Description: "herald revoked jwt ids",
			TTL: db.cfg.RevokedTTL,
			// Expiry markers let watchers drop expired ids from their caches.
			LimitMarkerTTL: time.Minute,
		},
	}
	return db.ensureKV(ctx, cfgs)
}

// ensureKV creates or updates the buckets cfgs describe, each with one value per key
// on file with the store's replicas, and returns them by name.
func (db *DB) ensureKV(ctx context.Context, cfgs []jetstream.KeyValueConfig) (map[string]jetstream.KeyValue, error) {
	kvs := make(map[string]jetstream.KeyValue, len(cfgs))
	for _, c := range cfgs {
		c.History = 1
		c.Replicas = db.cfg.Replicas
		c.Storage = jetstream.FileStorage
		kv, err := db.js.CreateOrUpdateKeyValue(ctx, c)
		if err != nil {
			return nil, unavailable("bucket "+c.Bucket, err)
		}
		kvs[c.Bucket] = kv
	}
	return kvs, nil
}

// every calls fn every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Close stops the watchers, closes the NATS connection and shuts the embedded server
// down. It is idempotent and always returns nil.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.stopWatch != nil {
			db.stopWatch()
		}
		if db.live != nil {
			db.live.Close()
		}
		if db.nc != nil {
			// Closing the connection ends every watcher subscription, which closes the
			// update channels the watcher goroutines range over.
			db.nc.Close()
		}
		db.watchers.Wait()
		if db.srv != nil {
			db.srv.Shutdown()
			db.srv.WaitForShutdown()
		}
	})
	return nil
}

// singleNode reports whether the store is one embedded server of its own, no
// cluster: the only writer of its streams.
func (db *DB) singleNode() bool { return db.srv != nil && db.cfg.Cluster.Name == "" }

// bounded returns ctx, given Config.Timeout as its deadline if it has none, and the
// function that releases it.
func (db *DB) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.cfg.Timeout)
}
