package api

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// MetricsSettings are the run-time settings of VCD-COMPAT §9.1.
type MetricsSettings struct {
	PublishingEnabled bool
	IntervalSeconds   int
	SimulatorEnabled  bool
}

// MetricsStore is what the metrics endpoints need from the store; the server adapts
// *store.DB to it. MetricsSettings returns the stored settings or, before any were
// stored, the configured defaults. PutSamples stores a validated batch and returns
// once every node will see it; LatestSamples answers from memory, nil for a VM without
// samples, and its slice must not be modified.
type MetricsStore interface {
	MetricsSettings(ctx context.Context) (MetricsSettings, error)
	SetMetricsSettings(ctx context.Context, s MetricsSettings) error
	PutSamples(ctx context.Context, batch []vcd.VMSamples) error
	LatestSamples(vmID string) []vcd.MetricSample
}

// maxIntervalSeconds bounds intervalSeconds (HERALD).
const maxIntervalSeconds = 3600

// metricsStore returns the MetricsStore, or 503 when the server has none.
func (a *API) metricsStore() (MetricsStore, error) {
	if a.cfg.Metrics == nil {
		return nil, vcd.Errorf(vcd.CodeUnavailable, "Metrics are not available.")
	}
	return a.cfg.Metrics, nil
}

// settingsJSON is the body of GET and PUT /settings/metrics (VCD-COMPAT §9.1); on PUT
// absent fields keep their value.
type settingsJSON struct {
	PublishingEnabled *bool `json:"publishingEnabled"`
	IntervalSeconds   *int  `json:"intervalSeconds"`
	Simulator         *struct {
		Enabled *bool `json:"enabled"`
	} `json:"simulator"`
}

type settingsOut struct {
	PublishingEnabled bool `json:"publishingEnabled"`
	IntervalSeconds   int  `json:"intervalSeconds"`
	Simulator         struct {
		Enabled bool `json:"enabled"`
	} `json:"simulator"`
}

func settingsBody(s MetricsSettings) settingsOut {
	var o settingsOut
	o.PublishingEnabled, o.IntervalSeconds, o.Simulator.Enabled = s.PublishingEnabled, s.IntervalSeconds, s.SimulatorEnabled
	return o
}

// getMetricsSettings serves GET /settings/metrics (sysadmin).
func (a *API) getMetricsSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := a.metricsStore()
	if err != nil {
		return err
	}
	if !vcd.Can(c.p, vcd.ActProduce, "", "") {
		return errForbidden
	}
	s, err := ms.MetricsSettings(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, settingsBody(s))
}

// putMetricsSettings serves PUT /settings/metrics (sysadmin): intervalSeconds is 1 to
// 3600; the settings apply on every node from the next interval.
func (a *API) putMetricsSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := a.metricsStore()
	if err != nil {
		return err
	}
	if !vcd.Can(c.p, vcd.ActProduce, "", "") {
		return errForbidden
	}
	var req settingsJSON
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	s, err := ms.MetricsSettings(r.Context())
	if err != nil {
		return err
	}
	if req.PublishingEnabled != nil {
		s.PublishingEnabled = *req.PublishingEnabled
	}
	if req.IntervalSeconds != nil {
		if *req.IntervalSeconds < 1 || *req.IntervalSeconds > maxIntervalSeconds {
			return vcd.Errorf(vcd.CodeInvalid, "intervalSeconds must be an integer from 1 to %d.", maxIntervalSeconds)
		}
		s.IntervalSeconds = *req.IntervalSeconds
	}
	if req.Simulator != nil && req.Simulator.Enabled != nil {
		s.SimulatorEnabled = *req.Simulator.Enabled
	}
	if err := ms.SetMetricsSettings(r.Context(), s); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c, settingsBody(s))
}

// samplesRequest is the body of POST /metrics/samples (VCD-COMPAT §9.3).
type samplesRequest struct {
	Samples []sampleJSON `json:"samples"`
}

type sampleJSON struct {
	VM        string   `json:"vm"`
	Name      string   `json:"name"`
	Unit      string   `json:"unit"`
	Value     *float64 `json:"value"`
	Timestamp string   `json:"timestamp"`
}

// maxSamples bounds one batch (HERALD); MaxBodyBytes bounds it too.
const maxSamples = 100_000

