package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// VApp is a vApp of the metrics inventory (VCD-COMPAT §9.3) as the Inventory keeps it.
// Ids are bare UUIDs.
type VApp struct {
	ID      string
	OrgID   string
	Name    string
	VMs     []VM
	Created time.Time
}

// VM is a VM of a vApp.
type VM struct {
	ID   string
	Name string
}

// Inventory is what the vApp endpoints need from the store; the server adapts
// *store.DB to it. Lookups of a missing vApp return an error whose vcd.CodeOf is
// vcd.CodeNotFound. CreateVApp and UpdateVApp give VMs without an id a new one;
// UpdateVApp runs fn on a private copy with compare-and-set, and removing a VM (or
// deleting the vApp) removes its latest samples. VApps is sorted by name. VAppCount
// and VMOwner answer from memory; VMOwner's VApp has no VMs.
type Inventory interface {
	VApps(ctx context.Context, orgID string) ([]VApp, error)
	VApp(ctx context.Context, id string) (VApp, error)
	CreateVApp(ctx context.Context, v VApp) (VApp, error)
	UpdateVApp(ctx context.Context, id string, fn func(*VApp) error) (VApp, error)
	DeleteVApp(ctx context.Context, id string) error
	VAppCount(orgID string) int
	VMOwner(vmID string) (VApp, bool)
}

// Limits of the inventory (HERALD).
const (
	maxVAppName = 128
	maxVMs      = 1024
)

// vAppJSON is a vApp as VCD-COMPAT §9.3 shows it.
type vAppJSON struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Org  entityRef `json:"org"`
	VMs  []vmJSON  `json:"vms"`
}

type vmJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// vAppRequest is the body of POST /vApps; vmRequest that of POST /vApps/{id}/vms.
type vAppRequest struct {
	Name string `json:"name"`
	Org  struct {
		ID string `json:"id"`
	} `json:"org"`
	VMs []vmRequest `json:"vms"`
}

type vmRequest struct {
	Name string `json:"name"`
}

func (req vmRequest) check(at string) error {
	if req.Name == "" || len(req.Name) > maxVAppName {
		return vcd.Errorf(vcd.CodeInvalid, "%sname is required: 1 to %d characters.", at, maxVAppName)
	}
	return nil
}

var vAppFields = map[string]func(VApp) string{
	"id":     func(v VApp) string { return vcd.URN(vcd.KindVApp, v.ID) },
	"name":   func(v VApp) string { return v.Name },
	"org.id": func(v VApp) string { return vcd.URN(vcd.KindOrg, v.OrgID) },
}

// inventory returns the Inventory, or 503 when the server has none.
func (a *API) inventory() (Inventory, error) {
	if a.cfg.Inventory == nil {
		return nil, vcd.Errorf(vcd.CodeUnavailable, "The vApp inventory is not available.")
	}
	return a.cfg.Inventory, nil
}

func (a *API) vAppJSON(ctx context.Context, v VApp) (vAppJSON, error) {
	o, err := a.store.Org(ctx, v.OrgID)
	if err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
		return vAppJSON{}, err
	}
	j := vAppJSON{ID: vcd.URN(vcd.KindVApp, v.ID), Name: v.Name,
		Org: entityRef{Name: o.Name, ID: vcd.URN(vcd.KindOrg, v.OrgID)}, VMs: make([]vmJSON, len(v.VMs))}
	for i, vm := range v.VMs {
		j.VMs[i] = vmJSON{ID: vcd.URN(vcd.KindVM, vm.ID), Name: vm.Name}
	}
	return j, nil
}

func (a *API) vAppLocation(r *http.Request, id string) string {
	return a.baseURL(r) + heraldAPI + "/vApps/" + vcd.URN(vcd.KindVApp, id)
}

