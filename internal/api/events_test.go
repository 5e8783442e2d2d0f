package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// backupEventXML is the body of VCD-COMPAT §8.3's example.
const backupEventXML = `<Event xmlns="http://www.vmware.com/vcloud/v1.5" type="backup/completed" serviceNamespace="org.example.backup" success="true"
       typeFull="Backup of web-01 finished">
  <Owner href="https://HOST/api/vApp/vm-8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e" type="application/vnd.vmware.vcloud.vm+xml" name="web-01"/>
  <User href="https://HOST/api/admin/user/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f" type="application/vnd.vmware.admin.user+xml" name="alice"/>
  <EventProperties><EventProperty name="sizeGB" value="42"/></EventProperties>
</Event>`

// backupEventJSON is the same event in VCD's legacy JSON naming.
const backupEventJSON = `{"type":"backup/completed","serviceNamespace":"org.example.backup","success":true,
 "typeFull":"Backup of web-01 finished","owner":{"href":"https://HOST/api/vApp/vm-8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e","name":"web-01"},
 "user":{"id":"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"},"eventProperties":{"eventProperty":[{"name":"sizeGB","value":"42"}]}}`

// TestPostEvent: POST /api/admin/org/{id}/events publishes exactly one EXTERNAL_EVENT
// on publish/{org}/{User} (VCD-COMPAT §8.3), and refuses invalid input with 400.
func TestPostEvent(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	carol := env.mustLogin(t, "carol@acme")
	path := "/api/admin/org/" + acmeID + "/events"
	aliceTopic := "publish/" + acmeID + "/" + aliceID

	ok := []struct {
		name, body, contentType, topic string
	}{
		{"XML", backupEventXML, "application/vnd.vmware.admin.event+xml", aliceTopic},
		{"JSON", backupEventJSON, "application/vnd.vmware.admin.event+json", aliceTopic},
		{"PlainJSON", backupEventJSON, "application/json", aliceTopic},
		{"DefaultUserIsCaller", `{"type":"backup/started","serviceNamespace":"org.example.backup"}`, "application/json",
			"publish/" + acmeID + "/" + adminID},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			mark := env.notes.mark()
			r := env.do(t, "POST", path, tc.body, admin, "Content-Type: "+tc.contentType)
			wantStatus(t, r, 204)
			notes := env.notes.since(mark)
			if len(notes) != 1 {
				t.Fatalf("%d notifications; want 1", len(notes))
			}
			n := decodeNote(t, notes[0])
			if n.Type != notify.TypeExternalEvent || n.Topic != tc.topic {
				t.Errorf("notification %s on %q; want %s on %q", n.Type, n.Topic, notify.TypeExternalEvent, tc.topic)
			}
			if n.payload["operationSuccess"] != true || n.payload["org"] != "urn:vcloud:org:"+acmeID {
				t.Errorf("payload %s", n.raw)
			}
			// Its audit record names who posted it.
			if o := notify.ParseOrigin(notes[0].Origin); o.ClientIP != "127.0.0.1" || !vcd.IsUUID(o.SessionID) {
				t.Errorf("origin %q: want the producer's session and 127.0.0.1", notes[0].Origin)
			}
			if tc.topic == aliceTopic {
				if n.payload["entity"] != "urn:vcloud:vm:"+exampleVMID || n.headers["notification.serviceNamespace"] != "org.example.backup" {
					t.Errorf("payload %s, headers %v", n.raw, n.headers)
				}
				if diff := cmp.Diff(map[string]any{"sizeGB": "42"}, n.payload["properties"]); diff != "" {
					t.Errorf("properties (-want +got):\n%s", diff)
				}
			}
		})
	}

	bad := []struct {
		name, cred, path, body, contentType string
		want                                int
	}{
		{"OrgAdmin", carol, path, backupEventJSON, "application/json", 403},
		{"UnknownOrg", admin, "/api/admin/org/00000000-0000-4000-8000-000000000000/events", backupEventJSON, "application/json", 403},
		{"ReservedType", admin, path, `{"type":"com/vmware/vcloud/x","serviceNamespace":"org.example"}`, "application/json", 400},
		{"NoNamespace", admin, path, `{"type":"x"}`, "application/json", 400},
		{"MalformedXML", admin, path, `<Event type="x"`, "application/xml", 400},
		{"UserOfOtherOrg", admin, path, `{"type":"x","serviceNamespace":"org.example","user":{"id":"urn:vcloud:user:` + daveID + `"}}`, "application/json", 400},
		{"UserNotAUser", admin, path, `{"type":"x","serviceNamespace":"org.example","user":{"id":"urn:vcloud:vm:` + exampleVMID + `"}}`, "application/json", 400},
		{"TextBody", admin, path, "hello", "text/plain", 415},
		{"Empty", admin, path, "", "application/json", 400},
	}
	for _, tc := range bad {
		t.Run("Err"+tc.name, func(t *testing.T) {
			mark := env.notes.mark()
			r := env.do(t, "POST", tc.path, tc.body, tc.cred, "Content-Type: "+tc.contentType)
			wantStatus(t, r, tc.want)
			if n := len(env.notes.since(mark)); n != 0 {
				t.Errorf("refused event published %d notifications", n)
			}
		})
	}

	t.Run("ErrLogDown", func(t *testing.T) {
		env.notes.setFail(vcd.Errorf(vcd.CodeUnavailable, "log down"))
		defer env.notes.setFail(nil)
		wantStatus(t, env.do(t, "POST", path, backupEventJSON, admin, "Content-Type: application/json"), 503)
	})
}

