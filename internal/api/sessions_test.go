package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/vcd"
)

func TestLogin(t *testing.T) {
	env := mustServe(t)
	t.Run("OK", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", password), "Accept: application/json;version=36.0")
		wantStatus(t, r, 200)
		if r.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN") == "" || r.Header.Get("X-VMWARE-VCLOUD-TOKEN-TYPE") != "Bearer" {
			t.Errorf("token headers missing: %v", r.Header)
		}
		if _, ok := r.Header["X-Vcloud-Authorization"]; ok {
			t.Errorf("OpenAPI login sent x-vcloud-authorization")
		}
	})
	t.Run("OKProvider", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/sessions/provider", "", basic("administrator@system", password))
		wantStatus(t, r, 200)
	})
	bad := []struct {
		name, path, header string
	}{
		{"ErrWrongPassword", "/cloudapi/1.0.0/sessions", basic("alice@acme", "nope")},
		{"ErrUnknownOrg", "/cloudapi/1.0.0/sessions", basic("alice@nowhere", password)},
		{"ErrProviderAtTenant", "/cloudapi/1.0.0/sessions", basic("administrator@System", password)},
		{"ErrTenantAtProvider", "/cloudapi/1.0.0/sessions/provider", basic("alice@acme", password)},
		{"ErrNoHeader", "/cloudapi/1.0.0/sessions", "X-Nothing: 1"},
		{"ErrBearerScheme", "/cloudapi/1.0.0/sessions", "Authorization: Bearer abc"},
		{"ErrBadBase64", "/cloudapi/1.0.0/sessions", "Authorization: Basic !!!notbase64"},
		{"ErrNoColon", "/cloudapi/1.0.0/sessions", "Authorization: Basic YWxpY2VAYWNtZQ=="},
		{"ErrEmptyName", "/cloudapi/1.0.0/sessions", basic("", password)},
		{"ErrSchemeOnly", "/cloudapi/1.0.0/sessions", "Authorization: Basic"},
		{"ErrLegacyMalformed", "/api/sessions", "Authorization: Basic %%%"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "POST", tc.path, "", tc.header)
			wantStatus(t, r, 401)
			if tc.path != "/api/sessions" && !strings.Contains(r.body, `"message":"[ `+r.Header.Get("X-VMWARE-VCLOUD-REQUEST-ID")+` ] Authentication failed."`) {
				t.Errorf("body = %s; want the one Authentication failed body", r.body)
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	env := mustServe(t, func(c *apiConfig) { c.LoginRateLimit = 3 })
	for i := range 3 {
		r := env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", "wrong"))
		if r.StatusCode != 401 {
			t.Fatalf("attempt %d: status %d", i+1, r.StatusCode)
		}
	}
	r := env.do(t, "POST", "/cloudapi/1.0.0/sessions", "", basic("alice@acme", password))
	wantStatus(t, r, 429)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.body, `"minorErrorCode":"TOO_MANY_REQUESTS"`) {
		t.Errorf("429 without Retry-After or code: %v %s", r.Header, r.body)
	}
}

func TestCredentials(t *testing.T) {
	env := mustServe(t)
	lr := env.do(t, "POST", "/api/sessions", "", basic("alice@acme", password), "Accept: application/*+xml;version=36.0")
	wantStatus(t, lr, 200)
	legacy := lr.Header.Get("x-vcloud-authorization")
	jwt := lr.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	if legacy == "" || len(legacy) > 32 || jwt == "" || lr.Header.Get("X-VMWARE-VCLOUD-TOKEN-TYPE") != "Bearer" {
		t.Fatalf("legacy login headers: %v", lr.Header)
	}
	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{"LegacyTokenOnCloudAPI", []string{"x-vcloud-authorization: " + legacy}, 200},
		{"BearerLowercase", []string{"Authorization: bearer " + jwt}, 200},
		{"BearerWithAccessTokenHeader", []string{"Authorization: Bearer " + jwt, "X-VMWARE-VCLOUD-ACCESS-TOKEN: junk"}, 200},
		{"AccessTokenHeaderAlone", []string{"X-VMWARE-VCLOUD-ACCESS-TOKEN: " + jwt}, 401},
		{"InvalidAuthorizationBeatsValidLegacy", []string{"Authorization: Bearer nope", "x-vcloud-authorization: " + legacy}, 401},
		{"BasicOnResource", []string{basic("alice@acme", password)}, 401},
		{"NoCredentials", nil, 401},
		{"TenantContextNonSysadmin", []string{"Authorization: Bearer " + jwt, "x-vmware-vcloud-tenant-context: " + betaID}, 403},
		{"TenantContextOwnOrg", []string{"Authorization: Bearer " + jwt, "x-vmware-vcloud-tenant-context: " + acmeID}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "GET", "/cloudapi/1.0.0/sessions/current", "", tc.headers...)
			wantStatus(t, r, tc.want)
		})
	}
}

