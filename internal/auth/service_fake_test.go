package auth_test

import (
	"context"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Service-account methods of fakeDir: names unique case-insensitively, values cloned
// in and out.

func (d *fakeDir) CreateServiceAccount(_ context.Context, s vcd.ServiceAccount) (vcd.ServiceAccount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.accounts {
		if x.ID == s.ID || strings.EqualFold(x.Name, s.Name) {
			return vcd.ServiceAccount{}, vcd.Errorf(vcd.CodeDuplicate, "service account exists")
		}
	}
	d.accounts[s.ID] = s.Clone()
	d.rev[s.ID]++
	return s.Clone(), nil
}

func (d *fakeDir) ServiceAccount(_ context.Context, id string) (vcd.ServiceAccount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.accounts[id]
	if !ok {
		return vcd.ServiceAccount{}, notFound("service account")
	}
	return s.Clone(), nil
}

func (d *fakeDir) ServiceAccountByName(_ context.Context, name string) (vcd.ServiceAccount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.accounts {
		if strings.EqualFold(s.Name, name) {
			return s.Clone(), nil
		}
	}
	return vcd.ServiceAccount{}, notFound("service account")
}

func (d *fakeDir) UpdateServiceAccount(_ context.Context, id string, fn func(*vcd.ServiceAccount) error) (vcd.ServiceAccount, error) {
	return update(d, d.accounts, id, vcd.ServiceAccount.Clone, fn)
}

// deleteServiceAccount removes an account, as the store's delete does.
func (d *fakeDir) deleteServiceAccount(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.accounts, id)
	d.rev[id]++
}
