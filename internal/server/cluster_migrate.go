package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/store"
)

// keepAll is a retention age longer than any store's.
const keepAll = 100 * 365 * 24 * time.Hour

// Migrate copies the store of a single node (its data dir from, whose server was
// named fromServerName and must be stopped) into the new cluster that cfg makes this
// node part of, so that the cluster continues it: directory, sessions, tokens,
// persistent MQTT sessions, retained messages, tasks, inventory, the notification log
// (same sequences) and the audit history (store.Migrate). The cluster's other nodes
// may already run serve: they wait until the copy is complete. It refuses a cluster
// that already holds a store.
func Migrate(ctx context.Context, cfg config.Config, from, fromServerName string, logger *slog.Logger) (store.MigrateStats, error) {
	if err := cfg.Validate(); err != nil {
		return store.MigrateStats{}, fmt.Errorf("invalid configuration: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg}
	to := s.storeConfig()
	src := store.Config{
		DataDir:    from,
		SiteName:   cfg.SiteName,
		ServerName: fromServerName,
		Replicas:   1,
		Timeout:    cfg.Store.Timeout.D(),
		// Open applies these to the source's streams: limits that drop nothing
		// before it is copied (the cluster applies cfg's own afterwards).
		LogMaxAge:      keepAll,
		LogMaxBytes:    -1,
		LogDedupWindow: to.LogDedupWindow,
		HistoryMaxAge:  keepAll,
	}
	return store.Migrate(ctx, src, to, logger)
}
