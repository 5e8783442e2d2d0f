package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// newAccount returns an enabled service account with grants and a secret hash.
func newAccount(name string) vcd.ServiceAccount {
	t := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	return vcd.ServiceAccount{
		Name: name, Enabled: true, Producer: true,
		Publish: []string{"publish/#", "metrics/#"}, Subscribe: []string{"topic/x/#"},
		SecretHash: "hash-of-" + name, Created: t, SecretRotated: t,
	}
}

func TestServiceAccount(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	want := newAccount("acme/backup/1.0.0")
	acct, err := db.CreateServiceAccount(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if !vcd.IsUUID(acct.ID) {
		t.Fatalf("id %q is not a UUID", acct.ID)
	}
	want.ID = acct.ID

	t.Run("Read", func(t *testing.T) {
		for _, get := range []struct {
			how string
			fn  func() (vcd.ServiceAccount, error)
		}{
			{"ById", func() (vcd.ServiceAccount, error) { return db.ServiceAccount(ctx, acct.ID) }},
			{"ByNameAnyCase", func() (vcd.ServiceAccount, error) { return db.ServiceAccountByName(ctx, "ACME/Backup/1.0.0") }},
			{"BySecret", func() (vcd.ServiceAccount, error) {
				return db.ServiceAccountBySecret(ctx, "hash-of-acme/backup/1.0.0")
			}},
		} {
			got, err := get.fn()
			if err != nil {
				t.Fatalf("%s: %v", get.how, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", get.how, diff)
			}
		}
		_, err := db.ServiceAccount(ctx, vcd.NewUUID())
		wantCode(t, "ServiceAccount unknown", err, vcd.CodeNotFound)
		_, err = db.ServiceAccountByName(ctx, "nobody")
		wantCode(t, "ServiceAccountByName unknown", err, vcd.CodeNotFound)
		_, err = db.ServiceAccountBySecret(ctx, "")
		wantCode(t, "ServiceAccountBySecret empty", err, vcd.CodeNotFound)
	})

	t.Run("CacheNotAliased", func(t *testing.T) {
		got, _ := db.ServiceAccount(ctx, acct.ID)
		got.Publish[0] = "changed"
		again, _ := db.ServiceAccount(ctx, acct.ID)
		if again.Publish[0] != "publish/#" {
			t.Error("changing a returned account changed the cache")
		}
	})

	t.Run("Errors", func(t *testing.T) {
		tests := []struct {
			name string
			acct vcd.ServiceAccount
			code vcd.Code
		}{
			{"DuplicateName", vcd.ServiceAccount{Name: "Acme/BACKUP/1.0.0"}, vcd.CodeDuplicate},
			{"DuplicateID", vcd.ServiceAccount{ID: acct.ID, Name: "other"}, vcd.CodeDuplicate},
			{"EmptyName", vcd.ServiceAccount{}, vcd.CodeInvalid},
			{"BadID", vcd.ServiceAccount{ID: "a b", Name: "x"}, vcd.CodeInvalid},
		}
		for _, tc := range tests {
			_, err := db.CreateServiceAccount(ctx, tc.acct)
			wantCode(t, tc.name, err, tc.code)
		}
		// The failed duplicate-id create must not have kept the name "other".
		if _, err := db.CreateServiceAccount(ctx, newAccount("other")); err != nil {
			t.Errorf("create after failed duplicate id: %v", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		got, err := db.UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error {
			s.Enabled = false
			s.SecretHash = "rotated"
			s.Generation++
			s.Name = "ACME/backup/1.0.0" // case only
			return nil
		})
		if err != nil || got.Enabled || got.Generation != 1 {
			t.Fatalf("UpdateServiceAccount = %+v, %v", got, err)
		}
		if _, err := db.ServiceAccountBySecret(ctx, "hash-of-acme/backup/1.0.0"); vcd.CodeOf(err) != vcd.CodeNotFound {
			t.Errorf("old secret hash still indexed: %v", err)
		}
		if s, err := db.ServiceAccountBySecret(ctx, "rotated"); err != nil || s.ID != acct.ID {
			t.Errorf("ServiceAccountBySecret(new hash) = %+v, %v", s, err)
		}
		_, err = db.UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error { s.Name = "renamed"; return nil })
		wantCode(t, "rename", err, vcd.CodeInvalid)
		_, err = db.UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error { s.ID = vcd.NewUUID(); return nil })
		wantCode(t, "change id", err, vcd.CodeInvalid)
		_, err = db.UpdateServiceAccount(ctx, vcd.NewUUID(), func(*vcd.ServiceAccount) error { return nil })
		wantCode(t, "update unknown", err, vcd.CodeNotFound)
	})

	t.Run("ListSorted", func(t *testing.T) {
		if _, err := db.CreateServiceAccount(ctx, newAccount("Billing-feed")); err != nil {
			t.Fatal(err)
		}
		list, err := db.ServiceAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		if want := []string{"ACME/backup/1.0.0", "Billing-feed", "other"}; !cmp.Equal(names, want) {
			t.Errorf("ServiceAccounts names = %v; want %v", names, want)
		}
	})

	t.Run("DeleteFreesName", func(t *testing.T) {
		if err := db.DeleteServiceAccount(ctx, acct.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.ServiceAccountByName(ctx, "acme/backup/1.0.0")
		wantCode(t, "ServiceAccountByName after delete", err, vcd.CodeNotFound)
		wantCode(t, "delete again", db.DeleteServiceAccount(ctx, acct.ID), vcd.CodeNotFound)
		again, err := db.CreateServiceAccount(ctx, newAccount("acme/backup/1.0.0"))
		if err != nil || again.ID == acct.ID {
			t.Errorf("re-create after delete = %+v, %v", again, err)
		}
	})
}

// TestServiceAccount_ConcurrentUpdate bumps the generation from two nodes at once: with
// compare-and-set no increment is lost.
func TestServiceAccount_ConcurrentUpdate(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	acct, err := dbs[0].CreateServiceAccount(ctx, newAccount("counter"))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := dbs[i%2].UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error {
					s.Generation++
					return nil
				}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpdateServiceAccount: %v", err)
	}
	for i, db := range dbs {
		var got vcd.ServiceAccount
		waitFor(t, fmt.Sprintf("node %d to see %d increments", i, goroutines*each), func() bool {
			got, _ = db.ServiceAccount(ctx, acct.ID)
			return got.Generation >= goroutines*each
		})
		if got.Generation != goroutines*each {
			t.Fatalf("after %d increments the generation is %d", goroutines*each, got.Generation)
		}
	}
}

// TestServiceAccount_Watch checks that another node's watcher reports creates, updates
// and deletes of service accounts, after its cache has them.
func TestServiceAccount_Watch(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	changes := make(chan store.Change, 64)
	stop := b.Watch(func(c store.Change) { changes <- c })
	defer stop()
	next := func(want store.Change, check func()) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case c := <-changes:
				if c == want {
					check()
					return
				}
			case <-timeout:
				t.Fatalf("no change %+v within 5s", want)
			}
		}
	}

	acct, err := a.CreateServiceAccount(ctx, newAccount("feed"))
	if err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeServiceAccount, ID: acct.ID}, func() {
		if _, err := b.ServiceAccountByName(ctx, "FEED"); err != nil {
			t.Errorf("create delivered before the cache had it: %v", err)
		}
	})
	if _, err := a.UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error { s.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeServiceAccount, ID: acct.ID}, func() {
		if got, _ := b.ServiceAccount(ctx, acct.ID); got.Enabled {
			t.Error("disable delivered before the cache had it")
		}
	})
	if err := a.DeleteServiceAccount(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeServiceAccount, ID: acct.ID, Deleted: true}, func() {
		if _, err := b.ServiceAccount(ctx, acct.ID); vcd.CodeOf(err) != vcd.CodeNotFound {
			t.Errorf("delete delivered before the cache dropped it: %v", err)
		}
	})
}

// TestServiceAccount_Restart closes the DB and opens its data dir again: accounts, their
// indexes and the name reservation survive.
func TestServiceAccount_Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir }
	db := MustOpen(t, cfg)
	acct, err := db.CreateServiceAccount(ctx, newAccount("feed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = MustOpen(t, cfg)
	if got, err := db.ServiceAccountByName(ctx, "Feed"); err != nil || !cmp.Equal(got, acct) {
		t.Errorf("ServiceAccountByName after restart = %+v, %v; want %+v", got, err, acct)
	}
	if got, err := db.ServiceAccountBySecret(ctx, acct.SecretHash); err != nil || got.ID != acct.ID {
		t.Errorf("ServiceAccountBySecret after restart = %+v, %v", got, err)
	}
	_, err = db.CreateServiceAccount(ctx, newAccount("FEED"))
	wantCode(t, "duplicate after restart", err, vcd.CodeDuplicate)
}
