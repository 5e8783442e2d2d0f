package api_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/vcd"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Fixed ids of VCD-COMPAT's examples.
const (
	siteID   = "5c1f6c2e-8a0b-4f3d-9b6e-2d7a1c4e8f30"
	acmeID   = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	betaID   = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
	aliceID  = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	adminID  = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"
	carolID  = "c0000000-0000-4000-8000-000000000001" // org admin of acme
	erinID   = "c0000000-0000-4000-8000-000000000002" // vApp User in acme
	daveID   = "c0000000-0000-4000-8000-000000000003" // org admin of beta
	password = "secret-pw"
)

// testEnv is an API served over real HTTP with fake store and authenticator.
type testEnv struct {
	srv   *httptest.Server
	store *fakeStore
	auth  *fakeAuth
	now   time.Time
}

// mustServe starts an API on httptest with the seeded directory of VCD-COMPAT's
// examples, PublicURL https://HOST, and stops it when the test ends.
func mustServe(tb testing.TB, opts ...func(*api.Config)) *testEnv {
	tb.Helper()
	env := &testEnv{now: time.Date(2025, 3, 13, 9, 26, 53, 0, time.UTC)}
	env.store = newFakeStore(vcd.Site{ID: siteID, Name: "herald"})
	now := func() time.Time { return env.now }
	env.auth = newFakeAuth(env.store, now)
	seed(env.store, now())
	cfg := api.Config{PublicURL: "https://HOST", HashPassword: fakeHash, Now: now}
	for _, o := range opts {
		o(&cfg)
	}
	var logger *slog.Logger
	if os.Getenv("HERALD_TEST_LOG") == "debug" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(slog.DiscardHandler)
	}
	env.srv = httptest.NewServer(api.New(cfg, env.store, env.auth, logger).Handler())
	tb.Cleanup(env.srv.Close)
	return env
}

func seed(st *fakeStore, now time.Time) {
	orgs := []vcd.Org{
		{ID: vcd.SystemOrgID, Name: "System", DisplayName: "System Organization", Enabled: true, Created: now},
		{ID: acmeID, Name: "acme", DisplayName: "Acme Corporation", Description: "Acme tenant", Enabled: true, Created: now},
		{ID: betaID, Name: "beta", DisplayName: "Beta Ltd", Enabled: true, Created: now},
	}
	for _, o := range orgs {
		st.orgs[o.ID] = o
	}
	users := []vcd.User{
		{ID: adminID, OrgID: vcd.SystemOrgID, Name: "administrator", Role: vcd.RoleSystemAdmin},
		{ID: aliceID, OrgID: acmeID, Name: "alice", FullName: "Alice Doe", Email: "alice@acme.example", Role: vcd.RoleVAppAuthor},
		{ID: carolID, OrgID: acmeID, Name: "carol", Role: vcd.RoleOrgAdmin},
		{ID: erinID, OrgID: acmeID, Name: "erin", Role: vcd.RoleVAppUser},
		{ID: daveID, OrgID: betaID, Name: "dave", Role: vcd.RoleOrgAdmin},
	}
	for _, u := range users {
		u.Enabled = true
		u.PasswordHash = "hashed:" + password
		u.Created = now
		st.users[u.ID] = u
	}
}

// response is a completed HTTP exchange.
type response struct {
	*http.Response
	body string
}

// do sends a request to the test server; headers are "Name: value" strings.
func (env *testEnv) do(tb testing.TB, method, path, body string, headers ...string) response {
	tb.Helper()
	req, err := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{Response: resp, body: string(b)}
}

func basic(name, pw string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+pw))
}

// mustLogin logs name in at the right OpenAPI endpoint and returns the Bearer header.
func (env *testEnv) mustLogin(tb testing.TB, name string) string {
	tb.Helper()
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(strings.ToLower(name), "@system") {
		path += "/provider"
	}
	r := env.do(tb, "POST", path, "", basic(name, password), "Accept: application/json;version=36.0")
	if r.StatusCode != 200 {
		tb.Fatalf("login %s: status %d: %s", name, r.StatusCode, r.body)
	}
	return "Authorization: Bearer " + r.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
}

// wantStatus fails the test unless r has the wanted status.
func wantStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.StatusCode != want {
		tb.Fatalf("%s %s: status %d; want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

// normalize replaces the request id of r in its body with REQUEST-ID.
func normalize(r response) string {
	id := r.Header.Get(api.HeaderRequestID)
	if id == "" {
		return r.body
	}
	return strings.ReplaceAll(r.body, id, "REQUEST-ID")
}

// checkGolden compares got with testdata/name, rewriting it with -update.
func checkGolden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// jsonField returns the string field name of a JSON object body.
func jsonField(tb testing.TB, body, name string) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	s, _ := m[name].(string)
	return s
}

// mustCreateToken creates a REFRESH API token with the shortcut and returns its secret.
func (env *testEnv) mustCreateToken(tb testing.TB, cred, name string) string {
	tb.Helper()
	r := env.do(tb, "POST", "/cloudapi/1.0.0/tokens", `{"name":"`+name+`","type":"REFRESH"}`, cred)
	wantStatus(tb, r, 200)
	secret := jsonField(tb, r.body, "token")
	if secret == "" {
		tb.Fatalf("no token in %s", r.body)
	}
	return secret
}

// apiConfig shortens option functions for mustServe.
type apiConfig = api.Config
