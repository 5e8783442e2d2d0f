package notify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

// The ids of VCD-COMPAT's examples.
const (
	orgID   = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	aliceID = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	taskID  = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	vAppID  = "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c"
	vmID    = "8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"
)

// MustTime parses an RFC 3339 time or fails the test.
func MustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// MustGolden reads testdata/name.
func MustGolden(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// loginEvent is the input of VCD-COMPAT §8.2's example: alice logs in.
func loginEvent(tb testing.TB) notify.EventInfo {
	return notify.EventInfo{
		ID:         "3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90",
		Type:       notify.EventTypePrefix + "session/login",
		Time:       MustTime(tb, "2025-03-14T09:26:53.589Z"),
		Success:    true,
		OrgID:      orgID,
		UserID:     aliceID,
		EntityType: "user",
		EntityID:   aliceID,
		EntityName: "alice",
	}
}

// backupEventXML is the body of VCD-COMPAT §8.3's example.
const backupEventXML = `<Event xmlns="http://www.vmware.com/vcloud/v1.5" type="backup/completed" serviceNamespace="org.example.backup" success="true"
       typeFull="Backup of web-01 finished">
  <Owner href="https://HOST/api/vApp/vm-8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e" type="application/vnd.vmware.vcloud.vm+xml" name="web-01"/>
  <User href="https://HOST/api/admin/user/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f" type="application/vnd.vmware.admin.user+xml" name="alice"/>
  <EventProperties><EventProperty name="sizeGB" value="42"/></EventProperties>
</Event>`

// backupEvent is the input of VCD-COMPAT §8.3's example, from its XML body.
func backupEvent(tb testing.TB) notify.ExternalEventInfo {
	tb.Helper()
	body, err := notify.DecodeEventXML([]byte(backupEventXML))
	if err != nil {
		tb.Fatal(err)
	}
	user, ok := body.UserID()
	if !ok {
		tb.Fatal("UserID() = false; want alice")
	}
	return notify.ExternalEventInfo{
		ID:      "c2a4e6f8-1b3d-4f5a-8c7e-9d0b2f4a6c8e",
		Time:    MustTime(tb, "2025-03-14T09:40:00Z"),
		OrgID:   orgID,
		OrgName: "acme",
		UserID:  user,
		Body:    body,
	}
}

// runningTask is the task of VCD-COMPAT §8.4's example.
func runningTask(tb testing.TB) *notify.Task {
	tb.Helper()
	const host = "https://vcd.example.com"
	t := &notify.Task{
		Href:             host + "/api/task/" + taskID,
		ID:               "urn:vcloud:task:" + taskID,
		Name:             "task",
		Owner:            &notify.Reference{Href: host + "/api/vApp/vm-" + vmID, ID: "urn:vcloud:vm:" + vmID, Type: "application/vnd.vmware.vcloud.vm+xml", Name: "web-01"},
		User:             &notify.Reference{Href: host + "/api/admin/user/" + aliceID, ID: "urn:vcloud:user:" + aliceID, Type: "application/vnd.vmware.admin.user+xml", Name: "alice"},
		Organization:     &notify.Reference{Href: host + "/api/org/" + orgID, ID: "urn:vcloud:org:" + orgID, Type: "application/vnd.vmware.vcloud.org+xml", Name: "acme"},
		Progress:         40,
		Status:           notify.StatusRunning,
		Operation:        "Backing up VM web-01",
		OperationName:    "backupInProgress",
		ServiceNamespace: "org.example.backup",
		StartTime:        MustTime(tb, "2025-03-14T09:30:00Z"),
	}
	t.ExpiryTime = t.StartTime.Add(notify.DefaultTaskExpiry)
	t.Links = notify.TaskLinks(t, false)
	return t
}

// shopMetrics is the input of VCD-COMPAT §9.3's example.
func shopMetrics(tb testing.TB) notify.MetricsInfo {
	at := MustTime(tb, "2025-03-14T09:35:00Z")
	return notify.MetricsInfo{
		VAppID: vAppID,
		OrgID:  "urn:vcloud:org:" + orgID,
		Time:   at,
		VMs: []notify.VMMetrics{{
			ID:   "urn:vcloud:vm:" + vmID,
			Name: "web-01",
			Metrics: []notify.Metric{
				{Name: "cpu.usage.average", Unit: "PERCENT", Value: 33.7, Time: at},
				{Name: "mem.usage.average", Unit: "PERCENT", Value: 61.2, Time: at},
				{Name: "disk.used.latest", Unit: "KILOBYTE", Value: 10485760, Time: at},
			},
		}},
	}
}

// TestGolden builds the inputs of the examples of VCD-COMPAT §8.2, §8.3, §8.4 and
// §9.3 and compares the envelopes, byte for byte, with the examples.
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		build  func(t *testing.T) (notify.Notification, error)
		topic  string
		typ    string
		id     string
	}{
		{
			name: "EVENT", golden: "event.golden", typ: notify.TypeEvent,
			topic: "publish/" + orgID + "/" + aliceID, id: "3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90",
			build: func(t *testing.T) (notify.Notification, error) { return notify.Event(loginEvent(t)) },
		},
		{
			name: "EXTERNAL_EVENT", golden: "external_event.golden", typ: notify.TypeExternalEvent,
			topic: "publish/" + orgID + "/" + aliceID, id: "c2a4e6f8-1b3d-4f5a-8c7e-9d0b2f4a6c8e",
			build: func(t *testing.T) (notify.Notification, error) { return notify.ExternalEvent(backupEvent(t)) },
		},
		{
			name: "TASK", golden: "task.golden", typ: notify.TypeTask,
			topic: "publish/" + orgID + "/" + aliceID, id: "my-id",
			build: func(t *testing.T) (notify.Notification, error) {
				return notify.TaskChanged(runningTask(t), "my-id", MustTime(t, "2025-03-14T09:31:00Z"))
			},
		},
		{
			name: "METRICS", golden: "metrics.golden", typ: notify.TypeMetrics,
			topic: "metrics/" + orgID + "/" + vAppID, id: "m-1",
			build: func(t *testing.T) (notify.Notification, error) {
				m := shopMetrics(t)
				m.ID = "m-1"
				return notify.Metrics(m)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.build(t)
			if err != nil {
				t.Fatal(err)
			}
			want := MustGolden(t, tc.golden)
			if !bytes.Equal(n.Envelope, want) {
				t.Errorf("envelope differs from testdata/%s\n got: %s\nwant: %s", tc.golden, n.Envelope, want)
			}
			if n.Topic != tc.topic || n.Type != tc.typ || n.ID != tc.id {
				t.Errorf("Notification{ID: %q, Topic: %q, Type: %q}; want {%q, %q, %q}", n.ID, n.Topic, n.Type, tc.id, tc.topic, tc.typ)
			}
			// The canonical layout of a producer's copy is the same bytes.
			e, err := notify.ParseEnvelope(n.Envelope)
			if err != nil {
				t.Fatalf("ParseEnvelope: %v", err)
			}
			if got := notify.Canonical(e); !bytes.Equal(got, want) {
				t.Errorf("Canonical(ParseEnvelope(golden)) =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// naivePayload does what the widely copied script does (VCD-COMPAT §8.1): take the
// text after the first payload":", drop the last two characters, delete every
// backslash, and parse the rest as JSON.
func naivePayload(msg []byte) (any, error) {
	s := string(msg)
	i := strings.Index(s, `payload":"`)
	if i < 0 {
		return nil, errNoPayload
	}
	s = s[i+len(`payload":"`):]
	if len(s) < 2 {
		return nil, errNoPayload
	}
	s = strings.ReplaceAll(s[:len(s)-2], `\`, "")
	var v any
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

type naiveError string

func (e naiveError) Error() string { return string(e) }

const errNoPayload = naiveError("no payload\":\" in message")

// TestGolden_NaiveClient checks that the script of VCD-COMPAT §8.1 reads each example
// message, and finds the same payload a JSON parser does.
func TestGolden_NaiveClient(t *testing.T) {
	for _, name := range []string{"event.golden", "external_event.golden", "task.golden", "metrics.golden"} {
		t.Run(name, func(t *testing.T) {
			msg := MustGolden(t, name)
			got, err := naivePayload(msg)
			if err != nil {
				t.Fatalf("naive client: %v", err)
			}
			var env struct{ Payload string }
			if err := json.Unmarshal(msg, &env); err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal([]byte(env.Payload), &want); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, want) {
				t.Errorf("naive client read %v; want %v", got, want)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
