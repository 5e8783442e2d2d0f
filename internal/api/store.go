package api

import (
	"context"

	"github.com/heraldmq/herald/internal/vcd"
)

// Store is what the API handlers need from the store for the directory. *store.DB
// satisfies it. Lookups of a missing entity return an error whose vcd.CodeOf is
// vcd.CodeNotFound (handlers turn that into 403 for secured entities, VCD-COMPAT
// §11.2); creating a duplicate name returns vcd.CodeDuplicate. Lists are sorted by name
// (case-insensitively), sessions and tokens by creation time.
type Store interface {
	Site(ctx context.Context) (vcd.Site, error)

	Orgs(ctx context.Context) ([]vcd.Org, error)
	Org(ctx context.Context, id string) (vcd.Org, error)
	OrgByName(ctx context.Context, name string) (vcd.Org, error)
	CreateOrg(ctx context.Context, o vcd.Org) (vcd.Org, error)
	UpdateOrg(ctx context.Context, id string, fn func(*vcd.Org) error) (vcd.Org, error)
	DeleteOrg(ctx context.Context, id string) error

	// Users lists the users of one org, or of every org when orgID is empty.
	Users(ctx context.Context, orgID string) ([]vcd.User, error)
	User(ctx context.Context, id string) (vcd.User, error)
	CreateUser(ctx context.Context, u vcd.User) (vcd.User, error)
	UpdateUser(ctx context.Context, id string, fn func(*vcd.User) error) (vcd.User, error)
	DeleteUser(ctx context.Context, id string) error

	// Sessions lists the sessions of one user, or every session when userID is empty.
	Sessions(ctx context.Context, userID string) ([]vcd.Session, error)
	Session(ctx context.Context, id string) (vcd.Session, error)

	// APITokens lists every API token; handlers filter by the caller's rights.
	APITokens(ctx context.Context) ([]vcd.APIToken, error)
	APIToken(ctx context.Context, id string) (vcd.APIToken, error)
	DeleteAPIToken(ctx context.Context, id string) error

	// ServiceAccounts lists every MQTT service account, sorted by name.
	ServiceAccounts(ctx context.Context) ([]vcd.ServiceAccount, error)
	ServiceAccount(ctx context.Context, id string) (vcd.ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, id string, fn func(*vcd.ServiceAccount) error) (vcd.ServiceAccount, error)
	DeleteServiceAccount(ctx context.Context, id string) error
}
