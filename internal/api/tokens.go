package api

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// tokenJSON is the Token of /cloudapi/1.0.0/tokens (VCD-COMPAT §4.2). Token holds the
// secret only in the response that created it.
type tokenJSON struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Token             *string   `json:"token"`
	ExpirationTimeUTC *string   `json:"expirationTimeUtc"`
	Owner             entityRef `json:"owner"`
	Org               entityRef `json:"org"`
	Type              string    `json:"type"`
}

// names caches user and org names while a response is built.
type names struct {
	a     *API
	users map[string]string
	orgs  map[string]string
}

func (a *API) newNames() *names {
	return &names{a: a, users: map[string]string{}, orgs: map[string]string{}}
}

func (n *names) user(ctx context.Context, id string) (string, error) {
	if s, ok := n.users[id]; ok {
		return s, nil
	}
	u, err := n.a.store.User(ctx, id)
	if err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
		return "", err
	}
	n.users[id] = u.Name
	return u.Name, nil
}

func (n *names) org(ctx context.Context, id string) (string, error) {
	if s, ok := n.orgs[id]; ok {
		return s, nil
	}
	o, err := n.a.store.Org(ctx, id)
	if err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
		return "", err
	}
	n.orgs[id] = o.Name
	return o.Name, nil
}

func (n *names) token(ctx context.Context, t vcd.APIToken, secret *string) (tokenJSON, error) {
	owner, err := n.user(ctx, t.UserID)
	if err != nil {
		return tokenJSON{}, err
	}
	org, err := n.org(ctx, t.OrgID)
	if err != nil {
		return tokenJSON{}, err
	}
	var exp *string
	if !t.Expires.IsZero() {
		s := t.Expires.UTC().Format(time.RFC3339)
		exp = &s
	}
	return tokenJSON{ID: vcd.URN(vcd.KindToken, t.ID), Name: t.Name, Token: secret, ExpirationTimeUTC: exp,
		Owner: entityRef{Name: owner, ID: vcd.URN(vcd.KindUser, t.UserID)},
		Org:   entityRef{Name: org, ID: vcd.URN(vcd.KindOrg, t.OrgID)}, Type: t.Type}, nil
}

var tokenFields = map[string]func(vcd.APIToken) string{
	"id":   func(t vcd.APIToken) string { return vcd.URN(vcd.KindToken, t.ID) },
	"name": func(t vcd.APIToken) string { return t.Name },
	"type": func(t vcd.APIToken) string { return t.Type },
}

// listTokens pages the API tokens the caller may manage: sysadmins all, org admins
// their org's, others their own.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	all, err := a.store.APITokens(ctx)
	if err != nil {
		return err
	}
	var mine []vcd.APIToken
	for _, t := range all {
		if vcd.Can(c.p, vcd.ActTokenManage, t.OrgID, t.UserID) {
			mine = append(mine, t)
		}
	}
	pg, err := paginate(r, mine, tokenFields, "Tokens")
	if err != nil {
		return err
	}
	n := a.newNames()
	values := make([]any, 0, len(pg.items))
	for _, t := range pg.items {
		j, err := n.token(ctx, t, nil)
		if err != nil {
			return err
		}
		values = append(values, j)
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// tokenByID resolves {id} and checks that the caller may manage the token.
func (a *API) tokenByID(r *http.Request, c *call) (vcd.APIToken, error) {
	id, ok := vcd.ParseID(vcd.KindToken, r.PathValue("id"))
	if !ok {
		return vcd.APIToken{}, errForbidden
	}
	t, err := a.store.APIToken(r.Context(), id)
	if err != nil {
		return vcd.APIToken{}, forbiddenIfMissing(err)
	}
	if !vcd.Can(c.p, vcd.ActTokenManage, t.OrgID, t.UserID) {
		return vcd.APIToken{}, errForbidden
	}
	return t, nil
}

func (a *API) getToken(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := a.tokenByID(r, c)
	if err != nil {
		return err
	}
	j, err := a.newNames().token(r.Context(), t, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := a.tokenByID(r, c)
	if err != nil {
		return err
	}
	if err := a.store.DeleteAPIToken(r.Context(), t.ID); err != nil {
		return forbiddenIfMissing(err)
	}
	if t.Type == vcd.TokenExtension {
		// Its service account (same id, §6.3) goes too; the broker then closes its connections.
		if err := a.store.DeleteServiceAccount(r.Context(), t.ID); err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
			return err
		}
	}
	a.tokenEvent(r, evTokenDelete, c.p.UserID, t)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type createTokenRequest struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	ExtensionID string `json:"extensionId"`
}

// createToken serves herald's one-call shortcut POST /cloudapi/1.0.0/tokens: REFRESH for
// oneself, EXTENSION for sysadmins (VCD-COMPAT §4.2, §6.3); PROXY is refused with 400.
func (a *API) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name); err != nil {
		return err
	}
	switch req.Type {
	case vcd.TokenRefresh:
		if !vcd.Can(c.p, vcd.ActTokenCreate, c.p.OrgID, c.p.UserID) {
			return errForbidden
		}
	case vcd.TokenExtension:
		if !vcd.Can(c.p, vcd.ActServiceAccounts, c.p.OrgID, "") {
			return errForbidden
		}
		if req.ExtensionID == "" {
			return vcd.Errorf(vcd.CodeInvalid, "extensionId is required for EXTENSION tokens.")
		}
		if _, _, _, err := extensionTriplet(req.Name, req.ExtensionID); err != nil {
			return err
		}
	case "PROXY":
		return vcd.Errorf(vcd.CodeInvalid, "PROXY tokens are not supported.")
	default:
		return vcd.Errorf(vcd.CodeInvalid, "type must be REFRESH or EXTENSION.")
	}
	t, secret, err := a.auth.CreateAPIToken(r.Context(), c.p, req.Name, req.Type, req.ExtensionID)
	if err != nil {
		return err
	}
	if req.Type == vcd.TokenExtension {
		// The token's holder connects to MQTT as service account vendor/name/version (§6.3).
		vendor, name, version, _ := extensionTriplet(req.Name, req.ExtensionID)
		if err := a.createExtensionAccount(r.Context(), t, secret, vendor, name, version); err != nil {
			return err
		}
	}
	a.tokenEvent(r, evTokenCreate, c.p.UserID, t)
	j, err := a.newNames().token(r.Context(), t, &secret)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, j)
}
