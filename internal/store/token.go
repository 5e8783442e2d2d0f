package store

import (
	"cmp"
	"context"
	"slices"

	"github.com/heraldmq/herald/internal/vcd"
)

// CreateAPIToken stores a new API token. t.ID must be set (vcd.CodeInvalid
// otherwise); an existing id is vcd.CodeDuplicate.
func (db *DB) CreateAPIToken(ctx context.Context, t vcd.APIToken) error {
	if !validID(t.ID) {
		return invalidID("api token", t.ID)
	}
	if err := db.tokens.create(ctx, t.ID, t); err != nil {
		if err == errExists {
			return vcd.Errorf(vcd.CodeDuplicate, "api token %s already exists", t.ID)
		}
		return err
	}
	return nil
}

// APIToken returns the token with the given id, or a vcd.CodeNotFound error. Like
// Session, it reads a token the cache does not hold yet from JetStream; callers look
// up only ids an authenticated caller named.
func (db *DB) APIToken(ctx context.Context, id string) (vcd.APIToken, error) {
	return db.tokens.byID(ctx, id, "api token")
}

// APITokenBySecret returns the token whose SecretHash is secretHash, or a
// vcd.CodeNotFound error.
func (db *DB) APITokenBySecret(ctx context.Context, secretHash string) (vcd.APIToken, error) {
	if secretHash != "" {
		t, ok := db.tokens.getBy(ctx, func() (string, bool) {
			id, ok := db.tokenBySecret[secretHash]
			return id, ok
		})
		if ok {
			return t, nil
		}
	}
	return vcd.APIToken{}, vcd.Errorf(vcd.CodeNotFound, "api token not found")
}

// APITokens lists every API token sorted by creation time.
func (db *DB) APITokens(ctx context.Context) ([]vcd.APIToken, error) {
	tokens := db.tokens.list(nil)
	slices.SortFunc(tokens, func(a, b vcd.APIToken) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return tokens, nil
}

// UpdateAPIToken applies fn to a copy of the current token and writes it with
// compare-and-set, retrying fn after a concurrent change. fn must not change the ID.
func (db *DB) UpdateAPIToken(ctx context.Context, id string, fn func(*vcd.APIToken) error) (vcd.APIToken, error) {
	return db.tokens.update(ctx, id, fn, func(old, new *vcd.APIToken) error {
		if new.ID != old.ID {
			return vcd.Errorf(vcd.CodeInvalid, "api token id is immutable")
		}
		return nil
	})
}

// DeleteAPIToken deletes the token.
func (db *DB) DeleteAPIToken(ctx context.Context, id string) error {
	_, err := db.tokens.delete(ctx, id)
	return err
}
