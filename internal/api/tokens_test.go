package api_test

import (
	"strings"
	"testing"
)

const formCT = "Content-Type: application/x-www-form-urlencoded"

// TestTokenFlow follows VCD's register → jwt-bearer → refresh_token flow (VCD-COMPAT §4).
func TestTokenFlow(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	jwt := strings.TrimPrefix(alice, "Authorization: Bearer ")

	r := env.do(t, "POST", "/oauth/tenant/acme/register", `{"client_name":"ci-pipeline"}`, alice, "Accept: application/json")
	wantStatus(t, r, 200)
	clientID := jsonField(t, r.body, "client_id")
	if want := `{"client_name":"ci-pipeline","client_id":"` + clientID + `","grant_types":["urn:ietf:params:oauth:grant-type:jwt-bearer","refresh_token"],"token_endpoint_auth_method":"none"}`; r.body != want {
		t.Errorf("register body = %s; want %s", r.body, want)
	}
	form := "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=" + jwt + "&client_id=" + clientID
	r = env.do(t, "POST", "/oauth/tenant/acme/token", form, formCT, "Accept: application/json")
	wantStatus(t, r, 200)
	secret := jsonField(t, r.body, "refresh_token")
	if secret == "" || jsonField(t, r.body, "token_type") != "Bearer" || !strings.Contains(r.body, `"expires_in":86400`) {
		t.Fatalf("jwt-bearer response: %s", r.body)
	}
	t.Run("ErrJWTBearerTwice", func(t *testing.T) {
		r := env.do(t, "POST", "/oauth/tenant/acme/token", form, formCT)
		wantStatus(t, r, 400)
		if r.body != `{"error":"invalid_grant","error_description":"The assertion or client_id is invalid, or the client was already used."}`+"\n" {
			t.Errorf("body = %q", r.body)
		}
	})
	t.Run("RefreshForm", func(t *testing.T) {
		r := env.do(t, "POST", "/oauth/tenant/acme/token", "grant_type=refresh_token&refresh_token="+secret, formCT)
		wantStatus(t, r, 200)
		if !strings.Contains(r.body, `"refresh_token":null`) {
			t.Errorf("refresh_token not null: %s", r.body)
		}
		cred := "Authorization: Bearer " + jsonField(t, r.body, "access_token")
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/sessions/current", "", cred), 200)
	})
	t.Run("RefreshQueryString", func(t *testing.T) {
		r := env.do(t, "POST", "/oauth/tenant/acme/token?grant_type=refresh_token&refresh_token="+secret, "", "Accept: application/json;version=")
		wantStatus(t, r, 200)
	})
	errs := []struct {
		name, path, body, code string
	}{
		{"ErrOtherOrg", "/oauth/tenant/beta/token", "grant_type=refresh_token&refresh_token=" + secret, "invalid_grant"},
		{"ErrTenantTokenAtProvider", "/oauth/provider/token", "grant_type=refresh_token&refresh_token=" + secret, "invalid_grant"},
		{"ErrUnknownToken", "/oauth/tenant/acme/token", "grant_type=refresh_token&refresh_token=nope", "invalid_grant"},
		{"ErrNoGrantType", "/oauth/tenant/acme/token", "refresh_token=" + secret, "invalid_request"},
		{"ErrNoRefreshToken", "/oauth/tenant/acme/token", "grant_type=refresh_token", "invalid_request"},
		{"ErrGrantType", "/oauth/tenant/acme/token", "grant_type=password&username=a", "unsupported_grant_type"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "POST", tc.path, tc.body, formCT)
			wantStatus(t, r, 400)
			if jsonField(t, r.body, "error") != tc.code {
				t.Errorf("body = %s; want error %s", r.body, tc.code)
			}
		})
	}
	t.Run("ListFilterGetDelete", func(t *testing.T) {
		r := env.do(t, "GET", "/cloudapi/1.0.0/tokens?filter=type==REFRESH", "", alice)
		wantStatus(t, r, 200)
		id := "urn:vcloud:token:" + clientID
		want := `{"id":"` + id + `","name":"ci-pipeline","token":null,"expirationTimeUtc":null,"owner":{"name":"alice","id":"urn:vcloud:user:` + aliceID + `"},"org":{"name":"acme","id":"urn:vcloud:org:` + acmeID + `"},"type":"REFRESH"}`
		if !strings.Contains(r.body, `"resultTotal":1`) || !strings.Contains(r.body, want) {
			t.Errorf("list = %s; want one token %s", r.body, want)
		}
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/tokens/"+id, "", env.mustLogin(t, "erin@acme")), 403)
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/tokens/"+id, "", env.mustLogin(t, "carol@acme")), 200)
		wantStatus(t, env.do(t, "DELETE", "/cloudapi/1.0.0/tokens/"+id, "", alice), 204)
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/tokens/"+id, "", alice), 403)
		r = env.do(t, "POST", "/oauth/tenant/acme/token", "grant_type=refresh_token&refresh_token="+secret, formCT)
		wantStatus(t, r, 400)
	})
}

func TestCreateToken(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	admin := env.mustLogin(t, "administrator@System")
	tests := []struct {
		name, cred, body string
		want             int
	}{
		{"Refresh", alice, `{"name":"ci","type":"REFRESH"}`, 200},
		{"ErrProxy", alice, `{"name":"p","type":"PROXY"}`, 400},
		{"ErrUnknownType", alice, `{"name":"p","type":"WHATEVER"}`, 400},
		{"ErrNoName", alice, `{"type":"REFRESH"}`, 400},
		{"ErrExtensionTenant", alice, `{"name":"acme/backup/1.0.0","type":"EXTENSION","extensionId":"urn:vcloud:extension-api:acme:backup:1.0.0"}`, 403},
		{"ExtensionSysadmin", admin, `{"name":"acme/backup/1.0.0","type":"EXTENSION","extensionId":"urn:vcloud:extension-api:acme:backup:1.0.0"}`, 200},
		{"ErrRegisterOtherOrg", alice, "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.body == "" {
				r := env.do(t, "POST", "/oauth/tenant/beta/register", `{"client_name":"x"}`, tc.cred)
				wantStatus(t, r, tc.want)
				return
			}
			r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", tc.body, tc.cred)
			wantStatus(t, r, tc.want)
			if tc.want == 200 && jsonField(t, r.body, "token") == "" {
				t.Errorf("no secret in %s", r.body)
			}
		})
	}
}
