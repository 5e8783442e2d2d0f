package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// Fixed identities of the test fixture.
const (
	testSiteID = "5c1f6c2e-8a0b-4f3d-9b6e-2d7a1c4e8f30"
	acmeID     = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	otherOrgID = "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b"
	aliceID    = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	bobID      = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
	rootID     = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	daveID     = "2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6"
	testKID    = "k-test"

	alicePW = "alice-password"
	bobPW   = "bob-password"
	rootPW  = "root-password"
	davePW  = "dave-password"
)

// t0 is the fixture's start time.
var t0 = time.Date(2025, 3, 13, 10, 0, 0, 0, time.UTC)

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an Authenticator over a fake directory with orgs acme (alice: vApp Author,
// bob: disabled), other (dave) and System (root: System Administrator).
type fixture struct {
	a     *auth.Authenticator
	dir   *fakeDir
	clock *testClock
	cfg   auth.Config
}

func testLogger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func mustReadFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// readTestKey reads the fixture's signing key PEM.
func readTestKey() (string, error) {
	b, err := os.ReadFile("testdata/signing-key.pem")
	return string(b), err
}

// testKey returns the fixture's signing key, valid from before t0 for 100 days.
func testKey(tb testing.TB) vcd.SigningKey {
	tb.Helper()
	return vcd.SigningKey{
		KID:           testKID,
		PrivateKeyPEM: mustReadFile(tb, "testdata/signing-key.pem"),
		Created:       t0.Add(-time.Hour),
		NotAfter:      t0.Add(100 * 24 * time.Hour),
	}
}

var (
	hashOnce   sync.Once
	hashByPW   map[string]string
	errHashing error
)

// testHash returns a cost-4 hash of pw, computed once per test binary.
func testHash(tb testing.TB, pw string) string {
	tb.Helper()
	hashOnce.Do(func() {
		a := auth.New(auth.Config{PasswordCost: 4}, newFakeDir(), vcd.Site{}, nil)
		hashByPW = map[string]string{}
		for _, p := range []string{alicePW, bobPW, rootPW, davePW} {
			h, err := a.HashPassword(p)
			if err != nil {
				errHashing = err
				return
			}
			hashByPW[p] = h
		}
	})
	if errHashing != nil {
		tb.Fatal(errHashing)
	}
	return hashByPW[pw]
}

// mustOpenFixture returns an opened fixture whose directory holds the test signing key.
func mustOpenFixture(tb testing.TB, opts ...func(*auth.Config)) *fixture {
	tb.Helper()
	dir := newFakeDir()
	dir.putOrg(vcd.Org{ID: acmeID, Name: "acme", Enabled: true})
	dir.putOrg(vcd.Org{ID: otherOrgID, Name: "other", Enabled: true})
	dir.putOrg(vcd.Org{ID: vcd.SystemOrgID, Name: vcd.SystemOrgName, Enabled: true})
	dir.putUser(vcd.User{ID: aliceID, OrgID: acmeID, Name: "alice", Role: vcd.RoleVAppAuthor, Enabled: true, PasswordHash: testHash(tb, alicePW)})
	dir.putUser(vcd.User{ID: bobID, OrgID: acmeID, Name: "bob", Role: vcd.RoleVAppUser, Enabled: false, PasswordHash: testHash(tb, bobPW)})
	dir.putUser(vcd.User{ID: daveID, OrgID: otherOrgID, Name: "dave", Role: vcd.RoleOrgAdmin, Enabled: true, PasswordHash: testHash(tb, davePW)})
	dir.putUser(vcd.User{ID: rootID, OrgID: vcd.SystemOrgID, Name: "root", Role: vcd.RoleSystemAdmin, Enabled: true, PasswordHash: testHash(tb, rootPW)})
	if err := dir.AddSigningKey(context.Background(), testKey(tb)); err != nil {
		tb.Fatal(err)
	}
	clock := &testClock{t: t0}
	cfg := auth.Config{
		TokenLifetime:    24 * time.Hour,
		IdleTimeout:      30 * time.Minute,
		LockoutThreshold: 5,
		LockoutWindow:    10 * time.Minute,
		LockoutDuration:  10 * time.Minute,
		KeyLifetime:      90 * 24 * time.Hour,
		PasswordCost:     4,
		Now:              clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	a := auth.New(cfg, dir, vcd.Site{ID: testSiteID, Name: "herald"}, testLogger())
	if err := a.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &fixture{a: a, dir: dir, clock: clock, cfg: cfg}
}

// mustLogin logs in at the endpoint that suits the org.
func (f *fixture) mustLogin(tb testing.TB, name, pw string) auth.LoginResult {
	tb.Helper()
	_, org, _ := vcd.SplitUserOrg(name)
	res, err := f.a.Login(context.Background(), name, pw, vcd.IsSystemOrg(org), "192.0.2.1")
	if err != nil {
		tb.Fatalf("Login(%q) = %v", name, err)
	}
	return res
}

// wantUnauthorized fails unless err is vcd.CodeUnauthorized and matches cause.
func wantUnauthorized(tb testing.TB, err, cause error) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err = nil; want unauthorized (%v)", cause)
	}
	if got := vcd.CodeOf(err); got != vcd.CodeUnauthorized {
		tb.Errorf("CodeOf(%v) = %q; want %q", err, got, vcd.CodeUnauthorized)
	}
	if cause != nil && !errors.Is(err, cause) {
		tb.Errorf("err = %v; want it to match %v", err, cause)
	}
}
