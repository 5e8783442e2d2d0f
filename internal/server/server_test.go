package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/servertest"
)

const adminPassword = "admin-secret-1"

// testLogger discards logs unless HERALD_TEST_LOG is set (e.g. to debug).
func testLogger() *slog.Logger { return servertest.Logger() }

// testConfig is a configuration for a server on a random loopback port with its store
// in dataDir and a fast password hash.
func testConfig(dataDir string) config.Config { return servertest.Config(dataDir, adminPassword) }

// MustRunServer starts a server with cfg and stops it when the test ends.
func MustRunServer(tb testing.TB, cfg config.Config) *server.Server { return servertest.Run(tb, cfg) }

// client talks to one server over TLS, trusting its generated CA.
type client struct {
	tb    testing.TB
	base  string
	http  *http.Client
	token string // Bearer JWT, when logged in
}

func newClient(tb testing.TB, s *server.Server) *client {
	tb.Helper()
	return &client{tb: tb, base: s.URL(), http: &http.Client{Transport: servertest.TLSTransport(tb, s)}}
}

// do sends a request and returns the response with its body read.
func (c *client) do(method, path, accept, body string, hdr ...string) (*http.Response, []byte) {
	c.tb.Helper()
	return servertest.Do(c.tb, c.http, method, c.base+path, accept, c.token, body, hdr...)
}

const jsonAccept = servertest.JSONAccept

// login logs in user@org with Basic auth at the right endpoint and keeps the JWT.
func (c *client) login(name, password string) (int, map[string]any) {
	c.tb.Helper()
	code, token, sess := servertest.Login(c.tb, c.http, c.base, name, password)
	if code == http.StatusOK {
		c.token = token
	}
	return code, sess
}

// mustJSON sends a JSON request, requires the status and decodes the answer.
func (c *client) mustJSON(method, path, body string, want int) map[string]any {
	c.tb.Helper()
	return servertest.MustJSON(c.tb, c.http, method, c.base+path, jsonAccept, c.token, body, want)
}

type ref struct{ name, id string }

