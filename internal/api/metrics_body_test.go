package api_test

import (
	"strings"
	"testing"
)

// TestMetrics_SamplesBody: the body of POST /metrics/samples decodes as with
// encoding/json whichever decoder reads it (the fast path or encoding/json for
// unusual forms), and the body limit still applies.
func TestMetrics_SamplesBody(t *testing.T) {
	env := mustServeMetrics(t)
	admin := env.mustLogin(t, "administrator@System")
	vm := `"urn:vcloud:vm:` + webID + `"`
	sample := `{"vm":` + vm + `,"name":"cpu.usage.average","unit":"PERCENT","value":1}`
	huge := `{"samples":[` + strings.Repeat(sample+",", (1<<20)/len(sample)) + sample + `]}`
	tests := []struct {
		name, contentType, body string
		status                  int
		message                 string
	}{
		{"Usual", "application/json", `{"samples":[` + sample + `]}`, 204, ""},
		{"KeyCase", "application/json", `{"Samples":[{"VM":` + vm + `,"Name":"cpu.usage.average","Unit":"PERCENT","Value":2}]}`, 204, ""},
		{"Escapes", "application/json", `{"samples":[{"vm":` + vm + `,"name":"cpu.usage.averag\u0065","unit":"PERCENT","value":3}]}`, 204, ""},
		{"NullValue", "application/json", `{"samples":[{"vm":` + vm + `,"name":"cpu.usage.average","unit":"PERCENT","value":null}]}`, 400, "samples[0]: value"},
		{"Malformed", "application/json", `{"samples":[` + sample + `,]}`, 400, "not valid JSON"},
		{"Empty", "application/json", " \n", 400, "body is empty"},
		{"MediaType", "text/plain", `{"samples":[]}`, 415, "application/json"},
		{"OverLimit", "application/json", huge, 400, "exceeds the limit of 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.ms.puts
			r := env.do(t, "POST", "/cloudapi/herald/1.0.0/metrics/samples", tc.body, admin, "Content-Type: "+tc.contentType)
			wantStatus(t, r, tc.status)
			stored := env.ms.puts - before
			if tc.status == 204 && stored != 1 {
				t.Errorf("stored %d times; want once", stored)
			}
			if tc.status != 204 {
				if !strings.Contains(r.body, tc.message) {
					t.Errorf("body %s; want %q", r.body, tc.message)
				}
				if stored != 0 {
					t.Errorf("a rejected batch stored %d times", stored)
				}
			}
		})
	}
}