// TestOperationEvents: each of herald's own operations raises exactly one EVENT of its
// type, on the topic of VCD-COMPAT §8.5, with its operationSuccess (§8.2).
func TestOperationEvents(t *testing.T) {
	const (
		sessions = "/cloudapi/1.0.0/sessions"
		users    = "/cloudapi/1.0.0/users/urn:vcloud:user:"
		orgs     = "/cloudapi/1.0.0/orgs"
	)
	topic := func(org, user string) string { return "publish/" + org + "/" + user }
	tests := []struct {
		name    string
		do      func(t *testing.T, env *notifyEnv) (topic string) // runs the operation, returns the wanted topic
		typ     string
		success bool
	}{
		{"Login", func(t *testing.T, env *notifyEnv) string {
			env.mustLogin(t, "alice@acme")
			return topic(acmeID, aliceID)
		}, "session/login", true},
		{"LegacyLogin", func(t *testing.T, env *notifyEnv) string {
			wantStatus(t, env.do(t, "POST", "/api/sessions", "", basic("alice@acme", password), acceptXML), 200)
			return topic(acmeID, aliceID)
		}, "session/login", true},
		{"FailedLogin", func(t *testing.T, env *notifyEnv) string {
			wantStatus(t, env.do(t, "POST", sessions, "", basic("alice@acme", "wrong"), acceptJSON), 401)
			return topic(acmeID, aliceID)
		}, "session/login", false},
		{"FailedLoginThatLocks", func(t *testing.T, env *notifyEnv) string {
			wantStatus(t, env.do(t, "POST", sessions, "", basic("alice@acme", lockPassword), acceptJSON), 401)
			return topic(acmeID, aliceID)
		}, "session/login", false},
		{"Lockout", func(t *testing.T, env *notifyEnv) string {
			wantStatus(t, env.do(t, "POST", sessions, "", basic("alice@acme", lockPassword), acceptJSON), 401)
			return topic(acmeID, aliceID)
		}, "user/lockout", true},
		{"Logout", func(t *testing.T, env *notifyEnv) string {
			alice := env.mustLogin(t, "alice@acme")
			wantStatus(t, env.do(t, "DELETE", sessions+"/current", "", alice), 204)
			return topic(acmeID, aliceID)
		}, "session/logout", true},
		{"SessionRevokedByAdmin", func(t *testing.T, env *notifyEnv) string {
			r := env.do(t, "POST", sessions, "", basic("alice@acme", password), acceptJSON)
			wantStatus(t, r, 200)
			admin := env.mustLogin(t, "administrator@System")
			wantStatus(t, env.do(t, "DELETE", sessions+"/"+jsonField(t, r.body, "id"), "", admin), 204)
			return topic(acmeID, adminID)
		}, "session/logout", true},
		{"UserCreate", func(t *testing.T, env *notifyEnv) string {
			carol := env.mustLogin(t, "carol@acme")
			wantStatus(t, env.do(t, "POST", "/cloudapi/1.0.0/users",
				`{"username":"zed","password":"longenough","roleEntityRefs":[{"name":"vApp User"}]}`, carol), 201)
			return topic(acmeID, carolID)
		}, "user/create", true},
		{"UserModify", func(t *testing.T, env *notifyEnv) string {
			carol := env.mustLogin(t, "carol@acme")
			wantStatus(t, env.do(t, "PUT", users+aliceID, `{"fullName":"Alice B"}`, carol), 200)
			return topic(acmeID, carolID)
		}, "user/modify", true},
		{"UserDisable", func(t *testing.T, env *notifyEnv) string {
			admin := env.mustLogin(t, "administrator@System")
			wantStatus(t, env.do(t, "PUT", users+aliceID, `{"enabled":false}`, admin), 200)
			return topic(acmeID, adminID)
		}, "user/disable", true},
		{"UserEnable", func(t *testing.T, env *notifyEnv) string {
			admin := env.mustLogin(t, "administrator@System")
			env.store.mu.Lock()
			u := env.store.users[erinID]
			u.Enabled = false
			env.store.users[erinID] = u
			env.store.mu.Unlock()
			wantStatus(t, env.do(t, "PUT", users+erinID, `{"enabled":true}`, admin), 200)
			return topic(acmeID, adminID)
		}, "user/enable", true},
		{"UserUnlock", func(t *testing.T, env *notifyEnv) string {
			carol := env.mustLogin(t, "carol@acme")
			env.store.mu.Lock()
			u := env.store.users[erinID]
			u.LockedUntil = taskStart.Add(10 * time.Minute)
			env.store.users[erinID] = u
			env.store.mu.Unlock()
			wantStatus(t, env.do(t, "PUT", users+erinID, `{"locked":false}`, carol), 200)
			return topic(acmeID, carolID)
		}, "user/unlock", true},
		{"UserDelete", func(t *testing.T, env *notifyEnv) string {
			carol := env.mustLogin(t, "carol@acme")
			wantStatus(t, env.do(t, "DELETE", users+erinID, "", carol), 204)
			return topic(acmeID, carolID)
		}, "user/delete", true},
		{"TokenCreate", func(t *testing.T, env *notifyEnv) string {
			alice := env.mustLogin(t, "alice@acme")
			wantStatus(t, env.do(t, "POST", "/cloudapi/1.0.0/tokens", `{"name":"ci","type":"REFRESH"}`, alice), 200)
			return topic(acmeID, aliceID)
		}, "token/create", true},
		{"TokenDelete", func(t *testing.T, env *notifyEnv) string {
			alice := env.mustLogin(t, "alice@acme")
			r := env.do(t, "POST", "/cloudapi/1.0.0/tokens", `{"name":"ci","type":"REFRESH"}`, alice)
			wantStatus(t, r, 200)
			wantStatus(t, env.do(t, "DELETE", "/cloudapi/1.0.0/tokens/"+jsonField(t, r.body, "id"), "", alice), 204)
			return topic(acmeID, aliceID)
		}, "token/delete", true},
		{"OrgCreate", func(t *testing.T, env *notifyEnv) string {
			admin := env.mustLogin(t, "administrator@System")
			r := env.do(t, "POST", orgs, `{"name":"gamma","displayName":"Gamma"}`, admin)
			wantStatus(t, r, 201)
			id, _ := vcd.ParseID(vcd.KindOrg, jsonField(t, r.body, "id"))
			return topic(id, adminID)
		}, "org/create", true},
		{"OrgModify", func(t *testing.T, env *notifyEnv) string {
			admin := env.mustLogin(t, "administrator@System")
			wantStatus(t, env.do(t, "PUT", orgs+"/urn:vcloud:org:"+betaID, `{"displayName":"B"}`, admin), 200)
			return topic(betaID, adminID)
		}, "org/modify", true},
		{"OrgDelete", func(t *testing.T, env *notifyEnv) string {
			admin := env.mustLogin(t, "administrator@System")
			wantStatus(t, env.do(t, "PUT", orgs+"/urn:vcloud:org:"+betaID, `{"isEnabled":false}`, admin), 200)
			wantStatus(t, env.do(t, "DELETE", orgs+"/urn:vcloud:org:"+betaID+"?recursive=true", "", admin), 204)
			return topic(betaID, adminID)
		}, "org/delete", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := mustServeNotify(t)
			wantTopic := tc.do(t, env)
			var got []string
			for _, n := range env.notes.since(0) {
				x := decodeNote(t, n)
				if n.Type != notify.TypeEvent || x.headers["notification.type"] != notify.EventTypePrefix+tc.typ {
					continue
				}
				got = append(got, n.Topic)
				if x.payload["operationSuccess"] != tc.success || x.headers["notification.operationSuccess"] != map[bool]string{true: "true", false: "false"}[tc.success] {
					t.Errorf("operationSuccess = %v, header %q; want %v", x.payload["operationSuccess"], x.headers["notification.operationSuccess"], tc.success)
				}
				if n.ID != x.payload["eventId"] {
					t.Errorf("notification id %q; want the eventId %v", n.ID, x.payload["eventId"])
				}
				// Its origin, for the audit record: the client's address, and the
				// session of a login or of the caller (a failed login has none).
				o := notify.ParseOrigin(n.Origin)
				if o.ClientIP != "127.0.0.1" || (o.SessionID == "") != (tc.typ == "user/lockout" || !tc.success) ||
					o.SessionID != "" && !vcd.IsUUID(o.SessionID) {
					t.Errorf("origin %q: want the client 127.0.0.1 and a session unless the login failed", n.Origin)
				}
			}
			if diff := cmp.Diff([]string{wantTopic}, got); diff != "" {
				t.Errorf("%s events (-want +got):\n%s", tc.typ, diff)
			}
		})
	}
}

// TestOperationEvents_NotifyFailure: an operation succeeds even when its event cannot
// be stored.
func TestOperationEvents_NotifyFailure(t *testing.T) {
	env := mustServeNotify(t)
	env.notes.setFail(vcd.Errorf(vcd.CodeUnavailable, "log down"))
	admin := env.mustLogin(t, "administrator@System")
	r := env.do(t, "POST", "/cloudapi/1.0.0/orgs", `{"name":"gamma","displayName":"Gamma"}`, admin)
	wantStatus(t, r, 201)
	if !strings.Contains(r.body, `"name":"gamma"`) {
		t.Errorf("body %s", r.body)
	}
}
