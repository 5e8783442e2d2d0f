package store

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Orgs returns every org, sorted by name case-insensitively.
func (db *DB) Orgs(ctx context.Context) ([]vcd.Org, error) {
	orgs := db.orgs.list(nil)
	slices.SortFunc(orgs, func(a, b vcd.Org) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return orgs, nil
}

// Org returns the org with the given id, or a vcd.CodeNotFound error. One
// written on another node is read from JetStream when the cache does not hold it
// yet (its watcher a few milliseconds behind), as Session does.
func (db *DB) Org(ctx context.Context, id string) (vcd.Org, error) {
	return db.orgs.byID(ctx, id, "org")
}

// OrgByName returns the org with the given name, compared case-insensitively, or a
// vcd.CodeNotFound error.
func (db *DB) OrgByName(ctx context.Context, name string) (vcd.Org, error) {
	lower := strings.ToLower(name)
	o, ok := db.orgs.getBy(ctx, func() (string, bool) {
		id, ok := db.orgByName[lower]
		return id, ok
	})
	if !ok {
		return vcd.Org{}, notFound("org", name)
	}
	return o, nil
}

// CreateOrg stores a new org and returns it. An empty ID is replaced by a new UUID and
// a zero Created by the current time. It returns vcd.CodeDuplicate if an org of that
// name (case-insensitively) or that id exists, vcd.CodeInvalid for an empty name or an
// id that is not a valid key.
func (db *DB) CreateOrg(ctx context.Context, o vcd.Org) (vcd.Org, error) {
	if o.ID == "" {
		o.ID = vcd.NewUUID()
	}
	if !validID(o.ID) {
		return vcd.Org{}, invalidID("org", o.ID)
	}
	if o.Name == "" {
		return vcd.Org{}, vcd.Errorf(vcd.CodeInvalid, "org name is empty")
	}
	if o.Created.IsZero() {
		o.Created = db.now().UTC()
	}
	// Reserve the name, then write the entity; undo the reservation if the write fails.
	key := orgNameKey(o.Name)
	if _, err := db.reserve(ctx, key, o.ID, "org "+o.Name, existsIn(db.orgs)); err != nil {
		return vcd.Org{}, err
	}
	if err := db.orgs.create(ctx, o.ID, o); err != nil {
		db.unreserve(ctx, key, o.ID, err, existsIn(db.orgs))
		if err == errExists {
			return vcd.Org{}, vcd.Errorf(vcd.CodeDuplicate, "org %s already exists", o.ID)
		}
		return vcd.Org{}, err
	}
	return o, nil
}

// UpdateOrg applies fn to the current org and writes it with compare-and-set,
// retrying fn after a concurrent change (vcd.CodeConflict when that keeps failing).
// fn may change everything but the ID and the name, except the name's case.
func (db *DB) UpdateOrg(ctx context.Context, id string, fn func(*vcd.Org) error) (vcd.Org, error) {
	return db.orgs.update(ctx, id, fn, func(old, new *vcd.Org) error {
		if new.ID != old.ID {
			return vcd.Errorf(vcd.CodeInvalid, "org id is immutable")
		}
		if !strings.EqualFold(new.Name, old.Name) {
			return vcd.Errorf(vcd.CodeInvalid, "org name is immutable")
		}
		return nil
	})
}

// DeleteOrg deletes the org and frees its name. It does not delete the org's users,
// sessions or tokens: the caller decides whether an org may be deleted.
func (db *DB) DeleteOrg(ctx context.Context, id string) error {
	o, err := db.orgs.delete(ctx, id)
	if err != nil {
		return err
	}
	return db.release(ctx, orgNameKey(o.Name), id)
}
