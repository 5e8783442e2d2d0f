package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// heraldAPI prefixes herald's own OpenAPI resources; it cannot collide with VCD paths
// (VCD-COMPAT §6.3).
const heraldAPI = "/cloudapi/herald/1.0.0"

// maxGrants bounds the filters of each grant list of a service account.
const maxGrants = 128

// extensionIDPrefix starts the id of a VCD extension: urn:vcloud:extension-api:vendor:name:version.
const extensionIDPrefix = "urn:vcloud:extension-api:"

// serviceAccountJSON is a service account as VCD-COMPAT §6.3 shows it. Secret is set only
// in the responses that create the account or rotate its secret.
type serviceAccountJSON struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Enabled   bool     `json:"enabled"`
	Producer  bool     `json:"producer"`
	Subscribe []string `json:"subscribe"`
	Publish   []string `json:"publish"`
	Secret    *string  `json:"secret,omitempty"`
}

func serviceAccountBody(s vcd.ServiceAccount, secret *string) serviceAccountJSON {
	return serviceAccountJSON{ID: vcd.URN(vcd.KindToken, s.ID), Name: s.Name, Enabled: s.Enabled, Producer: s.Producer,
		Subscribe: nonNil(s.Subscribe), Publish: nonNil(s.Publish), Secret: secret}
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// serviceAccountRequest is the body of POST and PUT; absent fields keep their current
// value on PUT and take the defaults on POST (enabled true, producer false, no grants).
type serviceAccountRequest struct {
	Name      *string   `json:"name"`
	Enabled   *bool     `json:"enabled"`
	Producer  *bool     `json:"producer"`
	Subscribe *[]string `json:"subscribe"`
	Publish   *[]string `json:"publish"`
}

// apply copies the request's fields onto s.
func (req serviceAccountRequest) apply(s *vcd.ServiceAccount) {
	if req.Enabled != nil {
		s.Enabled = *req.Enabled
	}
	if req.Producer != nil {
		s.Producer = *req.Producer
	}
	if req.Subscribe != nil {
		s.Subscribe = slices.Clone(*req.Subscribe)
	}
	if req.Publish != nil {
		s.Publish = slices.Clone(*req.Publish)
	}
}

// checkGrants validates a service account's grants (VCD-COMPAT §6.3): each is a valid
// MQTT filter, and a grant that reaches under publish/ or metrics/ (including a
// wildcard first level) needs producer.
func checkGrants(s vcd.ServiceAccount) error {
	for _, list := range []struct {
		field   string
		filters []string
	}{{"subscribe", s.Subscribe}, {"publish", s.Publish}} {
		if len(list.filters) > maxGrants {
			return vcd.Errorf(vcd.CodeInvalid, "%s has more than %d grants.", list.field, maxGrants)
		}
		for i, f := range list.filters {
			if err := topic.ValidateFilter(f); err != nil {
				return vcd.Wrap(vcd.CodeInvalid, err, fmt.Sprintf("The grant %s[%d] is not a valid MQTT filter.", list.field, i))
			}
			if reachesNotifications(f) && !s.Producer {
				return vcd.Errorf(vcd.CodeInvalid, "The grant %s[%d] lies under publish/ or metrics/ and needs \"producer\":true.", list.field, i)
			}
		}
	}
	return nil
}

// reachesNotifications reports whether filter f can match a topic under publish/ or
// metrics/: its first level is one of them or a wildcard.
func reachesNotifications(f string) bool {
	first, _, _ := strings.Cut(f, "/")
	switch first {
	case "+", "*", "#":
		return true
	}
	return topic.InNotificationSpace(f)
}

// mayManageServiceAccounts refuses everyone but sysadmins in sessions not opened with an
// API token (VCD-COMPAT §4.1, §5.4).
func mayManageServiceAccounts(c *call) error {
	if !vcd.Can(c.p, vcd.ActServiceAccounts, "", "") {
		return errForbidden
	}
	return nil
}

func (a *API) serviceAccountLocation(r *http.Request, id string) string {
	return a.baseURL(r) + heraldAPI + "/serviceAccounts/" + vcd.URN(vcd.KindToken, id)
}

var serviceAccountFields = map[string]func(vcd.ServiceAccount) string{
	"id":   func(s vcd.ServiceAccount) string { return vcd.URN(vcd.KindToken, s.ID) },
	"name": func(s vcd.ServiceAccount) string { return s.Name },
}

// listServiceAccounts serves GET /serviceAccounts: a page of every account (sysadmin).
func (a *API) listServiceAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := mayManageServiceAccounts(c); err != nil {
		return err
	}
	all, err := a.store.ServiceAccounts(r.Context())
	if err != nil {
		return err
	}
	pg, err := paginate(r, all, serviceAccountFields, "ServiceAccounts")
	if err != nil {
		return err
	}
	values := make([]any, 0, len(pg.items))
	for _, s := range pg.items {
		values = append(values, serviceAccountBody(s, nil))
	}
	return writePage(w, r, a.baseURL(r), c, pg, values)
}

