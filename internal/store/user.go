package store

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Users lists the users of one org, or of every org when orgID is empty, sorted by
// name case-insensitively (then by org).
func (db *DB) Users(ctx context.Context, orgID string) ([]vcd.User, error) {
	var keep func(*vcd.User) bool
	if orgID != "" {
		keep = func(u *vcd.User) bool { return u.OrgID == orgID }
	}
	users := db.users.list(keep)
	slices.SortFunc(users, func(a, b vcd.User) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
			cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.ID, b.ID))
	})
	return users, nil
}

// User returns the user with the given id, or a vcd.CodeNotFound error. One
// written on another node is read from JetStream when the cache does not hold it
// yet (its watcher a few milliseconds behind), as Session does.
func (db *DB) User(ctx context.Context, id string) (vcd.User, error) {
	return db.users.byID(ctx, id, "user")
}

// UserByName returns the user of the org with the given name, compared
// case-insensitively, or a vcd.CodeNotFound error.
func (db *DB) UserByName(ctx context.Context, orgID, name string) (vcd.User, error) {
	lower := strings.ToLower(name)
	u, ok := db.users.getBy(ctx, func() (string, bool) {
		id, ok := db.userByName[orgID][lower]
		return id, ok
	})
	if !ok {
		return vcd.User{}, notFound("user", name)
	}
	return u, nil
}

// CreateUser stores a new user and returns it. An empty ID is replaced by a new UUID
// and a zero Created by the current time. It returns vcd.CodeDuplicate if the org has
// a user of that name (case-insensitively) or the id exists, vcd.CodeInvalid for an
// empty name or ids that are not valid keys. It does not check that the org exists.
func (db *DB) CreateUser(ctx context.Context, u vcd.User) (vcd.User, error) {
	if u.ID == "" {
		u.ID = vcd.NewUUID()
	}
	if !validID(u.ID) {
		return vcd.User{}, invalidID("user", u.ID)
	}
	if !validID(u.OrgID) {
		return vcd.User{}, invalidID("org", u.OrgID)
	}
	if u.Name == "" {
		return vcd.User{}, vcd.Errorf(vcd.CodeInvalid, "user name is empty")
	}
	if u.Created.IsZero() {
		u.Created = db.now().UTC()
	}
	u.FailedLogins = slices.Clone(u.FailedLogins)
	key := userNameKey(u.OrgID, u.Name)
	if _, err := db.reserve(ctx, key, u.ID, "user "+u.Name, existsIn(db.users)); err != nil {
		return vcd.User{}, err
	}
	if err := db.users.create(ctx, u.ID, u); err != nil {
		db.unreserve(ctx, key, u.ID, err, existsIn(db.users))
		if err == errExists {
			return vcd.User{}, vcd.Errorf(vcd.CodeDuplicate, "user %s already exists", u.ID)
		}
		return vcd.User{}, err
	}
	return u, nil
}

// UpdateUser applies fn to a copy of the current user and writes it with
// compare-and-set, retrying fn after a concurrent change (vcd.CodeConflict when that
// keeps failing). An error from fn aborts the update and is returned unchanged. fn may
// change everything but the ID, the OrgID and the name, except the name's case.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(*vcd.User) error) (vcd.User, error) {
	return db.users.update(ctx, id, fn, func(old, new *vcd.User) error {
		if new.ID != old.ID || new.OrgID != old.OrgID {
			return vcd.Errorf(vcd.CodeInvalid, "user id and org are immutable")
		}
		if !strings.EqualFold(new.Name, old.Name) {
			return vcd.Errorf(vcd.CodeInvalid, "user name is immutable")
		}
		return nil
	})
}

// DeleteUser deletes the user and frees its name. It does not delete the user's
// sessions or tokens.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	u, err := db.users.delete(ctx, id)
	if err != nil {
		return err
	}
	return db.release(ctx, userNameKey(u.OrgID, u.Name), id)
}
