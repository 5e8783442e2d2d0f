package store

import (
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// revocation is the value of a revoked JWT id in herald_revoked.
type revocation struct {
	SessionID string    `json:"sessionId"`
	Revoked   time.Time `json:"revoked"`
}

// initTables creates the caches and wires their secondary indexes and change events.
func (db *DB) initTables(kvs map[string]jetstream.KeyValue) {
	emit := db.feed.publish

	db.orgs = newTable[vcd.Org](ChangeOrg, kvs[bucketOrgs], db.logger)
	db.orgs.emit = emit
	db.orgs.index = func(id string, old, new *vcd.Org) {
		if old != nil {
			deleteIf(db.orgByName, strings.ToLower(old.Name), id)
		}
		if new != nil {
			db.orgByName[strings.ToLower(new.Name)] = id
		}
	}

	db.users = newTable[vcd.User](ChangeUser, kvs[bucketUsers], db.logger)
	db.users.emit = emit
	db.users.clone = func(u vcd.User) vcd.User {
		u.FailedLogins = slices.Clone(u.FailedLogins)
		return u
	}
	db.users.index = func(id string, old, new *vcd.User) {
		if old != nil {
			if byName := db.userByName[old.OrgID]; byName != nil {
				deleteIf(byName, strings.ToLower(old.Name), id)
				if len(byName) == 0 {
					delete(db.userByName, old.OrgID)
				}
			}
		}
		if new != nil {
			byName := db.userByName[new.OrgID]
			if byName == nil {
				byName = make(map[string]string)
				db.userByName[new.OrgID] = byName
			}
			byName[strings.ToLower(new.Name)] = id
		}
	}

	db.sessions = newTable[vcd.Session](ChangeSession, kvs[bucketSessions], db.logger)
	db.sessions.emit = emit
	db.sessions.index = func(id string, old, new *vcd.Session) {
		if old != nil && old.LegacyTokenHash != "" {
			deleteIf(db.sessionByLegacy, old.LegacyTokenHash, id)
		}
		if new != nil && new.LegacyTokenHash != "" {
			db.sessionByLegacy[new.LegacyTokenHash] = id
		}
	}

	db.tokens = newTable[vcd.APIToken](ChangeToken, kvs[bucketTokens], db.logger)
	db.tokens.emit = emit
	db.tokens.index = func(id string, old, new *vcd.APIToken) {
		if old != nil && old.SecretHash != "" {
			deleteIf(db.tokenBySecret, old.SecretHash, id)
		}
		if new != nil && new.SecretHash != "" {
			db.tokenBySecret[new.SecretHash] = id
		}
	}

	db.keys = newTable[vcd.SigningKey](ChangeKey, kvs[bucketKeys], db.logger)
	db.keys.emit = emit

	db.initServiceAccounts(kvs)
	db.initTasks(kvs)

	// JWT ids are chosen by the issuer and need not be valid KV keys, so the key is
	// their hex encoding; the cache is keyed by the id itself.
	db.revoked = newTable[revocation]("revoked token", kvs[bucketRevoked], db.logger)
	db.revoked.keyOf = func(jti string) string { return hex.EncodeToString([]byte(jti)) }
	db.revoked.idOf = func(key string) (string, bool) {
		b, err := hex.DecodeString(key)
		return string(b), err == nil
	}
}

// deleteIf deletes m[k] if it maps to id: when two entities claim one index key (which
// the name index prevents for names), removing one must not unmap the other.
func deleteIf(m map[string]string, k, id string) {
	if m[k] == id {
		delete(m, k)
	}
}
