package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/metrics"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeStore is a metrics.Store in memory, with the semantics of the real one: a
// revision per write, the lease as the last claimed end and published revision.
type fakeStore struct {
	mu        sync.Mutex
	settings  metrics.Settings
	vapps     []metrics.VApp
	latest    map[string]vcd.VMSamples
	revs      map[string]uint64
	rev       uint64
	leaseEnd  time.Time
	leaseSeq  uint64
	completed int
}

func newFakeStore(s metrics.Settings) *fakeStore {
	return &fakeStore{settings: s, latest: map[string]vcd.VMSamples{}, revs: map[string]uint64{}}
}

func (f *fakeStore) Settings(ctx context.Context) (metrics.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, nil
}

func (f *fakeStore) ClaimInterval(ctx context.Context, end time.Time) (uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !end.After(f.leaseEnd) {
		return 0, false, nil
	}
	f.leaseEnd = end
	return f.leaseSeq, true, nil
}

func (f *fakeStore) CompleteInterval(ctx context.Context, end time.Time, seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end.Equal(f.leaseEnd) && seq > f.leaseSeq {
		f.leaseSeq = seq
	}
	f.completed++
	return nil
}

func (f *fakeStore) Since(ctx context.Context, after uint64) ([]vcd.VMSamples, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vcd.VMSamples
	for id, r := range f.revs {
		if r > after {
			out = append(out, f.latest[id])
		}
	}
	return out, f.rev
}

func (f *fakeStore) VApps(ctx context.Context) ([]metrics.VApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.vapps), nil
}

func (f *fakeStore) PutSamples(ctx context.Context, batch []vcd.VMSamples) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range batch {
		for _, s := range b.Samples {
			if _, ok := notify.LookupMetric(s.Name); !ok {
				return fmt.Errorf("bad metric %s", s.Name)
			}
		}
		f.rev++
		f.latest[b.VMID] = b
		f.revs[b.VMID] = f.rev
	}
	return nil
}

// recNotifier records notifications.
type recNotifier struct {
	mu    sync.Mutex
	notes []notify.Notification
}

func (r *recNotifier) Notify(ctx context.Context, n notify.Notification) error {
	r.mu.Lock()
	r.notes = append(r.notes, n)
	r.mu.Unlock()
	return nil
}

func (r *recNotifier) take() []notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.notes
	r.notes = nil
	return out
}

// ns is the namespace of the test ids.
const ns = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"

// inventory returns orgs × vapps × vms with deterministic ids.
func inventory(orgs, vapps, vms int) []metrics.VApp {
	var out []metrics.VApp
	for o := range orgs {
		org := vcd.NameUUID(ns, "org"+fmt.Sprint(o))
		for a := range vapps {
			v := metrics.VApp{ID: vcd.NameUUID(ns, "vapp"+fmt.Sprint(o, a)), OrgID: org, Name: fmt.Sprintf("app-%d", a)}
			for m := range vms {
				v.VMs = append(v.VMs, metrics.VM{ID: vcd.NameUUID(ns, "vm"+fmt.Sprint(o, a, m)), Name: fmt.Sprintf("vm-%d", m)})
			}
			out = append(out, v)
		}
	}
	return out
}

// payload is the decoded METRICS payload of VCD-COMPAT §9.3.
type payload struct {
	VApp      string `json:"vApp"`
	Org       string `json:"org"`
	Timestamp string `json:"timestamp"`
	VMs       []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Metrics []struct {
			Name      string  `json:"name"`
			Unit      string  `json:"unit"`
			Value     float64 `json:"value"`
			Timestamp string  `json:"timestamp"`
		} `json:"metrics"`
	} `json:"vms"`
}

func decode(t *testing.T, n notify.Notification) (map[string]string, payload) {
	t.Helper()
	var env struct {
		Type    string            `json:"type"`
		Headers map[string]string `json:"headers"`
		Payload string            `json:"payload"`
	}
	if err := json.Unmarshal(n.Envelope, &env); err != nil {
		t.Fatalf("envelope: %v", err)
	}
	if env.Type != notify.TypeMetrics {
		t.Fatalf("type = %q", env.Type)
	}
	var p payload
	if err := json.Unmarshal([]byte(env.Payload), &p); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return env.Headers, p
}