// createServiceAccount serves POST /serviceAccounts (sysadmin): 201 with the secret,
// shown only this once.
func (a *API) createServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := mayManageServiceAccounts(c); err != nil {
		return err
	}
	var req serviceAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return vcd.Errorf(vcd.CodeInvalid, "name is required.")
	}
	if err := auth.CheckServiceName(*req.Name); err != nil {
		return err
	}
	s := vcd.ServiceAccount{Name: *req.Name, Enabled: true}
	req.apply(&s)
	if err := checkGrants(s); err != nil {
		return err
	}
	s, secret, err := a.auth.CreateServiceAccount(r.Context(), s, "")
	if err != nil {
		return duplicateName(err, "service account", *req.Name)
	}
	a.Logger(r).Debug("service account created", "service_account_id", s.ID, "by", c.p.UserID)
	w.Header().Set("Location", a.serviceAccountLocation(r, s.ID))
	return writeJSON(w, http.StatusCreated, c, serviceAccountBody(s, &secret))
}

// serviceAccountByID resolves {id} (a urn:vcloud:token URN or a bare UUID) for a
// sysadmin; a malformed or unknown id is 403.
func (a *API) serviceAccountByID(r *http.Request, c *call) (vcd.ServiceAccount, error) {
	if err := mayManageServiceAccounts(c); err != nil {
		return vcd.ServiceAccount{}, err
	}
	id, ok := vcd.ParseID(vcd.KindToken, r.PathValue("id"))
	if !ok {
		return vcd.ServiceAccount{}, errForbidden
	}
	s, err := a.store.ServiceAccount(r.Context(), id)
	if err != nil {
		return vcd.ServiceAccount{}, forbiddenIfMissing(err)
	}
	return s, nil
}

func (a *API) getServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.serviceAccountByID(r, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, serviceAccountBody(s, nil))
}

// updateServiceAccount serves PUT /serviceAccounts/{id}: enabled, producer and the
// grants are replaced; the name cannot change except in case. The broker learns of the
// change from the store and re-checks or closes the account's connections.
func (a *API) updateServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	cur, err := a.serviceAccountByID(r, c)
	if err != nil {
		return err
	}
	var req serviceAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name != nil && !strings.EqualFold(*req.Name, cur.Name) {
		return vcd.Errorf(vcd.CodeInvalid, "A service account's name cannot be changed.")
	}
	// Validate against the current record first, so that a bad body fails fast; the
	// update re-checks on the value it writes.
	next := cur.Clone()
	req.apply(&next)
	if err := checkGrants(next); err != nil {
		return err
	}
	s, err := a.store.UpdateServiceAccount(r.Context(), cur.ID, func(s *vcd.ServiceAccount) error {
		req.apply(s)
		if req.Name != nil {
			s.Name = *req.Name
		}
		return checkGrants(*s)
	})
	if err != nil {
		return forbiddenIfMissing(err)
	}
	return writeJSON(w, http.StatusOK, c, serviceAccountBody(s, nil))
}

