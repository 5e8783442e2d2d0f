package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeInventory is an api.Inventory in memory.
type fakeInventory struct {
	mu    sync.Mutex
	vapps map[string]api.VApp
}

func (f *fakeInventory) VApps(ctx context.Context, orgID string) ([]api.VApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.VApp
	for _, v := range f.vapps {
		if orgID == "" || v.OrgID == orgID {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b api.VApp) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeInventory) VApp(ctx context.Context, id string) (api.VApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vapps[id]
	if !ok {
		return api.VApp{}, notFound("vApp")
	}
	v.VMs = slices.Clone(v.VMs)
	return v, nil
}

func (f *fakeInventory) CreateVApp(ctx context.Context, v api.VApp) (api.VApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vapps[v.ID] = v
	return v, nil
}

func (f *fakeInventory) UpdateVApp(ctx context.Context, id string, fn func(*api.VApp) error) (api.VApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vapps[id]
	if !ok {
		return api.VApp{}, notFound("vApp")
	}
	v.VMs = slices.Clone(v.VMs)
	if err := fn(&v); err != nil {
		return api.VApp{}, err
	}
	f.vapps[id] = v
	return v, nil
}

func (f *fakeInventory) DeleteVApp(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vapps[id]; !ok {
		return notFound("vApp")
	}
	delete(f.vapps, id)
	return nil
}

func (f *fakeInventory) VAppCount(orgID string) int {
	vs, _ := f.VApps(context.Background(), orgID)
	return len(vs)
}

func (f *fakeInventory) VMOwner(vmID string) (api.VApp, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.vapps {
		if slices.ContainsFunc(v.VMs, func(vm api.VM) bool { return vm.ID == vmID }) {
			v.VMs = nil
			return v, true
		}
	}
	return api.VApp{}, false
}

// fakeMetrics is an api.MetricsStore in memory; puts counts PutSamples calls.
type fakeMetrics struct {
	mu       sync.Mutex
	settings api.MetricsSettings
	latest   map[string][]vcd.MetricSample
	puts     int
}

func (f *fakeMetrics) MetricsSettings(ctx context.Context) (api.MetricsSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, nil
}

func (f *fakeMetrics) SetMetricsSettings(ctx context.Context, s api.MetricsSettings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settings = s
	return nil
}

func (f *fakeMetrics) PutSamples(ctx context.Context, batch []vcd.VMSamples) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	for _, b := range batch {
		f.latest[b.VMID] = append(f.latest[b.VMID], b.Samples...)
	}
	return nil
}

func (f *fakeMetrics) LatestSamples(vmID string) []vcd.MetricSample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.latest[vmID])
}

// svcAuth is fakeAuth that also accepts service JWTs ("svcjwt-<id>") as Bearer
// tokens, as the real authenticator does.
type svcAuth struct{ *fakeAuth }

func (f svcAuth) Authenticate(ctx context.Context, token string) (vcd.Principal, error) {
	if id, ok := strings.CutPrefix(token, "svcjwt-"); ok {
		a, err := f.st.ServiceAccount(ctx, id)
		if err != nil {
			return vcd.Principal{}, errBadCreds
		}
		return vcd.Principal{Kind: vcd.PrincipalService, UserID: a.ID, UserName: a.Name, OrgID: vcd.SystemOrgID,
			Publish: a.Publish, Subscribe: a.Subscribe, Producer: a.Producer}, nil
	}
	return f.fakeAuth.Authenticate(ctx, token)
}

// Ids of VCD-COMPAT §9.3's example.
const (
	shopID = "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c"
	webID  = "8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"
	dbID   = "c0000000-0000-4000-8000-0000000000d1"
	betaVM = "c0000000-0000-4000-8000-0000000000b1"
)

type metricsEnv struct {
	*testEnv
	inv *fakeInventory
	ms  *fakeMetrics
}

