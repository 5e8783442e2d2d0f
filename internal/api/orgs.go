package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/heraldmq/herald/internal/vcd"
)

// orgNameRE is VCD's org name rule (VCD-COMPAT §1.1).
var orgNameRE = regexp.MustCompile(`^[a-zA-Z0-9_\-\.\!\'\(\),\$]+$`)

// orgJSON is the OpenAPI Org (VCD-COMPAT §5.1). Counters herald cannot fill are omitted.
type orgJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	IsEnabled   bool   `json:"isEnabled"`
	UserCount   int    `json:"userCount"`
	// VAppCount counts the org's inventory vApps (VCD-COMPAT §5.1, §9.3); absent
	// without an Inventory.
	VAppCount *int `json:"vappCount,omitempty"`
}

// orgRequest is the body of POST and PUT /orgs; pointers tell absent from empty.
type orgRequest struct {
	Name        *string `json:"name"`
	DisplayName *string `json:"displayName"`
	Description *string `json:"description"`
	IsEnabled   *bool   `json:"isEnabled"`
}

var orgFields = map[string]func(vcd.Org) string{
	"id":          func(o vcd.Org) string { return vcd.URN(vcd.KindOrg, o.ID) },
	"name":        func(o vcd.Org) string { return o.Name },
	"displayName": func(o vcd.Org) string { return o.DisplayName },
	"isEnabled":   func(o vcd.Org) string { return strconv.FormatBool(o.Enabled) },
}

func (a *API) orgJSON(ctx context.Context, o vcd.Org) (orgJSON, error) {
	users, err := a.store.Users(ctx, o.ID)
	if err != nil {
		return orgJSON{}, err
	}
	j := orgJSON{ID: vcd.URN(vcd.KindOrg, o.ID), Name: o.Name, DisplayName: o.DisplayName,
		Description: o.Description, IsEnabled: o.Enabled, UserCount: len(users)}
	if a.cfg.Inventory != nil {
		n := a.cfg.Inventory.VAppCount(o.ID)
		j.VAppCount = &n
	}
	return j, nil
}

func (a *API) orgLocation(r *http.Request, id string) string {
	return a.baseURL(r) + cloudAPI + "/orgs/" + vcd.URN(vcd.KindOrg, id)
}

