package store

import (
	"cmp"
	"context"
	"slices"

	"github.com/heraldmq/herald/internal/vcd"
)

// SigningKeys returns every stored signing key, expired ones included, oldest first.
func (db *DB) SigningKeys(ctx context.Context) ([]vcd.SigningKey, error) {
	keys := db.keys.list(nil)
	slices.SortFunc(keys, func(a, b vcd.SigningKey) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.KID, b.KID))
	})
	return keys, nil
}

// AddSigningKey stores a new signing key. A KID that is not 1 to 256 characters of
// [-_=a-zA-Z0-9] is vcd.CodeInvalid; an existing KID is vcd.CodeDuplicate.
func (db *DB) AddSigningKey(ctx context.Context, k vcd.SigningKey) error {
	if !validID(k.KID) {
		return invalidID("signing key", k.KID)
	}
	if err := db.keys.create(ctx, k.KID, k); err != nil {
		if err == errExists {
			return vcd.Errorf(vcd.CodeDuplicate, "signing key %s already exists", k.KID)
		}
		return err
	}
	return nil
}
