package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// minPasswordLength is VCD's minimum (VCD-COMPAT §5.2).
const minPasswordLength = 6

// userJSON is the OpenAPI VcdUser (VCD-COMPAT §5.2); field order is the wire order.
type userJSON struct {
	Username       string      `json:"username"`
	FullName       string      `json:"fullName"`
	Description    string      `json:"description"`
	ID             string      `json:"id"`
	RoleEntityRefs []entityRef `json:"roleEntityRefs"`
	OrgEntityRef   entityRef   `json:"orgEntityRef"`
	Password       *string     `json:"password"`
	Email          string      `json:"email"`
	NameInSource   string      `json:"nameInSource"`
	Enabled        bool        `json:"enabled"`
	IsGroupRole    bool        `json:"isGroupRole"`
	ProviderType   string      `json:"providerType"`
	Locked         bool        `json:"locked"`
	Stranded       bool        `json:"stranded"`
}

// refIn is an entity reference in a request; either field may identify the entity.
type refIn struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// userRequest is the body of POST and PUT /users; pointers tell absent from empty.
// Read-only fields a client echoes back (id, nameInSource, stranded…) are ignored.
type userRequest struct {
	Username       *string  `json:"username"`
	FullName       *string  `json:"fullName"`
	Description    *string  `json:"description"`
	RoleEntityRefs *[]refIn `json:"roleEntityRefs"`
	OrgEntityRef   *refIn   `json:"orgEntityRef"`
	Password       *string  `json:"password"`
	Email          *string  `json:"email"`
	Enabled        *bool    `json:"enabled"`
	Locked         *bool    `json:"locked"`
	ProviderType   *string  `json:"providerType"`
}

var userFields = map[string]func(vcd.User) string{
	"id":              func(u vcd.User) string { return vcd.URN(vcd.KindUser, u.ID) },
	"username":        func(u vcd.User) string { return u.Name },
	"fullName":        func(u vcd.User) string { return u.FullName },
	"email":           func(u vcd.User) string { return u.Email },
	"enabled":         func(u vcd.User) string { return strconv.FormatBool(u.Enabled) },
	"orgEntityRef.id": func(u vcd.User) string { return vcd.URN(vcd.KindOrg, u.OrgID) },
	"roleEntityRefs.name": func(u vcd.User) string {
		return u.Role
	},
}

func (a *API) userJSON(ctx context.Context, n *names, u vcd.User) (userJSON, error) {
	orgName, err := n.org(ctx, u.OrgID)
	if err != nil {
		return userJSON{}, err
	}
	roles := []entityRef{}
	if u.Role != "" {
		roles = append(roles, entityRef{Name: u.Role, ID: vcd.URN(vcd.KindRole, vcd.RoleID(u.OrgID, u.Role))})
	}
	return userJSON{Username: u.Name, FullName: u.FullName, Description: u.Description,
		ID: vcd.URN(vcd.KindUser, u.ID), RoleEntityRefs: roles,
		OrgEntityRef: entityRef{Name: orgName, ID: vcd.URN(vcd.KindOrg, u.OrgID)},
		Email:        u.Email, NameInSource: u.Name, Enabled: u.Enabled, ProviderType: "LOCAL",
		Locked: u.Locked(a.now())}, nil
}

