package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestOrgs(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	const orgs = "/cloudapi/1.0.0/orgs"

	r := env.do(t, "POST", orgs, `{"name":"gamma","displayName":"Gamma","description":"g"}`, admin)
	wantStatus(t, r, 201)
	id := jsonField(t, r.body, "id")
	if got, want := r.Header.Get("Location"), "https://HOST"+orgs+"/"+id; got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	gamma := orgs + "/" + id

	tests := []struct {
		name, method, path, body string
		want                     int
		code                     string
	}{
		{"ErrDuplicateName", "POST", orgs, `{"name":"GAMMA","displayName":"x"}`, 409, "DUPLICATE_NAME"},
		{"ErrMissingDisplayName", "POST", orgs, `{"name":"delta"}`, 400, "BAD_REQUEST"},
		{"ErrBadName", "POST", orgs, `{"name":"de lta","displayName":"x"}`, 400, "BAD_REQUEST"},
		{"ErrRename", "PUT", gamma, `{"name":"other"}`, 400, "BAD_REQUEST"},
		{"ErrDisableSystem", "PUT", orgs + "/" + vcd.SystemOrgID, `{"isEnabled":false}`, 400, "BAD_REQUEST"},
		{"ErrDeleteSystem", "DELETE", orgs + "/" + vcd.SystemOrgID, "", 400, "BAD_REQUEST"},
		{"ErrDeleteEnabled", "DELETE", gamma, "", 409, "BUSY_ENTITY"},
		{"Disable", "PUT", gamma, `{"name":"gamma","isEnabled":false}`, 200, ""},
		{"AddUser", "POST", "/cloudapi/1.0.0/users", `{"username":"u","password":"123456","roleEntityRefs":[{"name":"vApp User"}],"orgEntityRef":{"id":"` + id + `"}}`, 201, ""},
		{"ErrDeleteWithUsers", "DELETE", gamma, "", 409, "BUSY_ENTITY"},
		{"DeleteRecursive", "DELETE", gamma + "?recursive=true", "", 204, ""},
		{"GoneIsForbidden", "GET", gamma, "", 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, tc.path, tc.body, admin)
			wantStatus(t, r, tc.want)
			if tc.code != "" && !strings.Contains(r.body, `"minorErrorCode":"`+tc.code+`"`) {
				t.Errorf("body = %s; want minorErrorCode %s", r.body, tc.code)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	carol := env.mustLogin(t, "carol@acme")
	const users = "/cloudapi/1.0.0/users"
	user := func(name, role, pw string) string {
		return `{"username":"` + name + `","password":"` + pw + `","roleEntityRefs":[{"name":"` + role + `"}]}`
	}

	t.Run("CreateGolden", func(t *testing.T) {
		r := env.do(t, "POST", users, `{"username":"frank","fullName":"Frank","email":"f@acme.example","password":"123456","roleEntityRefs":[{"id":"urn:vcloud:role:`+vcd.RoleID(acmeID, vcd.RoleVAppAuthor)+`"}]}`, carol)
		wantStatus(t, r, 201)
		id := jsonField(t, r.body, "id")
		if !strings.HasPrefix(r.Header.Get("Location"), "https://HOST"+users+"/urn:vcloud:user:") {
			t.Errorf("Location = %q", r.Header.Get("Location"))
		}
		checkGolden(t, "user-created.json", strings.ReplaceAll(r.body, id, "USER-ID"))
		u, _ := env.store.User(t.Context(), strings.TrimPrefix(id, "urn:vcloud:user:"))
		if u.PasswordHash != "hashed:123456" {
			t.Errorf("stored password hash = %q; want the hasher's output", u.PasswordHash)
		}
	})
	tests := []struct {
		name, method, path, body, contentType string
		want                                  int
		code                                  string
	}{
		{"ErrDuplicate", "POST", users, user("ALICE", "vApp User", "123456"), "", 409, "DUPLICATE_NAME"},
		{"ErrSysadminRoleInTenant", "POST", users, user("g", "System Administrator", "123456"), "", 400, "BAD_REQUEST"},
		{"ErrUnknownRole", "POST", users, user("g", "Wizard", "123456"), "", 400, "BAD_REQUEST"},
		{"ErrTwoRoles", "POST", users, `{"username":"g","password":"123456","roleEntityRefs":[{"name":"vApp User"},{"name":"vApp Author"}]}`, "", 400, "BAD_REQUEST"},
		{"ErrShortPassword", "POST", users, user("g", "vApp User", "12345"), "", 400, "BAD_REQUEST"},
		{"ErrNameWithColon", "POST", users, user("g:h", "vApp User", "123456"), "", 400, "BAD_REQUEST"},
		{"ErrCreateLocked", "POST", users, `{"username":"g","password":"123456","locked":true,"roleEntityRefs":[{"name":"vApp User"}]}`, "", 400, "BAD_REQUEST"},
		{"ErrBadJSON", "POST", users, `{"username":`, "", 400, "BAD_REQUEST"},
		{"ErrWrongType", "POST", users, `{"username":42}`, "", 400, "BAD_REQUEST"},
		{"ErrMediaType", "POST", users, `<User/>`, "application/xml", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"ErrHugeBody", "POST", users, `{"username":"` + strings.Repeat("x", 2<<20) + `"}`, "", 400, "BAD_REQUEST"},
		{"ErrLockUnlockedUser", "PUT", users + "/" + aliceID, `{"locked":true}`, "", 400, "BAD_REQUEST"},
		{"ErrRenameUser", "PUT", users + "/" + aliceID, `{"username":"alicia"}`, "", 400, "BAD_REQUEST"},
		{"ModifyEchoedBody", "PUT", users + "/" + aliceID, `{"username":"alice","fullName":"A","id":"urn:vcloud:user:` + aliceID + `","password":null,"providerType":"LOCAL","locked":false,"stranded":false,"roleEntityRefs":[{"name":"vApp User"}]}`, "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := []string{carol}
			if tc.contentType != "" {
				h = append(h, "Content-Type: "+tc.contentType)
			}
			r := env.do(t, tc.method, tc.path, tc.body, h...)
			wantStatus(t, r, tc.want)
			if tc.code != "" && !strings.Contains(r.body, `"minorErrorCode":"`+tc.code+`"`) {
				t.Errorf("body = %s; want minorErrorCode %s", r.body, tc.code)
			}
		})
	}
	t.Run("SysadminInSystemOrg", func(t *testing.T) {
		r := env.do(t, "POST", users, user("root2", "System Administrator", "123456"), admin)
		wantStatus(t, r, 201)
		if !strings.Contains(r.body, `"orgEntityRef":{"name":"System"`) {
			t.Errorf("default org is not the caller's: %s", r.body)
		}
	})
	t.Run("ClearLock", func(t *testing.T) {
		_, _ = env.store.UpdateUser(t.Context(), erinID, func(u *vcd.User) error {
			u.LockedUntil = env.now.Add(10 * time.Minute)
			return nil
		})
		r := env.do(t, "GET", users+"/"+erinID, "", carol)
		if !strings.Contains(r.body, `"locked":true`) {
			t.Fatalf("user not shown locked: %s", r.body)
		}
		r = env.do(t, "PUT", users+"/"+erinID, `{"locked":false}`, carol)
		wantStatus(t, r, 200)
		if !strings.Contains(r.body, `"locked":false`) {
			t.Errorf("lock not cleared: %s", r.body)
		}
	})
	t.Run("DisableEndsSessions", func(t *testing.T) {
		erin := env.mustLogin(t, "erin@acme")
		wantStatus(t, env.do(t, "PUT", users+"/"+erinID, `{"enabled":false}`, carol), 200)
		ss, _ := env.store.Sessions(t.Context(), erinID)
		for _, s := range ss {
			if s.UserID == erinID && !s.Revoked {
				t.Errorf("session %s of disabled user not revoked", s.ID)
			}
		}
		wantStatus(t, env.do(t, "GET", "/cloudapi/1.0.0/sessions/current", "", erin), 401)
	})
}

func TestPaging(t *testing.T) {
	env := mustServe(t)
	admin := env.mustLogin(t, "administrator@System")
	type pageBody struct {
		ResultTotal int               `json:"resultTotal"`
		PageCount   int               `json:"pageCount"`
		Page        int               `json:"page"`
		PageSize    int               `json:"pageSize"`
		Values      []json.RawMessage `json:"values"`
	}
	tests := []struct {
		name  string
		query string
		want  int
		page  pageBody // Values compared by length only
		nvals int
		links []string
		first string // username of the first value, if set
	}{
		{name: "Default", query: "", want: 200, page: pageBody{ResultTotal: 5, PageCount: 1, Page: 1, PageSize: 25}, nvals: 5,
			links: []string{`<https://HOST/cloudapi/1.0.0/users?page=1&pageSize=25>;rel="firstPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=1&pageSize=25>;rel="lastPage";type="application/json";model="VcdUsers"`}},
		{name: "Middle", query: "?page=2&pageSize=2", want: 200, page: pageBody{ResultTotal: 5, PageCount: 3, Page: 2, PageSize: 2}, nvals: 2,
			links: []string{`<https://HOST/cloudapi/1.0.0/users?page=1&pageSize=2>;rel="firstPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=1&pageSize=2>;rel="previousPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=3&pageSize=2>;rel="nextPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=3&pageSize=2>;rel="lastPage";type="application/json";model="VcdUsers"`}},
		{name: "PastEnd", query: "?page=9&pageSize=2", want: 200, page: pageBody{ResultTotal: 5, PageCount: 3, Page: 9, PageSize: 2}, nvals: 0},
		{name: "FilterKeepsParams", query: "?filter=username==*a*&sortDesc=username&pageSize=1", want: 200,
			page: pageBody{ResultTotal: 4, PageCount: 4, Page: 1, PageSize: 1}, nvals: 1, first: "dave",
			links: []string{`<https://HOST/cloudapi/1.0.0/users?page=1&pageSize=1&filter=username%3D%3D%2Aa%2A&sortDesc=username>;rel="firstPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=2&pageSize=1&filter=username%3D%3D%2Aa%2A&sortDesc=username>;rel="nextPage";type="application/json";model="VcdUsers"`,
				`<https://HOST/cloudapi/1.0.0/users?page=4&pageSize=1&filter=username%3D%3D%2Aa%2A&sortDesc=username>;rel="lastPage";type="application/json";model="VcdUsers"`}},
		{name: "FilterOrAnd", query: "?filter=username==erin,username==alice;enabled==true&sortAsc=username", want: 200,
			page: pageBody{ResultTotal: 2, PageCount: 1, Page: 1, PageSize: 25}, nvals: 2, first: "alice"},
		{name: "ErrPageSizeTooBig", query: "?pageSize=129", want: 400},
		{name: "ErrPageZero", query: "?page=0", want: 400},
		{name: "ErrPageNotNumber", query: "?page=x", want: 400},
		{name: "ErrFilterField", query: "?filter=password==x", want: 400},
		{name: "ErrFilterSyntax", query: "?filter=username", want: 400},
		{name: "ErrSortField", query: "?sortAsc=password", want: 400},
		{name: "ErrBothSorts", query: "?sortAsc=username&sortDesc=username", want: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "GET", "/cloudapi/1.0.0/users"+tc.query, "", admin)
			wantStatus(t, r, tc.want)
			if tc.want != 200 {
				return
			}
			var got pageBody
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Values) != tc.nvals {
				t.Errorf("len(values) = %d; want %d", len(got.Values), tc.nvals)
			}
			values := got.Values
			got.Values = nil
			if diff := cmp.Diff(tc.page, got); diff != "" {
				t.Errorf("page mismatch (-want +got):\n%s", diff)
			}
			if tc.first != "" && (len(values) == 0 || jsonField(t, string(values[0]), "username") != tc.first) {
				t.Errorf("first value is not %s: %s", tc.first, r.body)
			}
			if tc.links != nil {
				if diff := strings.Join(r.Header.Values("Link"), "\n"); diff != strings.Join(tc.links, "\n") {
					t.Errorf("Link headers:\n%s\nwant:\n%s", diff, strings.Join(tc.links, "\n"))
				}
			}
		})
	}
}