// mustServeMetrics serves an API with a fake inventory holding acme's vApp shop
// (web-01, db-01) and beta's vApp erp (one VM), and the example's samples of web-01.
func mustServeMetrics(tb testing.TB) *metricsEnv {
	tb.Helper()
	t0 := time.Date(2025, 3, 14, 9, 35, 0, 0, time.UTC)
	env := &testEnv{now: t0}
	env.store = newFakeStore(vcd.Site{ID: siteID, Name: "herald"})
	env.auth = newFakeAuth(env.store, func() time.Time { return env.now })
	seed(env.store, t0)
	me := &metricsEnv{testEnv: env,
		inv: &fakeInventory{vapps: map[string]api.VApp{
			shopID: {ID: shopID, OrgID: acmeID, Name: "shop", VMs: []api.VM{{ID: webID, Name: "web-01"}, {ID: dbID, Name: "db-01"}}},
			"e0000000-0000-4000-8000-0000000000e1": {ID: "e0000000-0000-4000-8000-0000000000e1", OrgID: betaID, Name: "erp",
				VMs: []api.VM{{ID: betaVM, Name: "b"}}},
		}},
		ms: &fakeMetrics{settings: api.MetricsSettings{IntervalSeconds: 20}, latest: map[string][]vcd.MetricSample{
			webID: {{Name: "disk.used.latest", Value: 10485760, Time: t0}, {Name: "cpu.usage.average", Value: 33.7, Time: t0}},
		}},
	}
	for _, a := range []vcd.ServiceAccount{
		{ID: "5a000000-0000-4000-8000-000000000001", Name: "collector", Enabled: true, Producer: true, Publish: []string{"metrics/#"}},
		{ID: "5a000000-0000-4000-8000-000000000002", Name: "acme-collector", Enabled: true, Producer: true, Publish: []string{"metrics/" + acmeID + "/+"}},
		{ID: "5a000000-0000-4000-8000-000000000003", Name: "ext", Enabled: true, Publish: []string{"topic/extension/a/b/c/vcd"}},
	} {
		if err := env.store.createServiceAccount(a); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := api.Config{PublicURL: "https://HOST", HashPassword: fakeHash, Now: func() time.Time { return env.now },
		Inventory: me.inv, Metrics: me.ms}
	env.srv = httptest.NewServer(api.New(cfg, env.store, svcAuth{env.auth}, slog.New(slog.DiscardHandler)).Handler())
	tb.Cleanup(env.srv.Close)
	return me
}

const (
	svcCollector     = "Authorization: Bearer svcjwt-5a000000-0000-4000-8000-000000000001"
	svcAcmeCollector = "Authorization: Bearer svcjwt-5a000000-0000-4000-8000-000000000002"
	svcExt           = "Authorization: Bearer svcjwt-5a000000-0000-4000-8000-000000000003"
)

// TestMetrics_Golden pins the vApp JSON (VCD-COMPAT §9.3), the settings JSON (§9.1)
// and CurrentUsage in XML and JSON (§9.4).
func TestMetrics_Golden(t *testing.T) {
	env := mustServeMetrics(t)
	admin := env.mustLogin(t, "administrator@System")
	alice := env.mustLogin(t, "alice@acme")
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		contentType, golden      string
	}{
		{"VApp", "GET", "/cloudapi/herald/1.0.0/vApps/urn:vcloud:vapp:" + shopID, "", []string{alice, "Accept: application/json;version=39.0"},
			200, "application/json;version=39.0", "vapp.json"},
		{"VAppsPage", "GET", "/cloudapi/herald/1.0.0/vApps?filter=org.id==urn:vcloud:org:" + acmeID, "", []string{admin, "Accept: application/json;version=39.0"},
			200, "application/json;version=39.0", "vapps.json"},
		{"Settings", "GET", "/cloudapi/herald/1.0.0/settings/metrics", "", []string{admin, "Accept: application/json;version=39.0"},
			200, "application/json;version=39.0", "settings-metrics.json"},
		{"CurrentUsageXML", "GET", "/api/vApp/vm-" + webID + "/metrics/current", "", []string{alice, acceptXML},
			200, "application/vnd.vmware.vcloud.metrics.currentUsage+xml;version=39.0", "currentusage.xml"},
		{"CurrentUsageJSON", "GET", "/api/vApp/vm-" + webID + "/metrics/current", "", []string{alice, acceptJSON},
			200, "application/vnd.vmware.vcloud.metrics.currentUsage+json;version=39.0", "currentusage.json"},
		{"CurrentUsageSpecXML", "POST", "/api/vApp/vm-" + webID + "/metrics/current",
			`<CurrentUsageSpec xmlns="http://www.vmware.com/vcloud/v1.5"><MetricPattern>cpu.*</MetricPattern></CurrentUsageSpec>`,
			[]string{alice, acceptXML, "Content-Type: application/vnd.vmware.vcloud.metrics.currentUsageSpec+xml"},
			200, "application/vnd.vmware.vcloud.metrics.currentUsage+xml;version=39.0", "currentusage-cpu.xml"},
		{"OrgJSONWithVApps", "GET", "/cloudapi/1.0.0/orgs/urn:vcloud:org:" + acmeID, "", []string{alice, "Accept: application/json;version=36.0"},
			200, "application/json;version=36.0", "org-vapps.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, tc.path, tc.body, tc.headers...)
			wantStatus(t, r, tc.status)
			if got := r.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q; want %q", got, tc.contentType)
			}
			checkGolden(t, tc.golden, normalize(r))
		})
	}
}

