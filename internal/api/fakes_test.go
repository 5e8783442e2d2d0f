package api_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeStore is an in-memory api.Store honouring its documented contract: missing
// entities are vcd.CodeNotFound, duplicate names vcd.CodeDuplicate, lists sorted by
// name (case-insensitively) or creation order.
type fakeStore struct {
	mu       sync.Mutex
	site     vcd.Site
	orgs     map[string]vcd.Org
	users    map[string]vcd.User
	sessions []vcd.Session
	tokens   []vcd.APIToken
	accounts map[string]vcd.ServiceAccount // see serviceaccounts_fakes_test.go
	// fail, when set, is returned by Orgs and Users: it simulates a store fault on the
	// directory lists while authentication (single lookups) still works.
	fail error
}

func newFakeStore(site vcd.Site) *fakeStore {
	return &fakeStore{site: site, orgs: map[string]vcd.Org{}, users: map[string]vcd.User{}}
}

func notFound(kind string) error { return vcd.Errorf(vcd.CodeNotFound, "%s not found", kind) }

func (s *fakeStore) Site(ctx context.Context) (vcd.Site, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.site, nil
}

func (s *fakeStore) Orgs(ctx context.Context) ([]vcd.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []vcd.Org
	for _, o := range s.orgs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b vcd.Org) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

func (s *fakeStore) Org(ctx context.Context, id string) (vcd.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[id]
	if !ok {
		return vcd.Org{}, notFound("org")
	}
	return o, nil
}

func (s *fakeStore) OrgByName(ctx context.Context, name string) (vcd.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orgs {
		if strings.EqualFold(o.Name, name) {
			return o, nil
		}
	}
	return vcd.Org{}, notFound("org")
}

func (s *fakeStore) CreateOrg(ctx context.Context, o vcd.Org) (vcd.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.orgs {
		if strings.EqualFold(x.Name, o.Name) {
			return vcd.Org{}, vcd.Errorf(vcd.CodeDuplicate, "duplicate org")
		}
	}
	s.orgs[o.ID] = o
	return o, nil
}

func (s *fakeStore) UpdateOrg(ctx context.Context, id string, fn func(*vcd.Org) error) (vcd.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[id]
	if !ok {
		return vcd.Org{}, notFound("org")
	}
	if err := fn(&o); err != nil {
		return vcd.Org{}, err
	}
	s.orgs[id] = o
	return o, nil
}

func (s *fakeStore) DeleteOrg(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[id]; !ok {
		return notFound("org")
	}
	delete(s.orgs, id)
	return nil
}

func (s *fakeStore) Users(ctx context.Context, orgID string) ([]vcd.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []vcd.User
	for _, u := range s.users {
		if orgID == "" || u.OrgID == orgID {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b vcd.User) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

func (s *fakeStore) User(ctx context.Context, id string) (vcd.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return vcd.User{}, notFound("user")
	}
	return u, nil
}

func (s *fakeStore) userByName(orgID, name string) (vcd.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.OrgID == orgID && strings.EqualFold(u.Name, name) {
			return u, true
		}
	}
	return vcd.User{}, false
}

func (s *fakeStore) CreateUser(ctx context.Context, u vcd.User) (vcd.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.users {
		if x.OrgID == u.OrgID && strings.EqualFold(x.Name, u.Name) {
			return vcd.User{}, vcd.Errorf(vcd.CodeDuplicate, "duplicate user")
		}
	}
	s.users[u.ID] = u
	return u, nil
}

func (s *fakeStore) UpdateUser(ctx context.Context, id string, fn func(*vcd.User) error) (vcd.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return vcd.User{}, notFound("user")
	}
	if err := fn(&u); err != nil {
		return vcd.User{}, err
	}
	s.users[id] = u
	return u, nil
}

func (s *fakeStore) DeleteUser(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return notFound("user")
	}
	delete(s.users, id)
	return nil
}

func (s *fakeStore) Sessions(ctx context.Context, userID string) ([]vcd.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vcd.Session
	for _, x := range s.sessions {
		if userID == "" || x.UserID == userID {
			out = append(out, x)
		}
	}
	return out, nil
}

func (s *fakeStore) Session(ctx context.Context, id string) (vcd.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.sessions {
		if x.ID == id {
			return x, nil
		}
	}
	return vcd.Session{}, notFound("session")
}

func (s *fakeStore) addSession(x vcd.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = append(s.sessions, x)
}

