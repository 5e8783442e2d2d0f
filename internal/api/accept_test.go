package api_test

import (
	"strings"
	"testing"
)

// TestAccept pins the Accept table of VCD-COMPAT §1.3 for /cloudapi and /api.
func TestAccept(t *testing.T) {
	env := mustServe(t)
	alice := env.mustLogin(t, "alice@acme")
	tests := []struct {
		name        string
		path        string
		accept      string // "" sends none
		status      int
		contentType string
	}{
		{"OpenAPIJSON", "/cloudapi/1.0.0/sessions/current", "application/json;version=36.0", 200, "application/json;version=36.0"},
		{"OpenAPIAppStar", "/cloudapi/1.0.0/sessions/current", "application/*;version=37.2", 200, "application/json;version=37.2"},
		{"OpenAPIStarXML", "/cloudapi/1.0.0/sessions/current", "application/*+xml;version=36.0", 406, "application/json"},
		{"OpenAPIVndXML", "/cloudapi/1.0.0/sessions/current", "application/vnd.vmware.vcloud.session+xml;version=36.0", 406, "application/json"},
		{"OpenAPIXML", "/cloudapi/1.0.0/sessions/current", "application/xml", 406, "application/json"},
		{"OpenAPIStarJSON", "/cloudapi/1.0.0/sessions/current", "application/*+json;version=36.0", 200, "application/json;version=36.0"},
		{"OpenAPIAny", "/cloudapi/1.0.0/sessions/current", "*/*", 200, "application/json;version=39.0"},
		{"OpenAPINone", "/cloudapi/1.0.0/sessions/current", "", 200, "application/json;version=39.0"},
		{"OpenAPIDeprecated", "/cloudapi/1.0.0/sessions/current", "application/json;version=35.0", 200, "application/json;version=35.0"},
		{"OpenAPIEmptyVersion", "/cloudapi/1.0.0/sessions/current", "application/json;version=", 200, "application/json;version=39.0"},
		{"OpenAPICaseAndSpaces", "/cloudapi/1.0.0/sessions/current", "Application/JSON ; Version=36.1", 200, "application/json;version=36.1"},
		{"OpenAPIFirstMatchWins", "/cloudapi/1.0.0/sessions/current", "application/xml;version=36.0, application/json;version=38.0", 200, "application/json;version=38.0"},
		{"OpenAPIQIgnored", "/cloudapi/1.0.0/sessions/current", "application/json;q=0.1;version=36.0", 200, "application/json;version=36.0"},
		{"OpenAPIBadVersion", "/cloudapi/1.0.0/sessions/current", "application/json;version=32.0", 406, "application/json"},
		{"OpenAPIMalformedVersion", "/cloudapi/1.0.0/sessions/current", "application/json;version=36", 406, "application/json"},
		{"OpenAPIUnsupportedType", "/cloudapi/1.0.0/sessions/current", "text/html", 406, "application/json"},
		{"LegacyJSON", "/api/session", "application/json;version=36.0", 200, "application/vnd.vmware.vcloud.session+json;version=36.0"},
		{"LegacyAppStar", "/api/session", "application/*;version=36.0", 200, "application/vnd.vmware.vcloud.session+xml;version=36.0"},
		{"LegacyStarXML", "/api/session", "application/*+xml;version=36.0", 200, "application/vnd.vmware.vcloud.session+xml;version=36.0"},
		{"LegacyVndXML", "/api/session", "application/vnd.vmware.vcloud.session+xml;version=36.0", 200, "application/vnd.vmware.vcloud.session+xml;version=36.0"},
		{"LegacyXML", "/api/session", "application/xml;version=36.0", 200, "application/vnd.vmware.vcloud.session+xml;version=36.0"},
		{"LegacyStarJSON", "/api/session", "application/*+json;version=36.0", 200, "application/vnd.vmware.vcloud.session+json;version=36.0"},
		{"LegacyAny", "/api/session", "*/*", 200, "application/vnd.vmware.vcloud.session+xml;version=39.0"},
		{"LegacyNone", "/api/session", "", 200, "application/vnd.vmware.vcloud.session+xml;version=39.0"},
		{"LegacyBadVersion", "/api/session", "application/*+xml;version=99.0", 406, "application/vnd.vmware.vcloud.error+xml;version=39.0"},
		{"VersionsIgnoreVersion", "/api/versions", "application/*+xml;version=99.0", 200, "application/*+xml;version=39.0"},
		{"VersionsEmptyVersion", "/api/versions", "application/*+xml;version=", 200, "application/*+xml;version=39.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{alice}
			if tc.accept != "" {
				headers = append(headers, "Accept: "+tc.accept)
			}
			r := env.do(t, "GET", tc.path, "", headers...)
			wantStatus(t, r, tc.status)
			if got := r.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q; want %q", got, tc.contentType)
			}
			if tc.status == 406 && strings.Contains(tc.name, "Version") &&
				!strings.Contains(r.body, "Supported API versions are: [39.1, 39.0, 38.1") {
				t.Errorf("406 body lacks the supported-versions message: %s", r.body)
			}
		})
	}
}
