package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestValidTransition(t *testing.T) {
	statuses := []string{"queued", "preRunning", "running", "success", "error", "canceled", "aborted"}
	terminal := map[string]bool{"success": true, "error": true, "canceled": true, "aborted": true}
	for _, from := range append([]string{""}, statuses...) {
		for _, to := range statuses {
			want := from == "" || !terminal[from] || to == from
			if got := notify.ValidTransition(from, to); got != want {
				t.Errorf("ValidTransition(%q, %q) = %v; want %v", from, to, got, want)
			}
		}
	}
	tests := []struct {
		name     string
		from, to string
		want     bool
	}{
		{"UnknownTarget", "running", "done", false},
		{"EmptyTarget", "running", "", false},
		{"UnknownSource", "paused", "running", false},
		{"CaseMatters", "running", "Success", false},
		{"PreRunningToRunning", "preRunning", "running", true},
		{"SuccessToRunning", "success", "running", false},
		{"AbortedToCanceled", "aborted", "canceled", false},
		{"ErrorStays", "error", "error", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := notify.ValidTransition(tc.from, tc.to); got != tc.want {
				t.Errorf("ValidTransition(%q, %q) = %v; want %v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestTask_Validate(t *testing.T) {
	valid := notify.Task{Name: "task", Status: "queued"}
	tests := []struct {
		name    string
		change  func(*notify.Task)
		message string // empty: valid
	}{
		{"Minimal", func(*notify.Task) {}, ""},
		{"Progress0", func(t *notify.Task) { t.Progress = 0 }, ""},
		{"Progress100", func(t *notify.Task) { t.Progress = 100 }, ""},
		{"Progress101", func(t *notify.Task) { t.Progress = 101 }, "progress 101 is not between 0 and 100"},
		{"ProgressNegative", func(t *notify.Task) { t.Progress = -1 }, "progress -1 is not between 0 and 100"},
		{"NoName", func(t *notify.Task) { t.Name = "" }, "name is required"},
		{"BadStatus", func(t *notify.Task) { t.Status = "done" }, `status "done" is not one of`},
		{"NoStatus", func(t *notify.Task) { t.Status = "" }, `status "" is not one of`},
		{"BadUTF8", func(t *notify.Task) { t.Details = "\xff" }, "details is not valid UTF-8"},
		{"LongOperation", func(t *notify.Task) { t.Operation = strings.Repeat("o", 2001) }, "operation is longer than 2000 bytes"},
		{"BadErrorText", func(t *notify.Task) { t.Error = &notify.TaskError{Message: "\xfe"} }, "error message is not valid UTF-8"},
		{"SeveralProblems", func(t *notify.Task) { t.Name, t.Progress = "", 200 }, "name is required; progress 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := valid
			tc.change(&task)
			err := task.Validate()
			if tc.message == "" {
				if err != nil {
					t.Errorf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, vcd.ErrInvalid) || !strings.Contains(vcd.MessageOf(err), tc.message) {
				t.Errorf("Validate() = %v; want code invalid containing %q", err, tc.message)
			}
		})
	}
}

// TestTask_AppendJSON_Shapes pins the JSON of the optional parts (VCD-COMPAT §8.4).
func TestTask_AppendJSON_Shapes(t *testing.T) {
	task := notify.Task{
		Name: "t", Status: "error", Details: "a<b>&c",
		Error:   &notify.TaskError{Message: "boom", MajorErrorCode: 500, MinorErrorCode: "INTERNAL_SERVER_ERROR"},
		Result:  &notify.TaskResult{ResultContent: "r"},
		EndTime: time.Date(2025, 3, 14, 10, 30, 0, 123e6, time.FixedZone("CET", 3600)),
	}
	got := string(task.AppendJSON(nil))
	for _, want := range []string{
		`"error":{"message":"boom","majorErrorCode":500,"minorErrorCode":"INTERNAL_SERVER_ERROR","vendorSpecificErrorCode":null,"stackTrace":null}`,
		`"result":{"resultContent":"r"}`,
		`"details":"a<b>&c"`,
		`"link":[]`,
		`"startTime":null,"endTime":"2025-03-14T09:30:00.123+0000"`,
		`"owner":null`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("AppendJSON = %s\ndoes not contain %s", got, want)
		}
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("AppendJSON is not valid JSON: %s", got)
	}
}

// TestTask_PayloadIsTaskJSON checks that the TASK payload is AppendJSON, byte for byte.
func TestTask_PayloadIsTaskJSON(t *testing.T) {
	task := runningTask(t)
	var env struct{ Payload string }
	if err := json.Unmarshal(MustGolden(t, "task.golden"), &env); err != nil {
		t.Fatal(err)
	}
	if got := task.AppendJSON(nil); string(got) != env.Payload {
		t.Errorf("AppendJSON =\n%s\nwant\n%s", got, env.Payload)
	}
}

func TestTaskLinks(t *testing.T) {
	task := &notify.Task{Href: "https://h/api/task/1", Status: "running"}
	cancel := notify.Link{Href: "https://h/api/task/1/action/cancel", Name: "task", Rel: "task:cancel"}
	edit := notify.Link{Href: "https://h/api/task/1", Type: notify.MediaTaskXML, Name: "task", Rel: "edit"}
	tests := []struct {
		name     string
		status   string
		sysAdmin bool
		want     []notify.Link
	}{
		{"RunningUser", "running", false, []notify.Link{cancel}},
		{"RunningSysAdmin", "running", true, []notify.Link{cancel, edit}},
		{"DoneUser", "success", false, nil},
		{"DoneSysAdmin", "canceled", true, []notify.Link{edit}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task.Status = tc.status
			if diff := cmp.Diff(tc.want, notify.TaskLinks(task, tc.sysAdmin)); diff != "" {
				t.Errorf("TaskLinks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// producerFields keeps only what DecodeTaskJSON and DecodeTaskXML set.
func producerFields(t *notify.Task) notify.Task {
	return notify.Task{Name: t.Name, Status: t.Status, Operation: t.Operation, OperationName: t.OperationName,
		ServiceNamespace: t.ServiceNamespace, Owner: t.Owner, User: t.User, Progress: t.Progress,
		Details: t.Details, Error: t.Error, Result: t.Result}
}

func TestDecodeTaskJSON_FullTask(t *testing.T) {
	task := runningTask(t)
	task.Error = &notify.TaskError{Message: "m", MajorErrorCode: 500, MinorErrorCode: "X", VendorSpecificErrorCode: "V"}
	task.Result = &notify.TaskResult{ResultContent: "done"}
	task.Details = "d"
	got, err := notify.DecodeTaskJSON(task.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(producerFields(task), got); diff != "" {
		t.Errorf("DecodeTaskJSON mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeTaskJSON_Producer(t *testing.T) {
	in := `{"name":"task","status":"queued","operation":"Backing up","operationName":"backup","serviceNamespace":"org.example.backup",` +
		`"owner":{"href":"https://h/api/vApp/vm-` + vmID + `","name":"web-01"},"progress":null,"details":null}`
	got, err := notify.DecodeTaskJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := notify.Task{Name: "task", Status: "queued", Operation: "Backing up", OperationName: "backup",
		ServiceNamespace: "org.example.backup", Owner: &notify.Reference{Href: "https://h/api/vApp/vm-" + vmID, Name: "web-01"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeTaskJSON mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeTaskXML(t *testing.T) {
	in := `<?xml version="1.0" encoding="UTF-8"?>
<Task xmlns="http://www.vmware.com/vcloud/v1.5" name="task" status="error" operation="Backing up VM web-01"
      operationName="backupInProgress" serviceNamespace="org.example.backup" id="ignored">
  <Owner href="https://h/api/vApp/vm-` + vmID + `" type="application/vnd.vmware.vcloud.vm+xml" name="web-01"/>
  <User href="https://h/api/admin/user/` + aliceID + `" name="alice"/>
  <Error majorErrorCode="500" message="disk full" minorErrorCode="INTERNAL_SERVER_ERROR"/>
  <Progress> 75 </Progress>
  <Details>a &amp; b</Details>
  <Result><ResultContent>none</ResultContent></Result>
</Task>`
	got, err := notify.DecodeTaskXML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := notify.Task{Name: "task", Status: "error", Operation: "Backing up VM web-01", OperationName: "backupInProgress",
		ServiceNamespace: "org.example.backup",
		Owner:            &notify.Reference{Href: "https://h/api/vApp/vm-" + vmID, Type: "application/vnd.vmware.vcloud.vm+xml", Name: "web-01"},
		User:             &notify.Reference{Href: "https://h/api/admin/user/" + aliceID, Name: "alice"},
		Error:            &notify.TaskError{Message: "disk full", MajorErrorCode: 500, MinorErrorCode: "INTERNAL_SERVER_ERROR"},
		Progress:         75, Details: "a & b", Result: &notify.TaskResult{ResultContent: "none"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeTaskXML mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeTask_Rejects(t *testing.T) {
	tests := []struct {
		name    string
		dec     func([]byte) (notify.Task, error)
		in      string
		message string
	}{
		{"XMLMalformed", notify.DecodeTaskXML, `<Task`, "malformed Task XML"},
		{"XMLOtherRoot", notify.DecodeTaskXML, `<Event name="t" status="queued"/>`, "malformed Task XML"},
		{"XMLProgressText", notify.DecodeTaskXML, `<Task name="t" status="queued"><Progress>half</Progress></Task>`, "Progress \"half\" is not an integer"},
		{"XMLProgressRange", notify.DecodeTaskXML, `<Task name="t" status="queued"><Progress>101</Progress></Task>`, "progress 101"},
		{"XMLMajorCode", notify.DecodeTaskXML, `<Task name="t" status="error"><Error majorErrorCode="x"/></Task>`, "majorErrorCode"},
		{"XMLStatus", notify.DecodeTaskXML, `<Task name="t" status="paused"/>`, `status "paused"`},
		{"JSONMalformed", notify.DecodeTaskJSON, `{"name":`, "malformed Task JSON"},
		{"JSONTrailing", notify.DecodeTaskJSON, `{"name":"t","status":"queued"}x`, "data after"},
		{"JSONTrailingBracket", notify.DecodeTaskJSON, "{\"name\":\"t\",\"status\":\"queued\"}\n]", "data after"},
		{"JSONProgressFraction", notify.DecodeTaskJSON, `{"name":"t","status":"queued","progress":4.5}`, "malformed Task JSON"},
		{"JSONProgressRange", notify.DecodeTaskJSON, `{"name":"t","status":"queued","progress":-3}`, "progress -3"},
		{"JSONNoName", notify.DecodeTaskJSON, `{"status":"queued"}`, "name is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.dec([]byte(tc.in))
			if !errors.Is(err, vcd.ErrInvalid) || !strings.Contains(vcd.MessageOf(err), tc.message) {
				t.Errorf("decode(%q) = %v; want code invalid containing %q", tc.in, err, tc.message)
			}
		})
	}
}

// TestTask_AppendXML compares the XML form of the example task with
// testdata/task.xml and decodes it back.
func TestTask_AppendXML(t *testing.T) {
	task := runningTask(t)
	got, err := task.AppendXML(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := MustGolden(t, "task.xml")
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("AppendXML =\n%s\nwant (testdata/task.xml)\n%s", got, want)
	}
	back, err := notify.DecodeTaskXML(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(producerFields(task), back); diff != "" {
		t.Errorf("DecodeTaskXML(AppendXML) mismatch (-want +got):\n%s", diff)
	}

	task.Status, task.Details = notify.StatusError, `x<"y">`
	task.Error = &notify.TaskError{Message: "m&", MajorErrorCode: 500, MinorErrorCode: "E"}
	task.Result = &notify.TaskResult{ResultContent: "<r/>"}
	task.EndTime = task.StartTime.Add(time.Minute)
	got, err = task.AppendXML(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`endTime="2025-03-14T09:31:00.000+00:00"`, `<Error message="m&amp;" majorErrorCode="500" minorErrorCode="E"></Error>`,
		`<Details>x&lt;&#34;y&#34;&gt;</Details>`, `<Result><ResultContent>&lt;r/&gt;</ResultContent></Result>`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("AppendXML = %s\ndoes not contain %s", got, want)
		}
	}
	back, err = notify.DecodeTaskXML(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(producerFields(task), back); diff != "" {
		t.Errorf("DecodeTaskXML(AppendXML) mismatch (-want +got):\n%s", diff)
	}
}

func TestTaskChanged(t *testing.T) {
	task := runningTask(t)
	at := MustTime(t, "2025-03-14T09:31:00Z")
	a, err := notify.TaskChanged(task, "", at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := notify.TaskChanged(task, "", at)
	if err != nil {
		t.Fatal(err)
	}
	if !vcd.IsUUID(a.ID) || a.ID != b.ID {
		t.Errorf("derived ids %q, %q; want the same UUID twice", a.ID, b.ID)
	}
	task.Progress = 41
	c, err := notify.TaskChanged(task, "", at)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Errorf("a changed task kept id %q", c.ID)
	}
	if !a.Time.Equal(at) {
		t.Errorf("Time = %v; want %v", a.Time, at)
	}

	// Organization and User may be given by legacy href only.
	task.Organization = &notify.Reference{Href: "https://h/api/org/" + orgID}
	task.User = &notify.Reference{Href: "https://h/api/admin/user/" + aliceID}
	if n, err := notify.TaskChanged(task, "x", at); err != nil || n.Topic != "publish/"+orgID+"/"+aliceID {
		t.Errorf("TaskChanged by hrefs = %q, %v; want topic publish/%s/%s", n.Topic, err, orgID, aliceID)
	}
}

func TestTaskChanged_Rejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*notify.Task)
	}{
		{"NoID", func(t *notify.Task) { t.ID = "" }},
		{"WrongIDKind", func(t *notify.Task) { t.ID = "urn:vcloud:vm:" + vmID }},
		{"NoOrganization", func(t *notify.Task) { t.Organization = nil }},
		{"OrganizationIsUser", func(t *notify.Task) { t.Organization = t.User }},
		{"NoUser", func(t *notify.Task) { t.User = nil }},
		{"BadStatus", func(t *notify.Task) { t.Status = "paused" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := runningTask(t)
			tc.change(task)
			if _, err := notify.TaskChanged(task, "", time.Now()); !errors.Is(err, vcd.ErrInvalid) {
				t.Errorf("TaskChanged = %v; want code invalid", err)
			}
			if got, err := notify.AppendTask([]byte("k"), task); err == nil || string(got) != "k" {
				t.Errorf("AppendTask = %q, %v; want dst unchanged and an error", got, err)
			}
		})
	}
}
