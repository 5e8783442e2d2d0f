package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// sessionJSON36 is the Session of API versions 33.0–37.x (VCD-COMPAT §2.2). Field
// order is the wire order.
type sessionJSON36 struct {
	ID                        string      `json:"id"`
	User                      entityRef   `json:"user"`
	Org                       entityRef   `json:"org"`
	Location                  string      `json:"location"`
	Roles                     []string    `json:"roles"`
	RoleRefs                  []entityRef `json:"roleRefs"`
	SessionIdleTimeoutMinutes int         `json:"sessionIdleTimeoutMinutes"`
}

// sessionJSON38 is the Session from API version 38.0: site follows id and operatingOrg
// follows org.
type sessionJSON38 struct {
	ID                        string      `json:"id"`
	Site                      entityRef   `json:"site"`
	User                      entityRef   `json:"user"`
	Org                       entityRef   `json:"org"`
	OperatingOrg              entityRef   `json:"operatingOrg"`
	Location                  string      `json:"location"`
	Roles                     []string    `json:"roles"`
	RoleRefs                  []entityRef `json:"roleRefs"`
	SessionIdleTimeoutMinutes int         `json:"sessionIdleTimeoutMinutes"`
}

// sessionView is what a Session JSON is built from.
type sessionView struct {
	id                  string
	userID, userName    string
	orgID, orgName      string
	operatingID, opName string
	role                string
	site                vcd.Site
	idleTimeoutMinutes  int
}

func (v sessionView) json(major int) any {
	roleRefs := []entityRef{}
	roles := []string{}
	if v.role != "" {
		roles = append(roles, v.role)
		roleRefs = append(roleRefs, entityRef{Name: v.role, ID: vcd.URN(vcd.KindRole, vcd.RoleID(v.orgID, v.role))})
	}
	user := entityRef{Name: v.userName, ID: vcd.URN(vcd.KindUser, v.userID)}
	org := entityRef{Name: v.orgName, ID: vcd.URN(vcd.KindOrg, v.orgID)}
	location := v.orgID + "@" + v.site.ID
	id := vcd.URN(vcd.KindSession, v.id)
	if major < 38 {
		return sessionJSON36{ID: id, User: user, Org: org, Location: location, Roles: roles,
			RoleRefs: roleRefs, SessionIdleTimeoutMinutes: v.idleTimeoutMinutes}
	}
	op := org
	if v.operatingID != "" && v.operatingID != v.orgID {
		op = entityRef{Name: v.opName, ID: vcd.URN(vcd.KindOrg, v.operatingID)}
	}
	return sessionJSON38{ID: id, Site: entityRef{Name: v.site.Name, ID: vcd.URN(vcd.KindSite, v.site.ID)},
		User: user, Org: org, OperatingOrg: op, Location: location, Roles: roles, RoleRefs: roleRefs,
		SessionIdleTimeoutMinutes: v.idleTimeoutMinutes}
}

// principalSession describes the session of p itself.
func (a *API) principalSession(ctx context.Context, p vcd.Principal) (sessionView, error) {
	site, err := a.store.Site(ctx)
	if err != nil {
		return sessionView{}, err
	}
	v := sessionView{id: p.SessionID, userID: p.UserID, userName: p.UserName, orgID: p.OrgID,
		orgName: p.OrgName, role: p.Role, site: site, idleTimeoutMinutes: a.cfg.SessionIdleMinutes}
	if op := p.Operating(); op != p.OrgID {
		o, err := a.store.Org(ctx, op)
		if err != nil {
			return sessionView{}, err
		}
		v.operatingID, v.opName = o.ID, o.Name
	}
	return v, nil
}

// storedSession describes a stored session, reading its user and orgs from the store.
func (a *API) storedSession(ctx context.Context, s vcd.Session) (sessionView, error) {
	site, err := a.store.Site(ctx)
	if err != nil {
		return sessionView{}, err
	}
	u, err := a.store.User(ctx, s.UserID)
	if err != nil {
		return sessionView{}, forbiddenIfMissing(err)
	}
	o, err := a.store.Org(ctx, s.OrgID)
	if err != nil {
		return sessionView{}, forbiddenIfMissing(err)
	}
	v := sessionView{id: s.ID, userID: u.ID, userName: u.Name, orgID: o.ID, orgName: o.Name, role: u.Role,
		site: site, idleTimeoutMinutes: a.cfg.SessionIdleMinutes}
	if s.OperatingOrgID != "" && s.OperatingOrgID != s.OrgID {
		op, err := a.store.Org(ctx, s.OperatingOrgID)
		if err != nil {
			return sessionView{}, forbiddenIfMissing(err)
		}
		v.operatingID, v.opName = op.ID, op.Name
	}
	return v, nil
}

