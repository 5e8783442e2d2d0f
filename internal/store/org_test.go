package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestOrg(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)

	t.Run("CreateAndRead", func(t *testing.T) {
		o, err := db.CreateOrg(ctx, vcd.Org{Name: "Acme", DisplayName: "Acme Corp", Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if !vcd.IsUUID(o.ID) || o.Created.IsZero() {
			t.Fatalf("CreateOrg = %+v; want a UUID id and a creation time", o)
		}
		got, err := db.Org(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(o, got); diff != "" {
			t.Errorf("Org(id) mismatch (-want +got):\n%s", diff)
		}
		for _, name := range []string{"Acme", "acme", "ACME"} {
			got, err := db.OrgByName(ctx, name)
			if err != nil {
				t.Fatalf("OrgByName(%q): %v", name, err)
			}
			if got.ID != o.ID {
				t.Errorf("OrgByName(%q).ID = %q; want %q", name, got.ID, o.ID)
			}
		}
	})

	t.Run("ListSortedByName", func(t *testing.T) {
		mustCreateOrg(t, db, "zeta")
		mustCreateOrg(t, db, "Beta")
		orgs, err := db.Orgs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range orgs {
			names = append(names, o.Name)
		}
		if diff := cmp.Diff([]string{"Acme", "Beta", "zeta"}, names); diff != "" {
			t.Errorf("Orgs names (-want +got):\n%s", diff)
		}
	})

	t.Run("Update", func(t *testing.T) {
		o, _ := db.OrgByName(ctx, "beta")
		got, err := db.UpdateOrg(ctx, o.ID, func(o *vcd.Org) error {
			o.Enabled = false
			o.Description = "disabled"
			o.Name = "BETA" // a change of case keeps the index consistent
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled || got.Description != "disabled" || got.Name != "BETA" {
			t.Errorf("UpdateOrg = %+v", got)
		}
		cached, _ := db.Org(ctx, o.ID)
		if diff := cmp.Diff(got, cached); diff != "" {
			t.Errorf("Org after update (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrRename", func(t *testing.T) {
		o, _ := db.OrgByName(ctx, "zeta")
		_, err := db.UpdateOrg(ctx, o.ID, func(o *vcd.Org) error { o.Name = "eta"; return nil })
		wantCode(t, "UpdateOrg rename", err, vcd.CodeInvalid)
	})

	t.Run("ErrFromFnUnchanged", func(t *testing.T) {
		o, _ := db.OrgByName(ctx, "zeta")
		sentinel := errors.New("no")
		_, err := db.UpdateOrg(ctx, o.ID, func(o *vcd.Org) error { return sentinel })
		if err != sentinel {
			t.Errorf("UpdateOrg error = %v; want the fn's error unchanged", err)
		}
	})

	t.Run("DeleteFreesName", func(t *testing.T) {
		o, _ := db.OrgByName(ctx, "zeta")
		if err := db.DeleteOrg(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.Org(ctx, o.ID)
		wantCode(t, "Org after delete", err, vcd.CodeNotFound)
		_, err = db.OrgByName(ctx, "zeta")
		wantCode(t, "OrgByName after delete", err, vcd.CodeNotFound)
		wantCode(t, "DeleteOrg again", db.DeleteOrg(ctx, o.ID), vcd.CodeNotFound)
		mustCreateOrg(t, db, "Zeta")
	})
}

func TestOrg_Errors(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	acme := mustCreateOrg(t, db, "Acme")
	tests := []struct {
		name string
		err  func() error
		want vcd.Code
	}{
		{"DuplicateName", func() error { _, err := db.CreateOrg(ctx, vcd.Org{Name: "Acme"}); return err }, vcd.CodeDuplicate},
		{"DuplicateNameOtherCase", func() error { _, err := db.CreateOrg(ctx, vcd.Org{Name: "aCME"}); return err }, vcd.CodeDuplicate},
		{"DuplicateID", func() error { _, err := db.CreateOrg(ctx, vcd.Org{ID: acme.ID, Name: "Other"}); return err }, vcd.CodeDuplicate},
		{"EmptyName", func() error { _, err := db.CreateOrg(ctx, vcd.Org{}); return err }, vcd.CodeInvalid},
		{"BadID", func() error { _, err := db.CreateOrg(ctx, vcd.Org{ID: "a.b", Name: "x"}); return err }, vcd.CodeInvalid},
		{"Missing", func() error { _, err := db.Org(ctx, vcd.NewUUID()); return err }, vcd.CodeNotFound},
		{"MissingByName", func() error { _, err := db.OrgByName(ctx, "nope"); return err }, vcd.CodeNotFound},
		{"UpdateMissing", func() error {
			_, err := db.UpdateOrg(ctx, vcd.NewUUID(), func(*vcd.Org) error { return nil })
			return err
		}, vcd.CodeNotFound},
		{"DeleteMissing", func() error { return db.DeleteOrg(ctx, vcd.NewUUID()) }, vcd.CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.name, tc.err(), tc.want) })
	}
	// The failed create with a duplicate id must have released the name it reserved.
	mustCreateOrg(t, db, "Other")
}

// TestOrg_ConcurrentCreate races 20 creates of one name, half on each of two nodes:
// exactly one wins.
func TestOrg_ConcurrentCreate(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []vcd.Org
		errs []error
	)
	for i := range 20 {
		wg.Add(1)
		go func(db *store.DB) {
			defer wg.Done()
			o, err := db.CreateOrg(ctx, vcd.Org{Name: "Race"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins = append(wins, o)
			} else {
				errs = append(errs, err)
			}
		}(dbs[i%2])
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d creates won; want exactly 1", len(wins))
	}
	for _, err := range errs {
		wantCode(t, "losing CreateOrg", err, vcd.CodeDuplicate)
	}
	for _, db := range dbs {
		waitFor(t, "org on every node", func() bool {
			o, err := db.OrgByName(ctx, "race")
			return err == nil && o.ID == wins[0].ID
		})
	}
}