// listVApps serves GET /vApps: a page of the vApps the caller may read (sysadmins all,
// users their org's), filterable by id, name and org.id.
func (a *API) listVApps(w http.ResponseWriter, r *http.Request, c *call) error {
	inv, err := a.inventory()
	if err != nil {
		return err
	}
	if c.p.Kind != vcd.PrincipalUser {
		return errForbidden
	}
	orgID := c.p.OrgID
	if c.p.IsSysAdmin() {
		orgID = ""
	}
	all, err := inv.VApps(r.Context(), orgID)
	if err != nil {
		return err
	}
	all = slices.DeleteFunc(all, func(v VApp) bool { return !vcd.Can(c.p, vcd.ActOrgRead, v.OrgID, "") })
	pg, err := paginate(r, all, vAppFields, "VApps")
	if err != nil {
		return err
	}
	values := make([]any, 0, len(pg.items))
	for _, v := range pg.items {
		j, err := a.vAppJSON(r.Context(), v)
		if err != nil {
			return err
		}
		values = append(values, j)
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// createVApp serves POST /vApps (sysadmin): 201 with Location and the vApp.
func (a *API) createVApp(w http.ResponseWriter, r *http.Request, c *call) error {
	inv, err := a.inventory()
	if err != nil {
		return err
	}
	if !vcd.Can(c.p, vcd.ActProduce, "", "") {
		return errForbidden
	}
	var req vAppRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > maxVAppName {
		return vcd.Errorf(vcd.CodeInvalid, "name is required: 1 to %d characters.", maxVAppName)
	}
	orgID, ok := vcd.ParseID(vcd.KindOrg, req.Org.ID)
	if !ok {
		return vcd.Errorf(vcd.CodeInvalid, "org.id must name an org (urn:vcloud:org:…).")
	}
	if _, err := a.store.Org(r.Context(), orgID); err != nil {
		if vcd.CodeOf(err) == vcd.CodeNotFound {
			return vcd.Errorf(vcd.CodeInvalid, "The org %s does not exist.", orgID)
		}
		return err
	}
	if len(req.VMs) > maxVMs {
		return vcd.Errorf(vcd.CodeInvalid, "A vApp has at most %d VMs.", maxVMs)
	}
	v := VApp{ID: vcd.NewUUID(), OrgID: orgID, Name: req.Name, Created: a.now().UTC()}
	for i, vm := range req.VMs {
		if err := vm.check("vms[" + strconv.Itoa(i) + "]."); err != nil {
			return err
		}
		v.VMs = append(v.VMs, VM{ID: vcd.NewUUID(), Name: vm.Name})
	}
	if v, err = inv.CreateVApp(r.Context(), v); err != nil {
		return err
	}
	j, err := a.vAppJSON(r.Context(), v)
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.vAppLocation(r, v.ID))
	return writeJSON(w, http.StatusCreated, c, j)
}

// vAppByID resolves {id} for a read (members of the vApp's org and sysadmins) or a
// write (sysadmins); unknown and forbidden vApps are both 403.
func (a *API) vAppByID(r *http.Request, c *call, action vcd.Action) (Inventory, VApp, error) {
	inv, err := a.inventory()
	if err != nil {
		return nil, VApp{}, err
	}
	id, ok := vcd.ParseID(vcd.KindVApp, r.PathValue("id"))
	if !ok {
		return nil, VApp{}, errForbidden
	}
	v, err := inv.VApp(r.Context(), id)
	if err != nil {
		return nil, VApp{}, forbiddenIfMissing(err)
	}
	if !vcd.Can(c.p, action, v.OrgID, "") {
		return nil, VApp{}, errForbidden
	}
	return inv, v, nil
}

func (a *API) getVApp(w http.ResponseWriter, r *http.Request, c *call) error {
	_, v, err := a.vAppByID(r, c, vcd.ActOrgRead)
	if err != nil {
		return err
	}
	j, err := a.vAppJSON(r.Context(), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

// deleteVApp serves DELETE /vApps/{id} (sysadmin): 204; its VMs and their samples go
// with it.
func (a *API) deleteVApp(w http.ResponseWriter, r *http.Request, c *call) error {
	inv, v, err := a.vAppByID(r, c, vcd.ActProduce)
	if err != nil {
		return err
	}
	if err := inv.DeleteVApp(r.Context(), v.ID); err != nil {
		return forbiddenIfMissing(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addVM serves POST /vApps/{id}/vms (sysadmin): {"name":"web-02"} adds a VM; 201 with
// the vApp's Location and the vApp.
func (a *API) addVM(w http.ResponseWriter, r *http.Request, c *call) error {
	inv, v, err := a.vAppByID(r, c, vcd.ActProduce)
	if err != nil {
		return err
	}
	var req vmRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := req.check(""); err != nil {
		return err
	}
	v, err = inv.UpdateVApp(r.Context(), v.ID, func(x *VApp) error {
		if len(x.VMs) >= maxVMs {
			return vcd.Errorf(vcd.CodeInvalid, "A vApp has at most %d VMs.", maxVMs)
		}
		x.VMs = append(x.VMs, VM{ID: vcd.NewUUID(), Name: req.Name})
		return nil
	})
	if err != nil {
		return forbiddenIfMissing(err)
	}
	j, err := a.vAppJSON(r.Context(), v)
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.vAppLocation(r, v.ID))
	return writeJSON(w, http.StatusCreated, c, j)
}

// deleteVM serves DELETE /vApps/{id}/vms/{vmId} (sysadmin): 204; a VM the vApp does
// not hold is 403.
func (a *API) deleteVM(w http.ResponseWriter, r *http.Request, c *call) error {
	inv, v, err := a.vAppByID(r, c, vcd.ActProduce)
	if err != nil {
		return err
	}
	vmID, ok := vcd.ParseID(vcd.KindVM, r.PathValue("vmId"))
	if !ok || !slices.ContainsFunc(v.VMs, func(vm VM) bool { return vm.ID == vmID }) {
		return errForbidden
	}
	_, err = inv.UpdateVApp(r.Context(), v.ID, func(x *VApp) error {
		n := len(x.VMs)
		x.VMs = slices.DeleteFunc(x.VMs, func(vm VM) bool { return vm.ID == vmID })
		if len(x.VMs) == n {
			return errForbidden
		}
		return nil
	})
	if err != nil {
		return forbiddenIfMissing(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
