package api_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/vcd"
)

var uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

func TestErrors(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	tests := []struct {
		name, method, path string
		headers            []string
		want               int
		body               string // substring; REQUEST-ID stands for the response's id
		allow              string
	}{
		{name: "UnknownCloudAPIPath", method: "GET", path: "/cloudapi/1.0.0/widgets", headers: []string{alice}, want: 404,
			body: `{"minorErrorCode":"NOT_FOUND","message":"[ REQUEST-ID ] The requested resource was not found.","stackTrace":null}`},
		{name: "UnknownLegacyPathXML", method: "GET", path: "/api/widgets", want: 404,
			body: `<Error xmlns="http://www.vmware.com/vcloud/v1.5" majorErrorCode="404" minorErrorCode="NOT_FOUND"`},
		{name: "WrongMethod", method: "PATCH", path: "/cloudapi/1.0.0/orgs", headers: []string{alice}, want: 405,
			body: `"minorErrorCode":"METHOD_NOT_ALLOWED"`, allow: "GET, POST"},
		{name: "WrongMethodLegacy", method: "POST", path: "/api/versions", want: 405, body: `majorErrorCode="405"`, allow: "GET"},
		{name: "CurrentIsNotAnID", method: "POST", path: "/cloudapi/1.0.0/sessions/current", headers: []string{alice}, want: 405,
			body: `METHOD_NOT_ALLOWED`, allow: "GET, DELETE"},
		{name: "Unauthenticated", method: "GET", path: "/cloudapi/1.0.0/orgs", want: 401, body: `"minorErrorCode":"NOT_AUTHENTICATED"`},
		{name: "RolesReadOnly", method: "PUT", path: "/cloudapi/1.0.0/roles/x", headers: []string{alice}, want: 403,
			body: `Custom roles are not supported.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, tc.path, "", tc.headers...)
			wantStatus(t, r, tc.want)
			if !strings.Contains(normalize(r), tc.body) {
				t.Errorf("body = %s; want it to contain %s", normalize(r), tc.body)
			}
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q; want %q", got, tc.allow)
			}
			if !regexp.MustCompile(`^` + uuidRE + `$`).MatchString(r.Header.Get(api.HeaderRequestID)) {
				t.Errorf("request id = %q", r.Header.Get(api.HeaderRequestID))
			}
			if r.Header.Get(api.HeaderExecutionTime) == "" {
				t.Errorf("no %s header", api.HeaderExecutionTime)
			}
		})
	}
}

func TestInternalErrorIsGeneric(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	env.store.mu.Lock()
	env.store.fail = errors.New("disk on fire at /var/secret")
	env.store.mu.Unlock()
	r := env.do(t, "GET", "/cloudapi/1.0.0/orgs", "", alice)
	wantStatus(t, r, 500)
	if want := `{"minorErrorCode":"INTERNAL_SERVER_ERROR","message":"[ REQUEST-ID ] An internal error occurred.","stackTrace":null}`; strings.TrimSpace(normalize(r)) != want {
		t.Errorf("body = %s; want %s", normalize(r), want)
	}
}

func TestClientRequestID(t *testing.T) {
	env := mustServe(t)
	tests := []struct {
		name, clientID, want string
	}{
		{"Valid", "my-client-42", `^my-client-42-` + uuidRE + `$`},
		{"Invalid", "bad id!", `^` + uuidRE + `$`},
		{"TooLong", strings.Repeat("a", 129), `^` + uuidRE + `$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "GET", "/api/versions", "", api.HeaderClientRequestID+": "+tc.clientID)
			if got := r.Header.Get(api.HeaderRequestID); !regexp.MustCompile(tc.want).MatchString(got) {
				t.Errorf("request id = %q; want match %s", got, tc.want)
			}
		})
	}
}

// TestMiddlewareAndWriteError covers what the broker uses around /messaging/mqtt: the
// request id on any response and the OpenAPI 401 body before an upgrade.
func TestMiddlewareAndWriteError(t *testing.T) {
	a := api.New(api.Config{}, newFakeStore(vcd.Site{ID: siteID}), nil, slog.New(slog.DiscardHandler))
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, present, err := api.BearerToken(r); present && err != nil {
			a.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"NoHeader", "", http.StatusSwitchingProtocols},
		{"NotBearer", "Basic abc", http.StatusUnauthorized},
		{"EmptyBearer", "Bearer ", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/messaging/mqtt", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d; want %d", rec.Code, tc.want)
			}
			id := rec.Header().Get(api.HeaderRequestID)
			if id == "" {
				t.Errorf("no request id")
			}
			if tc.want == 401 && strings.TrimSpace(rec.Body.String()) != `{"minorErrorCode":"NOT_AUTHENTICATED","message":"[ `+id+` ] The Authorization header is not a valid Bearer credential.","stackTrace":null}` {
				t.Errorf("body = %s", rec.Body.String())
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name, header  string
		token         string
		present, fail bool
	}{
		{"Absent", "", "", false, false},
		{"Bearer", "Bearer abc.def", "abc.def", true, false},
		{"LowerCase", "bearer abc", "abc", true, false},
		{"UpperCase", "BEARER abc", "abc", true, false},
		{"Basic", "Basic YTpi", "", true, true},
		{"NoToken", "Bearer", "", true, true},
		{"TwoTokens", "Bearer a b", "", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			token, present, err := api.BearerToken(r)
			if token != tc.token || present != tc.present || (err != nil) != tc.fail {
				t.Errorf("BearerToken(%q) = %q, %v, %v; want %q, %v, fail=%v", tc.header, token, present, err, tc.token, tc.present, tc.fail)
			}
		})
	}
}
