package api_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// The ids of VCD-COMPAT §8.4's example.
const (
	exampleTaskID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	exampleVMID   = "8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"
	acceptJSON    = "Accept: application/*+json;version=39.0"
	acceptXML     = "Accept: application/*+xml;version=39.0"
)

// backupTaskJSON is the producer's body for the task of VCD-COMPAT §8.4's example.
func backupTaskJSON(status string, progress int) string {
	return `{"name":"task","status":"` + status + `","operation":"Backing up VM web-01",` +
		`"operationName":"backupInProgress","serviceNamespace":"org.example.backup","progress":` + itoa(progress) + `,` +
		`"owner":{"href":"https://vcd.example.com/api/vApp/vm-` + exampleVMID + `","id":"urn:vcloud:vm:` + exampleVMID + `",` +
		`"type":"application/vnd.vmware.vcloud.vm+xml","name":"web-01"},"user":{"id":"urn:vcloud:user:` + aliceID + `"}}`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// mustCreateTask creates a task in org as the sysadmin cred and returns its bare id.
func (env *notifyEnv) mustCreateTask(tb testing.TB, cred, org, body string) string {
	tb.Helper()
	r := env.do(tb, "POST", "/api/tasksList/"+org, body, cred, acceptJSON)
	wantStatus(tb, r, 200)
	id, ok := vcd.ParseID(vcd.KindTask, jsonField(tb, r.body, "id"))
	if !ok {
		tb.Fatalf("no task id in %s", r.body)
	}
	return id
}

// asExample replaces the generated task id with the example's.
func asExample(s, id string) string { return strings.ReplaceAll(s, id, exampleTaskID) }

func mustReadFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestTask_Example builds VCD-COMPAT §8.4's example through the producer API: the TASK
// envelope and the Task JSON and XML alice reads are byte for byte those of the notify
// package's goldens, built there from the same inputs.
func TestTask_Example(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	alice := env.mustLogin(t, "alice@acme")
	mark := env.notes.mark()
	id := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("running", 40))

	golden := mustReadFile(t, filepath.Join("..", "notify", "testdata", "task.golden"))
	var kinds []string
	for _, n := range env.notes.since(mark) {
		x := decodeNote(t, n)
		kinds = append(kinds, n.Type+" "+x.headers["notification.type"])
		if n.Type == notify.TypeTask {
			if got := asExample(string(n.Envelope), id); got != golden {
				t.Errorf("TASK envelope:\n got %s\nwant %s", got, golden)
			}
			if want := "publish/" + acmeID + "/" + aliceID; n.Topic != want {
				t.Errorf("TASK topic = %q; want %q", n.Topic, want)
			}
		} else if o := notify.ParseOrigin(n.Origin); o.ClientIP != "127.0.0.1" || !vcd.IsUUID(o.SessionID) {
			// A task event's audit record names the producer's session and address.
			t.Errorf("%s origin %q: want the producer's session and 127.0.0.1", x.headers["notification.type"], n.Origin)
		}
	}
	wantKinds := []string{"TASK ", "EVENT com/vmware/vcloud/event/task/create", "EVENT com/vmware/vcloud/event/task/start"}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("notifications of the creation (-want +got):\n%s", diff)
	}

	var env8 struct{ Payload string }
	if err := json.Unmarshal([]byte(golden), &env8); err != nil {
		t.Fatal(err)
	}
	r := env.do(t, "GET", "/api/task/"+id, "", alice, acceptJSON)
	wantStatus(t, r, 200)
	if got := asExample(r.body, id); got != env8.Payload {
		t.Errorf("GET Task JSON:\n got %s\nwant %s", got, env8.Payload)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/vnd.vmware.vcloud.task+json;version=39.0" {
		t.Errorf("Content-Type = %q", ct)
	}

	r = env.do(t, "GET", "/api/task/"+id, "", alice, acceptXML)
	wantStatus(t, r, 200)
	wantXML := xml.Header + mustReadFile(t, filepath.Join("..", "notify", "testdata", "task.xml"))
	if got := asExample(r.body, id); got != wantXML {
		t.Errorf("GET Task XML:\n got %s\nwant %s", got, wantXML)
	}
}

