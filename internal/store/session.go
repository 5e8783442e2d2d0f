package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// CreateSession stores a new session. s.ID must be set (vcd.CodeInvalid otherwise); an
// existing id is vcd.CodeDuplicate.
func (db *DB) CreateSession(ctx context.Context, s vcd.Session) error {
	if !validID(s.ID) {
		return invalidID("session", s.ID)
	}
	if err := db.sessions.create(ctx, s.ID, s); err != nil {
		if err == errExists {
			return vcd.Errorf(vcd.CodeDuplicate, "session %s already exists", s.ID)
		}
		return err
	}
	return nil
}

// Session returns the session with the given id, or a vcd.CodeNotFound error. A
// session created on another node is read from JetStream when the cache does not
// hold it yet: a user who logs in through one node and connects to another at
// once (behind a load balancer) presents a token whose session this node's
// watcher may not have delivered. Callers look up only ids from tokens whose
// signature they verified, or ids an authenticated caller asked for.
func (db *DB) Session(ctx context.Context, id string) (vcd.Session, error) {
	return db.sessions.byID(ctx, id, "session")
}

// SessionByLegacyToken returns the session whose LegacyTokenHash is tokenHash, or a
// vcd.CodeNotFound error.
func (db *DB) SessionByLegacyToken(ctx context.Context, tokenHash string) (vcd.Session, error) {
	if tokenHash != "" {
		s, ok := db.sessions.getBy(ctx, func() (string, bool) {
			id, ok := db.sessionByLegacy[tokenHash]
			return id, ok
		})
		if ok {
			return s, nil
		}
	}
	// The hash is a credential: keep it out of the message.
	return vcd.Session{}, vcd.Errorf(vcd.CodeNotFound, "session not found")
}

// Sessions lists the sessions of one user, or every session when userID is empty,
// sorted by creation time.
func (db *DB) Sessions(ctx context.Context, userID string) ([]vcd.Session, error) {
	var keep func(*vcd.Session) bool
	if userID != "" {
		keep = func(s *vcd.Session) bool { return s.UserID == userID }
	}
	sessions := db.sessions.list(keep)
	slices.SortFunc(sessions, func(a, b vcd.Session) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return sessions, nil
}

// UpdateSession applies fn to a copy of the current session and writes it with
// compare-and-set, retrying fn after a concurrent change. fn must not change the ID.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(*vcd.Session) error) (vcd.Session, error) {
	return db.sessions.update(ctx, id, fn, func(old, new *vcd.Session) error {
		if new.ID != old.ID {
			return vcd.Errorf(vcd.CodeInvalid, "session id is immutable")
		}
		return nil
	})
}

// RevokeSession marks the session revoked and records its JWT id in the revoked set
// (see IsRevoked), which every node sees within milliseconds. Revoking a revoked
// session again is not an error.
func (db *DB) RevokeSession(ctx context.Context, id string) error {
	s, err := db.UpdateSession(ctx, id, func(s *vcd.Session) error {
		s.Revoked = true
		return nil
	})
	if err != nil {
		return err
	}
	if s.JTI == "" {
		return nil
	}
	return db.revoked.set(ctx, s.JTI, revocation{SessionID: s.ID, Revoked: db.now().UTC()})
}

// IsRevoked reports whether the JWT id was revoked within the last Config.RevokedTTL.
// It reads only the cache.
func (db *DB) IsRevoked(jti string) bool {
	return db.revoked.has(jti)
}

// DeleteSession deletes the session. It does not revoke its JWT id: a deleted session
// fails verification anyway because it is not found.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.sessions.delete(ctx, id)
	return err
}

// PurgeExpiredSessions deletes every session whose Expires is not after now and
// returns how many it deleted. Sessions deleted meanwhile by another node are skipped,
// so nodes may purge concurrently.
func (db *DB) PurgeExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	expired := db.sessions.list(func(s *vcd.Session) bool {
		return !s.Expires.IsZero() && !s.Expires.After(now)
	})
	return deleteEach(ctx, expired, func(s vcd.Session) string { return s.ID }, db.DeleteSession)
}

// deleteEach deletes every record of rs by its id and returns how many it deleted. A
// record already deleted (by another node, say) is not an error; the first other
// error stops it.
func deleteEach[T any](ctx context.Context, rs []T, id func(T) string, del func(context.Context, string) error) (int, error) {
	n := 0
	for _, r := range rs {
		switch err := del(ctx, id(r)); {
		case err == nil:
			n++
		case vcd.CodeOf(err) == vcd.CodeNotFound:
		default:
			return n, err
		}
	}
	return n, nil
}