// TestMetrics_Samples: a batch is validated as a whole; the first bad sample's index is
// named and nothing is stored.
func TestMetrics_Samples(t *testing.T) {
	env := mustServeMetrics(t)
	admin := env.mustLogin(t, "administrator@System")
	good := `{"vm":"urn:vcloud:vm:` + webID + `","name":"cpu.usage.average","unit":"PERCENT","value":1,"timestamp":"2025-03-14T09:36:00.000+00:00"}`
	tests := []struct {
		name, bad string
		status    int
		message   string
	}{
		{"OK", good, 204, ""},
		{"PerInstance", `{"vm":"urn:vcloud:vm:` + dbID + `","name":"disk.read.average.0","unit":"KILOBYTES_PER_SECOND","value":5}`, 204, ""},
		{"UnknownVM", `{"vm":"urn:vcloud:vm:00000000-0000-4000-8000-000000000000","name":"cpu.usage.average","unit":"PERCENT","value":1}`, 400, "samples[1]: unknown VM"},
		{"NotAVMID", `{"vm":"urn:vcloud:vapp:` + shopID + `","name":"cpu.usage.average","unit":"PERCENT","value":1}`, 400, "samples[1]: vm must be"},
		{"UnknownName", `{"vm":"urn:vcloud:vm:` + webID + `","name":"net.usage.average","unit":"PERCENT","value":1}`, 400, "samples[1]: unknown metric"},
		{"WrongUnit", `{"vm":"urn:vcloud:vm:` + webID + `","name":"disk.used.latest","unit":"MEGABYTE","value":1}`, 400, "samples[1]: metric"},
		{"NoValue", `{"vm":"urn:vcloud:vm:` + webID + `","name":"cpu.usage.average","unit":"PERCENT"}`, 400, "samples[1]: value"},
		{"BadTimestamp", `{"vm":"urn:vcloud:vm:` + webID + `","name":"cpu.usage.average","unit":"PERCENT","value":1,"timestamp":"yesterday"}`, 400, "samples[1]: timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.ms.puts
			r := env.do(t, "POST", "/cloudapi/herald/1.0.0/metrics/samples", `{"samples":[`+good+`,`+tc.bad+`]}`, admin)
			wantStatus(t, r, tc.status)
			stored := env.ms.puts - before
			if tc.status != 204 {
				if !strings.Contains(r.body, tc.message) || !strings.Contains(r.body, "BAD_REQUEST") {
					t.Errorf("body %s; want BAD_REQUEST with %q", r.body, tc.message)
				}
				if stored != 0 {
					t.Errorf("a rejected batch stored %d times", stored)
				}
			} else if stored != 1 {
				t.Errorf("stored %d times; want once", stored)
			}
		})
	}
}