// TestTask_CreateXML creates a task from an XML body and answers in XML, with the
// sysadmin's edit link; User defaults to the caller.
func TestTask_CreateXML(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	body := `<Task xmlns="http://www.vmware.com/vcloud/v1.5" name="import" status="queued" operation="Importing" ` +
		`operationName="import" serviceNamespace="org.example.importer"><Progress>0</Progress></Task>`
	r := env.do(t, "POST", "/api/tasksList/"+acmeID, body, admin, acceptXML,
		"Content-Type: application/vnd.vmware.vcloud.task+xml")
	wantStatus(t, r, 200)
	var got struct {
		ID    string `xml:"id,attr"`
		Links []struct {
			Rel string `xml:"rel,attr"`
		} `xml:"Link"`
		User struct {
			Name string `xml:"name,attr"`
		} `xml:"User"`
	}
	if err := xml.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	id, _ := vcd.ParseID(vcd.KindTask, got.ID)
	checkGolden(t, "task-created.xml", asExample(r.body, id))
	if len(got.Links) != 2 || got.Links[1].Rel != "edit" || got.User.Name != "administrator" {
		t.Errorf("Task = %+v; want links task:cancel and edit, user administrator", got)
	}
}

// TestTask_Transitions pins which changes PUT /api/task/{id} accepts (VCD-COMPAT §8.4)
// and the task event each raises.
func TestTask_Transitions(t *testing.T) {
	tests := []struct {
		name     string
		from     []string // statuses PUT in order after creation as queued
		status   string
		progress int
		want     int
		event    string // the task event the last PUT raises, if any
	}{
		{"QueuedToRunning", nil, "running", 10, 200, "task/start"},
		{"RunningToSuccess", []string{"running"}, "success", 100, 200, "task/complete"},
		{"RunningToError", []string{"running"}, "error", 50, 200, "task/fail"},
		{"QueuedToCanceled", nil, "canceled", 0, 200, "task/abort"},
		{"RunningToAborted", []string{"running"}, "aborted", 0, 200, "task/abort"},
		{"ProgressOnly", []string{"running"}, "running", 60, 200, ""},
		{"QueuedToPreRunning", nil, "preRunning", 0, 200, ""},
		{"SuccessStays", []string{"running", "success"}, "success", 90, 200, ""},
		{"SuccessToRunning", []string{"running", "success"}, "running", 50, 400, ""},
		{"ErrorToQueued", []string{"error"}, "queued", 0, 400, ""},
		{"Progress101", nil, "running", 101, 400, ""},
		{"ProgressNegative", nil, "running", -1, 400, ""},
		{"UnknownStatus", nil, "done", 0, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := mustServeNotify(t)
			admin := env.mustLogin(t, "administrator@System")
			id := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("queued", 0))
			for _, s := range tc.from {
				wantStatus(t, env.do(t, "PUT", "/api/task/"+id, backupTaskJSON(s, 0), admin, acceptJSON), 200)
			}
			env.clock.Set(taskStart.Add(time.Minute))
			mark := env.notes.mark()
			r := env.do(t, "PUT", "/api/task/"+id, backupTaskJSON(tc.status, tc.progress), admin, acceptJSON)
			wantStatus(t, r, tc.want)
			notes := env.notes.since(mark)
			if tc.want != 200 {
				if len(notes) != 0 {
					t.Errorf("refused PUT published %d notifications", len(notes))
				}
				if !strings.Contains(r.body, "BAD_REQUEST") {
					t.Errorf("body %s; want BAD_REQUEST", r.body)
				}
				return
			}
			var events []string
			for _, n := range notes {
				if n.Type == notify.TypeEvent {
					events = append(events, strings.TrimPrefix(decodeNote(t, n).headers["notification.type"], notify.EventTypePrefix))
				}
			}
			var want []string
			if tc.event != "" {
				want = []string{tc.event}
			}
			if diff := cmp.Diff(want, events); diff != "" {
				t.Errorf("task events (-want +got):\n%s", diff)
			}
			if len(notes) == 0 || notes[0].Type != notify.TypeTask {
				t.Fatalf("notifications %v; want TASK first", notes)
			}
			task := decodeNote(t, notes[0]).payload
			if task["status"] != tc.status || task["progress"] != float64(tc.progress) {
				t.Errorf("TASK status, progress = %v, %v; want %s, %d", task["status"], task["progress"], tc.status, tc.progress)
			}
			wantEnd := notify.Terminal(tc.status)
			if gotEnd := task["endTime"] != nil; gotEnd != wantEnd {
				t.Errorf("endTime = %v; want set: %v", task["endTime"], wantEnd)
			}
		})
	}
}

