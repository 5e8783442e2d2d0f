package vcd

import "strings"

// Built-in role names, as VCD predefines them (VCD-COMPAT §5.3).
const (
	RoleSystemAdmin     = "System Administrator"
	RoleMultisite       = "Multisite System"
	RoleOrgAdmin        = "Organization Administrator"
	RoleCatalogAuthor   = "Catalog Author"
	RoleVAppAuthor      = "vApp Author"
	RoleVAppUser        = "vApp User"
	RoleConsoleAccess   = "Console Access Only"
	RoleDeferToIdentity = "Defer to Identity Provider"
)

// Level is the class of rights a role grants: what the rights table of VCD-COMPAT
// §5.4 and the topic rules of §7.2 are written in.
type Level int

// Levels, from none to all.
const (
	LevelNone Level = iota
	LevelUser
	LevelOrgAdmin
	LevelSysAdmin
)

// Role is a built-in, read-only role. Its ID is fixed per org (RoleID).
type Role struct {
	Name        string
	Description string
	BundleKey   string
	Level       Level
	System      bool // exists in the System org; otherwise in tenant orgs
	Assignable  bool
}

// Roles lists the built-in roles in a stable order.
var builtinRoles = []Role{
	{Name: RoleSystemAdmin, Description: "Built-in rights for administering this installation", BundleKey: "ROLE_SYSTEM_ADMINISTRATOR", Level: LevelSysAdmin, System: true, Assignable: true},
	{Name: RoleMultisite, Description: "Used for VCD Multisite", BundleKey: "ROLE_MULTISITE_SYSTEM", Level: LevelNone, System: true},
	{Name: RoleOrgAdmin, Description: "Built-in rights for administering an organization", BundleKey: "ROLE_ORG_ADMIN", Level: LevelOrgAdmin, Assignable: true},
	{Name: RoleCatalogAuthor, Description: "Rights given to a catalog author", BundleKey: "ROLE_CATALOG_CREATOR", Level: LevelUser, Assignable: true},
	{Name: RoleVAppAuthor, Description: "Rights given to a vApp author", BundleKey: "ROLE_VAPP_AUTHOR", Level: LevelUser, Assignable: true},
	{Name: RoleVAppUser, Description: "Rights given to a vApp user", BundleKey: "ROLE_VAPP_USER", Level: LevelUser, Assignable: true},
	{Name: RoleConsoleAccess, Description: "Rights given to a user who may only use VM consoles", BundleKey: "ROLE_CONSOLE_ACCESS", Level: LevelUser, Assignable: true},
	{Name: RoleDeferToIdentity, Description: "Rights are defined by the identity provider", BundleKey: "ROLE_DEFER_TO_IDP", Level: LevelUser, Assignable: true},
}

// RolesOf returns the built-in roles of an org: the System org's for the System org,
// the tenant roles otherwise.
func RolesOf(orgID string) []Role {
	system := orgID == SystemOrgID
	var out []Role
	for _, r := range builtinRoles {
		if r.System == system {
			out = append(out, r)
		}
	}
	return out
}

// RoleByName returns the built-in role of the org with that name (any case).
func RoleByName(orgID, name string) (Role, bool) {
	return findRole(orgID, func(r *Role) bool { return strings.EqualFold(r.Name, name) })
}

// RoleByID returns the built-in role whose fixed id in orgID is id (a bare UUID).
func RoleByID(orgID, id string) (Role, bool) {
	return findRole(orgID, func(r *Role) bool { return RoleID(orgID, r.Name) == id })
}

// findRole returns the first built-in role of the org that match accepts. It
// allocates nothing: LevelOf runs on every connect and request.
func findRole(orgID string, match func(*Role) bool) (Role, bool) {
	for i := range builtinRoles {
		if r := &builtinRoles[i]; r.System == (orgID == SystemOrgID) && match(r) {
			return *r, true
		}
	}
	return Role{}, false
}

// RoleID returns the fixed id of a built-in role in an org: the same on every node and
// across restarts, without storing it.
func RoleID(orgID, roleName string) string {
	return NameUUID(orgID, "role:"+strings.ToLower(roleName))
}

// LevelOf returns the rights level of a role name in an org; an unknown role has none.
func LevelOf(orgID, roleName string) Level {
	r, ok := RoleByName(orgID, roleName)
	if !ok {
		return LevelNone
	}
	return r.Level
}
