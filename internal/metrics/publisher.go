// Package metrics publishes VM metrics as METRICS notifications (VCD-COMPAT §9.3) and
// simulates them. It imports only vcd and notify; the store and the notification log
// reach it through the small interfaces below, which the server adapts.
//
// Rules:
//   - Intervals are aligned to the clock: the interval of length d that ends at T has
//     T a multiple of d (time.Time.Truncate), so every node agrees on T.
//   - At each interval end T, while publishing or the simulator is enabled, exactly
//     one node of the cluster works: the one whose Store.ClaimInterval(T) succeeds
//     (compare-and-set on one KV key holding the last claimed T). It runs the
//     simulator if enabled (samples for every VM of every vApp, through the store's
//     ingestion), then, if publishing is enabled, sends one METRICS message per vApp
//     whose VMs received samples since the last published store revision, with each
//     VM's latest values, and records the new revision (CompleteInterval).
//   - A node that fails between claim and completion leaves the old revision, so the
//     next interval publishes those samples again: at least once, never lost. Message
//     ids derive from (vApp, T), so a retry of the same interval is de-duplicated by
//     the log.
package metrics

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// Settings are the metrics settings in force (VCD-COMPAT §9.1).
type Settings struct {
	Publishing bool
	Interval   time.Duration
	Simulator  bool
}

// VApp is an inventory vApp with its VMs; ids are bare UUIDs.
type VApp struct {
	ID, OrgID, Name string
	VMs             []VM
}

// VM is a VM of a vApp.
type VM struct{ ID, Name string }

// Store is what the publisher needs from the store. Settings returns the settings in
// force (stored, else configured). ClaimInterval succeeds on one node per interval end
// and returns the revision publication has reached; Since returns the latest samples
// of the VMs written after a revision (slices the caller must not modify), and the
// revision to record with CompleteInterval. PutSamples is the ingestion the simulator
// uses.
type Store interface {
	Settings(ctx context.Context) (Settings, error)
	ClaimInterval(ctx context.Context, end time.Time) (from uint64, ok bool, err error)
	CompleteInterval(ctx context.Context, end time.Time, seq uint64) error
	Since(ctx context.Context, after uint64) ([]vcd.VMSamples, uint64)
	VApps(ctx context.Context) ([]VApp, error)
	PutSamples(ctx context.Context, batch []vcd.VMSamples) error
}

// Notifier stores a notification in the notification log, which delivers it.
type Notifier interface {
	Notify(ctx context.Context, n notify.Notification) error
}

// BatchNotifier is a Notifier that also stores many notifications at once, without
// waiting for each to be stored before sending the next. The publisher uses it when
// its Notifier has it: one interval stores one message per vApp, and one at a time
// they took longer than an interval at a few thousand vApps (docs/PERFORMANCE.md).
// On error, some of ns may be stored; storing them again is safe (ids deduplicate).
type BatchNotifier interface {
	NotifyBatch(ctx context.Context, ns []notify.Notification) error
}

// notifyChunk bounds the METRICS messages the publisher holds encoded at once.
const notifyChunk = 256

// Config configures a Publisher. Store and Notifier are required.
type Config struct {
	Store    Store
	Notifier Notifier
	Logger   *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// After returns a channel that receives after d; nil means time.After. Tests
	// inject a fake to drive intervals without sleeping.
	After func(d time.Duration) <-chan time.Time
	// Seed seeds the simulator's random numbers; 0 means a random seed.
	Seed uint64
}

// sinceTimeout bounds the wait for this node's own writes in Store.Since.
const sinceTimeout = 5 * time.Second

// retryDelay is the wait after a failure to read the settings.
const retryDelay = time.Second

// Publisher runs the publication and the simulator at each interval. Run owns its
// loop; Tick is one interval, for Run and tests.
type Publisher struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu  sync.Mutex // guards sim
	sim *simulator
}

// New returns a Publisher for cfg.
func New(cfg Config) *Publisher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), sim: newSimulator(cfg.Seed)}
}

