package notify_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestValidMetric(t *testing.T) {
	tests := []struct {
		name, metric, unit string
		message            string // empty: valid
	}{
		{"CPU", "cpu.usage.average", "PERCENT", ""},
		{"CPUMHz", "cpu.usagemhz.average", "MEGAHERTZ", ""},
		{"CPUMax", "cpu.usage.maximum", "PERCENT", ""},
		{"Mem", "mem.usage.average", "PERCENT", ""},
		{"DiskProvisioned", "disk.provisioned.latest", "KILOBYTE", ""},
		{"DiskUsed", "disk.used.latest", "KILOBYTE", ""},
		{"DiskRead", "disk.read.average", "KILOBYTES_PER_SECOND", ""},
		{"DiskWrite", "disk.write.average", "KILOBYTES_PER_SECOND", ""},
		{"Instance0", "disk.read.average.0", "KILOBYTES_PER_SECOND", ""},
		{"Instance12", "disk.used.latest.12", "KILOBYTE", ""},
		{"InstanceWrongUnit", "disk.read.average.0", "KILOBYTE", `has unit KILOBYTES_PER_SECOND, not "KILOBYTE"`},
		{"WrongUnit", "cpu.usage.average", "MEGAHERTZ", `has unit PERCENT, not "MEGAHERTZ"`},
		{"UnitCase", "cpu.usage.average", "percent", "has unit PERCENT"},
		{"Net", "net.usage.average", "KILOBYTES_PER_SECOND", `unknown metric "net.usage.average"`},
		{"Empty", "", "PERCENT", "unknown metric"},
		{"EmptySuffix", "disk.read.average.", "KILOBYTES_PER_SECOND", "unknown metric"},
		{"LetterSuffix", "disk.read.average.a", "KILOBYTES_PER_SECOND", "unknown metric"},
		{"TwoSuffixes", "disk.read.average.0.1", "KILOBYTES_PER_SECOND", "unknown metric"},
		{"LongSuffix", "disk.read.average.1234567", "KILOBYTES_PER_SECOND", "unknown metric"},
		{"Prefix", "cpu.usage", "PERCENT", "unknown metric"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.ValidMetric(tc.metric, tc.unit)
			if tc.message == "" {
				if err != nil {
					t.Errorf("ValidMetric(%q, %q) = %v; want nil", tc.metric, tc.unit, err)
				}
				return
			}
			if !errors.Is(err, vcd.ErrInvalid) || !strings.Contains(vcd.MessageOf(err), tc.message) {
				t.Errorf("ValidMetric(%q, %q) = %v; want code invalid containing %q", tc.metric, tc.unit, err, tc.message)
			}
		})
	}
}

func TestMetricDefs(t *testing.T) {
	defs := notify.MetricDefs()
	if len(defs) != 8 {
		t.Fatalf("len(MetricDefs()) = %d; want 8", len(defs))
	}
	for _, d := range defs {
		if err := notify.ValidMetric(d.Name, d.Unit); err != nil {
			t.Errorf("ValidMetric(%q, %q) = %v", d.Name, d.Unit, err)
		}
		if d.Kind != "rate" && d.Kind != "absolute" {
			t.Errorf("%s has kind %q", d.Name, d.Kind)
		}
	}
	defs[0].Unit = "changed"
	if notify.MetricDefs()[0].Unit == "changed" {
		t.Error("MetricDefs returned the package's table, not a copy")
	}
}

func TestMetrics_Rejects(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*notify.MetricsInfo)
		message string
	}{
		{"BadVApp", func(m *notify.MetricsInfo) { m.VAppID = "urn:vcloud:vm:" + vmID }, "vApp id"},
		{"BadOrg", func(m *notify.MetricsInfo) { m.OrgID = "" }, "org id is required"},
		{"BadVM", func(m *notify.MetricsInfo) { m.VMs[0].ID = "web-01" }, "vms[0] id"},
		{"UnknownMetric", func(m *notify.MetricsInfo) { m.VMs[0].Metrics[1].Name = "net.x" }, "vms[0].metrics[1]: unknown metric"},
		{"NaN", func(m *notify.MetricsInfo) { m.VMs[0].Metrics[2].Value = math.NaN() }, "vms[0].metrics[2]: value is not a finite number"},
		{"Inf", func(m *notify.MetricsInfo) { m.VMs[0].Metrics[0].Value = math.Inf(-1) }, "not a finite number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := shopMetrics(t)
			tc.change(&m)
			_, err := notify.Metrics(m)
			if !errors.Is(err, vcd.ErrInvalid) || !strings.Contains(vcd.MessageOf(err), tc.message) {
				t.Errorf("Metrics = %v; want code invalid containing %q", err, tc.message)
			}
		})
	}
}

func TestMetrics_Values(t *testing.T) {
	m := shopMetrics(t)
	vals := []struct {
		v    float64
		want string
	}{{0, "0"}, {-1.5, "-1.5"}, {1e21, "1e+21"}, {1e-7, "1e-7"}, {123456789012, "123456789012"}}
	for _, v := range vals {
		m.VMs[0].Metrics[0].Value = v.v
		b, err := notify.AppendMetrics(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if want := `\"value\":` + v.want + `,`; !strings.Contains(string(b), want) {
			t.Errorf("value %v: envelope %s does not contain %s", v.v, b, want)
		}
	}
}
