package api_test

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// Service-account methods of fakeStore and fakeAuth. The fake "hash" of a secret is
// "fake:<secret>"; service JWTs are "svcjwt-<account id>".

func (s *fakeStore) ServiceAccounts(ctx context.Context) ([]vcd.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vcd.ServiceAccount
	for _, a := range s.accounts {
		out = append(out, a.Clone())
	}
	slices.SortFunc(out, func(a, b vcd.ServiceAccount) int {
		return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

func (s *fakeStore) ServiceAccount(ctx context.Context, id string) (vcd.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return vcd.ServiceAccount{}, notFound("service account")
	}
	return a.Clone(), nil
}

func (s *fakeStore) serviceAccountByName(name string) (vcd.ServiceAccount, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if strings.EqualFold(a.Name, name) {
			return a.Clone(), true
		}
	}
	return vcd.ServiceAccount{}, false
}

func (s *fakeStore) createServiceAccount(a vcd.ServiceAccount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accounts == nil {
		s.accounts = map[string]vcd.ServiceAccount{}
	}
	for _, x := range s.accounts {
		if x.ID == a.ID || strings.EqualFold(x.Name, a.Name) {
			return vcd.Errorf(vcd.CodeDuplicate, "duplicate service account")
		}
	}
	s.accounts[a.ID] = a.Clone()
	return nil
}

func (s *fakeStore) UpdateServiceAccount(ctx context.Context, id string, fn func(*vcd.ServiceAccount) error) (vcd.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return vcd.ServiceAccount{}, notFound("service account")
	}
	a = a.Clone()
	if err := fn(&a); err != nil {
		return vcd.ServiceAccount{}, err
	}
	s.accounts[id] = a.Clone()
	return a, nil
}

func (s *fakeStore) DeleteServiceAccount(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return notFound("service account")
	}
	delete(s.accounts, id)
	return nil
}

func (f *fakeAuth) CreateServiceAccount(ctx context.Context, a vcd.ServiceAccount, secret string) (vcd.ServiceAccount, string, error) {
	if err := auth.CheckServiceName(a.Name); err != nil {
		return vcd.ServiceAccount{}, "", err
	}
	if a.ID == "" {
		a.ID = f.nextID()
	}
	if secret == "" {
		secret = "S" + strings.ReplaceAll(f.nextID(), "-", "")[:31]
	}
	a.SecretHash = "fake:" + secret
	a.Created, a.SecretRotated = f.now(), f.now()
	if err := f.st.createServiceAccount(a); err != nil {
		return vcd.ServiceAccount{}, "", err
	}
	return a, secret, nil
}

func (f *fakeAuth) RotateServiceSecret(ctx context.Context, id string) (vcd.ServiceAccount, string, error) {
	secret := "R" + strings.ReplaceAll(f.nextID(), "-", "")[:31]
	a, err := f.st.UpdateServiceAccount(ctx, id, func(a *vcd.ServiceAccount) error {
		a.SecretHash = "fake:" + secret
		a.Generation++
		return nil
	})
	return a, secret, err
}

func (f *fakeAuth) ServiceLogin(ctx context.Context, name, secret, clientIP string) (auth.LoginResult, error) {
	a, ok := f.st.serviceAccountByName(name)
	if !ok || !a.Enabled || a.SecretHash != "fake:"+secret {
		return auth.LoginResult{}, errBadCreds
	}
	p := vcd.Principal{Kind: vcd.PrincipalService, UserID: a.ID, UserName: a.Name, OrgID: vcd.SystemOrgID,
		Publish: a.Publish, Subscribe: a.Subscribe, Producer: a.Producer}
	return auth.LoginResult{Principal: p, JWT: "svcjwt-" + a.ID}, nil
}