// Wake makes Run re-read the settings now, after they changed; it never blocks.
func (p *Publisher) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run works at each interval end until ctx is done, then returns. It re-reads the
// settings at every interval and whenever Wake is called.
func (p *Publisher) Run(ctx context.Context) {
	for {
		s, err := p.cfg.Store.Settings(ctx)
		wait := retryDelay
		var end time.Time
		if err != nil {
			p.log.Warn("read metrics settings", "err", err)
		} else {
			now := p.cfg.Now()
			end = now.Truncate(s.Interval).Add(s.Interval)
			wait = end.Sub(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			continue
		case <-p.cfg.After(wait):
		}
		if err != nil || !s.Publishing && !s.Simulator {
			continue
		}
		if _, err := p.Tick(ctx, end); err != nil && ctx.Err() == nil {
			p.log.Warn("metrics interval failed", "end", end, "err", err)
		}
	}
}

// Tick works the interval ending at end, if this node claims it: it runs the
// simulator when enabled, then publishes when enabled. It returns how many METRICS
// messages it stored.
func (p *Publisher) Tick(ctx context.Context, end time.Time) (int, error) {
	s, err := p.cfg.Store.Settings(ctx)
	if err != nil || !s.Publishing && !s.Simulator {
		return 0, err
	}
	from, ok, err := p.cfg.Store.ClaimInterval(ctx, end)
	if err != nil || !ok {
		return 0, err
	}
	vapps, err := p.cfg.Store.VApps(ctx)
	if err != nil {
		return 0, err
	}
	if s.Simulator {
		p.mu.Lock()
		batch := p.sim.samples(vapps, end)
		p.mu.Unlock()
		if len(batch) > 0 {
			if err := p.cfg.Store.PutSamples(ctx, batch); err != nil {
				return 0, fmt.Errorf("simulate: %w", err)
			}
		}
	}
	if !s.Publishing {
		return 0, nil
	}
	sctx, cancel := context.WithTimeout(ctx, sinceTimeout)
	latest, horizon := p.cfg.Store.Since(sctx, from)
	cancel()
	n, err := p.publish(ctx, vapps, latest, end)
	if err != nil {
		return n, err
	}
	return n, p.cfg.Store.CompleteInterval(ctx, end, horizon)
}

// publish stores one METRICS message per vApp with samples in latest, in chunks of
// notifyChunk through a BatchNotifier, else one by one.
func (p *Publisher) publish(ctx context.Context, vapps []VApp, latest []vcd.VMSamples, end time.Time) (int, error) {
	byVM := make(map[string][]vcd.MetricSample, len(latest))
	for _, l := range latest {
		byVM[l.VMID] = l.Samples
	}
	slices.SortFunc(vapps, func(a, b VApp) int { return cmp.Compare(a.ID, b.ID) })
	count := 0
	bn, batched := p.cfg.Notifier.(BatchNotifier)
	var chunk []notify.Notification
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := bn.NotifyBatch(ctx, chunk); err != nil {
			return fmt.Errorf("notify metrics of %d vApps: %w", len(chunk), err)
		}
		count += len(chunk)
		chunk = chunk[:0]
		return nil
	}
	for _, v := range vapps {
		info := notify.MetricsInfo{ID: vcd.NameUUID(v.ID, "metrics:"+end.UTC().Format(time.RFC3339Nano)),
			VAppID: v.ID, OrgID: v.OrgID, Time: end}
		for _, vm := range v.VMs {
			ss := byVM[vm.ID]
			if len(ss) == 0 {
				continue
			}
			m := notify.VMMetrics{ID: vm.ID, Name: vm.Name, Metrics: make([]notify.Metric, 0, len(ss))}
			for _, s := range ss {
				d, ok := notify.LookupMetric(s.Name)
				if !ok {
					continue // not admitted by ingestion; never stored
				}
				m.Metrics = append(m.Metrics, notify.Metric{Name: s.Name, Unit: d.Unit, Value: s.Value, Time: s.Time})
			}
			info.VMs = append(info.VMs, m)
		}
		if len(info.VMs) == 0 {
			continue
		}
		n, err := notify.Metrics(info)
		if err != nil {
			return count, fmt.Errorf("metrics of vApp %s: %w", v.ID, err)
		}
		if batched {
			if chunk = append(chunk, n); len(chunk) == notifyChunk {
				if err := flush(); err != nil {
					return count, err
				}
			}
			continue
		}
		if err := p.cfg.Notifier.Notify(ctx, n); err != nil {
			return count, fmt.Errorf("notify metrics of vApp %s: %w", v.ID, err)
		}
		count++
	}
	if batched {
		if err := flush(); err != nil {
			return count, err
		}
	}
	return count, nil
}
