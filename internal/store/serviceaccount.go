package store

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// bucketServiceAccounts holds MQTT service accounts (vcd.ServiceAccount) by id.
//
// vcd.ServiceAccount is a domain type that belongs in vcd; until it moves there the
// store imports auth for that one type.
const bucketServiceAccounts = "herald_service_accounts"

// serviceAccounts is the cache of herald_service_accounts with its secondary indexes,
// which are guarded by t.mu.
type serviceAccounts struct {
	t        *table[vcd.ServiceAccount]
	byName   map[string]string // lowercased name → id
	bySecret map[string]string // secret hash → id
}

// initServiceAccounts creates the service-account cache; initTables calls it.
func (db *DB) initServiceAccounts(kvs map[string]jetstream.KeyValue) {
	sa := &db.accounts
	sa.byName = make(map[string]string)
	sa.bySecret = make(map[string]string)
	sa.t = newTable[vcd.ServiceAccount](ChangeServiceAccount, kvs[bucketServiceAccounts], db.logger)
	sa.t.emit = db.feed.publish
	sa.t.clone = vcd.ServiceAccount.Clone
	sa.t.index = func(id string, old, new *vcd.ServiceAccount) {
		if old != nil {
			deleteIf(sa.byName, strings.ToLower(old.Name), id)
			if old.SecretHash != "" {
				deleteIf(sa.bySecret, old.SecretHash, id)
			}
		}
		if new != nil {
			sa.byName[strings.ToLower(new.Name)] = id
			if new.SecretHash != "" {
				sa.bySecret[new.SecretHash] = id
			}
		}
	}
}

// serviceNameKey is the herald_names key that reserves a service account name.
func serviceNameKey(name string) string {
	return "service." + nameEncoding.EncodeToString([]byte(strings.ToLower(name)))
}

// ServiceAccounts lists every service account, sorted by name case-insensitively.
func (db *DB) ServiceAccounts(ctx context.Context) ([]vcd.ServiceAccount, error) {
	out := db.accounts.t.list(nil)
	slices.SortFunc(out, func(a, b vcd.ServiceAccount) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ServiceAccount returns the service account with the given id, or a vcd.CodeNotFound
// error. Like Session, it reads an account the cache does not hold yet from JetStream;
// callers look up only ids from service JWTs whose signature they verified.
func (db *DB) ServiceAccount(ctx context.Context, id string) (vcd.ServiceAccount, error) {
	return db.accounts.t.byID(ctx, id, "service account")
}

// ServiceAccountByName returns the service account with the given name, compared
// case-insensitively, or a vcd.CodeNotFound error.
func (db *DB) ServiceAccountByName(ctx context.Context, name string) (vcd.ServiceAccount, error) {
	lower := strings.ToLower(name)
	s, ok := db.accounts.t.getBy(ctx, func() (string, bool) {
		id, ok := db.accounts.byName[lower]
		return id, ok
	})
	if !ok {
		return vcd.ServiceAccount{}, notFound("service account", name)
	}
	return s, nil
}

// ServiceAccountBySecret returns the service account whose SecretHash is secretHash,
// or a vcd.CodeNotFound error.
func (db *DB) ServiceAccountBySecret(ctx context.Context, secretHash string) (vcd.ServiceAccount, error) {
	if secretHash != "" {
		s, ok := db.accounts.t.getBy(ctx, func() (string, bool) {
			id, ok := db.accounts.bySecret[secretHash]
			return id, ok
		})
		if ok {
			return s, nil
		}
	}
	return vcd.ServiceAccount{}, vcd.Errorf(vcd.CodeNotFound, "service account not found")
}

// CreateServiceAccount stores a new service account and returns it. An empty ID is
// replaced by a new UUID and a zero Created by the current time. It returns
// vcd.CodeDuplicate if an account of that name (case-insensitively) or that id exists,
// vcd.CodeInvalid for an empty name or an id that is not a valid key.
func (db *DB) CreateServiceAccount(ctx context.Context, s vcd.ServiceAccount) (vcd.ServiceAccount, error) {
	if s.ID == "" {
		s.ID = vcd.NewUUID()
	}
	if !validID(s.ID) {
		return vcd.ServiceAccount{}, invalidID("service account", s.ID)
	}
	if s.Name == "" {
		return vcd.ServiceAccount{}, vcd.Errorf(vcd.CodeInvalid, "service account name is empty")
	}
	if s.Created.IsZero() {
		s.Created = db.now().UTC()
	}
	s = s.Clone()
	exists := existsIn(db.accounts.t)
	key := serviceNameKey(s.Name)
	if _, err := db.reserve(ctx, key, s.ID, "service account "+s.Name, exists); err != nil {
		return vcd.ServiceAccount{}, err
	}
	if err := db.accounts.t.create(ctx, s.ID, s); err != nil {
		db.unreserve(ctx, key, s.ID, err, exists)
		if err == errExists {
			return vcd.ServiceAccount{}, vcd.Errorf(vcd.CodeDuplicate, "service account %s already exists", s.ID)
		}
		return vcd.ServiceAccount{}, err
	}
	return s.Clone(), nil
}

// UpdateServiceAccount applies fn to a copy of the current account and writes it with
// compare-and-set, retrying fn after a concurrent change (vcd.CodeConflict when that
// keeps failing). An error from fn aborts the update and is returned unchanged. fn may
// change everything but the ID and the name, except the name's case.
func (db *DB) UpdateServiceAccount(ctx context.Context, id string, fn func(*vcd.ServiceAccount) error) (vcd.ServiceAccount, error) {
	return db.accounts.t.update(ctx, id, fn, func(old, new *vcd.ServiceAccount) error {
		if new.ID != old.ID {
			return vcd.Errorf(vcd.CodeInvalid, "service account id is immutable")
		}
		if !strings.EqualFold(new.Name, old.Name) {
			return vcd.Errorf(vcd.CodeInvalid, "service account name is immutable")
		}
		return nil
	})
}

// DeleteServiceAccount deletes the account and frees its name. An unknown id is
// vcd.CodeNotFound.
func (db *DB) DeleteServiceAccount(ctx context.Context, id string) error {
	s, err := db.accounts.t.delete(ctx, id)
	if err != nil {
		return err
	}
	return db.release(ctx, serviceNameKey(s.Name), id)
}
