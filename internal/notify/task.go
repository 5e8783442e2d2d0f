package notify

import (
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// Task statuses (VCD-COMPAT §8.4). The last four are terminal and final.
const (
	StatusQueued     = "queued"     // waiting to run
	StatusPreRunning = "preRunning" // waiting for preprocessing or an administrator
	StatusRunning    = "running"
	StatusSuccess    = "success"
	StatusError      = "error"
	StatusCanceled   = "canceled" // by the owner or an administrator
	StatusAborted    = "aborted"  // by an administrator
)

// Task media types (VCD-COMPAT §8.4). The JSON form carries MediaTaskJSON in its
// "type" key, the XML form MediaTaskXML in its type attribute.
const (
	MediaTaskJSON = "application/vnd.vmware.vcloud.task+json"
	MediaTaskXML  = "application/vnd.vmware.vcloud.task+xml"
)

// DefaultTaskExpiry is how long after startTime a task expires, VCD's default
// (VCD-COMPAT §8.4).
const DefaultTaskExpiry = 90 * 24 * time.Hour

// ValidStatus reports whether s is one of the seven task statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusQueued, StatusPreRunning, StatusRunning:
		return true
	}
	return Terminal(s)
}

// Terminal reports whether s is a terminal status: success, error, canceled or
// aborted.
func Terminal(s string) bool {
	switch s {
	case StatusSuccess, StatusError, StatusCanceled, StatusAborted:
		return true
	}
	return false
}

// ValidTransition reports whether a task in status from may be given status to
// (VCD-COMPAT §8.4): to must be a valid status; from "" (a new task) allows any;
// a non-terminal status may become any status; a terminal status is final, so it
// may only stay as it is (a PUT that changes other fields).
func ValidTransition(from, to string) bool {
	if !ValidStatus(to) {
		return false
	}
	switch {
	case from == "":
		return true
	case Terminal(from):
		return to == from
	default:
		return ValidStatus(from)
	}
}

// Link is a link of a Task, in JSON {"href":…,"type":…,"name":…,"rel":…} with null
// for empty type and name.
type Link struct {
	Href string
	Type string
	Name string
	Rel  string
}

// TaskError is a failed task's error: in JSON {"message":…,"majorErrorCode":…,
// "minorErrorCode":…,"vendorSpecificErrorCode":…,"stackTrace":null}.
type TaskError struct {
	Message        string
	MajorErrorCode int
	MinorErrorCode string
	// VendorSpecificErrorCode is written as null when empty.
	VendorSpecificErrorCode string
}

// TaskResult is a task's result: in JSON {"resultContent":…}.
type TaskResult struct {
	ResultContent string
}

// Task mirrors VCD's Task (VCD-COMPAT §8.4). AppendJSON writes it byte for byte as
// GET /api/task/{id} returns it and as the TASK payload carries it; AppendXML writes
// the XML form.
//
// In JSON, empty strings are written as null except Details, which is always a
// string; zero times are null; nil Owner, User, Organization, Error and Result are
// null; otherAttributes is always {}, tasks and params null, vcTaskList
// {"vcTask":[]} and vCloudExtension [] (herald has none of them); "type" is
// MediaTaskJSON.
type Task struct {
	Links            []Link
	Href             string
	ID               string // urn:vcloud:task:<uuid>
	OperationKey     string
	Description      string
	Name             string
	Owner            *Reference
	Error            *TaskError
	User             *Reference
	Organization     *Reference
	Progress         int
	Details          string
	Result           *TaskResult
	Status           string
	Operation        string
	OperationName    string
	ServiceNamespace string
	StartTime        time.Time
	EndTime          time.Time
	ExpiryTime       time.Time
	CancelRequested  bool
}

