package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// TestOpen_Restart writes one of everything, closes the DB and opens the data dir again.
func TestOpen_Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir; c.SiteName = "lab" }

	db := MustOpen(t, cfg)
	site, _ := db.Site(ctx)
	org := mustCreateOrg(t, db, "Acme")
	user := mustCreateUser(t, db, org.ID, "alice")
	sess := newSession(user.ID, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	tok := vcd.APIToken{ID: vcd.NewUUID(), Name: "t", SecretHash: "sh", Created: sess.Created}
	key := vcd.SigningKey{KID: "k1", PrivateKeyPEM: "pem", Created: sess.Created}
	for _, err := range []error{
		db.CreateSession(ctx, sess), db.RevokeSession(ctx, sess.ID),
		db.CreateAPIToken(ctx, tok), db.AddSigningKey(ctx, key),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	sess.Revoked = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db = MustOpen(t, cfg)
	if got, _ := db.Site(ctx); got != site || got.Name != "lab" || !vcd.IsUUID(got.ID) {
		t.Errorf("Site after restart = %+v; want %+v", got, site)
	}
	if got, err := db.OrgByName(ctx, "acme"); err != nil || got != org {
		t.Errorf("OrgByName after restart = %+v, %v; want %+v", got, err, org)
	}
	if got, err := db.UserByName(ctx, org.ID, "Alice"); err != nil || !cmp.Equal(got, user) {
		t.Errorf("UserByName after restart = %+v, %v; want %+v", got, err, user)
	}
	if got, err := db.Session(ctx, sess.ID); err != nil || !cmp.Equal(got, sess) {
		t.Errorf("Session after restart = %+v, %v; want %+v", got, err, sess)
	}
	if !db.IsRevoked(sess.JTI) {
		t.Error("revoked id forgotten after restart")
	}
	if got, err := db.APITokenBySecret(ctx, "sh"); err != nil || got != tok {
		t.Errorf("APITokenBySecret after restart = %+v, %v; want %+v", got, err, tok)
	}
	if got, _ := db.SigningKeys(ctx); !cmp.Equal(got, []vcd.SigningKey{key}) {
		t.Errorf("SigningKeys after restart = %+v", got)
	}
	// The name index survived too.
	_, err := db.CreateOrg(ctx, vcd.Org{Name: "ACME"})
	wantCode(t, "CreateOrg duplicate after restart", err, vcd.CodeDuplicate)
}

func TestOpen_Errors(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
	}{
		{"NoDataDir", store.Config{}},
		{"TooManyReplicas", store.Config{DataDir: t.TempDir(), Replicas: 7}},
		{"NegativeSync", store.Config{DataDir: t.TempDir(), SyncInterval: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if db, err := store.Open(context.Background(), tc.cfg, testLogger()); err == nil {
				_ = db.Close()
				t.Fatalf("Open(%+v) succeeded; want an error", tc.cfg)
			}
		})
	}
	t.Run("Unreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := store.Open(ctx, store.Config{NATSURL: "nats://127.0.0.1:1"}, testLogger())
		wantCode(t, "Open unreachable", err, vcd.CodeUnavailable)
	})
}

// TestDB_ClosedIsUnavailable checks that writes after Close fail as unavailable while
// cached reads keep answering.
func TestDB_ClosedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, func(c *store.Config) { c.SyncAlways = true })
	org := mustCreateOrg(t, db, "Acme")
	_ = db.Close()
	_, err := db.CreateOrg(ctx, vcd.Org{Name: "x"})
	wantCode(t, "CreateOrg after Close", err, vcd.CodeUnavailable)
	_, err = db.UpdateOrg(ctx, org.ID, func(*vcd.Org) error { return nil })
	wantCode(t, "UpdateOrg after Close", err, vcd.CodeUnavailable)
	if !errors.Is(err, vcd.ErrUnavailable) {
		t.Errorf("errors.Is(%v, vcd.ErrUnavailable) = false", err)
	}
	if _, err := db.Org(ctx, org.ID); err != nil {
		t.Errorf("cached Org after Close: %v", err)
	}
}

func TestEnsureSystem(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	calls := 0
	hash := func() (string, error) { calls++; return "h", nil }

	db := MustOpen(t, func(c *store.Config) { c.DataDir = dir })
	created, err := db.EnsureSystem(ctx, "administrator", hash)
	if err != nil || !created {
		t.Fatalf("first EnsureSystem = %v, %v; want true, nil", created, err)
	}
	sys, err := db.Org(ctx, vcd.SystemOrgID)
	if err != nil || sys.Name != vcd.SystemOrgName || !sys.Enabled {
		t.Fatalf("System org = %+v, %v", sys, err)
	}
	admin, err := db.UserByName(ctx, vcd.SystemOrgID, "Administrator")
	if err != nil || admin.Role != vcd.RoleSystemAdmin || !admin.Enabled || admin.PasswordHash != "h" {
		t.Fatalf("admin = %+v, %v", admin, err)
	}
	if created, err := db.EnsureSystem(ctx, "administrator", hash); err != nil || created {
		t.Errorf("second EnsureSystem = %v, %v; want false, nil", created, err)
	}
	_ = db.Close()

	db = MustOpen(t, func(c *store.Config) { c.DataDir = dir })
	if created, err := db.EnsureSystem(ctx, "administrator", hash); err != nil || created {
		t.Errorf("EnsureSystem after restart = %v, %v; want false, nil", created, err)
	}
	if calls != 1 {
		t.Errorf("passwordHash called %d times; want once", calls)
	}
	if users, _ := db.Users(ctx, vcd.SystemOrgID); len(users) != 1 {
		t.Errorf("System org has %d users; want 1", len(users))
	}

	t.Run("ErrHash", func(t *testing.T) {
		sentinel := errors.New("no entropy")
		_, err := db.EnsureSystem(ctx, "other", func() (string, error) { return "", sentinel })
		if !errors.Is(err, sentinel) {
			t.Errorf("EnsureSystem error = %v; want %v", err, sentinel)
		}
	})
}

// TestEnsureSystem_Concurrent runs EnsureSystem on three nodes at once, three times
// each: exactly one call creates the administrator.
func TestEnsureSystem_Concurrent(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 3)
	type result struct {
		created bool
		err     error
	}
	results := make(chan result, 9)
	for i := range 9 {
		go func() {
			created, err := dbs[i%3].EnsureSystem(ctx, "administrator", func() (string, error) { return "h", nil })
			results <- result{created, err}
		}()
	}
	n := 0
	for range 9 {
		r := <-results
		if r.err != nil {
			t.Errorf("EnsureSystem: %v", r.err)
		}
		if r.created {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d calls created the administrator; want 1", n)
	}
	for _, db := range dbs {
		waitFor(t, "system org and admin on every node", func() bool {
			_, err1 := db.Org(ctx, vcd.SystemOrgID)
			users, _ := db.Users(ctx, vcd.SystemOrgID)
			return err1 == nil && len(users) == 1
		})
	}
	s0, _ := dbs[0].Site(ctx)
	s2, _ := dbs[2].Site(ctx)
	if s0.ID != s2.ID {
		t.Errorf("nodes disagree on the site id: %q and %q", s0.ID, s2.ID)
	}
}