// listOrgs pages the orgs the caller may see: all for sysadmins, else its own.
func (a *API) listOrgs(w http.ResponseWriter, r *http.Request, c *call) error {
	orgs, err := a.visibleOrgs(r, c.p)
	if err != nil {
		return err
	}
	pg, err := paginate(r, orgs, orgFields, "Orgs")
	if err != nil {
		return err
	}
	values := make([]any, 0, len(pg.items))
	for _, o := range pg.items {
		j, err := a.orgJSON(r.Context(), o)
		if err != nil {
			return err
		}
		values = append(values, j)
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// orgByID resolves {id} for action; unknown and forbidden orgs are both 403.
func (a *API) orgByID(r *http.Request, c *call, action vcd.Action) (vcd.Org, error) {
	id, ok := vcd.ParseID(vcd.KindOrg, r.PathValue("id"))
	if !ok || !vcd.Can(c.p, action, id, "") {
		return vcd.Org{}, errForbidden
	}
	o, err := a.store.Org(r.Context(), id)
	if err != nil {
		return vcd.Org{}, forbiddenIfMissing(err)
	}
	return o, nil
}

func (a *API) getOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := a.orgByID(r, c, vcd.ActOrgRead)
	if err != nil {
		return err
	}
	j, err := a.orgJSON(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

// createOrg serves POST /orgs (sysadmin): name and displayName are required.
func (a *API) createOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	if !vcd.Can(c.p, vcd.ActOrgManage, "", "") {
		return errForbidden
	}
	var req orgRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil || !orgNameRE.MatchString(*req.Name) || len(*req.Name) > 128 {
		return vcd.Errorf(vcd.CodeInvalid, "name is required: 1 to 128 letters, digits or _-.!'(),$ characters.")
	}
	if req.DisplayName == nil || *req.DisplayName == "" {
		return vcd.Errorf(vcd.CodeInvalid, "displayName is required.")
	}
	o := vcd.Org{ID: vcd.NewUUID(), Name: *req.Name, DisplayName: *req.DisplayName, Enabled: true, Created: a.now().UTC()}
	if req.Description != nil {
		o.Description = *req.Description
	}
	if req.IsEnabled != nil {
		o.Enabled = *req.IsEnabled
	}
	o, err := a.store.CreateOrg(r.Context(), o)
	if err != nil {
		return duplicateName(err, "org", *req.Name)
	}
	a.orgEvent(r, evOrgCreate, c.p.UserID, o)
	j, err := a.orgJSON(r.Context(), o)
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.orgLocation(r, o.ID))
	return writeJSON(w, http.StatusCreated, c, j)
}

// duplicateName gives a store's duplicate error a client message.
func duplicateName(err error, kind, name string) error {
	if vcd.CodeOf(err) == vcd.CodeDuplicate {
		return &vcd.Error{Code: vcd.CodeDuplicate, Message: fmt.Sprintf("The %s name %q is already in use.", kind, name), Err: err}
	}
	return err
}

// updateOrg serves PUT /orgs/{id} (sysadmin): displayName, description and isEnabled
// are replaced; name is immutable and the System org cannot be disabled.
func (a *API) updateOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	cur, err := a.orgByID(r, c, vcd.ActOrgManage)
	if err != nil {
		return err
	}
	var req orgRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name != nil && *req.Name != cur.Name {
		return vcd.Errorf(vcd.CodeInvalid, "An org's name cannot be changed.")
	}
	if req.DisplayName != nil && *req.DisplayName == "" {
		return vcd.Errorf(vcd.CodeInvalid, "displayName cannot be empty.")
	}
	if cur.IsSystem() && req.IsEnabled != nil && !*req.IsEnabled {
		return vcd.Errorf(vcd.CodeInvalid, "The System org cannot be disabled.")
	}
	o, err := a.store.UpdateOrg(r.Context(), cur.ID, func(o *vcd.Org) error {
		if req.DisplayName != nil {
			o.DisplayName = *req.DisplayName
		}
		if req.Description != nil {
			o.Description = *req.Description
		}
		if req.IsEnabled != nil {
			o.Enabled = *req.IsEnabled
		}
		return nil
	})
	if err != nil {
		return forbiddenIfMissing(err)
	}
	a.orgEvent(r, evOrgModify, c.p.UserID, o)
	if cur.Enabled && !o.Enabled {
		if err := a.endOrgSessions(r.Context(), o.ID); err != nil {
			return err
		}
	}
	j, err := a.orgJSON(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

// deleteOrg serves DELETE /orgs/{id} (sysadmin): the org must be disabled, and its
// users are deleted only with ?recursive=true.
func (a *API) deleteOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := a.orgByID(r, c, vcd.ActOrgManage)
	if err != nil {
		return err
	}
	if o.IsSystem() {
		return vcd.Errorf(vcd.CodeInvalid, "The System org cannot be deleted.")
	}
	if o.Enabled {
		return vcd.Errorf(vcd.CodeBusy, "The org must be disabled before it is deleted.")
	}
	recursive := false
	if s := queryParams(r).Get("recursive"); s != "" {
		if recursive, err = strconv.ParseBool(s); err != nil {
			return vcd.Errorf(vcd.CodeInvalid, "recursive must be true or false.")
		}
	}
	ctx := r.Context()
	users, err := a.store.Users(ctx, o.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 && !recursive {
		return vcd.Errorf(vcd.CodeBusy, "The org has users; delete them first or use recursive=true.")
	}
	for _, u := range users {
		if err := a.endSessions(ctx, u.ID); err != nil {
			return err
		}
		if err := a.store.DeleteUser(ctx, u.ID); err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
			return err
		}
	}
	if err := a.store.DeleteOrg(ctx, o.ID); err != nil {
		return forbiddenIfMissing(err)
	}
	a.orgEvent(r, evOrgDelete, c.p.UserID, o)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endOrgSessions logs out every session of an org's users.
func (a *API) endOrgSessions(ctx context.Context, orgID string) error {
	users, err := a.store.Users(ctx, orgID)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := a.endSessions(ctx, u.ID); err != nil {
			return err
		}
	}
	return nil
}
