package api

import (
	"strings"
	"testing"
)

// FuzzNegotiate checks the Accept parser on arbitrary headers: it never panics, and a
// successful negotiation always yields a format and a supported version.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/json;version=36.0", "application/*+xml;version=",
		"application/vnd.vmware.vcloud.session+xml;version=36.0, application/json", "text/html,*/*;q=0.8",
		";;;,,,/", "application/json;version=\"39.1\"", "APPLICATION/*;VERSION=35.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		for _, kind := range []apiKind{kindOpenAPI, kindLegacy, kindOAuth} {
			for _, ignore := range []bool{false, true} {
				format, version, err := negotiate(kind, accept, ignore)
				if err != nil {
					if ignore {
						t.Fatalf("negotiate(%q) with version ignored failed: %v", accept, err)
					}
					continue
				}
				if format != formatJSON && format != formatXML {
					t.Fatalf("negotiate(%q) format %q", accept, format)
				}
				if !supportedVersion(version) {
					t.Fatalf("negotiate(%q) version %q not supported", accept, version)
				}
				if kind != kindLegacy && format == formatXML {
					t.Fatalf("negotiate(%q) gave XML outside /api", accept)
				}
			}
		}
		for _, mr := range parseAccept(accept) {
			if mr.typ == "" || mr.sub == "" || strings.ToLower(mr.typ) != mr.typ {
				t.Fatalf("parseAccept(%q) gave %+v", accept, mr)
			}
		}
	})
}
