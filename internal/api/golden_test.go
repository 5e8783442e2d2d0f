package api_test

import (
	"testing"
)

// TestGolden pins whole response bodies of VCD-COMPAT §2.2, §3, §5 and §11 against
// testdata/. Request ids are replaced with REQUEST-ID.
func TestGolden(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	admin := env.mustLogin(t, "administrator@System")

	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		headers     []string
		status      int
		contentType string
		golden      string
	}{
		{name: "Versions", method: "GET", path: "/api/versions", headers: []string{"Accept: application/*+xml;version="},
			status: 200, contentType: "application/*+xml;version=39.0", golden: "versions.xml"},
		{name: "SessionJSON36", method: "GET", path: "/cloudapi/1.0.0/sessions/current",
			headers: []string{alice, "Accept: application/json;version=36.0"},
			status:  200, contentType: "application/json;version=36.0", golden: "session-36.json"},
		{name: "SessionJSON38", method: "GET", path: "/cloudapi/1.0.0/sessions/current",
			headers: []string{alice, "Accept: application/json;version=38.0"},
			status:  200, contentType: "application/json;version=38.0", golden: "session-38.json"},
		{name: "SessionJSON38TenantContext", method: "GET", path: "/cloudapi/1.0.0/sessions/current",
			headers: []string{admin, "Accept: application/json;version=38.1", "x-vmware-vcloud-tenant-context: urn:vcloud:org:" + acmeID},
			status:  200, contentType: "application/json;version=38.1", golden: "session-38-tenant-context.json"},
		{name: "SessionXML", method: "GET", path: "/api/session", headers: []string{alice, "Accept: application/*+xml;version=36.0"},
			status: 200, contentType: "application/vnd.vmware.vcloud.session+xml;version=36.0", golden: "session.xml"},
		{name: "SessionLegacyJSON", method: "GET", path: "/api/session", headers: []string{alice, "Accept: application/*+json;version=36.0"},
			status: 200, contentType: "application/vnd.vmware.vcloud.session+json;version=36.0", golden: "session-legacy.json"},
		{name: "OrgListTenant", method: "GET", path: "/api/org/", headers: []string{alice, "Accept: application/*+xml;version=36.0"},
			status: 200, contentType: "application/vnd.vmware.vcloud.orgList+xml;version=36.0", golden: "orglist-tenant.xml"},
		{name: "OrgListSysadmin", method: "GET", path: "/api/org", headers: []string{admin, "Accept: application/*+xml;version=36.0"},
			status: 200, contentType: "application/vnd.vmware.vcloud.orgList+xml;version=36.0", golden: "orglist-sysadmin.xml"},
		{name: "OrgXML", method: "GET", path: "/api/org/" + acmeID, headers: []string{alice, "Accept: application/*+xml;version=36.0"},
			status: 200, contentType: "application/vnd.vmware.vcloud.org+xml;version=36.0", golden: "org.xml"},
		{name: "OrgJSON", method: "GET", path: "/cloudapi/1.0.0/orgs/urn:vcloud:org:" + acmeID, headers: []string{alice, "Accept: application/json;version=36.0"},
			status: 200, contentType: "application/json;version=36.0", golden: "org.json"},
		{name: "VcdUser", method: "GET", path: "/cloudapi/1.0.0/users/urn:vcloud:user:" + aliceID, headers: []string{alice, "Accept: application/json;version=36.0"},
			status: 200, contentType: "application/json;version=36.0", golden: "user.json"},
		{name: "RolesPage", method: "GET", path: "/cloudapi/1.0.0/roles", headers: []string{alice, "Accept: application/json;version=36.0"},
			status: 200, contentType: "application/json;version=36.0", golden: "roles.json"},
		{name: "ErrorOpenAPIForbidden", method: "GET", path: "/cloudapi/1.0.0/orgs/urn:vcloud:org:" + betaID, headers: []string{alice},
			status: 403, contentType: "application/json", golden: "error-forbidden.json"},
		{name: "ErrorLoginFailed", method: "POST", path: "/cloudapi/1.0.0/sessions", headers: []string{basic("alice@acme", "wrong")},
			status: 401, contentType: "application/json", golden: "error-login.json"},
		{name: "ErrorLegacyXML", method: "GET", path: "/api/org/" + betaID, headers: []string{alice, "Accept: application/*+xml;version=36.0"},
			status: 403, contentType: "application/vnd.vmware.vcloud.error+xml;version=36.0", golden: "error-legacy.xml"},
		{name: "ErrorLegacyJSON", method: "GET", path: "/api/org/" + betaID, headers: []string{alice, "Accept: application/json;version=36.0"},
			status: 403, contentType: "application/vnd.vmware.vcloud.error+json;version=36.0", golden: "error-legacy.json"},
		{name: "ErrorBadVersionOpenAPI", method: "GET", path: "/cloudapi/1.0.0/sessions/current", headers: []string{alice, "Accept: application/json;version=40.0"},
			status: 406, contentType: "application/json", golden: "error-version.json"},
		{name: "ErrorBadVersionLegacy", method: "GET", path: "/api/session", headers: []string{alice, "Accept: application/json;version=banana"},
			status: 406, contentType: "application/vnd.vmware.vcloud.error+xml;version=39.0", golden: "error-version.xml"},
		{name: "ErrorNotFound", method: "GET", path: "/cloudapi/1.0.0/nothing", headers: []string{alice},
			status: 404, contentType: "application/json", golden: "error-notfound.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, tc.path, tc.body, tc.headers...)
			wantStatus(t, r, tc.status)
			if got := r.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q; want %q", got, tc.contentType)
			}
			checkGolden(t, tc.golden, normalize(r))
		})
	}
}