// AppendJSON appends the Task JSON of t to b, compact and without HTML escaping, keys
// in VCD's order: otherAttributes, link, href, type, id, operationKey, description,
// tasks, name, owner, error, user, organization, progress, params, details,
// vcTaskList, result, status, operation, operationName, serviceNamespace, startTime,
// endTime, expiryTime, cancelRequested, vCloudExtension. Times use TaskTimeLayout in
// UTC.
func (t *Task) AppendJSON(b []byte) []byte {
	b = append(b, `{"otherAttributes":{},"link":[`...)
	for i, l := range t.Links {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"href":`...)
		b = appendNullableString(b, l.Href)
		b = append(b, `,"type":`...)
		b = appendNullableString(b, l.Type)
		b = append(b, `,"name":`...)
		b = appendNullableString(b, l.Name)
		b = append(b, `,"rel":`...)
		b = appendNullableString(b, l.Rel)
		b = append(b, '}')
	}
	b = append(b, `],"href":`...)
	b = appendNullableString(b, t.Href)
	b = append(b, `,"type":"`+MediaTaskJSON+`","id":`...)
	b = appendNullableString(b, t.ID)
	b = append(b, `,"operationKey":`...)
	b = appendNullableString(b, t.OperationKey)
	b = append(b, `,"description":`...)
	b = appendNullableString(b, t.Description)
	b = append(b, `,"tasks":null,"name":`...)
	b = appendNullableString(b, t.Name)
	b = append(b, `,"owner":`...)
	b = appendReference(b, t.Owner)
	b = append(b, `,"error":`...)
	if e := t.Error; e == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"message":`...)
		b = appendString(b, e.Message)
		b = append(b, `,"majorErrorCode":`...)
		b = appendInt(b, e.MajorErrorCode)
		b = append(b, `,"minorErrorCode":`...)
		b = appendString(b, e.MinorErrorCode)
		b = append(b, `,"vendorSpecificErrorCode":`...)
		b = appendNullableString(b, e.VendorSpecificErrorCode)
		b = append(b, `,"stackTrace":null}`...)
	}
	b = append(b, `,"user":`...)
	b = appendReference(b, t.User)
	b = append(b, `,"organization":`...)
	b = appendReference(b, t.Organization)
	b = append(b, `,"progress":`...)
	b = appendInt(b, t.Progress)
	b = append(b, `,"params":null,"details":`...)
	b = appendString(b, t.Details)
	b = append(b, `,"vcTaskList":{"vcTask":[]},"result":`...)
	if t.Result == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"resultContent":`...)
		b = appendString(b, t.Result.ResultContent)
		b = append(b, '}')
	}
	b = append(b, `,"status":`...)
	b = appendNullableString(b, t.Status)
	b = append(b, `,"operation":`...)
	b = appendNullableString(b, t.Operation)
	b = append(b, `,"operationName":`...)
	b = appendNullableString(b, t.OperationName)
	b = append(b, `,"serviceNamespace":`...)
	b = appendNullableString(b, t.ServiceNamespace)
	b = append(b, `,"startTime":`...)
	b = appendTime(b, t.StartTime, TaskTimeLayout)
	b = append(b, `,"endTime":`...)
	b = appendTime(b, t.EndTime, TaskTimeLayout)
	b = append(b, `,"expiryTime":`...)
	b = appendTime(b, t.ExpiryTime, TaskTimeLayout)
	b = append(b, `,"cancelRequested":`...)
	b = appendBool(b, t.CancelRequested)
	return append(b, `,"vCloudExtension":[]}`...)
}

// Limits on a producer's task fields (HERALD).
const (
	maxTaskText    = 2000  // name, operation, operationName, serviceNamespace
	maxTaskDetails = 65536 // details, error message, result content
)

// Validate checks the fields a producer sets (VCD-COMPAT §8.4): name is required,
// status is one of the seven statuses, progress is 0 to 100, and text fields are
// valid UTF-8 of bounded length. The error, of code vcd.CodeInvalid, names every
// problem. It does not check transitions (ValidTransition).
func (t *Task) Validate() error {
	var problems []string
	add := func(s string) { problems = append(problems, s) }
	if t.Name == "" {
		add("name is required")
	}
	if !ValidStatus(t.Status) {
		add("status " + quote(t.Status) + " is not one of queued, preRunning, running, success, error, canceled, aborted")
	}
	if t.Progress < 0 || t.Progress > 100 {
		add("progress " + itoa(t.Progress) + " is not between 0 and 100")
	}
	text := []struct {
		field, v string
		max      int
	}{
		{"name", t.Name, maxTaskText},
		{"operation", t.Operation, maxTaskText},
		{"operationName", t.OperationName, maxTaskText},
		{"serviceNamespace", t.ServiceNamespace, maxTaskText},
		{"details", t.Details, maxTaskDetails},
	}
	if t.Error != nil {
		text = append(text, struct {
			field, v string
			max      int
		}{"error message", t.Error.Message, maxTaskDetails})
	}
	if t.Result != nil {
		text = append(text, struct {
			field, v string
			max      int
		}{"result", t.Result.ResultContent, maxTaskDetails})
	}
	for _, f := range text {
		if !validText(f.v) {
			add(f.field + " is not valid UTF-8")
		} else if len(f.v) > f.max {
			add(f.field + " is longer than " + itoa(f.max) + " bytes")
		}
	}
	if len(problems) > 0 {
		return vcd.Errorf(vcd.CodeInvalid, "invalid Task: %s", joinProblems(problems))
	}
	return nil
}

// TaskLinks returns the links of t as its viewer sees them (VCD-COMPAT §8.4):
// task:cancel while t is not terminal, and edit for sysadmins. t.Href must be set.
func TaskLinks(t *Task, sysAdmin bool) []Link {
	var links []Link
	if !Terminal(t.Status) {
		links = append(links, Link{Href: t.Href + "/action/cancel", Name: "task", Rel: "task:cancel"})
	}
	if sysAdmin {
		links = append(links, Link{Href: t.Href, Type: MediaTaskXML, Name: "task", Rel: "edit"})
	}
	return links
}

// taskIDs holds the ids of a Task that route and label its notification.
type taskIDs struct {
	task, org, user string
}

func (t *Task) ids() (taskIDs, error) {
	var ids taskIDs
	var err error
	if ids.task, err = id(vcd.KindTask, "task id", t.ID); err != nil {
		return taskIDs{}, err
	}
	if ids.org, err = refID(t.Organization, vcd.KindOrg, "task organization"); err != nil {
		return taskIDs{}, err
	}
	if ids.user, err = refID(t.User, vcd.KindUser, "task user"); err != nil {
		return taskIDs{}, err
	}
	if !ValidStatus(t.Status) {
		return taskIDs{}, vcd.Errorf(vcd.CodeInvalid, "task status %q is not valid", t.Status)
	}
	return ids, nil
}

// refID returns the bare UUID of a reference that must name an entity of kind.
func refID(r *Reference, kind, field string) (string, error) {
	if r == nil {
		return "", vcd.Errorf(vcd.CodeInvalid, "%s is required", field)
	}
	k, uuid, ok := r.Entity()
	if !ok || k != kind {
		return "", vcd.Errorf(vcd.CodeInvalid, "%s does not name a %s by id or href", field, kind)
	}
	return uuid, nil
}

func (t *Task) appendEnvelope(dst []byte, ids taskIDs) ([]byte, error) {
	p := getBuf()
	defer putBuf(p)
	inner := t.AppendJSON((*p)[:0])
	*p = inner[:0]
	var w envelopeWriter
	w.begin(dst, TypeTask)
	w.header(HeaderEntityType, vcd.KindTask)
	w.header(HeaderEntityUUID, ids.task)
	w.header(HeaderOrgUUID, ids.org)
	w.header(HeaderUserUUID, ids.user)
	w.header(HeaderTaskUUID, ids.task)
	w.header(HeaderTaskStatus, t.Status)
	return w.end(inner)
}

// AppendTask appends the TASK envelope of t to dst (VCD-COMPAT §8.4): the payload is
// t.AppendJSON. t needs an ID, an Organization and a User that name their entities
// (by id or legacy href) and a valid Status. Errors have code vcd.CodeInvalid and
// leave dst unchanged.
func AppendTask(dst []byte, t *Task) ([]byte, error) {
	ids, err := t.ids()
	if err != nil {
		return dst, err
	}
	return t.appendEnvelope(dst, ids)
}

// TaskChanged returns the TASK notification of t after a change made at time at,
// routed to publish/{organization}/{user} (VCD-COMPAT §8.5). id de-duplicates the
// message; empty means the name-based UUID of the envelope within the task's UUID,
// so that publishing the same task state twice yields the same id. Errors have code
// vcd.CodeInvalid.
func TaskChanged(t *Task, id string, at time.Time) (Notification, error) {
	ids, err := t.ids()
	if err != nil {
		return Notification{}, err
	}
	n, err := build(id, publishTopic(ids.org, ids.user), TypeTask, at,
		func(dst []byte) ([]byte, error) { return t.appendEnvelope(dst, ids) })
	if err != nil {
		return Notification{}, err
	}
	if n.ID == "" {
		n.ID = vcd.NameUUID(ids.task, string(n.Envelope))
	}
	return n, nil
}