// TestTask_RetriedPUT: a PUT repeated with the same state, or retried after the
// notification log failed, never stores a second notification id for one change.
func TestTask_RetriedPUT(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	id := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("queued", 0))
	body := backupTaskJSON("running", 10)

	env.notes.setFail(vcd.Errorf(vcd.CodeUnavailable, "log down"))
	wantStatus(t, env.do(t, "PUT", "/api/task/"+id, body, admin, acceptJSON), 503)
	env.notes.setFail(nil)

	before := len(env.notes.distinctIDs())
	mark := env.notes.mark()
	wantStatus(t, env.do(t, "PUT", "/api/task/"+id, body, admin, acceptJSON), 200)
	var kinds []string
	for _, n := range env.notes.since(mark) {
		kinds = append(kinds, n.Type+" "+decodeNote(t, n).headers["notification.taskStatus"]+decodeNote(t, n).headers["notification.type"])
	}
	want := []string{"TASK running", "EVENT com/vmware/vcloud/event/task/start"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("notifications of the retry (-want +got):\n%s", diff)
	}
	afterRetry := env.notes.distinctIDs()
	if len(afterRetry) != before+2 {
		t.Fatalf("distinct ids %d after the retry; want %d", len(afterRetry), before+2)
	}

	env.clock.Set(taskStart.Add(time.Minute))
	wantStatus(t, env.do(t, "PUT", "/api/task/"+id, body, admin, acceptJSON), 200)
	if diff := cmp.Diff(afterRetry, env.notes.distinctIDs()); diff != "" {
		t.Errorf("a repeated PUT added notification ids (-want +got):\n%s", diff)
	}
}

// TestTask_CreateNotifyFails: when the notification log fails, the producer gets 503
// and no task is left behind.
func TestTask_CreateNotifyFails(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	env.notes.setFail(vcd.Errorf(vcd.CodeUnavailable, "log down"))
	r := env.do(t, "POST", "/api/tasksList/"+acmeID, backupTaskJSON("queued", 0), admin, acceptJSON)
	wantStatus(t, r, 503)
	if n := env.tasks.count(); n != 0 {
		t.Errorf("%d tasks stored after a failed creation; want 0", n)
	}
}

// TestTask_Cancel: the task's user asks to cancel; cancelRequested becomes true and
// TASK is published; a terminal task cannot be canceled.
func TestTask_Cancel(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	alice := env.mustLogin(t, "alice@acme")
	id := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("running", 10))

	mark := env.notes.mark()
	wantStatus(t, env.do(t, "POST", "/api/task/"+id+"/action/cancel", "", alice), 204)
	notes := env.notes.since(mark)
	if len(notes) != 1 || notes[0].Type != notify.TypeTask || decodeNote(t, notes[0]).payload["cancelRequested"] != true {
		t.Fatalf("notifications %v; want one TASK with cancelRequested true", notes)
	}
	// Asking again changes nothing and stores no new id.
	ids := env.notes.distinctIDs()
	wantStatus(t, env.do(t, "POST", "/api/task/"+id+"/action/cancel", "", alice), 204)
	if diff := cmp.Diff(ids, env.notes.distinctIDs()); diff != "" {
		t.Errorf("second cancel added ids (-want +got):\n%s", diff)
	}

	wantStatus(t, env.do(t, "PUT", "/api/task/"+id, backupTaskJSON("canceled", 10), admin, acceptJSON), 200)
	wantStatus(t, env.do(t, "POST", "/api/task/"+id+"/action/cancel", "", alice), 400)
}