// canIngest reports whether p may post samples at all: sysadmins, and service accounts
// that are producers with at least one publish grant under metrics/.
func canIngest(p vcd.Principal) bool {
	if vcd.Can(p, vcd.ActProduce, "", "") {
		return true
	}
	if p.Kind != vcd.PrincipalService || !p.Producer {
		return false
	}
	return slices.ContainsFunc(p.Publish, func(g string) bool {
		return g == "#" || strings.HasPrefix(g, topic.MetricsLevel+"/") || strings.HasPrefix(g, "+/")
	})
}

// postSamples serves POST /metrics/samples: a batch of samples of many VMs, validated
// as a whole (an unknown VM, name or unit is 400 naming the index, and nothing is
// stored), then stored with one write per VM; 204 once stored. A service account must
// hold a publish grant matching each VM's metrics/{org}/{vApp} topic.
func (a *API) postSamples(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := a.metricsStore()
	if err != nil {
		return err
	}
	inv, err := a.inventory()
	if err != nil {
		return err
	}
	if !canIngest(c.p) {
		return errForbidden
	}
	in, err := decodeSamples(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	batch, err := groupSamples(inv, c.p, in, a.now())
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		if err := ms.PutSamples(r.Context(), batch); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// groupSamples validates in and groups it by VM, in order of first appearance; all
// samples share one backing array. now stands in for an absent timestamp. Nothing
// returned shares memory with in.
func groupSamples(inv Inventory, p vcd.Principal, in []rawSample, now time.Time) ([]vcd.VMSamples, error) {
	if len(in) > maxSamples {
		return nil, vcd.Errorf(vcd.CodeInvalid, "A batch has at most %d samples.", maxSamples)
	}
	service := !p.IsSysAdmin()
	vms := make(map[string]int) // VM id → index in order
	var order []string
	var counts []int
	idx := make([]int32, len(in)) // sample → index in order
	times := make([]time.Time, len(in))
	names := make([]string, len(in))
	granted := map[string]bool{} // vApp id → publish grant checked
	units := map[string]string{} // valid name → its unit
	// Collectors send a VM's metrics one after the other, usually with one timestamp:
	// the previous sample's VM (as sent) and timestamp are resolved once.
	prevVM, prevK := "", -1
	prevTS, prevT := "", time.Time{}
	for i := range in {
		s := &in[i]
		bad := func(format string, args ...any) error {
			return vcd.Errorf(vcd.CodeInvalid, "samples[%d]: "+format, append([]any{i}, args...)...)
		}
		k := prevK
		if k < 0 || s.vm != prevVM {
			id, ok := vcd.ParseID(vcd.KindVM, s.vm)
			if !ok {
				return nil, bad("vm must be a VM id (urn:vcloud:vm:…).")
			}
			owner, ok := inv.VMOwner(id)
			if !ok {
				return nil, bad("unknown VM %s.", s.vm)
			}
			if service {
				ok, seen := granted[owner.ID]
				if !seen {
					ok = topic.CanPublish(p, topic.Metrics(owner.OrgID, owner.ID)) == topic.Granted
					granted[owner.ID] = ok
				}
				if !ok {
					return nil, vcd.Errorf(vcd.CodeForbidden, "samples[%d]: no publish grant for the metrics of VM %s.", i, s.vm)
				}
			}
			if k, ok = vms[id]; !ok {
				k = len(order)
				id = strings.Clone(id)
				vms[id] = k
				order = append(order, id)
				counts = append(counts, 0)
			}
			prevVM, prevK = s.vm, k
		}
		if unit, ok := units[s.name]; !ok || unit != s.unit {
			if err := notify.ValidMetric(s.name, s.unit); err != nil {
				return nil, bad("%s.", vcd.MessageOf(err))
			}
			units[s.name] = s.unit
		}
		if !s.hasValue || math.IsNaN(s.value) || math.IsInf(s.value, 0) {
			return nil, bad("value must be a finite number.")
		}
		t := now
		if s.timestamp != "" {
			if s.timestamp != prevTS || prevT.IsZero() {
				var err error
				if prevT, err = time.Parse(time.RFC3339Nano, s.timestamp); err != nil {
					return nil, bad("timestamp must be an ISO 8601 date and time with offset.")
				}
				prevT, prevTS = prevT.UTC(), s.timestamp
			}
			t = prevT
		}
		times[i] = t.UTC()
		counts[k]++
		idx[i] = int32(k)
	}
	// Names are interned per batch: the store keeps them, and in's strings may share
	// the memory of the whole request body.
	interned := make(map[string]string, 16)
	for i := range in {
		n, ok := interned[in[i].name]
		if !ok {
			n = strings.Clone(in[i].name)
			interned[n] = n
		}
		names[i] = n
	}
	all := make([]vcd.MetricSample, len(in))
	batch := make([]vcd.VMSamples, len(order))
	off := 0
	for i, id := range order {
		n := counts[i]
		batch[i] = vcd.VMSamples{VMID: id, Samples: all[off : off : off+n]}
		off += n
	}
	for i := range in {
		b := &batch[idx[i]]
		b.Samples = append(b.Samples, vcd.MetricSample{Name: names[i], Value: in[i].value, Time: times[i]})
	}
	return batch, nil
}

// Media types of VCD-COMPAT §9.4.
const (
	mtCurrentUsage = "application/vnd.vmware.vcloud.metrics.currentUsage+xml"
	mtVM           = "application/vnd.vmware.vcloud.vm+xml"
)

// currentUsageXML is VCD's CurrentUsage (VCD-COMPAT §9.4), with its JSON form in VCD's
// legacy JSON naming.
type currentUsageXML struct {
	XMLName xml.Name    `xml:"http://www.vmware.com/vcloud/v1.5 CurrentUsage" json:"-"`
	Href    string      `xml:"href,attr" json:"href"`
	Type    string      `xml:"type,attr" json:"type"`
	Link    []link      `xml:"Link" json:"link"`
	Metric  []metricXML `xml:"Metric" json:"metric"`
}

type metricXML struct {
	Name  string      `xml:"name,attr" json:"name"`
	Unit  string      `xml:"unit,attr" json:"unit"`
	Value metricValue `xml:"value,attr" json:"value"`
}

// metricValue writes a value as the shortest decimal without an exponent: 33.7,
// 10485760.
type metricValue float64

func (v metricValue) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: strconv.FormatFloat(float64(v), 'f', -1, 64)}, nil
}