func TestSessions(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	sid := func(cred string) string {
		r := env.do(t, "GET", "/cloudapi/1.0.0/sessions/current", "", cred)
		wantStatus(t, r, 200)
		return jsonField(t, r.body, "id")
	}
	aliceSession := sid(alice)
	env.mustLogin(t, "alice@acme") // a second session of alice

	t.Run("ListOwn", func(t *testing.T) {
		r := env.do(t, "GET", "/cloudapi/1.0.0/sessions", "", alice)
		wantStatus(t, r, 200)
		var pg struct {
			ResultTotal int `json:"resultTotal"`
		}
		if err := json.Unmarshal([]byte(r.body), &pg); err != nil || pg.ResultTotal != 2 {
			t.Errorf("resultTotal = %d (%v); want 2", pg.ResultTotal, err)
		}
	})
	rights := []struct {
		name, who string
		want      int
	}{
		{"Owner", "alice@acme", 200},
		{"OrgAdminOfOwner", "carol@acme", 200},
		{"Sysadmin", "administrator@System", 200},
		{"OtherUserSameOrg", "erin@acme", 403},
		{"OrgAdminOtherOrg", "dave@beta", 403},
	}
	for _, tc := range rights {
		t.Run("Get"+tc.name, func(t *testing.T) {
			r := env.do(t, "GET", "/cloudapi/1.0.0/sessions/"+aliceSession, "", env.mustLogin(t, tc.who))
			wantStatus(t, r, tc.want)
		})
	}
	t.Run("GetUnknown", func(t *testing.T) {
		r := env.do(t, "GET", "/cloudapi/1.0.0/sessions/urn:vcloud:session:"+vcd.NewUUID(), "", alice)
		wantStatus(t, r, 403)
	})
	t.Run("ProviderIsNotAnID", func(t *testing.T) {
		for _, method := range []string{"GET", "DELETE"} {
			r := env.do(t, method, "/cloudapi/1.0.0/sessions/provider", "", alice)
			wantStatus(t, r, 405)
			if got := r.Header.Get("Allow"); got != "POST" {
				t.Errorf("%s /sessions/provider: Allow %q; want POST", method, got)
			}
		}
	})
	t.Run("DeleteByOtherUser", func(t *testing.T) {
		r := env.do(t, "DELETE", "/cloudapi/1.0.0/sessions/"+aliceSession, "", env.mustLogin(t, "erin@acme"))
		wantStatus(t, r, 403)
	})
	t.Run("DeleteCurrent", func(t *testing.T) {
		r := env.do(t, "DELETE", "/cloudapi/1.0.0/sessions/current", "", alice)
		wantStatus(t, r, 204)
		r = env.do(t, "GET", "/cloudapi/1.0.0/sessions/current", "", alice)
		wantStatus(t, r, 401)
	})
	t.Run("DeleteByID", func(t *testing.T) {
		cred := env.mustLogin(t, "erin@acme")
		r := env.do(t, "DELETE", "/cloudapi/1.0.0/sessions/"+sid(cred), "", env.mustLogin(t, "carol@acme"))
		wantStatus(t, r, 204)
		wantStatus(t, env.do(t, "GET", "/api/session", "", cred), 401)
	})
	t.Run("LegacyLogout", func(t *testing.T) {
		cred := env.mustLogin(t, "alice@acme")
		wantStatus(t, env.do(t, "DELETE", "/api/session", "", cred), 204)
		wantStatus(t, env.do(t, "GET", "/api/org", "", cred), 401)
	})
}
