package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/notify"
)

// TestEndToEnd_Metrics: a sysadmin subscribed to metrics/# over wss receives one
// METRICS message per vApp per interval once publishing and the simulator are enabled
// through the settings API; an org admin's metrics/ subscription is refused; samples
// posted by a producer service account show in the VM's current usage for members of
// its org only.
func TestEndToEnd_Metrics(t *testing.T) {
	f := newFixture(t)
	s := f.s
	wss := "wss://" + s.Addr() + "/messaging/mqtt"
	acme := f.orgs["acme"]
	gamma := mustUUID(t, "org", f.admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs",
		`{"name":"gamma","displayName":"Gamma"}`, http.StatusCreated)["id"].(string))

	// The scale: 3 orgs × 10 vApps × 4 VMs.
	const vAppsPerOrg, vmsPerVApp = 10, 4
	vapps := map[string]string{} // vApp UUID → org UUID
	var firstVM string
	for _, orgID := range []string{acme, f.orgs["beta"], gamma} {
		for i := range vAppsPerOrg {
			body := fmt.Sprintf(`{"name":"app-%d","org":{"id":"urn:vcloud:org:%s"},"vms":[{"name":"web-01"},{"name":"web-02"},{"name":"db-01"},{"name":"db-02"}]}`, i, orgID)
			created := f.admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/vApps", body, http.StatusCreated)
			vapps[mustUUID(t, "vapp", created["id"].(string))] = orgID
			if firstVM == "" {
				firstVM = created["vms"].([]any)[0].(map[string]any)["id"].(string)
			}
		}
	}
	org := f.admin.mustJSON(http.MethodGet, "/cloudapi/1.0.0/orgs/urn:vcloud:org:"+acme, "", http.StatusOK)
	if org["vappCount"] != float64(vAppsPerOrg) {
		t.Errorf("acme vappCount = %v; want %d", org["vappCount"], vAppsPerOrg)
	}

	// A producer service account posts samples; alice (acme) reads them, bob (beta) may not.
	sa := f.admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"collector","producer":true,"publish":["metrics/#"]}`, http.StatusCreated)
	svc := newClient(t, s)
	req, _ := http.NewRequest(http.MethodPost, svc.base+"/cloudapi/herald/1.0.0/serviceAccounts/session", nil)
	req.SetBasicAuth("collector", sa["secret"].(string))
	req.Header.Set("Accept", jsonAccept)
	resp, err := svc.http.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("service session: %v %v", resp, err)
	}
	resp.Body.Close()
	svc.token = resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	samples := `{"samples":[{"vm":"` + firstVM + `","name":"cpu.usage.average","unit":"PERCENT","value":33.7,"timestamp":"2025-03-14T09:35:00.000+00:00"}]}`
	svc.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/metrics/samples", samples, http.StatusNoContent)
	vmPath := "/api/vApp/vm-" + mustUUID(t, "vm", firstVM) + "/metrics/current"
	alice := f.login(t, "alice@acme")
	resp, b := alice.do(http.MethodGet, vmPath, "application/*+json;version=39.0", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"metric":[{"name":"cpu.usage.average","unit":"PERCENT","value":33.7}]`) {
		t.Errorf("alice's current usage = %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.login(t, "bob@beta").do(http.MethodGet, vmPath, "application/*+json;version=39.0", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob's current usage = %d; want 403", resp.StatusCode)
	}

	// MQTT: the org admin is refused metrics/, the sysadmin gets metrics/#.
	boss := f.login(t, "boss@acme")
	bossMQTT := mustConnectMQTT(t, s, wss, "boss-metrics", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + boss.token}})
	})
	if got := bossMQTT.subscribe(t, "metrics/"+acme+"/+"); got["metrics/"+acme+"/+"] != 0x80 {
		t.Errorf("org admin's SUBACK for metrics/%s/+ = %#x; want 0x80", acme, got["metrics/"+acme+"/+"])
	}
	adminMQTT := mustConnectMQTT(t, s, wss, "admin-metrics", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + f.admin.token}})
	})
	if got := adminMQTT.subscribe(t, "metrics/#"); got["metrics/#"] != 0 {
		t.Fatalf("sysadmin's SUBACK for metrics/# = %#x; want 0", got["metrics/#"])
	}

	settings := f.admin.mustJSON(http.MethodPut, "/cloudapi/herald/1.0.0/settings/metrics",
		`{"publishingEnabled":true,"intervalSeconds":1,"simulator":{"enabled":true}}`, http.StatusOK)
	if settings["intervalSeconds"] != 1.0 || settings["publishingEnabled"] != true {
		t.Errorf("settings = %v", settings)
	}

	// The first interval: one message per vApp, all with the interval's timestamp.
	type msg struct{ vApp, ts string }
	read := func() msg {
		m := adminMQTT.next(t)
		typ, h := envelope(t, m.Payload())
		var p struct {
			Timestamp string `json:"timestamp"`
			VMs       []struct {
				Metrics []struct{ Name, Unit string } `json:"metrics"`
			} `json:"vms"`
		}
		var env struct{ Payload string }
		_ = json.Unmarshal(m.Payload(), &env)
		if err := json.Unmarshal([]byte(env.Payload), &p); err != nil {
			t.Fatal(err)
		}
		id := h["notification.entityUUID"]
		if typ != "METRICS" || m.Topic() != "metrics/"+vapps[id]+"/"+id || len(p.VMs) != vmsPerVApp {
			t.Errorf("got %s on %s with %d VMs; want METRICS of a known vApp with %d VMs", typ, m.Topic(), len(p.VMs), vmsPerVApp)
		}
		for _, vm := range p.VMs {
			if len(vm.Metrics) != len(notify.MetricDefs()) {
				t.Errorf("a VM has %d metrics; want VCD's %d", len(vm.Metrics), len(notify.MetricDefs()))
			}
			for _, x := range vm.Metrics {
				if err := notify.ValidMetric(x.Name, x.Unit); err != nil {
					t.Errorf("metric %s %s: %v", x.Name, x.Unit, err)
				}
			}
		}
		return msg{id, p.Timestamp}
	}
	first := read()
	got := map[string]bool{first.vApp: true}
	for range len(vapps) - 1 {
		m := read()
		if m.ts != first.ts || got[m.vApp] {
			t.Errorf("message %+v; want another vApp of the interval %s", m, first.ts)
		}
		got[m.vApp] = true
	}
	if next := read(); next.ts == first.ts {
		t.Errorf("a message beyond one per vApp in interval %s", first.ts)
	}
}
