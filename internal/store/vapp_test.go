package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

const (
	invOrg  = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	invOrg2 = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
)

func mustCreateVApp(tb testing.TB, db *store.DB, org, name string, vms ...string) store.VApp {
	tb.Helper()
	v := store.VApp{OrgID: org, Name: name}
	for _, n := range vms {
		v.VMs = append(v.VMs, store.VM{Name: n})
	}
	v, err := db.CreateVApp(context.Background(), v)
	if err != nil {
		tb.Fatalf("CreateVApp(%s): %v", name, err)
	}
	return v
}

func TestVApp_CRUD(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	shop := mustCreateVApp(t, db, invOrg, "shop", "web-01", "db-01")
	mustCreateVApp(t, db, invOrg, "Analytics")
	mustCreateVApp(t, db, invOrg2, "other", "x")
	if !vcd.IsUUID(shop.ID) || len(shop.VMs) != 2 || !vcd.IsUUID(shop.VMs[0].ID) {
		t.Fatalf("created %+v; want generated ids", shop)
	}

	got, err := db.VApp(ctx, shop.ID)
	if err != nil || !cmp.Equal(got, shop) {
		t.Fatalf("VApp = %+v, %v; want %+v", got, err, shop)
	}
	list, _ := db.VApps(ctx, invOrg)
	var names []string
	for _, v := range list {
		names = append(names, v.Name)
	}
	if want := []string{"Analytics", "shop"}; !slices.Equal(names, want) {
		t.Errorf("VApps(org) names = %v; want %v", names, want)
	}
	if all, _ := db.VApps(ctx, ""); len(all) != 3 {
		t.Errorf("VApps(all) = %d; want 3", len(all))
	}
	if n := db.VAppCount(invOrg); n != 2 {
		t.Errorf("VAppCount = %d; want 2", n)
	}
	if owner, ok := db.VMOwner(shop.VMs[1].ID); !ok || owner.ID != shop.ID || owner.OrgID != invOrg {
		t.Errorf("VMOwner = %+v, %v", owner, ok)
	}

	// A VM id of another vApp cannot be reused.
	_, err = db.CreateVApp(ctx, store.VApp{OrgID: invOrg, Name: "dup", VMs: []store.VM{{ID: shop.VMs[0].ID, Name: "x"}}})
	if vcd.CodeOf(err) != vcd.CodeDuplicate {
		t.Errorf("CreateVApp with a taken VM id: %v; want duplicate", err)
	}

	// Remove a VM: its samples go too; add one.
	vm0, vm1 := shop.VMs[0].ID, shop.VMs[1].ID
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.PutSamples(ctx, []vcd.VMSamples{{VMID: vm1, Samples: []vcd.MetricSample{{Name: "cpu.usage.average", Value: 1, Time: now}}}}); err != nil {
		t.Fatal(err)
	}
	upd, err := db.UpdateVApp(ctx, shop.ID, func(v *store.VApp) error {
		v.VMs = slices.DeleteFunc(v.VMs, func(vm store.VM) bool { return vm.ID == vm1 })
		v.VMs = append(v.VMs, store.VM{Name: "web-02"})
		return nil
	})
	if err != nil || len(upd.VMs) != 2 || upd.VMs[0].ID != vm0 || upd.VMs[1].Name != "web-02" {
		t.Fatalf("UpdateVApp = %+v, %v", upd, err)
	}
	if _, ok := db.VMOwner(vm1); ok {
		t.Error("removed VM still has an owner")
	}
	if s := db.LatestSamples(vm1); s != nil {
		t.Errorf("removed VM's samples = %v; want none", s)
	}

	if err := db.DeleteVApp(ctx, shop.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VApp(ctx, shop.ID); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("VApp after delete: %v; want not found", err)
	}
	if _, ok := db.VMOwner(vm0); ok || db.VAppCount(invOrg) != 1 {
		t.Error("index not updated by delete")
	}
	if err := db.DeleteVApp(ctx, shop.ID); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("second delete: %v; want not found", err)
	}
}

