package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/vcd"
)

func TestUser(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	acme := mustCreateOrg(t, db, "Acme")
	other := mustCreateOrg(t, db, "Other")

	want := vcd.User{
		OrgID: acme.ID, Name: "Alice", FullName: "Alice A", Email: "a@example.com",
		Role: vcd.RoleOrgAdmin, Enabled: true, PasswordHash: "hash",
		FailedLogins: []time.Time{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	alice, err := db.CreateUser(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	want.ID, want.Created = alice.ID, alice.Created

	t.Run("Read", func(t *testing.T) {
		got, err := db.User(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("User (-want +got):\n%s", diff)
		}
		got, err = db.UserByName(ctx, acme.ID, "ALICE")
		if err != nil || got.ID != alice.ID {
			t.Errorf("UserByName(ALICE) = %q, %v; want %q", got.ID, err, alice.ID)
		}
		_, err = db.UserByName(ctx, other.ID, "alice")
		wantCode(t, "UserByName in another org", err, vcd.CodeNotFound)
	})

	t.Run("CacheNotAliased", func(t *testing.T) {
		got, _ := db.User(ctx, alice.ID)
		got.FailedLogins[0] = time.Time{}
		again, _ := db.User(ctx, alice.ID)
		if again.FailedLogins[0].IsZero() {
			t.Error("changing a returned user changed the cache")
		}
	})

	t.Run("SameNameOtherOrg", func(t *testing.T) {
		mustCreateUser(t, db, other.ID, "alice")
	})

	t.Run("ErrDuplicate", func(t *testing.T) {
		_, err := db.CreateUser(ctx, vcd.User{OrgID: acme.ID, Name: "aLiCe"})
		wantCode(t, "CreateUser duplicate", err, vcd.CodeDuplicate)
	})

	t.Run("ListSorted", func(t *testing.T) {
		mustCreateUser(t, db, acme.ID, "bob")
		mustCreateUser(t, db, acme.ID, "Carol")
		names := func(orgID string) []string {
			users, err := db.Users(ctx, orgID)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, u := range users {
				out = append(out, u.Name)
			}
			return out
		}
		if diff := cmp.Diff([]string{"Alice", "bob", "Carol"}, names(acme.ID)); diff != "" {
			t.Errorf("Users(acme) (-want +got):\n%s", diff)
		}
		// Alice and alice (two orgs) tie on the name and are then ordered by org id.
		all := names("")
		if len(all) != 4 || !strings.EqualFold(all[0], "alice") || !strings.EqualFold(all[1], "alice") || all[2] != "bob" || all[3] != "Carol" {
			t.Errorf("Users(all) = %q; want alice, alice, bob, Carol", all)
		}
	})

	t.Run("Update", func(t *testing.T) {
		got, err := db.UpdateUser(ctx, alice.ID, func(u *vcd.User) error {
			u.Role = vcd.RoleVAppUser
			u.FailedLogins = append(u.FailedLogins, time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cached, _ := db.User(ctx, alice.ID)
		if diff := cmp.Diff(got, cached); diff != "" || got.Role != vcd.RoleVAppUser || len(got.FailedLogins) != 2 {
			t.Errorf("User after update = %+v (-returned +cached):\n%s", got, diff)
		}
	})

	t.Run("ErrImmutable", func(t *testing.T) {
		for name, fn := range map[string]func(*vcd.User) error{
			"name": func(u *vcd.User) error { u.Name = "alicia"; return nil },
			"org":  func(u *vcd.User) error { u.OrgID = other.ID; return nil },
			"id":   func(u *vcd.User) error { u.ID = vcd.NewUUID(); return nil },
		} {
			_, err := db.UpdateUser(ctx, alice.ID, fn)
			wantCode(t, "UpdateUser changing "+name, err, vcd.CodeInvalid)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := db.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.User(ctx, alice.ID)
		wantCode(t, "User after delete", err, vcd.CodeNotFound)
		_, err = db.UserByName(ctx, acme.ID, "alice")
		wantCode(t, "UserByName after delete", err, vcd.CodeNotFound)
		mustCreateUser(t, db, acme.ID, "Alice")
	})
}

// TestUser_ConcurrentUpdate increments a counter from 20 goroutines on two nodes; no
// increment may be lost.
func TestUser_ConcurrentUpdate(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	org := mustCreateOrg(t, dbs[0], "Acme")
	u := mustCreateUser(t, dbs[0], org.ID, "counter")
	const goroutines, each = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := dbs[i%2].UpdateUser(ctx, u.ID, func(u *vcd.User) error {
					u.FailedLogins = append(u.FailedLogins, time.Unix(int64(len(u.FailedLogins)), 0))
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpdateUser: %v", err)
	}
	// The last write may have been made on either node; each node's cache follows the
	// other's writes through its watcher. A lost update never reaches the full count.
	for i, db := range dbs {
		var got vcd.User
		waitFor(t, fmt.Sprintf("node %d to see %d increments", i, goroutines*each), func() bool {
			got, _ = db.User(ctx, u.ID)
			return len(got.FailedLogins) >= goroutines*each
		})
		if n := len(got.FailedLogins); n != goroutines*each {
			t.Fatalf("after %d increments the counter is %d", goroutines*each, n)
		}
		for i, ts := range got.FailedLogins {
			if ts.Unix() != int64(i) {
				t.Fatalf("entry %d is %d; an update was lost or applied twice", i, ts.Unix())
			}
		}
	}
}
