package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// naiveParse parses a message the way some VCD clients do: the text after the first
// `payload":"`, without its last two characters and with every backslash removed.
func naiveParse(t *testing.T, b []byte) map[string]any {
	t.Helper()
	_, after, ok := strings.Cut(string(b), `payload":"`)
	if !ok || len(after) < 2 {
		t.Fatalf("no payload in %q", b)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(after[:len(after)-2], `\`, "")), &m); err != nil {
		t.Fatalf("naive parse of %q: %v", b, err)
	}
	return m
}

// envelope decodes a message's envelope properly.
func envelope(t *testing.T, b []byte) (typ string, headers map[string]string) {
	t.Helper()
	var e struct {
		Type    string            `json:"type"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("envelope %q: %v", b, err)
	}
	return e.Type, e.Headers
}

// expectWithin returns the next message, which must arrive within d.
func (c *mqttClient) expectWithin(t *testing.T, d time.Duration) paho.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
		return nil
	}
}

func TestEndToEnd_Notifications(t *testing.T) {
	f := newFixture(t)
	acme, beta := f.orgs["acme"], f.orgs["beta"]
	aliceID := f.users["alice@acme"]
	wss := "wss://" + f.s.Addr() + "/messaging/mqtt"
	connect := func(name, filter string) *mqttClient {
		c := f.login(t, name)
		m := mustConnectMQTT(t, f.s, wss, "PythonMQTT", func(o *paho.ClientOptions) {
			o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + c.token}})
		})
		if got := m.subscribe(t, filter); got[filter] != 0 {
			t.Fatalf("%s: SUBACK %#x for %s", name, got[filter], filter)
		}
		return m
	}
	alice := connect("alice@acme", "publish/"+acme+"/"+aliceID)
	boss := connect("boss@acme", "publish/"+acme+"/+")
	bob := connect("bob@beta", "publish/"+beta+"/"+f.users["bob@beta"])
	sys := mustConnectMQTT(t, f.s, wss, "sys", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + f.admin.token}})
	})
	sys.subscribe(t, "publish/#")

	type want struct{ typ, header, value string }
	check := func(who string, c *mqttClient, w want) map[string]any {
		t.Helper()
		m := c.expectWithin(t, 2*time.Second)
		typ, h := envelope(t, m.Payload())
		if typ != w.typ || h[w.header] != w.value {
			t.Errorf("%s got %s %s=%q; want %s %s=%q", who, typ, w.header, h[w.header], w.typ, w.header, w.value)
		}
		return naiveParse(t, m.Payload())
	}

	// 1. Alice logs in again elsewhere: her own session/login EVENT, within 100 ms.
	again := f.login(t, "alice@acme")
	answered := time.Now() // the event is stored before the login answers
	login := want{"EVENT", "notification.type", "com/vmware/vcloud/event/session/login"}
	inner := check("alice", alice, login)
	if d := time.Since(answered); d > 100*time.Millisecond {
		t.Errorf("login event arrived %v after the login answered; want within 100 ms", d)
	}
	if inner["entityName"] != "alice" || inner["operationSuccess"] != true {
		t.Errorf("login event = %v", inner)
	}
	loginEventID, _ := inner["eventId"].(string)
	loginSession, _ := again.mustJSON(http.MethodGet, "/cloudapi/1.0.0/sessions/current", "", http.StatusOK)["id"].(string)
	check("boss", boss, login)
	check("sysadmin", sys, login)

	// 2. A producer drives a task queued → running (50) → success for alice.
	orgHref := fmt.Sprintf(`{"name":"task","status":"queued","operation":"Backing up VM web-01","operationName":"backupInProgress",`+
		`"serviceNamespace":"org.example.backup","user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, aliceID)
	resp, body := f.admin.do(http.MethodPost, "/api/tasksList/"+acme, "application/*+json;version=39.0", orgHref,
		"Content-Type", "application/vnd.vmware.vcloud.task+json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create task = %d %s", resp.StatusCode, body)
	}
	var task map[string]any
	if err := json.Unmarshal(body, &task); err != nil {
		t.Fatal(err)
	}
	taskID := strings.TrimPrefix(task["id"].(string), "urn:vcloud:task:")
	taskStatus := func(status string) want { return want{"TASK", "notification.taskStatus", status} }
	taskEvent := func(action string) want {
		return want{"EVENT", "notification.type", "com/vmware/vcloud/event/task/" + action}
	}
	// Each change brings its TASK message and, where the status says so, a task event,
	// in either order; collect the next n messages per client.
	expectSet := func(who string, c *mqttClient, ws ...want) {
		t.Helper()
		got := map[string]bool{}
		for range ws {
			m := c.expectWithin(t, 2*time.Second)
			typ, h := envelope(t, m.Payload())
			naiveParse(t, m.Payload())
			got[typ+" "+h["notification.taskStatus"]+h["notification.type"]] = true
		}
		for _, w := range ws {
			if !got[w.typ+" "+w.value] {
				t.Errorf("%s: missing %s %s among %v", who, w.typ, w.value, got)
			}
		}
	}
	for _, c := range []struct {
		who string
		c   *mqttClient
	}{{"alice", alice}, {"boss", boss}, {"sysadmin", sys}} {
		expectSet(c.who, c.c, taskStatus("queued"), taskEvent("create"))
	}
	put := func(status string, progress int) {
		t.Helper()
		b := fmt.Sprintf(`{"name":"task","status":%q,"progress":%d,"operation":"Backing up VM web-01","operationName":"backupInProgress","serviceNamespace":"org.example.backup"}`, status, progress)
		resp, body := f.admin.do(http.MethodPut, "/api/task/"+taskID, "application/*+json;version=39.0", b,
			"Content-Type", "application/vnd.vmware.vcloud.task+json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT task %s = %d %s", status, resp.StatusCode, body)
		}
	}
	put("running", 50)
	expectSet("alice", alice, taskStatus("running"), taskEvent("start"))
	put("success", 100)
	expectSet("alice", alice, taskStatus("success"), taskEvent("complete"))

	// 3. An external event for alice's org and user.
	ev := fmt.Sprintf(`{"type":"backup/completed","serviceNamespace":"org.example.backup","success":true,"typeFull":"Backup of web-01 finished",`+
		`"user":{"id":"urn:vcloud:user:%s","name":"alice"},"eventProperties":{"eventProperty":[{"name":"sizeGB","value":"42"}]}}`, aliceID)
	resp, body = f.admin.do(http.MethodPost, "/api/admin/org/"+acme+"/events", "application/*+json;version=39.0", ev,
		"Content-Type", "application/vnd.vmware.admin.event+json")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("post external event = %d %s", resp.StatusCode, body)
	}
	inner = check("alice", alice, want{"EXTERNAL_EVENT", "notification.type", "backup/completed"})
	if p, _ := inner["properties"].(map[string]any); p["sizeGB"] != "42" {
		t.Errorf("external event properties = %v", inner["properties"])
	}

	// Bob, of another org, got nothing of this: his first message is his own.
	n := f.publishEvent(t, "bob@beta")
	if m := bob.expectWithin(t, 2*time.Second); !strings.Contains(string(m.Payload()), n.ID) {
		t.Errorf("bob got %q before his own event", m.Payload())
	}

	// The audit trail has the login with the notification's UUID (VCD-COMPAT §10.1),
	// once the history projector has caught up; alice sees her own records only.
	aliceREST := f.login(t, "alice@acme")
	path := "/cloudapi/1.0.0/auditTrail?filter=" + url.QueryEscape("eventType==com/vmware/vcloud/event/session/login")
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := aliceREST.mustJSON(http.MethodGet, path, "", http.StatusOK)
		values, _ := page["values"].([]any)
		found := false
		for _, v := range values {
			rec := v.(map[string]any)
			if rec["eventId"] == "urn:vcloud:audit:"+loginEventID {
				found = true
				// Its additionalProperties name the session and the client's
				// address, as in VCD's login records.
				props, _ := rec["additionalProperties"].(map[string]any)
				if props["user.session.id"] != loginSession || loginSession == "" ||
					props["currentContext.user.clientIpAddress"] != "127.0.0.1" || props["user.roles"] == nil {
					t.Errorf("login record's additionalProperties = %v; want user.session.id %s, "+
						"currentContext.user.clientIpAddress 127.0.0.1 and user.roles", props, loginSession)
				}
			}
			if u, _ := rec["user"].(map[string]any); u["name"] != "alice" {
				t.Fatalf("alice sees another user's audit record: %v", rec)
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login event %s not in the audit trail: %v", loginEventID, page)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline for the asynchronous projector
	}
}