// TestMetrics_Rights is the rights table of VCD-COMPAT §5.4 and §9.3–9.4 for the
// metrics endpoints.
func TestMetrics_Rights(t *testing.T) {
	env := mustServeMetrics(t)
	admin := env.mustLogin(t, "administrator@System")
	alice := env.mustLogin(t, "alice@acme")
	carol := env.mustLogin(t, "carol@acme")
	dave := env.mustLogin(t, "dave@beta")
	webSample := `{"samples":[{"vm":"urn:vcloud:vm:` + webID + `","name":"cpu.usage.average","unit":"PERCENT","value":1}]}`
	betaSample := `{"samples":[{"vm":"urn:vcloud:vm:` + betaVM + `","name":"cpu.usage.average","unit":"PERCENT","value":1}]}`
	newVApp := `{"name":"new","org":{"id":"urn:vcloud:org:` + acmeID + `"},"vms":[{"name":"a"}]}`
	shop := "/cloudapi/herald/1.0.0/vApps/urn:vcloud:vapp:" + shopID
	unknown := "/cloudapi/herald/1.0.0/vApps/urn:vcloud:vapp:00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name, who, method, path, body string
		status                        int
	}{
		{"sysadmin reads a vApp", admin, "GET", shop, "", 200},
		{"member reads its org's vApp", alice, "GET", shop, "", 200},
		{"other org's admin may not read", dave, "GET", shop, "", 403},
		{"unknown vApp", admin, "GET", unknown, "", 403},
		{"org admin may not create", carol, "POST", "/cloudapi/herald/1.0.0/vApps", newVApp, 403},
		{"sysadmin creates", admin, "POST", "/cloudapi/herald/1.0.0/vApps", newVApp, 201},
		{"create in an unknown org", admin, "POST", "/cloudapi/herald/1.0.0/vApps", `{"name":"x","org":{"id":"urn:vcloud:org:00000000-0000-4000-8000-000000000000"}}`, 400},
		{"create without a name", admin, "POST", "/cloudapi/herald/1.0.0/vApps", `{"org":{"id":"urn:vcloud:org:` + acmeID + `"}}`, 400},
		{"member may not add a VM", alice, "POST", shop + "/vms", `{"name":"x"}`, 403},
		{"sysadmin adds a VM", admin, "POST", shop + "/vms", `{"name":"web-02"}`, 201},
		{"unknown VM of the vApp", admin, "DELETE", shop + "/vms/urn:vcloud:vm:" + betaVM, "", 403},
		{"sysadmin removes a VM", admin, "DELETE", shop + "/vms/urn:vcloud:vm:" + dbID, "", 204},
		{"member may not delete", alice, "DELETE", shop, "", 403},
		{"settings: org admin may not read", carol, "GET", "/cloudapi/herald/1.0.0/settings/metrics", "", 403},
		{"settings: bad interval", admin, "PUT", "/cloudapi/herald/1.0.0/settings/metrics", `{"intervalSeconds":0}`, 400},
		{"settings: sysadmin writes", admin, "PUT", "/cloudapi/herald/1.0.0/settings/metrics", `{"publishingEnabled":true}`, 200},
		{"samples: org admin may not post", carol, "POST", "/cloudapi/herald/1.0.0/metrics/samples", webSample, 403},
		{"samples: metrics/# producer", svcCollector, "POST", "/cloudapi/herald/1.0.0/metrics/samples", betaSample, 204},
		{"samples: acme producer, acme VM", svcAcmeCollector, "POST", "/cloudapi/herald/1.0.0/metrics/samples", webSample, 204},
		{"samples: acme producer, beta VM", svcAcmeCollector, "POST", "/cloudapi/herald/1.0.0/metrics/samples", betaSample, 403},
		{"samples: no metrics grant", svcExt, "POST", "/cloudapi/herald/1.0.0/metrics/samples", webSample, 403},
		{"current usage: member", carol, "GET", "/api/vApp/vm-" + webID + "/metrics/current", "", 200},
		{"current usage: other org", dave, "GET", "/api/vApp/vm-" + webID + "/metrics/current", "", 403},
		{"current usage: unknown VM", admin, "GET", "/api/vApp/vm-00000000-0000-4000-8000-000000000000/metrics/current", "", 403},
		{"sysadmin deletes", admin, "DELETE", shop, "", 204},
		{"deleted vApp", admin, "GET", shop, "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, tc.path, tc.body, tc.who, acceptJSON)
			wantStatus(t, r, tc.status)
		})
	}
	if s := env.ms.settings; !s.PublishingEnabled || s.IntervalSeconds != 20 {
		t.Errorf("settings after PUT = %+v; want publishing on, interval kept", s)
	}
	if n := env.inv.VAppCount(acmeID); n != 1 {
		t.Errorf("acme has %d vApps; want 1 (new)", n)
	}
}

