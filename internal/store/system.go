package store

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald/internal/vcd"
)

// EnsureSystem creates the System org (vcd.SystemOrgID) if it does not exist, and a
// user adminName in it with role vcd.RoleSystemAdmin if the System org has no user of
// that name. passwordHash is called only when the user is about to be created. created
// reports whether this call created the user. It is idempotent, and safe when several
// nodes call it at once: the name index lets exactly one of them create each entity.
func (db *DB) EnsureSystem(ctx context.Context, adminName string, passwordHash func() (string, error)) (created bool, err error) {
	if _, _, ok := db.orgs.get(vcd.SystemOrgID); !ok {
		_, err := db.CreateOrg(ctx, vcd.Org{
			ID:          vcd.SystemOrgID,
			Name:        vcd.SystemOrgName,
			DisplayName: vcd.SystemOrgName,
			Description: "The provider organization",
			Enabled:     true,
		})
		// Duplicate: another node (or an earlier run whose watcher event we have not
		// seen yet) created it; the user below needs only its fixed id.
		if err != nil && vcd.CodeOf(err) != vcd.CodeDuplicate {
			return false, fmt.Errorf("ensure system org: %w", err)
		}
	}
	if _, err := db.UserByName(ctx, vcd.SystemOrgID, adminName); err == nil {
		return false, nil
	}
	hash, err := passwordHash()
	if err != nil {
		return false, fmt.Errorf("ensure system admin: %w", err)
	}
	_, err = db.CreateUser(ctx, vcd.User{
		OrgID:        vcd.SystemOrgID,
		Name:         adminName,
		FullName:     "System Administrator",
		Role:         vcd.RoleSystemAdmin,
		Enabled:      true,
		PasswordHash: hash,
	})
	switch {
	case err == nil:
		db.logger.Info("created system administrator", "user", adminName)
		return true, nil
	case vcd.CodeOf(err) == vcd.CodeDuplicate:
		return false, nil
	default:
		return false, fmt.Errorf("ensure system admin: %w", err)
	}
}
