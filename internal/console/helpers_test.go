package console_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
)

const (
	adminName     = "administrator@System"
	adminPassword = "admin-secret-1"
	jsonAccept    = "application/json;version=39.0"
	taskAccept    = "application/*+json;version=39.0"
	taskType      = "application/vnd.vmware.vcloud.task+json"
)

// testLogger discards logs unless HERALD_TEST_LOG is set (e.g. to debug).
func testLogger() *slog.Logger {
	if lvl := os.Getenv("HERALD_TEST_LOG"); lvl != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(lvl))
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	return slog.New(slog.DiscardHandler)
}

// MustRunServer starts herald over HTTPS on a random loopback port with a fresh store
// and a fast password hash, and stops it when the test ends.
func MustRunServer(tb testing.TB, opts ...func(*config.Config)) *server.Server {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Auth.AdminPassword = adminPassword
	cfg.Auth.PasswordCost = 4 // bcrypt's default cost is slow under -race
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.New(cfg, testLogger())
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// restClient calls herald's REST API over TLS, trusting the server's generated CA.
type restClient struct {
	tb    testing.TB
	base  string
	http  *http.Client
	token string // Bearer JWT once logged in
}

func newRESTClient(tb testing.TB, s *server.Server) *restClient {
	tb.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		tb.Fatalf("read generated CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatal("generated CA is not PEM")
	}
	return &restClient{tb: tb, base: s.URL(), http: &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}},
		// The console's redirect is asserted, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with optional header pairs and returns the answer with its body.
func (c *restClient) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	c.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Accept", jsonAccept)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp, b
}

// mustJSON sends a request, requires the status and decodes the JSON answer, if any.
func (c *restClient) mustJSON(method, path, body string, want int, hdr ...string) map[string]any {
	c.tb.Helper()
	resp, b := c.do(method, path, body, hdr...)
	if resp.StatusCode != want {
		c.tb.Fatalf("%s %s = %d %s; want %d", method, path, resp.StatusCode, b, want)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			c.tb.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return m
}

// login logs user@org in at the tenant or provider endpoint and returns the status;
// on success the client keeps the JWT.
func (c *restClient) login(name, password string) int {
	c.tb.Helper()
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(strings.ToLower(name), "@system") {
		path += "/provider"
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.SetBasicAuth(name, password)
	req.Header.Set("Accept", jsonAccept)
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		c.token = resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	}
	return resp.StatusCode
}

// mustAdmin returns a client logged in as the bootstrap system administrator.
func mustAdmin(tb testing.TB, s *server.Server) *restClient {
	tb.Helper()
	c := newRESTClient(tb, s)
	if code := c.login(adminName, adminPassword); code != http.StatusOK {
		tb.Fatalf("admin login = %d", code)
	}
	return c
}

// bareID returns the UUID of a URN such as "urn:vcloud:org:<uuid>".
func bareID(tb testing.TB, urn any) string {
	tb.Helper()
	s, _ := urn.(string)
	i := strings.LastIndexByte(s, ':')
	if !strings.HasPrefix(s, "urn:vcloud:") || i < 0 {
		tb.Fatalf("not a URN: %v", urn)
	}
	return s[i+1:]
}