func (s *fakeStore) revokeSession(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.sessions {
		if s.sessions[i].ID == id {
			s.sessions[i].Revoked = true
			return true
		}
	}
	return false
}

func (s *fakeStore) APITokens(ctx context.Context) ([]vcd.APIToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens), nil
}

func (s *fakeStore) APIToken(ctx context.Context, id string) (vcd.APIToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.ID == id {
			return t, nil
		}
	}
	return vcd.APIToken{}, notFound("token")
}

func (s *fakeStore) DeleteAPIToken(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range s.tokens {
		if t.ID == id {
			s.tokens = slices.Delete(s.tokens, i, i+1)
			return nil
		}
	}
	return notFound("token")
}

func (s *fakeStore) putToken(t vcd.APIToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.tokens {
		if s.tokens[i].ID == t.ID {
			s.tokens[i] = t
			return
		}
	}
	s.tokens = append(s.tokens, t)
}

// fakeAuth is an in-memory api.Auth over a fakeStore. Passwords are stored as
// "hashed:<password>"; JWTs are "jwt-<n>-…" strings; ids are deterministic per server.
type fakeAuth struct {
	st  *fakeStore
	now func() time.Time

	mu      sync.Mutex
	n       int
	jwts    map[string]string // token → session id
	legacy  map[string]string // legacy token → session id
	secrets map[string]string // API token secret → token id
	touched int
}

func newFakeAuth(st *fakeStore, now func() time.Time) *fakeAuth {
	return &fakeAuth{st: st, now: now, jwts: map[string]string{}, legacy: map[string]string{}, secrets: map[string]string{}}
}

func fakeHash(pw string) (string, error) { return "hashed:" + pw, nil }

var errBadCreds = vcd.Errorf(vcd.CodeUnauthorized, "Authentication failed.")

// nextID returns a deterministic UUID for the n-th object this fake creates.
func (f *fakeAuth) nextID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return vcd.NameUUID(siteID, fmt.Sprint("fake-", f.n))
}

func (f *fakeAuth) open(u vcd.User, o vcd.Org, apiTokenID string, legacy bool) (auth.LoginResult, error) {
	now := f.now()
	s := vcd.Session{ID: f.nextID(), UserID: u.ID, OrgID: o.ID, JTI: f.nextID(), APITokenID: apiTokenID,
		Created: now, Expires: now.Add(24 * time.Hour), LastActive: now}
	f.st.addSession(s)
	res := auth.LoginResult{Session: s, JWT: "jwt-" + s.JTI + "-padding-to-look-like-a-long-token"}
	f.mu.Lock()
	f.jwts[res.JWT] = s.ID
	if legacy {
		res.LegacyToken = strings.ReplaceAll(s.JTI, "-", "")
		f.legacy[res.LegacyToken] = s.ID
	}
	f.mu.Unlock()
	p, err := f.principal(s)
	res.Principal = p
	return res, err
}

func (f *fakeAuth) principal(s vcd.Session) (vcd.Principal, error) {
	u, err := f.st.User(context.Background(), s.UserID)
	if err != nil {
		return vcd.Principal{}, errBadCreds
	}
	o, err := f.st.Org(context.Background(), s.OrgID)
	if err != nil || !u.Enabled || !o.Enabled {
		return vcd.Principal{}, errBadCreds
	}
	return vcd.Principal{Kind: vcd.PrincipalUser, UserID: u.ID, UserName: u.Name, OrgID: o.ID, OrgName: o.Name,
		Role: u.Role, Level: vcd.LevelOf(o.ID, u.Role), SessionID: s.ID, JTI: s.JTI, APITokenID: s.APITokenID,
		ExpiresAt: s.Expires}, nil
}

func (f *fakeAuth) check(name, password string) (vcd.User, vcd.Org, error) {
	un, on, ok := vcd.SplitUserOrg(name)
	if !ok {
		return vcd.User{}, vcd.Org{}, errBadCreds
	}
	o, err := f.st.OrgByName(context.Background(), on)
	if err != nil || !o.Enabled {
		return vcd.User{}, vcd.Org{}, errBadCreds
	}
	u, ok := f.st.userByName(o.ID, un)
	if !ok || !u.Enabled || u.PasswordHash != "hashed:"+password || u.Locked(f.now()) {
		return vcd.User{}, vcd.Org{}, errBadCreds
	}
	return u, o, nil
}

func (f *fakeAuth) Login(ctx context.Context, name, password string, provider bool, clientIP string) (auth.LoginResult, error) {
	u, o, err := f.check(name, password)
	if err != nil {
		return auth.LoginResult{}, err
	}
	if o.IsSystem() != provider {
		return auth.LoginResult{}, errBadCreds
	}
	return f.open(u, o, "", false)
}