// TestTask_Rights pins who may produce, read and cancel tasks (VCD-COMPAT §5.4, §8.4).
func TestTask_Rights(t *testing.T) {
	env := mustServeNotify(t)
	creds := map[string]string{}
	for _, who := range []string{"administrator@System", "alice@acme", "carol@acme", "erin@acme", "dave@beta"} {
		creds[who] = env.mustLogin(t, who)
	}
	admin := creds["administrator@System"]
	aliceTask := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("running", 10))
	daveTask := env.mustCreateTask(t, admin, betaID,
		`{"name":"t","status":"queued","user":{"href":"https://vcd.example.com/api/admin/user/`+daveID+`"}}`)
	const unknown = "00000000-0000-4000-8000-000000000000"
	create := backupTaskJSON("queued", 0)

	tests := []struct {
		name, who, method, path, body string
		want                          int
	}{
		{"SysadminCreates", "administrator@System", "POST", "/api/tasksList/" + acmeID, create, 200},
		{"OrgAdminCreates", "carol@acme", "POST", "/api/tasksList/" + acmeID, create, 403},
		{"UserCreates", "alice@acme", "POST", "/api/tasksList/" + acmeID, create, 403},
		{"CreateUnknownOrg", "administrator@System", "POST", "/api/tasksList/" + unknown, create, 403},
		{"CreateUserOfOtherOrg", "administrator@System", "POST", "/api/tasksList/" + betaID, create, 400},

		{"SysadminReads", "administrator@System", "GET", "/api/task/" + aliceTask, "", 200},
		{"OrgAdminReadsOwnOrg", "carol@acme", "GET", "/api/task/" + aliceTask, "", 200},
		{"OrgAdminReadsOtherOrg", "dave@beta", "GET", "/api/task/" + aliceTask, "", 403},
		{"UserReadsOwn", "alice@acme", "GET", "/api/task/" + aliceTask, "", 200},
		{"UserReadsOther", "erin@acme", "GET", "/api/task/" + aliceTask, "", 403},
		{"UnknownID", "administrator@System", "GET", "/api/task/" + unknown, "", 403},
		{"MalformedID", "administrator@System", "GET", "/api/task/nope", "", 403},
		{"OrgAdminOwnTaskOtherOrg", "dave@beta", "GET", "/api/task/" + daveTask, "", 200},

		{"SysadminUpdates", "administrator@System", "PUT", "/api/task/" + aliceTask, backupTaskJSON("running", 20), 200},
		{"OrgAdminUpdates", "carol@acme", "PUT", "/api/task/" + aliceTask, backupTaskJSON("running", 30), 403},
		{"UserUpdatesOwn", "alice@acme", "PUT", "/api/task/" + aliceTask, backupTaskJSON("running", 30), 403},

		{"UserCancelsOther", "erin@acme", "POST", "/api/task/" + aliceTask + "/action/cancel", "", 403},
		{"OrgAdminCancelsOtherOrg", "carol@acme", "POST", "/api/task/" + daveTask + "/action/cancel", "", 403},
		{"OrgAdminCancelsOwnOrg", "dave@beta", "POST", "/api/task/" + daveTask + "/action/cancel", "", 204},

		{"OrgAdminListsOwnOrg", "carol@acme", "GET", "/api/tasksList/" + acmeID, "", 200},
		{"OrgAdminListsOtherOrg", "carol@acme", "GET", "/api/tasksList/" + betaID, "", 403},
		{"UserListsOwnOrg", "erin@acme", "GET", "/api/tasksList/" + acmeID, "", 200},
		{"ListUnknownOrg", "administrator@System", "GET", "/api/tasksList/" + unknown, "", 403},
		{"UserQueries", "erin@acme", "GET", "/api/query?type=task", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, tc.method, "/"+strings.TrimPrefix(tc.path, "/"), tc.body, creds[tc.who], acceptJSON)
			wantStatus(t, r, tc.want)
		})
	}
}

