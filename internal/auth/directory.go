package auth

import (
	"context"

	"github.com/heraldmq/herald/internal/vcd"
)

// Directory is what the Authenticator needs from the store. *store.DB satisfies it; tests
// may use a small fake.
//
// Lookups of a missing entity return an error whose vcd.CodeOf is vcd.CodeNotFound.
// Update functions run fn on a copy of the current value and write it with
// compare-and-set, retrying on a concurrent change; an error from fn aborts the update
// and is returned unchanged.
type Directory interface {
	Org(ctx context.Context, id string) (vcd.Org, error)
	OrgByName(ctx context.Context, name string) (vcd.Org, error)
	User(ctx context.Context, id string) (vcd.User, error)
	UserByName(ctx context.Context, orgID, name string) (vcd.User, error)
	UpdateUser(ctx context.Context, id string, fn func(*vcd.User) error) (vcd.User, error)

	CreateSession(ctx context.Context, s vcd.Session) error
	Session(ctx context.Context, id string) (vcd.Session, error)
	SessionByLegacyToken(ctx context.Context, tokenHash string) (vcd.Session, error)
	UpdateSession(ctx context.Context, id string, fn func(*vcd.Session) error) (vcd.Session, error)

	CreateAPIToken(ctx context.Context, t vcd.APIToken) error
	APIToken(ctx context.Context, id string) (vcd.APIToken, error)
	APITokenBySecret(ctx context.Context, secretHash string) (vcd.APIToken, error)
	UpdateAPIToken(ctx context.Context, id string, fn func(*vcd.APIToken) error) (vcd.APIToken, error)

	SigningKeys(ctx context.Context) ([]vcd.SigningKey, error)
	AddSigningKey(ctx context.Context, k vcd.SigningKey) error

	// Service accounts: names are unique and matched case-insensitively; a taken name
	// is vcd.CodeDuplicate.
	CreateServiceAccount(ctx context.Context, s vcd.ServiceAccount) (vcd.ServiceAccount, error)
	ServiceAccount(ctx context.Context, id string) (vcd.ServiceAccount, error)
	ServiceAccountByName(ctx context.Context, name string) (vcd.ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, id string, fn func(*vcd.ServiceAccount) error) (vcd.ServiceAccount, error)
}
