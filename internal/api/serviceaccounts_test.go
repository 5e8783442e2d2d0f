package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/api"
)

const (
	serviceAccounts = "/cloudapi/herald/1.0.0/serviceAccounts"
	billingFeed     = `{"name":"billing-feed","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#","metrics/#"]}`
	extensionToken  = `{"name":"acme/backup/1.0.0","type":"EXTENSION","extensionId":"urn:vcloud:extension-api:acme:backup:1.0.0"}`
)

// serviceAccountBody is the JSON of a service account.
type serviceAccountBody struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Enabled   bool     `json:"enabled"`
	Producer  bool     `json:"producer"`
	Subscribe []string `json:"subscribe"`
	Publish   []string `json:"publish"`
	Secret    string   `json:"secret"`
}

func decodeAccount(tb testing.TB, body string) serviceAccountBody {
	tb.Helper()
	var b serviceAccountBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	return b
}

// mustCreateAccount creates an account as the sysadmin cred and returns it with its
// secret.
func (env *testEnv) mustCreateAccount(tb testing.TB, cred, body string) serviceAccountBody {
	tb.Helper()
	r := env.do(tb, "POST", serviceAccounts, body, cred)
	wantStatus(tb, r, 201)
	return decodeAccount(tb, r.body)
}

// TestServiceAccounts_Golden pins the account body of VCD-COMPAT §6.3: created (with
// the secret, once), read, and listed.
func TestServiceAccounts_Golden(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	r := env.do(t, "POST", serviceAccounts, billingFeed, admin)
	wantStatus(t, r, 201)
	acct := decodeAccount(t, r.body)
	if !strings.HasPrefix(acct.ID, "urn:vcloud:token:") || len(acct.Secret) < 32 {
		t.Fatalf("created account %+v: want a token URN and a secret of 32+ characters", acct)
	}
	if got, want := r.Header.Get("Location"), "https://HOST"+serviceAccounts+"/"+acct.ID; got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	stable := func(r response) string {
		s := strings.ReplaceAll(normalize(r), acct.ID, "urn:vcloud:token:ID")
		return strings.ReplaceAll(s, acct.Secret, "SECRET")
	}
	checkGolden(t, "serviceaccount-created.json", stable(r))

	r = env.do(t, "GET", serviceAccounts+"/"+acct.ID, "", admin)
	wantStatus(t, r, 200)
	checkGolden(t, "serviceaccount.json", stable(r))
	if strings.Contains(r.body, "secret") {
		t.Errorf("a read shows the secret: %s", r.body)
	}
	r = env.do(t, "GET", serviceAccounts, "", admin, "Accept: application/json;version=36.0")
	wantStatus(t, r, 200)
	checkGolden(t, "serviceaccounts.json", stable(r))
	if got := r.Header.Get("Content-Type"); got != "application/json;version=36.0" {
		t.Errorf("Content-Type = %q", got)
	}
}

// TestServiceAccounts_Rights: sysadmins only, and not from a session opened with an API
// token (VCD-COMPAT §4.1, §5.4, §6.3).
func TestServiceAccounts_Rights(t *testing.T) {
	endpoints := []struct {
		name, method, path, body string
		want                     int // for the sysadmin
	}{
		{"List", "GET", "", "", 200},
		{"Create", "POST", "", `{"name":"x"}`, 201},
		{"Read", "GET", "/ID", "", 200},
		{"Update", "PUT", "/ID", `{"enabled":false}`, 200},
		{"Delete", "DELETE", "/ID", "", 204},
		{"Rotate", "POST", "/ID/secret", "", 200},
	}
	callers := []string{"administrator@System", "carol@acme", "alice@acme", "token:administrator@System"}
	for _, ep := range endpoints {
		for _, who := range callers {
			t.Run(ep.name+"/"+who, func(t *testing.T) {
				env := mustServe(t)
				acct := env.mustCreateAccount(t, env.mustLogin(t, "administrator@System"), billingFeed)
				cred := env.credential(t, who)
				r := env.do(t, ep.method, serviceAccounts+strings.Replace(ep.path, "ID", acct.ID, 1), ep.body, cred)
				want := 403
				if who == "administrator@System" {
					want = ep.want
				}
				wantStatus(t, r, want)
			})
		}
	}
	t.Run("NoCredentials", func(t *testing.T) {
		env := mustServe(t)
		wantStatus(t, env.do(t, "GET", serviceAccounts, ""), 401)
	})
}