// TestVApp_RestartAndOtherNode: the inventory and latest samples survive a restart and
// reach another node's cache through the watchers.
func TestVApp_RestartAndOtherNode(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	v := mustCreateVApp(t, a, invOrg, "shop", "web-01")
	vm := v.VMs[0].ID
	now := time.Now().UTC().Truncate(time.Millisecond)
	want := []vcd.MetricSample{{Name: "cpu.usage.average", Value: 33.7, Time: now}, {Name: "disk.used.latest", Value: 10485760, Time: now}}
	if err := a.PutSamples(ctx, []vcd.VMSamples{{VMID: vm, Samples: want}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "vApp on node b", func() bool { _, ok := b.VMOwner(vm); return ok })
	waitFor(t, "samples on node b", func() bool { return cmp.Equal(b.LatestSamples(vm), want) })

	// A newer sample replaces the stored one; an older one does not.
	later := []vcd.MetricSample{{Name: "cpu.usage.average", Value: 50, Time: now.Add(time.Second)}, {Name: "disk.used.latest", Value: 1, Time: now.Add(-time.Second)}}
	if err := b.PutSamples(ctx, []vcd.VMSamples{{VMID: vm, Samples: later}}); err != nil {
		t.Fatal(err)
	}
	want2 := []vcd.MetricSample{later[0], want[1]}
	if got := b.LatestSamples(vm); !cmp.Equal(got, want2) {
		t.Errorf("merged = %v; want %v", got, want2)
	}
	waitFor(t, "merge on node a", func() bool { return cmp.Equal(a.LatestSamples(vm), want2) })

	dir := t.TempDir()
	db := MustOpen(t, func(c *store.Config) { c.DataDir = dir })
	v = mustCreateVApp(t, db, invOrg, "shop", "web-01")
	if err := db.PutSamples(ctx, []vcd.VMSamples{{VMID: v.VMs[0].ID, Samples: want}}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db = MustOpen(t, func(c *store.Config) { c.DataDir = dir })
	if got, err := db.VApp(ctx, v.ID); err != nil || !cmp.Equal(got, v) {
		t.Errorf("after restart VApp = %+v, %v", got, err)
	}
	if got := db.LatestSamples(v.VMs[0].ID); !cmp.Equal(got, want) {
		t.Errorf("after restart samples = %v; want %v", got, want)
	}
}

// TestMetrics_ConcurrentPuts: two nodes writing different metrics of the same VMs at
// once lose none of them (compare-and-set per VM).
func TestMetrics_ConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	v := mustCreateVApp(t, dbs[0], invOrg, "shop", "a", "b", "c")
	now := time.Now().UTC()
	done := make(chan error, 2)
	for i, db := range dbs {
		go func() {
			var err error
			for round := range 20 {
				var batch []vcd.VMSamples
				for _, vm := range v.VMs {
					batch = append(batch, vcd.VMSamples{VMID: vm.ID, Samples: []vcd.MetricSample{
						{Name: fmt.Sprintf("disk.read.average.%d", i), Value: float64(round), Time: now.Add(time.Duration(round) * time.Millisecond)}}})
				}
				if err = db.PutSamples(ctx, batch); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, db := range dbs {
		for _, vm := range v.VMs {
			waitFor(t, "both metrics", func() bool {
				s := db.LatestSamples(vm.ID)
				return len(s) == 2 && s[0].Value == 19 && s[1].Value == 19
			})
		}
	}
}

// TestMetrics_Lease: of two nodes claiming the same interval exactly one wins; the
// windows of samples chain from one interval to the next, whichever node wins.
func TestMetrics_Lease(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	v := mustCreateVApp(t, a, invOrg, "shop", "web-01")
	vm := v.VMs[0].ID
	t0 := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	put := func(db *store.DB, val float64) {
		t.Helper()
		if err := db.PutSamples(ctx, []vcd.VMSamples{{VMID: vm, Samples: []vcd.MetricSample{{Name: "cpu.usage.average", Value: val, Time: t0}}}}); err != nil {
			t.Fatal(err)
		}
	}
	put(a, 1)
	var from uint64
	for i := range 4 {
		end := t0.Add(time.Duration(i) * 20 * time.Second)
		winners := 0
		for _, db := range []*store.DB{a, b, a} {
			f, ok, err := db.ClaimMetricsInterval(ctx, end)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				winners++
				if f != from {
					t.Errorf("interval %d: from = %d; want %d", i, f, from)
				}
				got, horizon := db.MetricsSince(ctx, f)
				if i%2 == 0 && (len(got) != 1 || got[0].VMID != vm) {
					t.Errorf("interval %d: MetricsSince = %+v; want the VM", i, got)
				}
				if i%2 == 1 && len(got) != 0 {
					t.Errorf("interval %d: MetricsSince = %+v; want nothing new", i, got)
				}
				if err := db.CompleteMetricsInterval(ctx, end, horizon); err != nil {
					t.Fatal(err)
				}
				from = horizon
			}
		}
		if winners != 1 {
			t.Errorf("interval %d: %d winners; want 1", i, winners)
		}
		if i%2 == 1 {
			put(b, float64(i))
			waitFor(t, "sample on a", func() bool { _, h := a.MetricsSince(ctx, 0); return h >= from+1 })
		}
	}
	// An earlier interval can no longer be claimed.
	if _, ok, _ := b.ClaimMetricsInterval(ctx, t0); ok {
		t.Error("claimed an interval older than the last one")
	}
}

func TestMetrics_Settings(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	if _, ok, _ := dbs[0].MetricsSettings(ctx); ok {
		t.Fatal("settings stored before any write")
	}
	want := store.MetricsSettings{PublishingEnabled: true, IntervalSeconds: 5, SimulatorEnabled: true}
	if err := dbs[0].SetMetricsSettings(ctx, want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "settings on node b", func() bool {
		got, ok, _ := dbs[1].MetricsSettings(ctx)
		return ok && got == want
	})
}

// BenchmarkPutSamples measures ingestion into the store: batches of 1000 samples, 125
// VMs of 8 metrics each, as a collector sends them. Reports samples/s.
func BenchmarkPutSamples(b *testing.B) {
	ctx := context.Background()
	db := MustOpen(b)
	const vms, perVM = 125, 8
	var v []store.VApp
	for i := range 4 {
		names := make([]string, vms/4+1)
		for j := range names {
			names[j] = fmt.Sprintf("vm-%d", j)
		}
		v = append(v, mustCreateVApp(b, db, invOrg, fmt.Sprintf("app-%d", i), names...))
	}
	var ids []string
	for _, x := range v {
		for _, vm := range x.VMs {
			ids = append(ids, vm.ID)
		}
	}
	ids = ids[:vms]
	metrics := []string{"cpu.usage.average", "cpu.usagemhz.average", "cpu.usage.maximum", "mem.usage.average",
		"disk.provisioned.latest", "disk.used.latest", "disk.read.average", "disk.write.average"}
	batch := make([]vcd.VMSamples, vms)
	now := time.Now()
	for i, id := range ids {
		s := make([]vcd.MetricSample, perVM)
		for j := range s {
			s[j] = vcd.MetricSample{Name: metrics[j], Value: float64(j), Time: now}
		}
		batch[i] = vcd.VMSamples{VMID: id, Samples: s}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := db.PutSamples(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*vms*perVM)/b.Elapsed().Seconds(), "samples/s")
}