// TestTask_Lists pins TasksList and QueryResultRecords in XML and JSON against golden
// files, with visibility (erin sees none of alice's tasks), newest-first order, the
// FIQL filter and paging.
func TestTask_Lists(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	alice := env.mustLogin(t, "alice@acme")
	erin := env.mustLogin(t, "erin@acme")
	first := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("running", 40))
	env.clock.Set(taskStart.Add(time.Hour))
	importTask := func(status string, progress int) string {
		return `{"name":"import","status":"` + status + `","progress":` + itoa(progress) +
			`,"operation":"Importing <x> & \"y\"","serviceNamespace":"org.example.importer","user":{"id":"urn:vcloud:user:` + aliceID + `"}}`
	}
	second := env.mustCreateTask(t, admin, acmeID, importTask("queued", 0))
	env.clock.Set(taskStart.Add(2 * time.Hour))
	wantStatus(t, env.do(t, "PUT", "/api/task/"+second, importTask("success", 100), admin, acceptJSON), 200)

	norm := func(s string) string {
		s = strings.ReplaceAll(s, first, "11111111-1111-4111-8111-111111111111")
		return strings.ReplaceAll(s, second, "22222222-2222-4222-8222-222222222222")
	}
	tests := []struct {
		name, cred, path, accept, golden string
	}{
		{"TasksListXML", alice, "/api/tasksList/" + acmeID, acceptXML, "taskslist.xml"},
		{"TasksListJSON", alice, "/api/tasksList/" + acmeID, acceptJSON, "taskslist.json"},
		{"TasksListInvisible", erin, "/api/tasksList/" + acmeID, acceptXML, "taskslist-empty.xml"},
		{"QueryXML", alice, "/api/query?type=task", acceptXML, "query-tasks.xml"},
		{"QueryJSON", alice, "/api/query?type=task&format=records", acceptJSON, "query-tasks.json"},
		{"QueryFilter", alice, "/api/query?type=task&filter=(status==running,status==queued)", acceptXML, "query-tasks-running.xml"},
		{"QueryPageSorted", alice, "/api/query?type=task&page=2&pageSize=1&sortAsc=startDate", acceptXML, "query-tasks-page2.xml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(t, "GET", tc.path, "", tc.cred, tc.accept)
			wantStatus(t, r, 200)
			checkGolden(t, tc.golden, norm(r.body))
		})
	}

	bad := []struct{ name, query string }{
		{"UnknownField", "type=task&filter=colour==blue"},
		{"BadSyntax", "type=task&filter=(status==running"},
		{"BadTime", "type=task&filter=startDate=gt=yesterday"},
		{"PageSizeTooBig", "type=task&pageSize=129"},
		{"OtherFormat", "type=task&format=references"},
		{"OtherType", "type=vm"},
		{"BadSort", "type=task&sortAsc=colour"},
	}
	for _, tc := range bad {
		t.Run("Err"+tc.name, func(t *testing.T) {
			r := env.do(t, "GET", "/api/query?"+tc.query, "", alice, acceptJSON)
			wantStatus(t, r, 400)
		})
	}
}

// TestTask_Expired: an expired task leaves the queries and can no longer be read.
func TestTask_Expired(t *testing.T) {
	env := mustServeNotify(t)
	admin := env.mustLogin(t, "administrator@System")
	id := env.mustCreateTask(t, admin, acmeID, backupTaskJSON("success", 100))
	env.clock.Set(taskStart.Add(notify.DefaultTaskExpiry))
	admin = env.mustLogin(t, "administrator@System")
	wantStatus(t, env.do(t, "GET", "/api/task/"+id, "", admin, acceptJSON), 403)
	r := env.do(t, "GET", "/api/query?type=task", "", admin, acceptJSON)
	wantStatus(t, r, 200)
	if !strings.Contains(r.body, `"total":0`) {
		t.Errorf("query after expiry = %s; want total 0", r.body)
	}
}
