package bench

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

// TestScanMetrics: the tool's fast reading of a METRICS envelope gives what
// encoding/json gives, and refuses a layout it does not know.
func TestScanMetrics(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	info := notify.MetricsInfo{VAppID: "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c", OrgID: "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", Time: at}
	for i, id := range []string{"8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e", "9d7b5f3a-1e2c-4d4b-8f6a-8c0e2a4b6d8f"} {
		vm := notify.VMMetrics{ID: id, Name: "web-0" + itoa(i)}
		for _, d := range notify.MetricDefs() {
			vm.Metrics = append(vm.Metrics, notify.Metric{Name: d.Name, Unit: d.Unit, Value: float64(12345 + i), Time: at})
		}
		info.VMs = append(info.VMs, vm)
	}
	n, err := notify.Metrics(info)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := scanMetrics(n.Envelope)
	if !ok {
		t.Fatalf("scanMetrics refused %s", n.Envelope)
	}
	var env struct{ Payload string }
	var want metricsPayload
	if err := json.Unmarshal(n.Envelope, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(env.Payload), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanMetrics = %+v; encoding/json gives %+v", got, want)
	}
	for _, bad := range []string{`{"type":"EVENT"}`, `{"type":"METRICS","payload":"{\"vApp\":\"x\"}"}`, string(n.Envelope[:len(n.Envelope)-3])} {
		if _, ok := scanMetrics([]byte(bad)); ok {
			t.Errorf("scanMetrics(%q) accepted", bad)
		}
	}
}
