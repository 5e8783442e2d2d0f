package api

import (
	"net/http"

	"github.com/heraldmq/herald/internal/vcd"
)

// roleJSON is the OpenAPI Role (VCD-COMPAT §5.3).
type roleJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	BundleKey   string `json:"bundleKey"`
	ReadOnly    bool   `json:"readOnly"`
}

// roleEntry is a built-in role in one org, for paging.
type roleEntry struct {
	orgID string
	role  vcd.Role
}

func (e roleEntry) json() roleJSON {
	return roleJSON{ID: vcd.URN(vcd.KindRole, vcd.RoleID(e.orgID, e.role.Name)), Name: e.role.Name,
		Description: e.role.Description, BundleKey: e.role.BundleKey, ReadOnly: true}
}

var roleFields = map[string]func(roleEntry) string{
	"id":   func(e roleEntry) string { return vcd.URN(vcd.KindRole, vcd.RoleID(e.orgID, e.role.Name)) },
	"name": func(e roleEntry) string { return e.role.Name },
}

// listRoles pages the built-in roles of the caller's (operating) org.
func (a *API) listRoles(w http.ResponseWriter, r *http.Request, c *call) error {
	orgID := c.p.Operating()
	if !vcd.Can(c.p, vcd.ActOrgRead, orgID, "") {
		return errForbidden
	}
	var entries []roleEntry
	for _, role := range vcd.RolesOf(orgID) {
		entries = append(entries, roleEntry{orgID: orgID, role: role})
	}
	pg, err := paginate(r, entries, roleFields, "Roles")
	if err != nil {
		return err
	}
	values := make([]any, 0, len(pg.items))
	for _, e := range pg.items {
		values = append(values, e.json())
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// getRole reads one role of the caller's (operating) org; any other id is 403.
func (a *API) getRole(w http.ResponseWriter, r *http.Request, c *call) error {
	orgID := c.p.Operating()
	id, ok := vcd.ParseID(vcd.KindRole, r.PathValue("id"))
	if !ok || !vcd.Can(c.p, vcd.ActOrgRead, orgID, "") {
		return errForbidden
	}
	role, ok := vcd.RoleByID(orgID, id)
	if !ok {
		return errForbidden
	}
	return writeJSON(w, http.StatusOK, c, roleEntry{orgID: orgID, role: role}.json())
}

// rolesReadOnly answers POST, PUT and DELETE on roles: built-in roles are read-only.
func (a *API) rolesReadOnly(w http.ResponseWriter, r *http.Request, c *call) error {
	return vcd.Errorf(vcd.CodeForbidden, "Custom roles are not supported.")
}