func (v metricValue) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(v), 'f', -1, 64), nil
}

// currentUsageSpec is the body of POST …/metrics/current: MetricPattern elements,
// where '*' matches any text.
type currentUsageSpec struct {
	MetricPattern []string `xml:"MetricPattern" json:"metricPattern"`
}

// currentUsage serves GET and POST /api/vApp/vm-{uuid}/metrics/current (VCD-COMPAT
// §9.4): the latest value of each metric of the VM, sorted by name, filtered by the
// POSTed patterns. Members of the VM's org and sysadmins may read it; an unknown VM is
// 403.
func (a *API) currentUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := a.metricsStore()
	if err != nil {
		return err
	}
	inv, err := a.inventory()
	if err != nil {
		return err
	}
	raw, ok := strings.CutPrefix(r.PathValue("vm"), "vm-")
	id, valid := vcd.ParseID(vcd.KindVM, raw)
	if !ok || !valid {
		return errForbidden
	}
	owner, ok := inv.VMOwner(id)
	if !ok || !vcd.Can(c.p, vcd.ActOrgRead, owner.OrgID, "") {
		return errForbidden
	}
	var patterns []string
	if r.Method == http.MethodPost {
		body, format, err := readBody(r)
		if err != nil {
			return err
		}
		var spec currentUsageSpec
		if format == formatXML {
			err = xml.Unmarshal(body, &spec)
		} else {
			err = json.Unmarshal(body, &spec)
		}
		if err != nil {
			return &vcd.Error{Code: vcd.CodeInvalid, Message: "The request body is not a valid CurrentUsageSpec.", Err: err}
		}
		patterns = spec.MetricPattern
	}
	base := a.baseURL(r)
	vmHref := base + "/api/vApp/vm-" + id
	out := currentUsageXML{Href: vmHref + "/metrics/current", Type: mtCurrentUsage,
		Link: []link{{Rel: "up", Href: vmHref, Type: mtVM}}, Metric: []metricXML{}}
	for _, s := range ms.LatestSamples(id) {
		if patterns != nil && !slices.ContainsFunc(patterns, func(p string) bool { return globMatch(p, s.Name) }) {
			continue
		}
		d, _ := notify.LookupMetric(s.Name)
		out.Metric = append(out.Metric, metricXML{Name: s.Name, Unit: d.Unit, Value: metricValue(s.Value)})
	}
	slices.SortFunc(out.Metric, func(x, y metricXML) int { return strings.Compare(x.Name, y.Name) })
	js := out
	js.Type = jsonType(out.Type)
	js.Link = jsonLinks(out.Link)
	return writeLegacy(w, c, "metrics.currentUsage", out, js)
}
