package server

import (
	"context"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/metrics"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// inventoryStore adapts the store's vApp inventory to the API's (VCD-COMPAT §9.3).
type inventoryStore struct{ db *store.DB }

func toAPIVApp(v store.VApp) api.VApp {
	out := api.VApp{ID: v.ID, OrgID: v.OrgID, Name: v.Name, Created: v.Created, VMs: make([]api.VM, len(v.VMs))}
	for i, vm := range v.VMs {
		out.VMs[i] = api.VM(vm)
	}
	return out
}

func toStoreVApp(v api.VApp) store.VApp {
	out := store.VApp{ID: v.ID, OrgID: v.OrgID, Name: v.Name, Created: v.Created, VMs: make([]store.VM, len(v.VMs))}
	for i, vm := range v.VMs {
		out.VMs[i] = store.VM(vm)
	}
	return out
}

func (s inventoryStore) VApps(ctx context.Context, orgID string) ([]api.VApp, error) {
	vs, err := s.db.VApps(ctx, orgID)
	out := make([]api.VApp, len(vs))
	for i, v := range vs {
		out[i] = toAPIVApp(v)
	}
	return out, err
}

func (s inventoryStore) VApp(ctx context.Context, id string) (api.VApp, error) {
	v, err := s.db.VApp(ctx, id)
	return toAPIVApp(v), err
}

func (s inventoryStore) CreateVApp(ctx context.Context, v api.VApp) (api.VApp, error) {
	x, err := s.db.CreateVApp(ctx, toStoreVApp(v))
	return toAPIVApp(x), err
}

func (s inventoryStore) UpdateVApp(ctx context.Context, id string, fn func(*api.VApp) error) (api.VApp, error) {
	x, err := s.db.UpdateVApp(ctx, id, func(v *store.VApp) error {
		a := toAPIVApp(*v)
		if err := fn(&a); err != nil {
			return err
		}
		*v = toStoreVApp(a)
		return nil
	})
	return toAPIVApp(x), err
}

func (s inventoryStore) DeleteVApp(ctx context.Context, id string) error {
	return s.db.DeleteVApp(ctx, id)
}

func (s inventoryStore) VAppCount(orgID string) int { return s.db.VAppCount(orgID) }

func (s inventoryStore) VMOwner(vmID string) (api.VApp, bool) {
	v, ok := s.db.VMOwner(vmID)
	return api.VApp{ID: v.ID, OrgID: v.OrgID, Name: v.Name, Created: v.Created}, ok
}

// metricsStore adapts the store's metrics settings and samples to the API and to the
// publisher. Settings not stored yet are the configured defaults (VCD-COMPAT §9.1).
type metricsStore struct {
	db       *store.DB
	defaults store.MetricsSettings
}

func (s *Server) newMetricsStore() metricsStore {
	m := s.cfg.Metrics
	return metricsStore{db: s.db, defaults: store.MetricsSettings{PublishingEnabled: m.Publishing.Enabled,
		IntervalSeconds: int(m.Interval.D() / time.Second), SimulatorEnabled: m.Simulator.Enabled}}
}

func (s metricsStore) settings(ctx context.Context) (store.MetricsSettings, error) {
	x, ok, err := s.db.MetricsSettings(ctx)
	if !ok || err != nil {
		return s.defaults, err
	}
	return x, nil
}

// apiMetrics is metricsStore as api.MetricsStore.
type apiMetrics struct{ metricsStore }

func (s apiMetrics) MetricsSettings(ctx context.Context) (api.MetricsSettings, error) {
	x, err := s.settings(ctx)
	return api.MetricsSettings(x), err
}

func (s apiMetrics) SetMetricsSettings(ctx context.Context, x api.MetricsSettings) error {
	return s.db.SetMetricsSettings(ctx, store.MetricsSettings(x))
}

func (s apiMetrics) PutSamples(ctx context.Context, batch []vcd.VMSamples) error {
	return s.db.PutSamples(ctx, batch)
}

func (s apiMetrics) LatestSamples(vmID string) []vcd.MetricSample { return s.db.LatestSamples(vmID) }

// publisherStore is metricsStore as metrics.Store.
type publisherStore struct{ metricsStore }

func (s publisherStore) Settings(ctx context.Context) (metrics.Settings, error) {
	x, err := s.settings(ctx)
	return metrics.Settings{Publishing: x.PublishingEnabled, Interval: time.Duration(x.IntervalSeconds) * time.Second,
		Simulator: x.SimulatorEnabled}, err
}

func (s publisherStore) ClaimInterval(ctx context.Context, end time.Time) (uint64, bool, error) {
	return s.db.ClaimMetricsInterval(ctx, end)
}

func (s publisherStore) CompleteInterval(ctx context.Context, end time.Time, seq uint64) error {
	return s.db.CompleteMetricsInterval(ctx, end, seq)
}

func (s publisherStore) Since(ctx context.Context, after uint64) ([]vcd.VMSamples, uint64) {
	ls, horizon := s.db.MetricsSince(ctx, after)
	out := make([]vcd.VMSamples, len(ls))
	for i, l := range ls {
		out[i] = vcd.VMSamples{VMID: l.VMID, Samples: l.Samples}
	}
	return out, horizon
}

func (s publisherStore) VApps(ctx context.Context) ([]metrics.VApp, error) {
	vs, err := s.db.VApps(ctx, "")
	out := make([]metrics.VApp, len(vs))
	for i, v := range vs {
		out[i] = metrics.VApp{ID: v.ID, OrgID: v.OrgID, Name: v.Name, VMs: make([]metrics.VM, len(v.VMs))}
		for j, vm := range v.VMs {
			out[i].VMs[j] = metrics.VM(vm)
		}
	}
	return out, err
}

func (s publisherStore) PutSamples(ctx context.Context, batch []vcd.VMSamples) error {
	return s.db.PutSamples(ctx, batch)
}

// metricsNotifier is the publisher's metrics.BatchNotifier: one interval's METRICS
// messages are appended to the log pipelined (store.AppendBatch).
type metricsNotifier struct{ logNotifier }

func (l metricsNotifier) NotifyBatch(ctx context.Context, ns []notify.Notification) error {
	start := time.Now()
	recs := make([]store.Record, len(ns))
	for i, n := range ns {
		recs[i] = store.Record{Subject: subjectOf(n.Topic), ID: n.ID, Payload: n.Envelope}
	}
	if _, err := l.db.AppendBatch(ctx, recs); err != nil {
		return err
	}
	for range recs {
		l.m.appended(start)
	}
	return nil
}

// startMetrics starts the metrics publisher (VCD-COMPAT §9.3), owned by s.wg: it runs
// until ctx, the server's background context, is cancelled by Close. A change of the
// stored settings on any node wakes it, so a new interval applies at once.
func (s *Server) startMetrics(ctx context.Context) {
	p := metrics.New(metrics.Config{
		Store:    publisherStore{s.newMetricsStore()},
		Notifier: metricsNotifier{logNotifier{s.db, s.inst}},
		Logger:   s.logger.With("subsystem", "metrics"),
		Now:      s.now,
	})
	stop := s.db.Watch(func(c store.Change) {
		if c.Kind == store.ChangeMetricsSettings {
			p.Wake()
		}
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		p.Run(ctx)
	}()
}
