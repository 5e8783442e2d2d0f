package auth_test

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeDir is an in-memory auth.Directory. Lookups of missing entities return
// vcd.CodeNotFound; Update* run fn on a copy outside the lock and write it back only if
// the entity did not change meanwhile (compare-and-set on a revision), retrying otherwise.
type fakeDir struct {
	mu       sync.Mutex
	orgs     map[string]vcd.Org
	users    map[string]vcd.User
	sessions map[string]vcd.Session
	tokens   map[string]vcd.APIToken
	keys     []vcd.SigningKey
	accounts map[string]vcd.ServiceAccount // service accounts; see service_fake_test.go
	rev      map[string]int                // entity id -> revision

	// beforeWrite, when set, runs inside Update* after fn and before the CAS, once per
	// attempt, so tests can interleave a concurrent change.
	beforeWrite func(id string)
	// sessionUpdates counts UpdateSession writes.
	sessionUpdates int
}

var _ auth.Directory = (*fakeDir)(nil)

func newFakeDir() *fakeDir {
	return &fakeDir{
		orgs:     map[string]vcd.Org{},
		users:    map[string]vcd.User{},
		sessions: map[string]vcd.Session{},
		tokens:   map[string]vcd.APIToken{},
		accounts: map[string]vcd.ServiceAccount{},
		rev:      map[string]int{},
	}
}

func notFound(what string) error { return vcd.Errorf(vcd.CodeNotFound, "%s not found", what) }

func cloneUser(u vcd.User) vcd.User {
	u.FailedLogins = slices.Clone(u.FailedLogins)
	return u
}

func (d *fakeDir) putOrg(o vcd.Org) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.orgs[o.ID] = o
	d.rev[o.ID]++
}

func (d *fakeDir) putUser(u vcd.User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[u.ID] = cloneUser(u)
	d.rev[u.ID]++
}

func (d *fakeDir) Org(_ context.Context, id string) (vcd.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.orgs[id]
	if !ok {
		return vcd.Org{}, notFound("org")
	}
	return o, nil
}

func (d *fakeDir) OrgByName(_ context.Context, name string) (vcd.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.orgs {
		if strings.EqualFold(o.Name, name) {
			return o, nil
		}
	}
	return vcd.Org{}, notFound("org")
}

func (d *fakeDir) User(_ context.Context, id string) (vcd.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return vcd.User{}, notFound("user")
	}
	return cloneUser(u), nil
}

func (d *fakeDir) UserByName(_ context.Context, orgID, name string) (vcd.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u.OrgID == orgID && strings.EqualFold(u.Name, name) {
			return cloneUser(u), nil
		}
	}
	return vcd.User{}, notFound("user")
}

// update implements compare-and-set for one map.
func update[T any](d *fakeDir, m map[string]T, id string, clone func(T) T, fn func(*T) error) (T, error) {
	var zero T
	for {
		d.mu.Lock()
		cur, ok := m[id]
		rev := d.rev[id]
		d.mu.Unlock()
		if !ok {
			return zero, notFound(id)
		}
		v := clone(cur)
		if err := fn(&v); err != nil {
			return zero, err
		}
		if d.beforeWrite != nil {
			d.beforeWrite(id)
		}
		d.mu.Lock()
		if d.rev[id] != rev {
			d.mu.Unlock()
			continue
		}
		m[id] = clone(v)
		d.rev[id]++
		d.mu.Unlock()
		return v, nil
	}
}

func (d *fakeDir) UpdateUser(_ context.Context, id string, fn func(*vcd.User) error) (vcd.User, error) {
	return update(d, d.users, id, cloneUser, fn)
}

func (d *fakeDir) CreateSession(_ context.Context, s vcd.Session) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.sessions[s.ID]; ok {
		return vcd.Errorf(vcd.CodeDuplicate, "session exists")
	}
	d.sessions[s.ID] = s
	d.rev[s.ID]++
	return nil
}

func (d *fakeDir) Session(_ context.Context, id string) (vcd.Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.sessions[id]
	if !ok {
		return vcd.Session{}, notFound("session")
	}
	return s, nil
}

func (d *fakeDir) SessionByLegacyToken(_ context.Context, hash string) (vcd.Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.sessions {
		if s.LegacyTokenHash != "" && s.LegacyTokenHash == hash {
			return s, nil
		}
	}
	return vcd.Session{}, notFound("session")
}

func (d *fakeDir) UpdateSession(_ context.Context, id string, fn func(*vcd.Session) error) (vcd.Session, error) {
	s, err := update(d, d.sessions, id, func(s vcd.Session) vcd.Session { return s }, fn)
	if err == nil {
		d.mu.Lock()
		d.sessionUpdates++
		d.mu.Unlock()
	}
	return s, err
}

func (d *fakeDir) CreateAPIToken(_ context.Context, t vcd.APIToken) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tokens[t.ID]; ok {
		return vcd.Errorf(vcd.CodeDuplicate, "token exists")
	}
	d.tokens[t.ID] = t
	d.rev[t.ID]++
	return nil
}

func (d *fakeDir) APIToken(_ context.Context, id string) (vcd.APIToken, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tokens[id]
	if !ok {
		return vcd.APIToken{}, notFound("token")
	}
	return t, nil
}

func (d *fakeDir) APITokenBySecret(_ context.Context, hash string) (vcd.APIToken, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tokens {
		if t.SecretHash != "" && t.SecretHash == hash {
			return t, nil
		}
	}
	return vcd.APIToken{}, notFound("token")
}

func (d *fakeDir) UpdateAPIToken(_ context.Context, id string, fn func(*vcd.APIToken) error) (vcd.APIToken, error) {
	return update(d, d.tokens, id, func(t vcd.APIToken) vcd.APIToken { return t }, fn)
}

func (d *fakeDir) SigningKeys(_ context.Context) ([]vcd.SigningKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.keys), nil
}

func (d *fakeDir) AddSigningKey(_ context.Context, k vcd.SigningKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = append(d.keys, k)
	return nil
}

func (d *fakeDir) session(id string) vcd.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions[id]
}

func (d *fakeDir) user(id string) vcd.User {
	d.mu.Lock()
	defer d.mu.Unlock()
	return cloneUser(d.users[id])
}
