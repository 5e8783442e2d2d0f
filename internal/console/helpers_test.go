package console_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/servertest"
)

const (
	adminName     = "administrator@System"
	adminPassword = "admin-secret-1"
	jsonAccept    = servertest.JSONAccept
	taskAccept    = "application/*+json;version=39.0"
	taskType      = "application/vnd.vmware.vcloud.task+json"
)

// testLogger discards logs unless HERALD_TEST_LOG is set (e.g. to debug).
func testLogger() *slog.Logger { return servertest.Logger() }

// MustRunServer starts herald over HTTPS on a random loopback port with a fresh store
// and a fast password hash, and stops it when the test ends.
func MustRunServer(tb testing.TB, opts ...func(*config.Config)) *server.Server {
	tb.Helper()
	cfg := servertest.Config(tb.TempDir(), adminPassword)
	for _, o := range opts {
		o(&cfg)
	}
	return servertest.Run(tb, cfg)
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
	return &restClient{tb: tb, base: s.URL(), http: &http.Client{
		Transport: servertest.TLSTransport(tb, s),
		// The console's redirect is asserted, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with optional header pairs and returns the answer with its body.
func (c *restClient) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	c.tb.Helper()
	return servertest.Do(c.tb, c.http, method, c.base+path, jsonAccept, c.token, body, hdr...)
}

// mustJSON sends a request, requires the status and decodes the JSON answer, if any.
func (c *restClient) mustJSON(method, path, body string, want int, hdr ...string) map[string]any {
	c.tb.Helper()
	return servertest.MustJSON(c.tb, c.http, method, c.base+path, jsonAccept, c.token, body, want, hdr...)
}

// login logs user@org in at the tenant or provider endpoint and returns the status;
// on success the client keeps the JWT.
func (c *restClient) login(name, password string) int {
	c.tb.Helper()
	code, token, _ := servertest.Login(c.tb, c.http, c.base, name, password)
	if code == http.StatusOK {
		c.token = token
	}
	return code
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
