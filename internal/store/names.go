package store

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// staleReservation is how old a name reservation without its entity must be before
// another create may take the name over. A create reserves the name, then writes the
// entity within one request timeout; only a crash in between leaves a reservation
// without an entity.
const staleReservation = time.Minute

// nameEncoding turns a lowercased name into characters KV keys allow ([-/_=.a-zA-Z0-9]).
var nameEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// orgNameKey is the herald_names key that reserves an org name.
func orgNameKey(name string) string {
	return "org." + nameEncoding.EncodeToString([]byte(strings.ToLower(name)))
}

// userNameKey is the herald_names key that reserves a user name within an org.
func userNameKey(orgID, name string) string {
	return "user." + orgID + "." + nameEncoding.EncodeToString([]byte(strings.ToLower(name)))
}

// reserve claims key for the entity id with KV Create, the one cluster-wide
// uniqueness check. It returns vcd.CodeDuplicate if another entity holds the name.
// exists reports whether the entity holding a reservation exists in KV; a reservation
// whose entity does not exist and that is older than staleReservation is taken over.
func (db *DB) reserve(ctx context.Context, key, id, what string, exists func(ctx context.Context, id string) (bool, error)) (uint64, error) {
	dup := vcd.Errorf(vcd.CodeDuplicate, "%s already exists", what)
	for range 2 {
		rev, err := db.names.Create(ctx, key, []byte(id))
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, unavailable("reserve name", err)
		}
		e, err := db.names.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return 0, unavailable("read name", err)
		}
		if db.now().Sub(e.Created()) < staleReservation {
			return 0, dup
		}
		ok, err := exists(ctx, string(e.Value()))
		if err != nil {
			return 0, err
		}
		if ok {
			return 0, dup
		}
		db.logger.Warn("taking over stale name reservation", "key", key, "holder", string(e.Value()))
		err = db.names.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, unavailable("release stale name", err)
		}
	}
	return 0, dup
}

// release frees key if it is still held by id. It runs even when ctx is cancelled,
// because it undoes half of a write.
func (db *DB) release(ctx context.Context, key, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.cfg.Timeout)
	defer cancel()
	e, err := db.names.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return unavailable("read name", err)
	}
	if string(e.Value()) != id {
		return nil
	}
	err = db.names.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return unavailable("release name", err)
	}
	return nil
}

// existsIn returns a function reporting whether an id exists in t's bucket.
func existsIn[T any](t *table[T]) func(ctx context.Context, id string) (bool, error) {
	return func(ctx context.Context, id string) (bool, error) {
		_, _, err := t.load(ctx, id)
		switch {
		case err == nil:
			return true, nil
		case vcd.CodeOf(err) == vcd.CodeNotFound:
			return false, nil
		case vcd.CodeOf(err) == vcd.CodeUnavailable:
			return false, err
		default:
			return true, nil // present, though undecodable
		}
	}
}

// unreserve frees the name reserved for id after writing the entity failed with err.
// A failure other than errExists may hide a write that succeeded (a lost
// acknowledgement), so the name is then freed only if the entity is known not to
// exist; otherwise the stale-reservation rule of reserve reclaims it later.
func (db *DB) unreserve(ctx context.Context, key, id string, err error, exists func(ctx context.Context, id string) (bool, error)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.cfg.Timeout)
	defer cancel()
	if err != errExists {
		if ok, xerr := exists(ctx, id); xerr != nil || ok {
			return
		}
	}
	if rerr := db.release(ctx, key, id); rerr != nil {
		db.logger.Warn("release name", "key", key, "err", rerr)
	}
}