func TestEndToEnd_DirectoryLoginLogoutRestart(t *testing.T) {
	dir := t.TempDir()
	s := MustRunServer(t, testConfig(dir))

	admin := newClient(t, s)
	if code, sess := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	} else if org := sess["org"].(map[string]any); org["name"] != "System" {
		t.Fatalf("admin session org = %v", org)
	}

	// Two orgs, and a user of each tenant role in each.
	roles := []string{"Organization Administrator", "vApp Author", "vApp User", "Console Access Only"}
	orgs := map[string]ref{}
	for _, name := range []string{"acme", "beta"} {
		o := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs",
			fmt.Sprintf(`{"name":%q,"displayName":"%s Corp","description":"tenant","isEnabled":true}`, name, name), http.StatusCreated)
		orgs[name] = ref{name, o["id"].(string)}
	}
	// The roles of an org are listed by a user of that org; a sysadmin names them by the
	// tenant context header, as in VCD.
	users := map[string]string{} // "user@org" → password
	for _, org := range []string{"acme", "beta"} {
		for i, role := range roles {
			name := fmt.Sprintf("u%d", i)
			body := fmt.Sprintf(`{"username":%q,"fullName":"User %d","password":"pw-%s-%d","enabled":true,`+
				`"roleEntityRefs":[{"name":%q}],"orgEntityRef":{"id":%q}}`, name, i, org, i, role, orgs[org].id)
			u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", body, http.StatusCreated)
			if u["password"] != nil {
				t.Errorf("created user shows its password: %v", u["password"])
			}
			users[name+"@"+org] = fmt.Sprintf("pw-%s-%d", org, i)
		}
	}
	// A duplicate name is refused, in any case.
	admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"ACME","displayName":"again"}`, http.StatusConflict)

	// Every user logs in and uses the token; the org admin sees its org's users only.
	sessions := map[string]*client{}
	for name, pw := range users {
		c := newClient(t, s)
		if code, _ := c.login(name, pw); code != http.StatusOK {
			t.Fatalf("login %s = %d", name, code)
		}
		cur := c.mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusOK)
		user, org, _ := strings.Cut(name, "@")
		if got := cur["user"].(map[string]any)["name"]; got != user {
			t.Errorf("%s: sessions/current user = %v", name, got)
		}
		if got := cur["org"].(map[string]any)["name"]; got != org {
			t.Errorf("%s: sessions/current org = %v", name, got)
		}
		sessions[name] = c
	}
	page := sessions["u0@acme"].mustJSON(http.MethodGet, "/cloudapi/1.0.0/users", "", http.StatusOK)
	if got := page["resultTotal"]; got != float64(len(roles)) {
		t.Errorf("org admin of acme sees %v users; want %d", got, len(roles))
	}
	sessions["u0@acme"].mustJSON(http.MethodPost, "/cloudapi/1.0.0/users",
		fmt.Sprintf(`{"username":"intruder","password":"secret1","roleEntityRefs":[{"name":"vApp User"}],"orgEntityRef":{"id":%q}}`, orgs["beta"].id),
		http.StatusForbidden)
	sessions["u1@acme"].mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"nope","displayName":"nope"}`, http.StatusForbidden)

	// The legacy API answers the same token, as the Python SDK uses it.
	resp, body := sessions["u1@beta"].do(http.MethodGet, "/api/session", "application/*+xml;version=36.0", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `org="beta"`) {
		t.Errorf("GET /api/session = %d %s", resp.StatusCode, body)
	}

	// Logout revokes the token at once.
	kept := sessions["u1@acme"].token
	sessions["u2@acme"].mustJSON(http.MethodDelete, "/cloudapi/1.0.0/sessions/current", "", http.StatusNoContent)
	sessions["u2@acme"].mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusUnauthorized)
	// A wrong password is refused like an unknown user.
	bad := newClient(t, s)
	if code, _ := bad.login("u1@acme", "wrong-password"); code != http.StatusUnauthorized {
		t.Errorf("wrong password login = %d; want 401", code)
	}

	// Restart on the same data dir: the users log in again, and tokens issued before
	// the restart still verify (the signing keys are in the store).
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s2 := MustRunServer(t, testConfig(dir))
	if s2.GeneratedAdminPassword() != "" {
		t.Error("restart generated a new administrator password")
	}
	for name, pw := range users {
		c := newClient(t, s2)
		if code, _ := c.login(name, pw); code != http.StatusOK {
			t.Errorf("login %s after restart = %d", name, code)
		}
	}
	old := newClient(t, s2)
	old.token = kept
	old.mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusOK)
	revoked := newClient(t, s2)
	revoked.token = sessions["u2@acme"].token
	revoked.mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusUnauthorized)
}

func TestServer_GeneratesAdminPasswordOnce(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Auth.AdminPassword = ""
	s := MustRunServer(t, cfg)
	pw := s.GeneratedAdminPassword()
	if len(pw) < 16 {
		t.Fatalf("generated password %q is too short", pw)
	}
	c := newClient(t, s)
	if code, _ := c.login("administrator@System", pw); code != http.StatusOK {
		t.Fatalf("login with generated password = %d", code)
	}
}