func (f *fakeAuth) LegacyLogin(ctx context.Context, name, password, clientIP string) (auth.LoginResult, error) {
	u, o, err := f.check(name, password)
	if err != nil {
		return auth.LoginResult{}, err
	}
	return f.open(u, o, "", true)
}

func (f *fakeAuth) resolve(sessionID string, ok bool) (vcd.Principal, error) {
	if !ok {
		return vcd.Principal{}, errBadCreds
	}
	s, err := f.st.Session(context.Background(), sessionID)
	if err != nil || s.Revoked {
		return vcd.Principal{}, errBadCreds
	}
	return f.principal(s)
}

func (f *fakeAuth) Authenticate(ctx context.Context, token string) (vcd.Principal, error) {
	f.mu.Lock()
	id, ok := f.jwts[token]
	f.mu.Unlock()
	return f.resolve(id, ok)
}

func (f *fakeAuth) AuthenticateLegacy(ctx context.Context, token string) (vcd.Principal, error) {
	f.mu.Lock()
	id, ok := f.legacy[token]
	f.mu.Unlock()
	return f.resolve(id, ok)
}

func (f *fakeAuth) Touch(ctx context.Context, p vcd.Principal) {
	f.mu.Lock()
	f.touched++
	f.mu.Unlock()
}

func (f *fakeAuth) Logout(ctx context.Context, sessionID string) error {
	if !f.st.revokeSession(sessionID) {
		return notFound("session")
	}
	return nil
}

func (f *fakeAuth) ExchangeAPIToken(ctx context.Context, orgName string, provider bool, secret, clientIP string) (auth.LoginResult, error) {
	f.mu.Lock()
	id, ok := f.secrets[secret]
	f.mu.Unlock()
	if !ok {
		return auth.LoginResult{}, errBadCreds
	}
	t, err := f.st.APIToken(ctx, id)
	if err != nil {
		return auth.LoginResult{}, errBadCreds
	}
	o, err := f.st.Org(ctx, t.OrgID)
	if err != nil || !strings.EqualFold(o.Name, orgName) || o.IsSystem() != provider {
		return auth.LoginResult{}, errBadCreds
	}
	u, err := f.st.User(ctx, t.UserID)
	if err != nil {
		return auth.LoginResult{}, errBadCreds
	}
	return f.open(u, o, t.ID, false)
}

func (f *fakeAuth) CreateAPIToken(ctx context.Context, p vcd.Principal, name, typ, extensionID string) (vcd.APIToken, string, error) {
	t := vcd.APIToken{ID: f.nextID(), Name: name, Type: typ, UserID: p.UserID, OrgID: p.OrgID,
		ExtensionID: extensionID, SecretHash: "set", Created: f.now()}
	secret := "S" + strings.ReplaceAll(f.nextID(), "-", "")[:31]
	f.st.putToken(t)
	f.mu.Lock()
	f.secrets[secret] = t.ID
	f.mu.Unlock()
	return t, secret, nil
}

func (f *fakeAuth) RegisterClient(ctx context.Context, p vcd.Principal, name string) (vcd.APIToken, error) {
	t := vcd.APIToken{ID: f.nextID(), Name: name, Type: vcd.TokenRefresh, UserID: p.UserID, OrgID: p.OrgID, Created: f.now()}
	f.st.putToken(t)
	return t, nil
}

func (f *fakeAuth) ExchangeJWTBearer(ctx context.Context, orgName string, provider bool, assertion, clientID, clientIP string) (auth.LoginResult, string, error) {
	p, err := f.Authenticate(ctx, assertion)
	if err != nil {
		return auth.LoginResult{}, "", errBadCreds
	}
	t, err := f.st.APIToken(ctx, clientID)
	if err != nil || t.UserID != p.UserID || t.SecretHash != "" || !strings.EqualFold(p.OrgName, orgName) {
		return auth.LoginResult{}, "", errBadCreds
	}
	t.SecretHash = "set"
	f.st.putToken(t)
	secret := "S" + strings.ReplaceAll(f.nextID(), "-", "")[:31]
	f.mu.Lock()
	f.secrets[secret] = t.ID
	f.mu.Unlock()
	u, _ := f.st.User(ctx, p.UserID)
	o, _ := f.st.Org(ctx, p.OrgID)
	res, err := f.open(u, o, "", false)
	return res, secret, err
}