// deleteServiceAccount serves DELETE /serviceAccounts/{id}: 204. The account of an
// EXTENSION token takes its token along.
func (a *API) deleteServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.serviceAccountByID(r, c)
	if err != nil {
		return err
	}
	if err := a.store.DeleteServiceAccount(r.Context(), s.ID); err != nil {
		return forbiddenIfMissing(err)
	}
	if s.ExtensionID != "" {
		if err := a.store.DeleteAPIToken(r.Context(), s.ID); err != nil && vcd.CodeOf(err) != vcd.CodeNotFound {
			return err
		}
	}
	a.Logger(r).Debug("service account deleted", "service_account_id", s.ID, "by", c.p.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateServiceSecret serves POST /serviceAccounts/{id}/secret: 200 with the new
// secret, shown only this once. The old secret and the account's JWTs stop working.
func (a *API) rotateServiceSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	cur, err := a.serviceAccountByID(r, c)
	if err != nil {
		return err
	}
	s, secret, err := a.auth.RotateServiceSecret(r.Context(), cur.ID)
	if err != nil {
		return forbiddenIfMissing(err)
	}
	a.Logger(r).Debug("service account secret rotated", "service_account_id", s.ID, "by", c.p.UserID)
	return writeJSON(w, http.StatusOK, c, serviceAccountBody(s, &secret))
}

// serviceSession serves POST /serviceAccounts/session: Basic name:secret gives 200 with
// a service JWT in X-VMWARE-VCLOUD-ACCESS-TOKEN and the account in the body. Failures
// get the one login failure body (VCD-COMPAT §2.1) and count towards the login rate.
func (a *API) serviceSession(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	defer a.observeLogin(LoginServiceAccount, &err)
	if err := a.checkLoginRate(w, r); err != nil {
		return err
	}
	name, secret, err := basicCredentials(r)
	if err != nil {
		return err
	}
	res, err := a.auth.ServiceLogin(r.Context(), name, secret, clientIP(r))
	if err != nil {
		return loginError(err)
	}
	p := res.Principal
	setTokenHeaders(w, res)
	return writeJSON(w, http.StatusOK, c, serviceAccountBody(vcd.ServiceAccount{ID: p.UserID, Name: p.UserName,
		Enabled: true, Producer: p.Producer, Subscribe: p.Subscribe, Publish: p.Publish}, nil))
}

// extensionTriplet returns the vendor, name and version of a VCD extension from its id
// (urn:vcloud:extension-api:vendor:name:version) or, when the id is not of that form,
// from a token name "vendor/name/version". Each part must be a plain topic level.
func extensionTriplet(tokenName, extensionID string) (vendor, name, version string, err error) {
	var parts []string
	if len(extensionID) > len(extensionIDPrefix) && strings.EqualFold(extensionID[:len(extensionIDPrefix)], extensionIDPrefix) {
		parts = strings.Split(extensionID[len(extensionIDPrefix):], ":")
	}
	if !plainLevels(parts) {
		parts = strings.Split(tokenName, "/")
	}
	if !plainLevels(parts) {
		return "", "", "", vcd.Errorf(vcd.CodeInvalid,
			"An EXTENSION token needs an extensionId urn:vcloud:extension-api:vendor:name:version or a name vendor/name/version.")
	}
	return parts[0], parts[1], parts[2], nil
}

// plainLevels reports whether parts are three non-empty topic levels without wildcards.
func plainLevels(parts []string) bool {
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "/+#*:@ \x00") {
			return false
		}
	}
	return true
}

// createExtensionAccount gives an EXTENSION token its MQTT service account
// vendor/name/version (VCD-COMPAT §6.3): same id as the token, the token's secret,
// subscribe topic/extension/{vendor}/{name}/{version}/ext and publish …/vcd. If that
// fails the token is deleted again.
func (a *API) createExtensionAccount(ctx context.Context, t vcd.APIToken, secret, vendor, name, version string) error {
	s := vcd.ServiceAccount{
		ID:          t.ID,
		Name:        vendor + "/" + name + "/" + version,
		Enabled:     true,
		ExtensionID: t.ExtensionID,
		Subscribe:   []string{topic.ExtensionIn(vendor, name, version)},
		Publish:     []string{topic.ExtensionOut(vendor, name, version)},
	}
	err := checkGrants(s)
	if err == nil {
		_, _, err = a.auth.CreateServiceAccount(ctx, s, secret)
	}
	if err != nil {
		if derr := a.store.DeleteAPIToken(context.WithoutCancel(ctx), t.ID); derr != nil && vcd.CodeOf(derr) != vcd.CodeNotFound {
			a.logger.Warn("extension token left without its service account", "token_id", t.ID, logKeyError, derr)
		}
		return duplicateName(err, "service account", s.Name)
	}
	return nil
}
