package vcd

import "time"

// PrincipalKind tells an interactive user from an MQTT service account.
type PrincipalKind int

// Principal kinds.
const (
	PrincipalUser PrincipalKind = iota
	PrincipalService
)

// Principal is who a request or an MQTT connection acts for, resolved from a verified
// token against the current directory: roles are never read from the token, so a role
// change applies at the next check.
type Principal struct {
	Kind     PrincipalKind
	UserID   string // bare UUID (for a service account: its id)
	UserName string
	OrgID    string // bare UUID
	OrgName  string
	Role     string
	Level    Level
	// OperatingOrgID is the org a sysadmin acts in (x-vmware-vcloud-tenant-context);
	// empty means OrgID.
	OperatingOrgID string
	SessionID      string // bare UUID; empty for service-account secrets
	JTI            string
	// APITokenID is set when the session was opened with an API token (VCD-COMPAT §4.1).
	APITokenID string
	ExpiresAt  time.Time
	// Service accounts only: MQTT topic grants (filters) and whether the account may
	// produce notifications under publish/ and metrics/.
	Publish   []string
	Subscribe []string
	Producer  bool
}

// IsSysAdmin reports whether p has System Administrator rights.
func (p Principal) IsSysAdmin() bool { return p.Kind == PrincipalUser && p.Level == LevelSysAdmin }

// IsOrgAdmin reports whether p administers its (tenant) org.
func (p Principal) IsOrgAdmin() bool { return p.Kind == PrincipalUser && p.Level == LevelOrgAdmin }

// Operating returns the org p acts in.
func (p Principal) Operating() string {
	if p.OperatingOrgID != "" {
		return p.OperatingOrgID
	}
	return p.OrgID
}

// Action is something a principal may be allowed to do; Can decides.
type Action int

// Actions, after the rights table of VCD-COMPAT §5.4.
const (
	ActOrgRead         Action = iota // see an org
	ActOrgManage                     // create, modify, delete orgs
	ActUserRead                      // see a user
	ActUserCreate                    // create a user in an org
	ActUserModify                    // modify a user (the handler limits which fields self may change)
	ActUserDelete                    // delete a user
	ActSessionManage                 // see or delete a session
	ActTokenCreate                   // create an API token for oneself
	ActTokenManage                   // list or revoke an API token
	ActPasswordChange                // change a password
	ActServiceAccounts               // MQTT service accounts and extension tokens
	ActProduce                       // external events, task producer APIs, vApp inventory writes, metrics
	ActTaskRead                      // read or cancel a task; read the audit trail
)

var actionNames = [...]string{"org read", "org manage", "user read", "user create", "user modify",
	"user delete", "session manage", "token create", "token manage", "password change",
	"service accounts", "produce", "task read"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown action"
}

// Can reports whether p may perform a on an entity of org targetOrg belonging to (or
// being) user targetUser; targetUser may be empty where the action concerns an org.
//
// The rules are VCD-COMPAT §5.4: sysadmins may do everything; org admins act within their
// own org; other users act on themselves. Sessions opened with an API token may not
// create or revoke tokens, change passwords, or manage users, orgs or service accounts
// (§4.1). Service accounts have no REST rights beyond what their grants give elsewhere.
func Can(p Principal, a Action, targetOrg, targetUser string) bool {
	if p.Kind != PrincipalUser || p.Level == LevelNone {
		return false
	}
	if p.APITokenID != "" {
		switch a {
		case ActOrgManage, ActUserCreate, ActUserModify, ActUserDelete, ActTokenCreate,
			ActTokenManage, ActPasswordChange, ActServiceAccounts:
			return false
		}
	}
	self := targetUser != "" && targetUser == p.UserID
	ownOrg := targetOrg == p.OrgID
	switch p.Level {
	case LevelSysAdmin:
		return true
	case LevelOrgAdmin:
		switch a {
		case ActOrgRead, ActUserRead, ActUserCreate, ActUserModify, ActSessionManage, ActTokenManage, ActTaskRead:
			return ownOrg
		case ActUserDelete:
			return ownOrg && !self
		case ActPasswordChange:
			return ownOrg
		case ActTokenCreate:
			return ownOrg && (self || targetUser == "")
		}
		return false
	default: // LevelUser
		switch a {
		case ActOrgRead:
			return ownOrg
		case ActUserRead, ActUserModify, ActSessionManage, ActTokenManage, ActTaskRead, ActPasswordChange:
			return ownOrg && self
		case ActTokenCreate:
			return ownOrg && (self || targetUser == "")
		}
		return false
	}
}