// listUsers pages the users the caller may see: all for sysadmins, the org's for org
// admins, itself for others.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	var all []vcd.User
	var err error
	switch {
	case c.p.IsSysAdmin():
		all, err = a.store.Users(ctx, "")
	case c.p.IsOrgAdmin():
		all, err = a.store.Users(ctx, c.p.OrgID)
	default:
		var u vcd.User
		if u, err = a.store.User(ctx, c.p.UserID); err == nil {
			all = []vcd.User{u}
		}
	}
	if err != nil {
		return err
	}
	var visible []vcd.User
	for _, u := range all {
		if vcd.Can(c.p, vcd.ActUserRead, u.OrgID, u.ID) {
			visible = append(visible, u)
		}
	}
	pg, err := paginate(r, visible, userFields, "VcdUsers")
	if err != nil {
		return err
	}
	n := a.newNames()
	values := make([]any, 0, len(pg.items))
	for _, u := range pg.items {
		j, err := a.userJSON(ctx, n, u)
		if err != nil {
			return err
		}
		values = append(values, j)
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// userByID resolves {id} for action; unknown and forbidden users are both 403.
func (a *API) userByID(r *http.Request, c *call, action vcd.Action) (vcd.User, error) {
	id, ok := vcd.ParseID(vcd.KindUser, r.PathValue("id"))
	if !ok {
		return vcd.User{}, errForbidden
	}
	u, err := a.store.User(r.Context(), id)
	if err != nil {
		return vcd.User{}, forbiddenIfMissing(err)
	}
	if !vcd.Can(c.p, action, u.OrgID, u.ID) {
		return vcd.User{}, errForbidden
	}
	return u, nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.userByID(r, c, vcd.ActUserRead)
	if err != nil {
		return err
	}
	j, err := a.userJSON(r.Context(), a.newNames(), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

// resolveRole picks the one role of refs among orgID's built-in roles. System
// Administrator is refused in tenant orgs, and roles that are not assignable are
// refused everywhere (VCD-COMPAT §5.2, §5.3).
func resolveRole(orgID string, refs []refIn) (vcd.Role, error) {
	if len(refs) != 1 {
		return vcd.Role{}, vcd.Errorf(vcd.CodeInvalid, "A user has exactly one role.")
	}
	ref := refs[0]
	var role vcd.Role
	found := false
	if ref.ID != "" {
		if id, ok := vcd.ParseID(vcd.KindRole, ref.ID); ok {
			role, found = vcd.RoleByID(orgID, id)
			if !found && vcd.RoleID(vcd.SystemOrgID, vcd.RoleSystemAdmin) == id {
				ref.Name = vcd.RoleSystemAdmin
			}
		}
	} else {
		role, found = vcd.RoleByName(orgID, ref.Name)
	}
	if !found && orgID != vcd.SystemOrgID && strings.EqualFold(ref.Name, vcd.RoleSystemAdmin) {
		return vcd.Role{}, vcd.Errorf(vcd.CodeInvalid, "The System Administrator role exists only in the System org.")
	}
	if !found {
		return vcd.Role{}, vcd.Errorf(vcd.CodeInvalid, "The role does not exist in the user's org.")
	}
	if !role.Assignable {
		return vcd.Role{}, vcd.Errorf(vcd.CodeInvalid, "The role %q cannot be assigned.", role.Name)
	}
	return role, nil
}

// validUserName checks a user name: 1–128 characters without ':' (VCD-COMPAT §1.1).
func validUserName(s string) error {
	if s == "" || len(s) > 128 || strings.ContainsAny(s, ":") || strings.TrimSpace(s) != s {
		return vcd.Errorf(vcd.CodeInvalid, "username must be 1 to 128 characters, without ':' or surrounding spaces.")
	}
	return nil
}

// hashPassword checks the minimum length and hashes the password.
func (a *API) hashPassword(pw string) (string, error) {
	if len([]rune(pw)) < minPasswordLength {
		return "", vcd.Errorf(vcd.CodeInvalid, "The password must have at least %d characters.", minPasswordLength)
	}
	h, err := a.cfg.HashPassword(pw)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// createUser serves POST /users: sysadmins in any org, org admins in their own. Without
// orgEntityRef the caller's (operating) org is used.
func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var req userRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	orgID := c.p.Operating()
	if req.OrgEntityRef != nil && (req.OrgEntityRef.ID != "" || req.OrgEntityRef.Name != "") {
		if req.OrgEntityRef.ID != "" {
			id, ok := vcd.ParseID(vcd.KindOrg, req.OrgEntityRef.ID)
			if !ok {
				return vcd.Errorf(vcd.CodeInvalid, "orgEntityRef.id is not an org id.")
			}
			orgID = id
		} else {
			o, err := a.store.OrgByName(ctx, req.OrgEntityRef.Name)
			if err != nil {
				return forbiddenIfMissing(err)
			}
			orgID = o.ID
		}
	}
	if !vcd.Can(c.p, vcd.ActUserCreate, orgID, "") {
		return errForbidden
	}
	if _, err := a.store.Org(ctx, orgID); err != nil {
		return forbiddenIfMissing(err)
	}
	if req.Username == nil {
		return vcd.Errorf(vcd.CodeInvalid, "username is required.")
	}
	if err := validUserName(*req.Username); err != nil {
		return err
	}
	if req.ProviderType != nil && *req.ProviderType != "LOCAL" {
		return vcd.Errorf(vcd.CodeInvalid, "providerType must be LOCAL.")
	}
	if req.Locked != nil && *req.Locked {
		return vcd.Errorf(vcd.CodeInvalid, "A user cannot be created locked.")
	}
	if req.RoleEntityRefs == nil {
		return vcd.Errorf(vcd.CodeInvalid, "roleEntityRefs is required.")
	}
	role, err := resolveRole(orgID, *req.RoleEntityRefs)
	if err != nil {
		return err
	}
	if req.Password == nil {
		return vcd.Errorf(vcd.CodeInvalid, "password is required.")
	}
	hash, err := a.hashPassword(*req.Password)
	if err != nil {
		return err
	}
	u := vcd.User{ID: vcd.NewUUID(), OrgID: orgID, Name: *req.Username, Role: role.Name, Enabled: true,
		PasswordHash: hash, Created: a.now().UTC()}
	if req.FullName != nil {
		u.FullName = *req.FullName
	}
	if req.Description != nil {
		u.Description = *req.Description
	}
	if req.Email != nil {
		u.Email = *req.Email
	}
	if req.Enabled != nil {
		u.Enabled = *req.Enabled
	}
	u, err = a.store.CreateUser(ctx, u)
	if err != nil {
		return duplicateName(err, "user", *req.Username)
	}
	a.userEvent(r, evUserCreate, c.p.UserID, u)
	j, err := a.userJSON(ctx, a.newNames(), u)
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.baseURL(r)+cloudAPI+"/users/"+vcd.URN(vcd.KindUser, u.ID))
	return writeJSON(w, http.StatusCreated, c, j)
}

// updateUser serves PUT /users/{id}. Sysadmins and the org's admins replace the
// modifiable fields; a user may change only its own fullName, email and password.
// username and org are immutable; locked can only be cleared.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request, c *call) error {
	cur, err := a.userByID(r, c, vcd.ActUserModify)
	if err != nil {
		return err
	}
	var req userRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	admin := c.p.IsSysAdmin() || c.p.IsOrgAdmin() && c.p.OrgID == cur.OrgID
	now := a.now()

	if req.Username != nil && *req.Username != cur.Name {
		return vcd.Errorf(vcd.CodeInvalid, "A user's username cannot be changed.")
	}
	if ref := req.OrgEntityRef; ref != nil && (ref.ID != "" || ref.Name != "") {
		id, ok := vcd.ParseID(vcd.KindOrg, ref.ID)
		if ref.ID != "" && (!ok || id != cur.OrgID) {
			return vcd.Errorf(vcd.CodeInvalid, "A user cannot move to another org.")
		}
	}
	if req.ProviderType != nil && *req.ProviderType != "LOCAL" {
		return vcd.Errorf(vcd.CodeInvalid, "providerType must be LOCAL.")
	}
	if req.Locked != nil && *req.Locked && !cur.Locked(now) {
		return vcd.Errorf(vcd.CodeInvalid, "locked can only be cleared.")
	}
	var role vcd.Role
	roleChange := false
	if req.RoleEntityRefs != nil {
		if role, err = resolveRole(cur.OrgID, *req.RoleEntityRefs); err != nil {
			return err
		}
		roleChange = role.Name != cur.Role
	}
	unlock := req.Locked != nil && !*req.Locked && cur.Locked(now)
	if !admin {
		// Self-service: only fullName, email and password (VCD-COMPAT §5.4).
		changed := roleChange || unlock ||
			req.Description != nil && *req.Description != cur.Description ||
			req.Enabled != nil && *req.Enabled != cur.Enabled
		if changed {
			return errForbidden
		}
	}
	var hash string
	if req.Password != nil && *req.Password != "" {
		if !vcd.Can(c.p, vcd.ActPasswordChange, cur.OrgID, cur.ID) {
			return errForbidden
		}
		if hash, err = a.hashPassword(*req.Password); err != nil {
			return err
		}
	}
	ctx := r.Context()
	u, err := a.store.UpdateUser(ctx, cur.ID, func(u *vcd.User) error {
		if req.FullName != nil {
			u.FullName = *req.FullName
		}
		if req.Email != nil {
			u.Email = *req.Email
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		if !admin {
			return nil
		}
		if req.Description != nil {
			u.Description = *req.Description
		}
		if req.Enabled != nil {
			u.Enabled = *req.Enabled
		}
		if roleChange {
			u.Role = role.Name
		}
		if unlock {
			u.LockedUntil = time.Time{}
			u.FailedLogins = nil
		}
		return nil
	})
	if err != nil {
		return forbiddenIfMissing(err)
	}
	a.userChanged(r, c.p.UserID, cur, u, unlock)
	if cur.Enabled && !u.Enabled {
		if err := a.endSessions(ctx, u.ID); err != nil {
			return err
		}
	}
	j, err := a.userJSON(ctx, a.newNames(), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

// deleteUser serves DELETE /users/{id}: sysadmins, and org admins for other users of
// their org. The user's sessions end.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.userByID(r, c, vcd.ActUserDelete)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := a.endSessions(ctx, u.ID); err != nil {
		return err
	}
	if err := a.store.DeleteUser(ctx, u.ID); err != nil {
		return forbiddenIfMissing(err)
	}
	a.userEvent(r, evUserDelete, c.p.UserID, u)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