// benchInventory indexes VMs for BenchmarkPostSamples; PutSamples is a no-op.
type benchInventory struct {
	fakeInventory
	owner map[string]api.VApp
}

func (b *benchInventory) VMOwner(vmID string) (api.VApp, bool) {
	v, ok := b.owner[vmID]
	return v, ok
}

type nopMetrics struct{ fakeMetrics }

func (*nopMetrics) PutSamples(ctx context.Context, batch []vcd.VMSamples) error { return nil }

// BenchmarkPostSamples measures the API side of ingestion (decode, validate, group by
// VM) for batches of 1000 samples of 125 VMs × 8 metrics, without the store. Reports
// samples/s.
func BenchmarkPostSamples(b *testing.B) {
	env := mustServeMetrics(b)
	inv := &benchInventory{owner: map[string]api.VApp{}}
	var body strings.Builder
	body.WriteString(`{"samples":[`)
	names := []struct{ n, u string }{{"cpu.usage.average", "PERCENT"}, {"cpu.usagemhz.average", "MEGAHERTZ"},
		{"cpu.usage.maximum", "PERCENT"}, {"mem.usage.average", "PERCENT"}, {"disk.provisioned.latest", "KILOBYTE"},
		{"disk.used.latest", "KILOBYTE"}, {"disk.read.average", "KILOBYTES_PER_SECOND"}, {"disk.write.average", "KILOBYTES_PER_SECOND"}}
	for i := range 125 {
		vm := vcd.NameUUID(siteID, "vm"+itoa(i))
		inv.owner[vm] = api.VApp{ID: shopID, OrgID: acmeID}
		for j, m := range names {
			if i+j > 0 {
				body.WriteByte(',')
			}
			body.WriteString(`{"vm":"urn:vcloud:vm:` + vm + `","name":"` + m.n + `","unit":"` + m.u +
				`","value":` + itoa(i*j) + `.5,"timestamp":"2025-03-14T09:35:00.000+00:00"}`)
		}
	}
	body.WriteString(`]}`)
	payload := body.String()
	cfg := api.Config{PublicURL: "https://HOST", HashPassword: fakeHash, Inventory: inv, Metrics: &nopMetrics{}}
	h := api.New(cfg, env.store, env.auth, slog.New(slog.DiscardHandler)).Handler()
	admin := env.mustLogin(b, "administrator@System")
	k, v, _ := strings.Cut(admin, ": ")
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		req := httptest.NewRequest("POST", "/cloudapi/herald/1.0.0/metrics/samples", strings.NewReader(payload))
		req.Header.Set(k, v)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 204 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "samples/s")
}
