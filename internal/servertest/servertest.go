// Package servertest runs herald servers for the tests of other packages (server,
// console, cli, bench) and sends requests to their REST API: one copy of the set-up
// those tests share. Only tests import it.
package servertest

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

// Logger discards logs unless HERALD_TEST_LOG names a level (e.g. debug), for
// looking into a failing test.
func Logger() *slog.Logger {
	if lvl := os.Getenv("HERALD_TEST_LOG"); lvl != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(lvl))
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	return slog.New(slog.DiscardHandler)
}

// Config is the default configuration for a server on a random loopback port
// (HTTPS, generated CA) with its store in dataDir, the bootstrap administrator's
// password, and a fast password hash (bcrypt's default cost is slow under -race).
func Config(dataDir, adminPassword string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Auth.AdminPassword = adminPassword
	cfg.Auth.PasswordCost = 4
	return cfg
}

// Run starts a server with cfg and stops it when the test ends.
func Run(tb testing.TB, cfg config.Config) *server.Server {
	tb.Helper()
	s, err := server.New(cfg, Logger())
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// TLSTransport trusts the CA s generated for its HTTPS listener.
func TLSTransport(tb testing.TB, s *server.Server) *http.Transport {
	tb.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		tb.Fatalf("read generated CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatal("generated CA is not PEM")
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
}

// Do sends a request with hc to url, with the Accept header accept (if any), a JSON
// body (if any), a Bearer token (if any) and header pairs hdr, and returns the
// response with its body read. Any failure to get an answer fails the test.
func Do(tb testing.TB, hc *http.Client, method, url, accept, token, body string, hdr ...string) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// JSONAccept is the Accept header of herald's JSON API at the version VCD clients send.
const JSONAccept = "application/json;version=39.0"

// MustJSON sends a request like Do, fails the test unless the answer has status want,
// and decodes its JSON body, if any.
func MustJSON(tb testing.TB, hc *http.Client, method, url, accept, token, body string, want int, hdr ...string) map[string]any {
	tb.Helper()
	resp, b := Do(tb, hc, method, url, accept, token, body, hdr...)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s = %d %s; want %d", method, url, resp.StatusCode, b, want)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			tb.Fatalf("%s %s: bad JSON %q: %v", method, url, b, err)
		}
	}
	return m
}

// Login logs user@org in with Basic auth at base's tenant or provider endpoint
// (VCD-COMPAT §2.1) and returns the status and, on success, the Bearer token and the
// session. A success without the token headers fails the test.
func Login(tb testing.TB, hc *http.Client, base, name, password string) (status int, token string, session map[string]any) {
	tb.Helper()
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(strings.ToLower(name), "@system") {
		path += "/provider"
	}
	req, err := http.NewRequest(http.MethodPost, base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.SetBasicAuth(name, password)
	req.Header.Set("Accept", JSONAccept)
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&session); err != nil {
		tb.Fatalf("login %s: decode session: %v", name, err)
	}
	token = resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	if token == "" || resp.Header.Get("X-VMWARE-VCLOUD-TOKEN-TYPE") != "Bearer" {
		tb.Fatalf("login %s: no token headers: %v", name, resp.Header)
	}
	return resp.StatusCode, token, session
}