// login serves POST /cloudapi/1.0.0/sessions (tenant) and /sessions/provider
// (VCD-COMPAT §2.1).
func (a *API) login(provider bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (err error) {
		defer a.observeLogin(LoginCloudAPI, &err)
		if err := a.checkLoginRate(w, r); err != nil {
			return err
		}
		name, password, err := basicCredentials(r)
		if err != nil {
			return err
		}
		res, err := a.auth.Login(r.Context(), name, password, provider, clientIP(r))
		if err != nil {
			a.loginFailed(r, err)
			return loginError(err)
		}
		a.loggedIn(r, res.Principal)
		v, err := a.principalSession(r.Context(), res.Principal)
		if err != nil {
			return err
		}
		v.id = res.Session.ID
		setTokenHeaders(w, res)
		return writeJSON(w, http.StatusOK, c, v.json(c.major()))
	}
}

// loginError keeps internal failures and gives every other failure the one
// "Authentication failed." body.
func loginError(err error) error {
	switch vcd.CodeOf(err) {
	case vcd.CodeInternal, vcd.CodeUnavailable, vcd.CodeTooManyRequests:
		return err
	}
	return &vcd.Error{Code: vcd.CodeUnauthorized, Message: errAuthFailed.Message, Err: err}
}

func setTokenHeaders(w http.ResponseWriter, res auth.LoginResult) {
	w.Header().Set(HeaderAccessToken, res.JWT)
	w.Header().Set(HeaderTokenType, "Bearer")
}

func (a *API) currentSession(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := a.principalSession(r.Context(), c.p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, v.json(c.major()))
}

func (a *API) deleteCurrentSession(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.auth.Logout(r.Context(), c.p.SessionID); err != nil {
		return err
	}
	a.loggedOut(r, c.p.UserID, c.p.OrgID, c.p.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listSessions pages the caller's own live sessions.
func (a *API) listSessions(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	all, err := a.store.Sessions(ctx, c.p.UserID)
	if err != nil {
		return err
	}
	now := a.now()
	live := all[:0:0]
	for _, s := range all {
		if !s.Revoked && (s.Expires.IsZero() || now.Before(s.Expires)) {
			live = append(live, s)
		}
	}
	pg, err := paginate(r, live, sessionFields, "Sessions")
	if err != nil {
		return err
	}
	values := make([]any, 0, len(pg.items))
	for _, s := range pg.items {
		v, err := a.storedSession(ctx, s)
		if err != nil {
			return err
		}
		values = append(values, v.json(c.major()))
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

var sessionFields = map[string]func(vcd.Session) string{
	"id": func(s vcd.Session) string { return vcd.URN(vcd.KindSession, s.ID) },
}

// sessionByID resolves {id} of /sessions/{id} and checks the caller's rights.
// /sessions/provider is the provider login, not a session: its other methods
// get 405 with the Allow header every 405 carries (RFC 9110 §15.5.6).
func (a *API) sessionByID(w http.ResponseWriter, r *http.Request, c *call) (vcd.Session, error) {
	raw := r.PathValue("id")
	if strings.EqualFold(raw, "provider") {
		w.Header().Set("Allow", http.MethodPost)
		return vcd.Session{}, vcd.Errorf(vcd.CodeMethodNotAllowed, "The method %s is not allowed on this resource.", r.Method)
	}
	id, ok := vcd.ParseID(vcd.KindSession, raw)
	if !ok {
		return vcd.Session{}, errForbidden
	}
	s, err := a.store.Session(r.Context(), id)
	if err != nil {
		return vcd.Session{}, forbiddenIfMissing(err)
	}
	if s.Revoked || !vcd.Can(c.p, vcd.ActSessionManage, s.OrgID, s.UserID) {
		return vcd.Session{}, errForbidden
	}
	return s, nil
}

func (a *API) getSession(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.sessionByID(w, r, c)
	if err != nil {
		return err
	}
	v, err := a.storedSession(r.Context(), s)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, v.json(c.major()))
}

func (a *API) deleteSession(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.sessionByID(w, r, c)
	if err != nil {
		return err
	}
	if err := a.auth.Logout(r.Context(), s.ID); err != nil {
		return err
	}
	a.loggedOut(r, c.p.UserID, s.OrgID, s.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSessions logs out every session of a user, e.g. when the user is disabled or
// deleted (VCD-COMPAT §5.2).
func (a *API) endSessions(ctx context.Context, userID string) error {
	ss, err := a.store.Sessions(ctx, userID)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.Revoked {
			continue
		}
		if err := a.auth.Logout(ctx, s.ID); err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
			return err
		}
	}
	return nil
}
