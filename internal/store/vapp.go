package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// bucketVApps holds the vApp inventory of VCD-COMPAT §9.3 by vApp id, as VApp.
const bucketVApps = "herald_vapps"

// ChangeVApp is the Change.Kind of a vApp write or delete (VMs included).
const ChangeVApp = "vApp"

// VApp is a vApp of the metrics inventory (VCD-COMPAT §9.3) with its VMs. Ids are bare
// UUIDs.
type VApp struct {
	ID      string    `json:"id"`
	OrgID   string    `json:"orgId"`
	Name    string    `json:"name"`
	VMs     []VM      `json:"vms"`
	Created time.Time `json:"created"`
}

// VM is a VM of a vApp.
type VM struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (v VApp) clone() VApp {
	v.VMs = slices.Clone(v.VMs)
	return v
}

// inventory is the cache of herald_vapps with its VM index, guarded by t.mu.
type inventory struct {
	t      *table[VApp]
	vmVApp map[string]string // VM id → vApp id
	byOrgN map[string]int    // org id → number of vApps
}

// initInventory creates the vApp cache; openMetrics calls it.
func (db *DB) initInventory(kv jetstream.KeyValue) {
	inv := &db.metrics.inv
	inv.vmVApp = make(map[string]string)
	inv.byOrgN = make(map[string]int)
	inv.t = newTable[VApp](ChangeVApp, kv, db.logger)
	inv.t.emit = db.feed.publish
	inv.t.clone = VApp.clone
	inv.t.index = func(id string, old, new *VApp) {
		if old != nil {
			for _, vm := range old.VMs {
				deleteIf(inv.vmVApp, vm.ID, id)
			}
			if inv.byOrgN[old.OrgID]--; inv.byOrgN[old.OrgID] <= 0 {
				delete(inv.byOrgN, old.OrgID)
			}
		}
		if new != nil {
			for _, vm := range new.VMs {
				inv.vmVApp[vm.ID] = id
			}
			inv.byOrgN[new.OrgID]++
		}
	}
}

// checkVApp validates the ids of v: vApp, org and VM ids must be valid keys and VM ids
// unique within v.
func checkVApp(v *VApp) error {
	if !validID(v.ID) {
		return invalidID("vApp", v.ID)
	}
	if !validID(v.OrgID) {
		return invalidID("org", v.OrgID)
	}
	seen := make(map[string]bool, len(v.VMs))
	for _, vm := range v.VMs {
		if !validID(vm.ID) || seen[vm.ID] {
			return invalidID("vm", vm.ID)
		}
		seen[vm.ID] = true
	}
	return nil
}

// CreateVApp stores a new vApp with its VMs and returns it. An empty vApp or VM id is
// replaced by a new UUID and a zero Created by the current time. An id that exists
// (the vApp's, or a VM's in another vApp) is vcd.CodeDuplicate; an invalid id
// vcd.CodeInvalid. It does not check that the org exists.
func (db *DB) CreateVApp(ctx context.Context, v VApp) (VApp, error) {
	v = v.clone()
	if v.ID == "" {
		v.ID = vcd.NewUUID()
	}
	for i := range v.VMs {
		if v.VMs[i].ID == "" {
			v.VMs[i].ID = vcd.NewUUID()
		}
	}
	if err := checkVApp(&v); err != nil {
		return VApp{}, err
	}
	for _, vm := range v.VMs {
		if _, ok := db.VMOwner(vm.ID); ok {
			return VApp{}, vcd.Errorf(vcd.CodeDuplicate, "vm %s already exists", vm.ID)
		}
	}
	if v.Created.IsZero() {
		v.Created = db.now().UTC()
	}
	if err := db.metrics.inv.t.create(ctx, v.ID, v); err != nil {
		if err == errExists {
			return VApp{}, vcd.Errorf(vcd.CodeDuplicate, "vApp %s already exists", v.ID)
		}
		return VApp{}, err
	}
	return v.clone(), nil
}

// VApp returns the vApp with the given id, or a vcd.CodeNotFound error.
func (db *DB) VApp(ctx context.Context, id string) (VApp, error) {
	return db.metrics.inv.t.byID(ctx, id, "vApp")
}

// VApps lists the vApps of one org, or of every org when orgID is empty, sorted by name
// case-insensitively, then by id.
func (db *DB) VApps(ctx context.Context, orgID string) ([]VApp, error) {
	out := db.metrics.inv.t.list(func(v *VApp) bool { return orgID == "" || v.OrgID == orgID })
	slices.SortFunc(out, func(a, b VApp) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// VAppCount returns how many vApps org orgID has, from memory.
func (db *DB) VAppCount(orgID string) int {
	inv := &db.metrics.inv
	inv.t.mu.RLock()
	defer inv.t.mu.RUnlock()
	return inv.byOrgN[orgID]
}

// VMOwner returns the vApp that holds VM vmID, from memory, without copying the vApp's
// VM list: the returned VApp's VMs is nil.
func (db *DB) VMOwner(vmID string) (VApp, bool) {
	inv := &db.metrics.inv
	inv.t.mu.RLock()
	defer inv.t.mu.RUnlock()
	id, ok := inv.vmVApp[vmID]
	if !ok {
		return VApp{}, false
	}
	it, ok := inv.t.items[id]
	if !ok {
		return VApp{}, false
	}
	v := it.v
	v.VMs = nil
	return v, true
}

// UpdateVApp applies fn to a copy of the current vApp and writes it with
// compare-and-set, retrying fn after a concurrent change (vcd.CodeConflict when that
// keeps failing). An error from fn aborts the update and is returned unchanged. fn may
// change the name and the VMs, not the ID, OrgID or Created; a new VM id must not
// belong to another vApp (vcd.CodeDuplicate). The latest samples of VMs fn removed are
// deleted.
func (db *DB) UpdateVApp(ctx context.Context, id string, fn func(*VApp) error) (VApp, error) {
	if !validID(id) {
		return VApp{}, notFound("vApp", id)
	}
	var removed []string
	v, err := db.metrics.inv.t.update(ctx, id, fn, func(old, new *VApp) error {
		if new.ID != old.ID || new.OrgID != old.OrgID || !new.Created.Equal(old.Created) {
			return vcd.Errorf(vcd.CodeInvalid, "vApp id, org and creation time are immutable")
		}
		for i := range new.VMs {
			if new.VMs[i].ID == "" {
				new.VMs[i].ID = vcd.NewUUID()
			}
		}
		if err := checkVApp(new); err != nil {
			return err
		}
		for _, vm := range new.VMs {
			if owner, ok := db.VMOwner(vm.ID); ok && owner.ID != id {
				return vcd.Errorf(vcd.CodeDuplicate, "vm %s already exists", vm.ID)
			}
		}
		removed = removed[:0]
		for _, vm := range old.VMs {
			if !slices.ContainsFunc(new.VMs, func(x VM) bool { return x.ID == vm.ID }) {
				removed = append(removed, vm.ID)
			}
		}
		return nil
	})
	if err != nil {
		return VApp{}, err
	}
	return v, db.deleteLatest(ctx, removed)
}

// DeleteVApp deletes the vApp, its VMs and their latest samples. An unknown id is
// vcd.CodeNotFound.
func (db *DB) DeleteVApp(ctx context.Context, id string) error {
	if !validID(id) {
		return notFound("vApp", id)
	}
	v, err := db.metrics.inv.t.delete(ctx, id)
	if err != nil {
		return err
	}
	vms := make([]string, len(v.VMs))
	for i, vm := range v.VMs {
		vms[i] = vm.ID
	}
	return db.deleteLatest(ctx, vms)
}