// TestPublisher_Simulator: 3 orgs × 10 vApps × 4 VMs with the simulator on give, at
// each interval, exactly one METRICS message per vApp on its topic, with its VMs and
// the full metric set in the units of VCD-COMPAT §9.2.
func TestPublisher_Simulator(t *testing.T) {
	st := newFakeStore(metrics.Settings{Publishing: true, Simulator: true, Interval: 20 * time.Second})
	st.vapps = inventory(3, 10, 4)
	rec := &recNotifier{}
	p := metrics.New(metrics.Config{Store: st, Notifier: rec, Seed: 1})
	ctx := context.Background()
	t0 := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)

	units := map[string]string{}
	var names []string
	for _, d := range notify.MetricDefs() {
		units[d.Name] = d.Unit
		names = append(names, d.Name)
	}
	sort.Strings(names)
	for i := range 3 {
		end := t0.Add(time.Duration(i) * 20 * time.Second)
		n, err := p.Tick(ctx, end)
		if err != nil {
			t.Fatal(err)
		}
		notes := rec.take()
		if n != 30 || len(notes) != 30 {
			t.Fatalf("interval %d: %d messages (%d stored); want 30", i, n, len(notes))
		}
		seen := map[string]bool{}
		for _, note := range notes {
			h, pl := decode(t, note)
			vappID := h["notification.entityUUID"]
			if seen[vappID] {
				t.Errorf("interval %d: vApp %s published twice", i, vappID)
			}
			seen[vappID] = true
			var want metrics.VApp
			for _, v := range st.vapps {
				if v.ID == vappID {
					want = v
				}
			}
			if want.ID == "" || h["notification.orgUUID"] != want.OrgID || note.Topic != "metrics/"+want.OrgID+"/"+want.ID {
				t.Fatalf("headers %v, topic %s: no such vApp", h, note.Topic)
			}
			if pl.VApp != vcd.URN(vcd.KindVApp, want.ID) || pl.Org != vcd.URN(vcd.KindOrg, want.OrgID) ||
				pl.Timestamp != end.Format(notify.EventTimeLayout) {
				t.Errorf("payload head = %s %s %s", pl.VApp, pl.Org, pl.Timestamp)
			}
			if len(pl.VMs) != 4 {
				t.Fatalf("vApp %s: %d VMs; want 4", vappID, len(pl.VMs))
			}
			for j, vm := range pl.VMs {
				if vm.ID != vcd.URN(vcd.KindVM, want.VMs[j].ID) || vm.Name != want.VMs[j].Name {
					t.Errorf("vms[%d] = %s %s; want %s", j, vm.ID, vm.Name, want.VMs[j].ID)
				}
				var got []string
				for _, m := range vm.Metrics {
					got = append(got, m.Name)
					if m.Unit != units[m.Name] {
						t.Errorf("%s: unit %s; want %s", m.Name, m.Unit, units[m.Name])
					}
					if m.Name == "cpu.usage.average" && (m.Value < 0 || m.Value > 100) {
						t.Errorf("cpu.usage.average = %v", m.Value)
					}
				}
				sort.Strings(got)
				if !slices.Equal(got, names) {
					t.Errorf("metrics %v; want %v", got, names)
				}
			}
		}
	}
}

// TestPublisher_OnlyVAppsWithSamples: without the simulator only vApps whose VMs got
// samples since the last interval are published, with only those VMs.
func TestPublisher_OnlyVAppsWithSamples(t *testing.T) {
	st := newFakeStore(metrics.Settings{Publishing: true, Interval: time.Second})
	st.vapps = inventory(1, 3, 2)
	rec := &recNotifier{}
	p := metrics.New(metrics.Config{Store: st, Notifier: rec})
	ctx := context.Background()
	t0 := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	vm := st.vapps[1].VMs[1]
	_ = st.PutSamples(ctx, []vcd.VMSamples{{VMID: vm.ID, Samples: []vcd.MetricSample{{Name: "mem.usage.average", Value: 61.2, Time: t0}}}})
	if n, err := p.Tick(ctx, t0); err != nil || n != 1 {
		t.Fatalf("Tick = %d, %v; want 1", n, err)
	}
	_, pl := decode(t, rec.take()[0])
	if len(pl.VMs) != 1 || pl.VMs[0].ID != vcd.URN(vcd.KindVM, vm.ID) || pl.VMs[0].Metrics[0].Value != 61.2 {
		t.Errorf("payload = %+v", pl)
	}
	if n, _ := p.Tick(ctx, t0.Add(time.Second)); n != 0 {
		t.Errorf("next interval without samples: %d messages; want 0", n)
	}
	st.settings.Publishing = false
	_ = st.PutSamples(ctx, []vcd.VMSamples{{VMID: vm.ID, Samples: []vcd.MetricSample{{Name: "mem.usage.average", Value: 1, Time: t0}}}})
	if n, _ := p.Tick(ctx, t0.Add(2*time.Second)); n != 0 || len(rec.take()) != 0 {
		t.Errorf("publishing disabled: %d messages", n)
	}
}

