package notify

import (
	"math"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// MetricDef is one of VCD's VM metrics (VCD-COMPAT §9.2): its name, kind (rate or
// absolute) and unit.
type MetricDef struct {
	Name string
	Kind string
	Unit string
}

// metricDefs is VCD's default VM metric set (API guide GUID-A54D67F6). There are no
// net.* metrics.
var metricDefs = [...]MetricDef{
	{"cpu.usage.average", "rate", "PERCENT"},
	{"cpu.usagemhz.average", "rate", "MEGAHERTZ"},
	{"cpu.usage.maximum", "rate", "PERCENT"},
	{"mem.usage.average", "absolute", "PERCENT"},
	{"disk.provisioned.latest", "absolute", "KILOBYTE"},
	{"disk.used.latest", "absolute", "KILOBYTE"},
	{"disk.read.average", "rate", "KILOBYTES_PER_SECOND"},
	{"disk.write.average", "rate", "KILOBYTES_PER_SECOND"},
}

// MetricDefs returns VCD's VM metric names, kinds and units (VCD-COMPAT §9.2), in the
// order of the table. The slice is a copy.
func MetricDefs() []MetricDef {
	out := make([]MetricDef, len(metricDefs))
	copy(out, metricDefs[:])
	return out
}

// maxInstanceDigits bounds the per-instance suffix (disk.read.average.0).
const maxInstanceDigits = 6

// LookupMetric returns the definition of name: a name of the table, or a per-instance
// variant of one (the base name, '.', then 1 to 6 digits, as disk.read.average.0),
// which takes its base name's unit and kind (VCD-COMPAT §9.2).
func LookupMetric(name string) (MetricDef, bool) {
	base := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 && allDigits(name[i+1:]) {
		base = name[:i]
	}
	for _, d := range metricDefs {
		if d.Name == base {
			d.Name = name
			return d, true
		}
	}
	return MetricDef{}, false
}

func allDigits(s string) bool {
	if s == "" || len(s) > maxInstanceDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidMetric reports, as an error of code vcd.CodeInvalid, why name and unit are not
// a VCD metric and its unit (VCD-COMPAT §9.2): an unknown name, or a unit other than
// the name's. It returns nil for a valid pair, including per-instance names such as
// disk.read.average.0 with KILOBYTES_PER_SECOND.
func ValidMetric(name, unit string) error {
	d, ok := LookupMetric(name)
	if !ok {
		return vcd.Errorf(vcd.CodeInvalid, "unknown metric %s", quote(name))
	}
	if unit != d.Unit {
		return vcd.Errorf(vcd.CodeInvalid, "metric %s has unit %s, not %s", quote(name), d.Unit, quote(unit))
	}
	return nil
}

// Metric is the latest value of one metric of a VM.
type Metric struct {
	Name  string
	Unit  string
	Value float64
	Time  time.Time
}

// VMMetrics is the metrics of one VM of a vApp. ID is the VM's bare UUID or URN.
type VMMetrics struct {
	ID      string
	Name    string
	Metrics []Metric
}

// MetricsInfo is one METRICS message: the latest values of the VMs of a vApp
// (VCD-COMPAT §9.3).
type MetricsInfo struct {
	// ID de-duplicates the message; empty means a new random UUID.
	ID string
	// VAppID and OrgID are bare UUIDs or URNs; they route the message to
	// metrics/{OrgID}/{VAppID}.
	VAppID string
	OrgID  string
	// Time is when the message was assembled.
	Time time.Time
	VMs  []VMMetrics
}

// metrics is a MetricsInfo checked and normalized.
type metrics struct {
	info       *MetricsInfo
	vApp, org  string
	vms        []string // bare VM UUIDs, by index of info.VMs
	timeOfInfo time.Time
}

func (m *MetricsInfo) normalize() (metrics, error) {
	out := metrics{info: m}
	var err error
	if out.vApp, err = id(vcd.KindVApp, "vApp id", m.VAppID); err != nil {
		return metrics{}, err
	}
	if out.org, err = id(vcd.KindOrg, "org id", m.OrgID); err != nil {
		return metrics{}, err
	}
	if m.Time.IsZero() {
		return metrics{}, vcd.Errorf(vcd.CodeInvalid, "metrics time is required")
	}
	out.timeOfInfo = m.Time
	out.vms = make([]string, len(m.VMs))
	for i, vm := range m.VMs {
		if out.vms[i], err = id(vcd.KindVM, "vms["+itoa(i)+"] id", vm.ID); err != nil {
			return metrics{}, err
		}
		for j, s := range vm.Metrics {
			at := "vms[" + itoa(i) + "].metrics[" + itoa(j) + "]: "
			if err := ValidMetric(s.Name, s.Unit); err != nil {
				return metrics{}, vcd.Errorf(vcd.CodeInvalid, "%s%s", at, vcd.MessageOf(err))
			}
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				return metrics{}, vcd.Errorf(vcd.CodeInvalid, "%svalue is not a finite number", at)
			}
			if s.Time.IsZero() {
				return metrics{}, vcd.Errorf(vcd.CodeInvalid, "%stimestamp is required", at)
			}
		}
	}
	return out, nil
}

func (m *metrics) appendEnvelope(dst []byte) ([]byte, error) {
	p := getBuf()
	defer putBuf(p)
	b := append((*p)[:0], `{"vApp":"urn:vcloud:vapp:`...)
	b = append(b, m.vApp...)
	b = append(b, `","org":"urn:vcloud:org:`...)
	b = append(b, m.org...)
	b = append(b, `","timestamp":`...)
	b = appendTime(b, m.timeOfInfo, EventTimeLayout)
	b = append(b, `,"vms":[`...)
	for i, vm := range m.info.VMs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"urn:vcloud:vm:`...)
		b = append(b, m.vms[i]...)
		b = append(b, `","name":`...)
		b = appendString(b, vm.Name)
		b = append(b, `,"metrics":[`...)
		for j, s := range vm.Metrics {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, s.Name)
			b = append(b, `,"unit":`...)
			b = appendString(b, s.Unit)
			b = append(b, `,"value":`...)
			b = appendFloat(b, s.Value)
			b = append(b, `,"timestamp":`...)
			b = appendTime(b, s.Time, EventTimeLayout)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	*p = b[:0]
	var w envelopeWriter
	w.begin(dst, TypeMetrics)
	w.header(HeaderEntityType, "vApp")
	w.header(HeaderEntityUUID, m.vApp)
	w.header(HeaderOrgUUID, m.org)
	return w.end(b)
}

// AppendMetrics appends the METRICS envelope of m to dst (VCD-COMPAT §9.3). Every
// metric must pass ValidMetric and have a finite value and a timestamp. Errors have
// code vcd.CodeInvalid, name the offending VM and metric index, and leave dst
// unchanged.
func AppendMetrics(dst []byte, m MetricsInfo) ([]byte, error) {
	n, err := m.normalize()
	if err != nil {
		return dst, err
	}
	return n.appendEnvelope(dst)
}

// Metrics returns the METRICS notification of m, routed to
// metrics/{OrgID}/{VAppID} (VCD-COMPAT §9.3). An empty m.ID is replaced by a new
// random UUID. Errors are those of AppendMetrics.
func Metrics(m MetricsInfo) (Notification, error) {
	if m.ID == "" {
		m.ID = vcd.NewUUID()
	}
	n, err := m.normalize()
	if err != nil {
		return Notification{}, err
	}
	return build(m.ID, metricsTopic(n.org, n.vApp), TypeMetrics, m.Time, n.appendEnvelope)
}