func TestServiceAccounts_Validation(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	acct := env.mustCreateAccount(t, admin, billingFeed)
	bare := strings.TrimPrefix(acct.ID, "urn:vcloud:token:")
	tests := []struct {
		name, method, path, body string
		want                     int
		code                     string // minorErrorCode, for errors
	}{
		{"CreateConsumer", "POST", "", `{"name":"ext-feed","subscribe":["topic/extension/+/+/+/vcd"]}`, 201, ""},
		{"CreateDefaults", "POST", "", `{"name":"plain"}`, 201, ""},
		{"ErrNoName", "POST", "", `{"producer":true}`, 400, "BAD_REQUEST"},
		{"ErrEmptyName", "POST", "", `{"name":""}`, 400, "BAD_REQUEST"},
		{"ErrLongName", "POST", "", `{"name":"` + strings.Repeat("n", 129) + `"}`, 400, "BAD_REQUEST"},
		{"ErrNameWithAt", "POST", "", `{"name":"svc@acme"}`, 400, "BAD_REQUEST"},
		{"ErrNameWithColon", "POST", "", `{"name":"a:b"}`, 400, "BAD_REQUEST"},
		{"ErrDuplicateName", "POST", "", `{"name":"BILLING-feed"}`, 409, "DUPLICATE_NAME"},
		{"ErrBadFilter", "POST", "", `{"name":"y","subscribe":["a/#/b"]}`, 400, "BAD_REQUEST"},
		{"ErrEmptyFilter", "POST", "", `{"name":"y","publish":[""]}`, 400, "BAD_REQUEST"},
		{"ErrPublishGrantNeedsProducer", "POST", "", `{"name":"y","publish":["publish/#"]}`, 400, "BAD_REQUEST"},
		{"ErrMetricsGrantNeedsProducer", "POST", "", `{"name":"y","subscribe":["metrics/+/+"]}`, 400, "BAD_REQUEST"},
		{"ErrWildcardGrantNeedsProducer", "POST", "", `{"name":"y","subscribe":["#"]}`, 400, "BAD_REQUEST"},
		{"ErrNotJSON", "POST", "", `{"name":`, 400, "BAD_REQUEST"},
		{"ReadBareUUID", "GET", "/" + bare, "", 200, ""},
		{"ReadUpperCaseURN", "GET", "/" + strings.ToUpper(acct.ID), "", 200, ""},
		{"ErrReadUnknown", "GET", "/urn:vcloud:token:00000000-0000-4000-8000-000000000000", "", 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"ErrReadOtherKind", "GET", "/urn:vcloud:user:" + bare, "", 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"ErrUpdateRename", "PUT", "/" + acct.ID, `{"name":"other"}`, 400, "BAD_REQUEST"},
		{"UpdateNameCase", "PUT", "/" + acct.ID, `{"name":"Billing-Feed"}`, 200, ""},
		{"ErrUpdateDropProducer", "PUT", "/" + acct.ID, `{"producer":false}`, 400, "BAD_REQUEST"},
		{"ErrUpdateBadFilter", "PUT", "/" + acct.ID, `{"publish":["x/+y"]}`, 400, "BAD_REQUEST"},
		{"ErrUpdateUnknown", "PUT", "/urn:vcloud:token:00000000-0000-4000-8000-000000000000", `{}`, 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"ErrSessionWrongMethod", "GET", "/session", "", 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, serviceAccounts+tc.path, tc.body, admin)
			wantStatus(t, r, tc.want)
			if tc.code != "" {
				if got := jsonField(t, r.body, "minorErrorCode"); got != tc.code {
					t.Errorf("minorErrorCode = %q; want %q (%s)", got, tc.code, r.body)
				}
			}
		})
	}
	t.Run("CreatedDefaults", func(t *testing.T) {
		r := env.do(t, "GET", serviceAccounts+"?filter=name==plain", "", admin)
		wantStatus(t, r, 200)
		if !strings.Contains(r.body, `"name":"plain","enabled":true,"producer":false,"subscribe":[],"publish":[]}`) {
			t.Errorf("defaults: %s", r.body)
		}
	})
}

func TestServiceAccounts_UpdateDeleteRotate(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	acct := env.mustCreateAccount(t, admin, billingFeed)
	path := serviceAccounts + "/" + acct.ID

	r := env.do(t, "PUT", path, `{"enabled":false,"subscribe":["topic/a/#"],"publish":["metrics/#"]}`, admin)
	wantStatus(t, r, 200)
	want := `{"id":"` + acct.ID + `","name":"billing-feed","enabled":false,"producer":true,"subscribe":["topic/a/#"],"publish":["metrics/#"]}`
	if r.body != want {
		t.Errorf("PUT body = %s; want %s", r.body, want)
	}
	if r := env.do(t, "GET", path, "", admin); r.body != want {
		t.Errorf("GET after PUT = %s; want %s", r.body, want)
	}
	// Disabled: the session endpoint refuses the right secret.
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("billing-feed", acct.Secret)), 401)
	wantStatus(t, env.do(t, "PUT", path, `{"enabled":true}`, admin), 200)
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("billing-feed", acct.Secret)), 200)

	r = env.do(t, "POST", path+"/secret", "", admin)
	wantStatus(t, r, 200)
	rotated := decodeAccount(t, r.body)
	if rotated.Secret == "" || rotated.Secret == acct.Secret || rotated.ID != acct.ID {
		t.Errorf("rotate = %s", r.body)
	}
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("billing-feed", acct.Secret)), 401)
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("billing-feed", rotated.Secret)), 200)

	wantStatus(t, env.do(t, "DELETE", path, "", admin), 204)
	wantStatus(t, env.do(t, "GET", path, "", admin), 403)
	wantStatus(t, env.do(t, "DELETE", path, "", admin), 403)
	wantStatus(t, env.do(t, "POST", path+"/secret", "", admin), 403)
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("billing-feed", rotated.Secret)), 401)
}

