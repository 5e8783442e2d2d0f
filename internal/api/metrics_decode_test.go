package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// viaJSON decodes body with encoding/json alone, as postSamples did before
// scanSamples: the reference scanSamples must agree with.
func viaJSON(body string) ([]rawSample, bool) {
	var req samplesRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return nil, false
	}
	out := make([]rawSample, len(req.Samples))
	for i, s := range req.Samples {
		out[i] = rawSample{vm: s.VM, name: s.Name, unit: s.Unit, timestamp: s.Timestamp}
		if s.Value != nil {
			out[i].value, out[i].hasValue = *s.Value, true
		}
	}
	return out, true
}

const sampleVM = "urn:vcloud:vm:8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"

// TestScanSamples: the fast path takes the usual forms, and leaves every other body,
// valid or not, to encoding/json.
func TestScanSamples(t *testing.T) {
	tests := []struct {
		name, body string
		fast       bool
	}{
		{"Usual", `{"samples":[{"vm":"` + sampleVM + `","name":"cpu.usage.average","unit":"PERCENT","value":33.7,"timestamp":"2025-03-14T09:35:00.000+00:00"}]}`, true},
		{"Spaces", " {\n\t\"samples\" : [ { \"value\" : -1.5e3 , \"vm\" : \"x\" } , { } ] } \r\n", true},
		{"Empty", `{"samples":[]}`, true},
		{"NoValue", `{"samples":[{"vm":"x"}]}`, true},
		{"RepeatedKey", `{"samples":[{"value":1,"value":2,"name":"a","name":"b"}]}`, true},
		{"Numbers", `{"samples":[{"value":0},{"value":-0.0},{"value":1E+2},{"value":123456789012345678901234567890}]}`, true},
		{"Null", `{"samples":[{"vm":"x","value":null}]}`, false},
		{"NullSamples", `{"samples":null}`, false},
		{"OtherKey", `{"samples":[{"vm":"x","extra":{"a":[1,2]}}]}`, false},
		{"OtherCase", `{"Samples":[{"VM":"x"}]}`, false},
		{"Escape", `{"samples":[{"vm":"\u0078"}]}`, false},
		{"NonASCII", `{"samples":[{"vm":"é"}]}`, false},
		{"StringValue", `{"samples":[{"value":"1"}]}`, false},
		{"OutOfRange", `{"samples":[{"value":1e400}]}`, false},
		{"LeadingZero", `{"samples":[{"value":01}]}`, false},
		{"TrailingComma", `{"samples":[{"vm":"x"},]}`, false},
		{"Trailing", `{"samples":[]} x`, false},
		{"Unterminated", `{"samples":[{"vm":"x`, false},
		{"NotObject", `[1]`, false},
		{"Number", `{"samples":[{"value":1.}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fast := scanSamples(tc.body)
			if fast != tc.fast {
				t.Fatalf("scanSamples(%q) fast = %v; want %v", tc.body, fast, tc.fast)
			}
			want, ok := viaJSON(tc.body)
			if fast && (!ok || !reflect.DeepEqual(got, want)) {
				t.Errorf("scanSamples(%q) = %+v; encoding/json gives %+v (ok %v)", tc.body, got, want, ok)
			}
		})
	}
}

// FuzzScanSamples: scanSamples never panics, and whatever it decodes, encoding/json
// decodes the same way.
func FuzzScanSamples(f *testing.F) {
	for _, s := range []string{
		`{"samples":[{"vm":"` + sampleVM + `","name":"cpu.usage.average","unit":"PERCENT","value":33.7,"timestamp":"2025-03-14T09:35:00.000+00:00"}]}`,
		`{"samples":[{},{"value":-0.5e-3}]}`, `{"samples":[]}`, `{"samples":null}`, `{"samples":[{"vm":"\u0078"}]}`,
		`{"samples":[{"value":1e400}]}`, " {\"samples\" : [ ] } ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, fast := scanSamples(body)
		if !fast {
			return
		}
		want, ok := viaJSON(body)
		if !ok {
			t.Fatalf("scanSamples accepted %q, which encoding/json rejects", body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanSamples(%q) = %+v; encoding/json gives %+v", body, got, want)
		}
	})
}