func TestServer_PlainHTTPAndBadAddress(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HTTP.Addr = ""
	cfg.HTTP.PlainAddr = "127.0.0.1:0"
	s := MustRunServer(t, cfg)
	resp, err := http.Get(s.PlainURL() + "/api/versions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-VMWARE-VCLOUD-REQUEST-ID") == "" {
		t.Errorf("GET /api/versions over plain HTTP = %d, request id %q", resp.StatusCode, resp.Header.Get("X-VMWARE-VCLOUD-REQUEST-ID"))
	}

	taken := testConfig(t.TempDir())
	taken.HTTP.Addr = ""
	taken.HTTP.PlainAddr = strings.TrimPrefix(s.PlainURL(), "http://")
	s2, err := server.New(taken, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Open(context.Background()); err == nil {
		_ = s2.Close()
		t.Fatal("Open on an address in use succeeded")
	}
}

func TestEndToEnd_APITokensAndLegacyLogin(t *testing.T) {
	s := MustRunServer(t, testConfig(t.TempDir()))
	admin := newClient(t, s)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	org := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"Acme"}`, http.StatusCreated)
	admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","password":"alice-pw","roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":%q}}`, org["id"]), http.StatusCreated)

	alice := newClient(t, s)
	if code, _ := alice.login("alice@acme", "alice-pw"); code != http.StatusOK {
		t.Fatalf("alice login = %d", code)
	}
	tok := alice.mustJSON(http.MethodPost, "/cloudapi/1.0.0/tokens", `{"name":"ci-pipeline","type":"REFRESH"}`, http.StatusOK)
	secret, _ := tok["token"].(string)
	if len(secret) != 32 {
		t.Fatalf("API token secret = %q; want 32 characters", secret)
	}

	// Exchange the API token for a session JWT (VCD-COMPAT 4.1) and use it.
	exchange := func() (int, map[string]any) {
		resp, body := newClient(t, s).do(http.MethodPost, "/oauth/tenant/acme/token", "application/json",
			"grant_type=refresh_token&refresh_token="+secret, "Content-Type", "application/x-www-form-urlencoded")
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return resp.StatusCode, m
	}
	code, grant := exchange()
	if code != http.StatusOK || grant["token_type"] != "Bearer" || grant["access_token"] == "" {
		t.Fatalf("token exchange = %d %v", code, grant)
	}
	viaToken := newClient(t, s)
	viaToken.token = grant["access_token"].(string)
	cur := viaToken.mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusOK)
	if cur["user"].(map[string]any)["name"] != "alice" {
		t.Errorf("API-token session user = %v", cur["user"])
	}
	// Such a session may not create API tokens (VCD-COMPAT 4.1).
	viaToken.mustJSON(http.MethodPost, "/cloudapi/1.0.0/tokens", `{"name":"again","type":"REFRESH"}`, http.StatusForbidden)

	// Revoking the API token stops further exchanges.
	id := tok["id"].(string)
	alice.mustJSON(http.MethodDelete, "/cloudapi/1.0.0/tokens/"+id, "", http.StatusNoContent)
	if code, m := exchange(); code != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("exchange of a revoked token = %d %v; want 400 invalid_grant", code, m)
	}

	// Legacy login: x-vcloud-authorization works on /api and /cloudapi, and legacy
	// logout revokes it.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/sessions", nil)
	req.SetBasicAuth("alice@acme", "alice-pw")
	req.Header.Set("Accept", "application/*+xml;version=36.0")
	resp, err := newClient(t, s).http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	legacy := resp.Header.Get("x-vcloud-authorization")
	if resp.StatusCode != http.StatusOK || len(legacy) != 32 || resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN") == "" {
		t.Fatalf("legacy login = %d, token %q", resp.StatusCode, legacy)
	}
	lc := newClient(t, s)
	if r, b := lc.do(http.MethodGet, "/api/org/", "application/*+xml;version=36.0", "", "x-vcloud-authorization", legacy); r.StatusCode != http.StatusOK || !strings.Contains(string(b), `name="acme"`) {
		t.Errorf("GET /api/org/ with legacy token = %d %s", r.StatusCode, b)
	}
	if r, _ := lc.do(http.MethodDelete, "/api/session", "application/*+xml;version=36.0", "", "x-vcloud-authorization", legacy); r.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE /api/session = %d", r.StatusCode)
	}
	if r, _ := lc.do(http.MethodGet, "/cloudapi/1.0.0/sessions/current", jsonAccept, "", "x-vcloud-authorization", legacy); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("legacy token after logout = %d; want 401", r.StatusCode)
	}
}