func TestServiceAccounts_Session(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	acct := env.mustCreateAccount(t, admin, billingFeed)

	r := env.do(t, "POST", serviceAccounts+"/session", "", basic("Billing-Feed", acct.Secret), "Accept: application/json;version=36.0")
	wantStatus(t, r, 200)
	if got := r.Header.Get(api.HeaderAccessToken); got != "svcjwt-"+strings.TrimPrefix(acct.ID, "urn:vcloud:token:") {
		t.Errorf("%s = %q", api.HeaderAccessToken, got)
	}
	if got := r.Header.Get(api.HeaderTokenType); got != "Bearer" {
		t.Errorf("%s = %q; want Bearer", api.HeaderTokenType, got)
	}
	if want := strings.Replace(billingFeed, `{"name"`, `{"id":"`+acct.ID+`","name"`, 1); r.body != want {
		t.Errorf("body = %s; want %s", r.body, want)
	}
	errs := []struct {
		name   string
		header string
	}{
		{"ErrWrongSecret", basic("billing-feed", "wrong")},
		{"ErrUnknownName", basic("nobody", acct.Secret)},
		{"ErrUserCredentials", basic("administrator@System", password)},
		{"ErrBearer", admin},
		{"ErrNone", ""},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			if tc.header != "" {
				hs = append(hs, tc.header)
			}
			r := env.do(t, "POST", serviceAccounts+"/session", "", hs...)
			wantStatus(t, r, 401)
			// The one login failure body of VCD-COMPAT §2.1, as the user login sends it.
			checkGolden(t, "error-login.json", normalize(r))
			if r.Header.Get(api.HeaderAccessToken) != "" {
				t.Error("a failed login sent a token")
			}
		})
	}
}

// TestExtensionToken checks VCD-COMPAT §6.3/§12.3: an EXTENSION token gets a service
// account vendor/name/version with the token's secret and id and the extension topics;
// deleting the token deletes the account, and deleting the account the token.
func TestExtensionToken(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", extensionToken, admin)
	wantStatus(t, r, 200)
	tokenID, secret := jsonField(t, r.body, "id"), jsonField(t, r.body, "token")

	r = env.do(t, "GET", serviceAccounts+"/"+tokenID, "", admin)
	wantStatus(t, r, 200)
	want := `{"id":"` + tokenID + `","name":"acme/backup/1.0.0","enabled":true,"producer":false,` +
		`"subscribe":["topic/extension/acme/backup/1.0.0/ext"],"publish":["topic/extension/acme/backup/1.0.0/vcd"]}`
	if r.body != want {
		t.Errorf("account = %s; want %s", r.body, want)
	}
	wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("acme/backup/1.0.0", secret)), 200)

	t.Run("ErrSameExtensionTwice", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", extensionToken, admin)
		wantStatus(t, r, 409)
		r = env.do(t, "GET", "/cloudapi/1.0.0/tokens?filter=type==EXTENSION", "", admin)
		if !strings.Contains(r.body, `"resultTotal":1`) {
			t.Errorf("the refused token was kept: %s", r.body)
		}
	})
	t.Run("DeleteTokenDeletesAccount", func(t *testing.T) {
		wantStatus(t, env.do(t, "DELETE", "/cloudapi/1.0.0/tokens/"+tokenID, "", admin), 204)
		wantStatus(t, env.do(t, "GET", serviceAccounts+"/"+tokenID, "", admin), 403)
		wantStatus(t, env.do(t, "POST", serviceAccounts+"/session", "", basic("acme/backup/1.0.0", secret)), 401)
	})
	t.Run("DeleteAccountDeletesToken", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", extensionToken, admin)
		wantStatus(t, r, 200)
		id := jsonField(t, r.body, "id")
		wantStatus(t, env.do(t, "DELETE", serviceAccounts+"/"+id, "", admin), 204)
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/tokens/"+id, "", admin), 403)
	})
	t.Run("NameFromTokenName", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", `{"name":"vend/tool/2.1","type":"EXTENSION","extensionId":"urn:vcloud:extension-api:broken"}`, admin)
		wantStatus(t, r, 200)
		r = env.do(t, "GET", serviceAccounts+"/"+jsonField(t, r.body, "id"), "", admin)
		wantStatus(t, r, 200)
		if got := decodeAccount(t, r.body); got.Name != "vend/tool/2.1" || got.Subscribe[0] != "topic/extension/vend/tool/2.1/ext" {
			t.Errorf("account = %s", r.body)
		}
	})
	t.Run("ErrNoTriplet", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", `{"name":"backup","type":"EXTENSION","extensionId":"urn:vcloud:extension-api:a:+:1"}`, admin)
		wantStatus(t, r, 400)
	})
	t.Run("RefreshTokenHasNoAccount", func(t *testing.T) {
		r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", `{"name":"ci","type":"REFRESH"}`, admin)
		wantStatus(t, r, 200)
		wantStatus(t, env.do(t, "GET", serviceAccounts+"/"+jsonField(t, r.body, "id"), "", admin), 403)
	})
}
