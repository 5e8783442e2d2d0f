package api_test

import (
	"strings"
	"testing"
)

// TestRights pins who may do what on each directory endpoint (VCD-COMPAT §5.4): sysadmin,
// org admin in its own and another org, a user on itself and on another user, and a
// session opened with an API token. Each case runs on a fresh server.
func TestRights(t *testing.T) {
	const (
		orgs   = "/cloudapi/1.0.0/orgs"
		users  = "/cloudapi/1.0.0/users"
		acme   = orgs + "/urn:vcloud:org:" + acmeID
		beta   = orgs + "/urn:vcloud:org:" + betaID
		alice  = users + "/urn:vcloud:user:" + aliceID
		erin   = users + "/urn:vcloud:user:" + erinID
		dave   = users + "/urn:vcloud:user:" + daveID
		carol  = users + "/urn:vcloud:user:" + carolID
		unkOrg = orgs + "/urn:vcloud:org:00000000-0000-4000-8000-000000000000"
		unkUsr = users + "/urn:vcloud:user:00000000-0000-4000-8000-000000000000"
	)
	newUser := func(org string) string {
		return `{"username":"zed","password":"longenough","roleEntityRefs":[{"name":"vApp User"}],"orgEntityRef":{"id":"urn:vcloud:org:` + org + `"}}`
	}
	newOrg := `{"name":"gamma","displayName":"Gamma"}`
	tests := []struct {
		name   string
		who    string // login name, or "token:<name>" for an API-token session of that user
		method string
		path   string
		body   string
		want   int
	}{
		{"SysadminListsOrgs", "administrator@System", "GET", orgs, "", 200},
		{"SysadminReadsTenantOrg", "administrator@System", "GET", beta, "", 200},
		{"SysadminCreatesOrg", "administrator@System", "POST", orgs, newOrg, 201},
		{"SysadminUpdatesOrg", "administrator@System", "PUT", beta, `{"displayName":"B"}`, 200},
		{"SysadminUnknownOrg", "administrator@System", "GET", unkOrg, "", 403},
		{"SysadminCreatesUserAnyOrg", "administrator@System", "POST", users, newUser(betaID), 201},
		{"SysadminDeletesUser", "administrator@System", "DELETE", alice, "", 204},
		{"SysadminUnknownUser", "administrator@System", "GET", unkUsr, "", 403},

		{"OrgAdminReadsOwnOrg", "carol@acme", "GET", acme, "", 200},
		{"OrgAdminOtherOrg", "carol@acme", "GET", beta, "", 403},
		{"OrgAdminCreatesOrg", "carol@acme", "POST", orgs, newOrg, 403},
		{"OrgAdminUpdatesOwnOrg", "carol@acme", "PUT", acme, `{"displayName":"X"}`, 403},
		{"OrgAdminDeletesOrg", "carol@acme", "DELETE", acme, "", 403},
		{"OrgAdminCreatesUserOwnOrg", "carol@acme", "POST", users, newUser(acmeID), 201},
		{"OrgAdminCreatesUserDefaultOrg", "carol@acme", "POST", users, `{"username":"zed","password":"longenough","roleEntityRefs":[{"name":"vApp User"}]}`, 201},
		{"OrgAdminCreatesUserOtherOrg", "carol@acme", "POST", users, newUser(betaID), 403},
		{"OrgAdminReadsOwnOrgUser", "carol@acme", "GET", alice, "", 200},
		{"OrgAdminReadsOtherOrgUser", "carol@acme", "GET", dave, "", 403},
		{"OrgAdminModifiesOwnOrgUser", "carol@acme", "PUT", alice, `{"enabled":false}`, 200},
		{"OrgAdminModifiesOtherOrgUser", "carol@acme", "PUT", dave, `{"fullName":"D"}`, 403},
		{"OrgAdminDeletesOwnOrgUser", "carol@acme", "DELETE", alice, "", 204},
		{"OrgAdminDeletesSelf", "carol@acme", "DELETE", carol, "", 403},
		{"OrgAdminDeletesOtherOrgUser", "carol@acme", "DELETE", dave, "", 403},

		{"UserReadsOwnOrg", "alice@acme", "GET", acme, "", 200},
		{"UserReadsOtherOrg", "alice@acme", "GET", beta, "", 403},
		{"UserReadsSelf", "alice@acme", "GET", alice, "", 200},
		{"UserReadsOther", "alice@acme", "GET", erin, "", 403},
		{"UserChangesOwnName", "alice@acme", "PUT", alice, `{"fullName":"Alice D.","email":"a@x","password":"newpassword"}`, 200},
		{"UserChangesOwnRole", "alice@acme", "PUT", alice, `{"roleEntityRefs":[{"name":"Organization Administrator"}]}`, 403},
		{"UserDisablesSelf", "alice@acme", "PUT", alice, `{"enabled":false}`, 403},
		{"UserModifiesOther", "alice@acme", "PUT", erin, `{"fullName":"E"}`, 403},
		{"UserCreatesUser", "alice@acme", "POST", users, newUser(acmeID), 403},
		{"UserDeletesSelf", "alice@acme", "DELETE", alice, "", 403},
		{"UserDeletesOther", "alice@acme", "DELETE", erin, "", 403},

		{"TokenSessionReadsSelf", "token:alice@acme", "GET", alice, "", 200},
		{"TokenSessionChangesPassword", "token:alice@acme", "PUT", alice, `{"password":"newpassword"}`, 403},
		{"TokenSessionCreatesToken", "token:alice@acme", "POST", "/cloudapi/1.0.0/tokens", `{"name":"t2","type":"REFRESH"}`, 403},
		{"TokenSessionOrgAdminCreatesUser", "token:carol@acme", "POST", users, newUser(acmeID), 403},
		{"TokenSessionSysadminCreatesOrg", "token:administrator@System", "POST", orgs, newOrg, 403},

		{"RolesCreate", "administrator@System", "POST", "/cloudapi/1.0.0/roles", `{"name":"x"}`, 403},
		{"RolesDelete", "administrator@System", "DELETE", "/cloudapi/1.0.0/roles/urn:vcloud:role:00000000-0000-4000-8000-000000000000", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := mustServe(t)
			cred := env.credential(t, tc.who)
			r := env.do(t, tc.method, tc.path, tc.body, cred)
			wantStatus(t, r, tc.want)
		})
	}
}

// credential returns the Authorization header for who: a login name, or
// "token:<name>" for a session opened by exchanging an API token of that user.
func (env *testEnv) credential(tb testing.TB, who string) string {
	tb.Helper()
	name, isToken := strings.CutPrefix(who, "token:")
	bearer := env.mustLogin(tb, name)
	if !isToken {
		return bearer
	}
	secret := env.mustCreateToken(tb, bearer, "t1")
	org := "tenant/" + name[strings.LastIndex(name, "@")+1:]
	if org == "tenant/System" {
		org = "provider"
	}
	r := env.do(tb, "POST", "/oauth/"+org+"/token", "grant_type=refresh_token&refresh_token="+secret,
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json")
	wantStatus(tb, r, 200)
	return "Authorization: Bearer " + jsonField(tb, r.body, "access_token")
}