// TestPublisher_TwoNodes: two publishers on one store; for each interval exactly one
// of them publishes, and together they publish every vApp once per interval.
func TestPublisher_TwoNodes(t *testing.T) {
	st := newFakeStore(metrics.Settings{Publishing: true, Simulator: true, Interval: 20 * time.Second})
	st.vapps = inventory(2, 3, 2)
	rec := &recNotifier{}
	a := metrics.New(metrics.Config{Store: st, Notifier: rec, Seed: 1})
	b := metrics.New(metrics.Config{Store: st, Notifier: rec, Seed: 2})
	ctx := context.Background()
	t0 := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	for i := range 4 {
		end := t0.Add(time.Duration(i) * 20 * time.Second)
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		n1, err1 := first.Tick(ctx, end)
		n2, err2 := second.Tick(ctx, end)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if n1 != 6 || n2 != 0 {
			t.Errorf("interval %d: published %d and %d; want 6 and 0", i, n1, n2)
		}
		if got := len(rec.take()); got != 6 {
			t.Errorf("interval %d: %d messages stored; want 6", i, got)
		}
	}
}

// fakeAfter is an injectable After whose channels the test fires.
type fakeAfter struct {
	calls chan time.Duration
	fire  chan time.Time
}

func (f *fakeAfter) After(d time.Duration) <-chan time.Time {
	f.calls <- d
	return f.fire
}

// TestPublisher_Run drives Run with a fake clock and timer: it waits until the next
// aligned interval end, works it, and exits when its context ends.
func TestPublisher_Run(t *testing.T) {
	st := newFakeStore(metrics.Settings{Publishing: true, Simulator: true, Interval: 20 * time.Second})
	st.vapps = inventory(1, 2, 1)
	rec := &recNotifier{}
	now := time.Date(2025, 3, 14, 9, 35, 5, 0, time.UTC)
	fa := &fakeAfter{calls: make(chan time.Duration), fire: make(chan time.Time)}
	p := metrics.New(metrics.Config{Store: st, Notifier: rec, Now: func() time.Time { return now }, After: fa.After})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	if d := <-fa.calls; d != 15*time.Second {
		t.Errorf("first wait = %v; want 15s (to the aligned end 09:35:20)", d)
	}
	fa.fire <- now
	<-fa.calls // Run finished the interval and waits for the next one
	if notes := rec.take(); len(notes) != 2 {
		t.Errorf("%d messages; want 2", len(notes))
	}
	if !st.leaseEnd.Equal(time.Date(2025, 3, 14, 9, 35, 20, 0, time.UTC)) {
		t.Errorf("claimed %v", st.leaseEnd)
	}
	p.Wake() // re-read settings: Run waits again
	<-fa.calls
	cancel()
	<-done
}

// batchNotifier is a recNotifier with NotifyBatch, recording the size of each batch.
type batchNotifier struct {
	recNotifier
	batches []int
}

func (b *batchNotifier) NotifyBatch(ctx context.Context, ns []notify.Notification) error {
	b.mu.Lock()
	b.notes = append(b.notes, ns...)
	b.batches = append(b.batches, len(ns))
	b.mu.Unlock()
	return nil
}

// TestPublisher_Batches: with a BatchNotifier, an interval's 600 messages go in
// batches of at most 256 and are the same messages, in the same order, as one by one.
func TestPublisher_Batches(t *testing.T) {
	end := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	run := func(n metrics.Notifier) {
		st := newFakeStore(metrics.Settings{Publishing: true, Simulator: true, Interval: 20 * time.Second})
		st.vapps = inventory(3, 200, 1)
		p := metrics.New(metrics.Config{Store: st, Notifier: n, Seed: 7})
		if got, err := p.Tick(context.Background(), end); err != nil || got != 600 {
			t.Fatalf("Tick = %d, %v; want 600 messages", got, err)
		}
	}
	one, batched := &recNotifier{}, &batchNotifier{}
	run(one)
	run(batched)
	if want := []int{256, 256, 88}; !slices.Equal(batched.batches, want) {
		t.Errorf("batch sizes %v; want %v", batched.batches, want)
	}
	a, b := one.take(), batched.take()
	if len(a) != len(b) {
		t.Fatalf("%d messages one by one, %d batched", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Topic != b[i].Topic || !bytes.Equal(a[i].Envelope, b[i].Envelope) {
			t.Fatalf("message %d differs: %s on %s, batched %s on %s", i, a[i].ID, a[i].Topic, b[i].ID, b[i].Topic)
		}
	}
}
