package api

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// TaskRecord is a stored task as the TaskStore keeps it. It has the fields of
// store.TaskRecord, in the same order, so the server converts one into the other
// (api.TaskRecord(r)). Data is owned by this package (taskData as JSON).
type TaskRecord struct {
	ID      string
	OrgID   string
	UserID  string
	Status  string
	Created time.Time
	Expires time.Time
	Data    []byte
}

// TaskStore is what the task endpoints need from the store; the server adapts
// *store.DB to it. Lookups of a missing task return an error whose vcd.CodeOf is
// vcd.CodeNotFound. UpdateTask runs fn on a private copy and writes it with
// compare-and-set, re-running fn after a concurrent change; an error from fn aborts
// the update and is returned unchanged. Tasks lists the unexpired tasks of one org, or
// of every org when orgID is empty, newest first.
type TaskStore interface {
	CreateTask(ctx context.Context, r TaskRecord) (TaskRecord, error)
	Task(ctx context.Context, id string) (TaskRecord, error)
	UpdateTask(ctx context.Context, id string, fn func(*TaskRecord) error) (TaskRecord, error)
	DeleteTask(ctx context.Context, id string) error
	Tasks(ctx context.Context, orgID string) ([]TaskRecord, error)
}

// Media types of the task endpoints (VCD-COMPAT §8.4, §10.2).
const (
	mtUserRef = "application/vnd.vmware.admin.user+xml"
	// maxTasksList is how many tasks GET /api/tasksList returns (HERALD).
	maxTasksList = 128
)

// taskData is a task as this package stores it in TaskRecord.Data: the producer's
// fields, the names of its user and org (both immutable), and the last change, whose
// notifications a retried request publishes again under the same ids.
type taskData struct {
	Name             string             `json:"name"`
	Operation        string             `json:"operation,omitempty"`
	OperationName    string             `json:"operationName,omitempty"`
	ServiceNamespace string             `json:"serviceNamespace,omitempty"`
	Status           string             `json:"status"`
	Progress         int                `json:"progress"`
	Details          string             `json:"details,omitempty"`
	Owner            *notify.Reference  `json:"owner,omitempty"`
	Error            *notify.TaskError  `json:"error,omitempty"`
	Result           *notify.TaskResult `json:"result,omitempty"`
	UserName         string             `json:"userName"`
	OrgName          string             `json:"orgName"`
	Start            time.Time          `json:"start"`
	End              time.Time          `json:"end,omitzero"`
	Expiry           time.Time          `json:"expiry"`
	CancelRequested  bool               `json:"cancelRequested,omitempty"`
	// Seq numbers the changes: 1 at creation, one more per change. Changed is when
	// change Seq happened and Kinds are its notifications: kindTask and event type
	// suffixes. Notification ids derive from (task id, Seq, kind).
	Seq     int       `json:"seq"`
	Changed time.Time `json:"changed"`
	Kinds   []string  `json:"kinds"`
}

// kindTask names the TASK notification among taskData.Kinds.
const kindTask = "TASK"

func decodeTaskData(b []byte) (taskData, error) {
	var d taskData
	if err := json.Unmarshal(b, &d); err != nil {
		return taskData{}, fmt.Errorf("decode stored task: %w", err)
	}
	return d, nil
}

// taskView renders a stored task as VCD's Task (VCD-COMPAT §8.4) with hrefs under
// base and the links the viewer may use.
func taskView(base string, rec TaskRecord, d taskData, sysAdmin bool) notify.Task {
	t := notify.Task{
		Href: base + "/api/task/" + rec.ID, ID: vcd.URN(vcd.KindTask, rec.ID), Name: d.Name,
		Owner: d.Owner, Error: d.Error,
		User: &notify.Reference{Href: base + "/api/admin/user/" + rec.UserID, ID: vcd.URN(vcd.KindUser, rec.UserID),
			Type: mtUserRef, Name: d.UserName},
		Organization: &notify.Reference{Href: base + "/api/org/" + rec.OrgID, ID: vcd.URN(vcd.KindOrg, rec.OrgID),
			Type: mtOrg, Name: d.OrgName},
		Progress: d.Progress, Details: d.Details, Result: d.Result, Status: d.Status,
		Operation: d.Operation, OperationName: d.OperationName, ServiceNamespace: d.ServiceNamespace,
		StartTime: d.Start, EndTime: d.End, ExpiryTime: d.Expiry, CancelRequested: d.CancelRequested,
	}
	t.Links = notify.TaskLinks(&t, sysAdmin)
	return t
}

// statusEvent returns the task event a change of status to s raises (VCD-COMPAT §8.2),
// or "".
func statusEvent(s string) string {
	switch s {
	case notify.StatusRunning:
		return evTaskStart
	case notify.StatusSuccess:
		return evTaskComplete
	case notify.StatusError:
		return evTaskFail
	case notify.StatusAborted, notify.StatusCanceled:
		return evTaskAbort
	}
	return ""
}

// notifyTask publishes the notifications of the last change of a task: TASK, whose
// payload is the Task JSON as GET /api/task returns it to a non-sysadmin, and the task
// events. Ids derive from (task id, Seq, kind), so publishing the same change again
// (a retried request) yields the same ids, which the log de-duplicates. The task
// events' audit records name origin.
func (a *API) notifyTask(ctx context.Context, base string, origin notify.Origin, rec TaskRecord, d taskData) error {
	t := taskView(base, rec, d, false)
	for _, kind := range d.Kinds {
		id := vcd.NameUUID(rec.ID, strconv.Itoa(d.Seq)+"/"+kind)
		var n notify.Notification
		var err error
		if kind == kindTask {
			n, err = notify.TaskChanged(&t, id, d.Changed)
		} else {
			// A failed or aborted task is an operation that did not succeed.
			success := kind != evTaskFail && kind != evTaskAbort
			n, err = notify.Event(notify.EventInfo{ID: id, Type: notify.EventTypePrefix + kind, Time: d.Changed,
				Success: success, OrgID: rec.OrgID, UserID: rec.UserID, EntityType: vcd.KindTask,
				EntityID: rec.ID, EntityName: d.Name, TaskID: rec.ID,
				SessionID: origin.SessionID, ClientIP: origin.ClientIP})
		}
		if err != nil {
			return err
		}
		if err := a.publish(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// tasks returns the TaskStore, or 503 when the server has none.
func (a *API) tasks() (TaskStore, error) {
	if a.cfg.Tasks == nil {
		return nil, vcd.Errorf(vcd.CodeUnavailable, "Tasks are not available.")
	}
	return a.cfg.Tasks, nil
}

// decodeTaskBody reads a producer's Task, XML or JSON (VCD-COMPAT §8.4), validated.
func decodeTaskBody(r *http.Request) (notify.Task, error) {
	body, format, err := readBody(r)
	if err != nil {
		return notify.Task{}, err
	}
	if format == formatXML {
		return notify.DecodeTaskXML(body)
	}
	return notify.DecodeTaskJSON(body)
}

// writeTask writes t as the negotiated Task XML or JSON.
func writeTask(w http.ResponseWriter, c *call, status int, t *notify.Task) error {
	var b []byte
	ct := notify.MediaTaskJSON
	if c.format == formatJSON {
		b = t.AppendJSON(nil)
	} else {
		var err error
		if b, err = t.AppendXML([]byte(xml.Header)); err != nil {
			return err
		}
		ct = notify.MediaTaskXML
	}
	w.Header().Set("Content-Type", ct+";version="+c.version)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// createTask serves POST /api/tasksList/{orgUUID} (VCD-COMPAT §8.4): a sysadmin creates
// a task in the org. herald sets id, href, startTime, expiryTime (start + 90 days) and
// organization; User must be in the org and defaults to the caller; Owner is stored as
// given. The task is stored, then TASK and the task events are published; the answer,
// 200 and the full Task, comes only once they are stored.
func (a *API) createTask(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, err := a.tasks()
	if err != nil {
		return err
	}
	o, err := a.producerOrg(r, c, "org")
	if err != nil {
		return err
	}
	in, err := decodeTaskBody(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := a.orgMember(ctx, c, in.User, o.ID)
	if err != nil {
		return err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	d := taskData{Name: in.Name, Operation: in.Operation, OperationName: in.OperationName,
		ServiceNamespace: in.ServiceNamespace, Status: in.Status, Progress: in.Progress, Details: in.Details,
		Owner: in.Owner, Error: in.Error, Result: in.Result, UserName: u.Name, OrgName: o.Name,
		Start: now, Expiry: now.Add(notify.DefaultTaskExpiry), Seq: 1, Changed: now,
		Kinds: []string{kindTask, evTaskCreate}}
	if notify.Terminal(d.Status) {
		d.End = now
	}
	if ev := statusEvent(d.Status); ev != "" {
		d.Kinds = append(d.Kinds, ev)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	rec, err := ts.CreateTask(ctx, TaskRecord{ID: vcd.NewUUID(), OrgID: o.ID, UserID: u.ID, Status: d.Status,
		Created: d.Start, Expires: d.Expiry, Data: data})
	if err != nil {
		return err
	}
	base := a.baseURL(r)
	if err := a.notifyTask(ctx, base, requestOrigin(r), rec, d); err != nil {
		// The task is not announced, so it must not exist: the producer retries and
		// creates it again. Whatever was already stored of its notifications names an
		// id that will never be used again.
		if derr := ts.DeleteTask(context.WithoutCancel(ctx), rec.ID); derr != nil {
			a.Logger(r).Warn("unannounced task not deleted", "task_id", rec.ID, logKeyError, derr)
		}
		return err
	}
	t := taskView(base, rec, d, c.p.IsSysAdmin())
	return writeTask(w, c, http.StatusOK, &t)
}

// taskByID resolves {id} of /api/task/{id} for action: a missing, expired or
// forbidden task is 403 (VCD-COMPAT §11.2).
func (a *API) taskByID(r *http.Request, c *call, action vcd.Action) (TaskStore, TaskRecord, taskData, error) {
	ts, err := a.tasks()
	if err != nil {
		return nil, TaskRecord{}, taskData{}, err
	}
	id, ok := vcd.ParseID(vcd.KindTask, r.PathValue("id"))
	if !ok {
		return nil, TaskRecord{}, taskData{}, errForbidden
	}
	rec, err := ts.Task(r.Context(), id)
	if err != nil {
		return nil, TaskRecord{}, taskData{}, forbiddenIfMissing(err)
	}
	if expired(rec, a.now()) || !vcd.Can(c.p, action, rec.OrgID, rec.UserID) {
		return nil, TaskRecord{}, taskData{}, errForbidden
	}
	d, err := decodeTaskData(rec.Data)
	if err != nil {
		return nil, TaskRecord{}, taskData{}, err
	}
	return ts, rec, d, nil
}

func expired(rec TaskRecord, now time.Time) bool {
	return !rec.Expires.IsZero() && !now.Before(rec.Expires)
}

// getTask serves GET /api/task/{id}: the Task as XML or JSON, for its user, the org
// admins of its org and sysadmins.
func (a *API) getTask(w http.ResponseWriter, r *http.Request, c *call) error {
	_, rec, d, err := a.taskByID(r, c, vcd.ActTaskRead)
	if err != nil {
		return err
	}
	t := taskView(a.baseURL(r), rec, d, c.p.IsSysAdmin())
	return writeTask(w, c, http.StatusOK, &t)
}

// errUnchanged aborts a task update that would change nothing.
var errUnchanged = errors.New("task unchanged")

// changeTask applies change to the stored task with compare-and-set. change returns
// the event suffixes the change raises, errUnchanged when it would change nothing, or
// a client error. A change bumps Seq and records its notifications (TASK first); the
// result is published before the caller answers. When nothing changes, the
// notifications of the last change are published again under the same ids: a producer
// retrying after a failed notification gets them stored exactly once.
func (a *API) changeTask(r *http.Request, ts TaskStore, id string, change func(d *taskData, now time.Time) ([]string, error)) (TaskRecord, taskData, error) {
	ctx := r.Context()
	now := a.now().UTC().Truncate(time.Millisecond)
	var d taskData
	rec, err := ts.UpdateTask(ctx, id, func(rec *TaskRecord) error {
		var err error
		if d, err = decodeTaskData(rec.Data); err != nil {
			return err
		}
		events, err := change(&d, now)
		if err != nil {
			return err
		}
		d.Seq++
		d.Changed = now
		d.Kinds = append([]string{kindTask}, events...)
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		rec.Status, rec.Data = d.Status, b
		return nil
	})
	if errors.Is(err, errUnchanged) {
		if rec, err = ts.Task(ctx, id); err == nil {
			d, err = decodeTaskData(rec.Data)
		}
	}
	if err != nil {
		return TaskRecord{}, taskData{}, forbiddenIfMissing(err)
	}
	// The change is stored; if publishing fails the producer gets an error and
	// retries the same request, which changes nothing and publishes again.
	if err := a.notifyTask(ctx, a.baseURL(r), requestOrigin(r), rec, d); err != nil {
		return TaskRecord{}, taskData{}, err
	}
	return rec, d, nil
}

// updateTask serves PUT /api/task/{id} (VCD-COMPAT §8.4): a sysadmin replaces status,
// progress, operation, details, error and result (absent ones become empty; other
// fields of the body are ignored). Leaving a terminal status is 400; entering one sets
// endTime. Answer: 200 and the Task.
func (a *API) updateTask(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, rec, _, err := a.taskByID(r, c, vcd.ActProduce)
	if err != nil {
		return err
	}
	in, err := decodeTaskBody(r)
	if err != nil {
		return err
	}
	rec, d, err := a.changeTask(r, ts, rec.ID, func(d *taskData, now time.Time) ([]string, error) {
		if !notify.ValidTransition(d.Status, in.Status) {
			return nil, vcd.Errorf(vcd.CodeInvalid, "The task is %s: its status cannot become %s.", d.Status, in.Status)
		}
		next := *d
		next.Status, next.Progress, next.Operation, next.Details = in.Status, in.Progress, in.Operation, in.Details
		next.Error, next.Result = in.Error, in.Result
		var events []string
		if next.Status != d.Status {
			if notify.Terminal(next.Status) {
				next.End = now
			}
			if ev := statusEvent(next.Status); ev != "" {
				events = append(events, ev)
			}
		}
		if reflect.DeepEqual(next, *d) {
			return nil, errUnchanged
		}
		*d = next
		return events, nil
	})
	if err != nil {
		return err
	}
	t := taskView(a.baseURL(r), rec, d, c.p.IsSysAdmin())
	return writeTask(w, c, http.StatusOK, &t)
}

// cancelTask serves POST /api/task/{id}/action/cancel: whoever may read the task asks
// its producer to cancel it. cancelRequested becomes true and TASK is published; the
// producer then finishes the task as canceled. A terminal task is 400. Answer: 204.
func (a *API) cancelTask(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, rec, _, err := a.taskByID(r, c, vcd.ActTaskRead)
	if err != nil {
		return err
	}
	_, _, err = a.changeTask(r, ts, rec.ID, func(d *taskData, now time.Time) ([]string, error) {
		if notify.Terminal(d.Status) {
			return nil, vcd.Errorf(vcd.CodeInvalid, "The task is %s and cannot be canceled.", d.Status)
		}
		if d.CancelRequested {
			return nil, errUnchanged
		}
		d.CancelRequested = true
		return nil, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// visibleTasks returns the unexpired tasks of org orgID ("" for every org) that p may
// read, newest first.
func (a *API) visibleTasks(ctx context.Context, ts TaskStore, p vcd.Principal, orgID string) ([]TaskRecord, error) {
	if orgID == "" && !p.IsSysAdmin() {
		orgID = p.OrgID
	}
	all, err := ts.Tasks(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := a.now()
	out := all[:0:0]
	for _, rec := range all {
		if !expired(rec, now) && vcd.Can(p, vcd.ActTaskRead, rec.OrgID, rec.UserID) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// listOrgTasks serves GET /api/tasksList/{orgUUID} (VCD-COMPAT §10.2): a TasksList of
// the org's tasks visible to the caller, the 128 newest unexpired ones, newest first.
func (a *API) listOrgTasks(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, err := a.tasks()
	if err != nil {
		return err
	}
	id, ok := vcd.ParseID(vcd.KindOrg, r.PathValue("org"))
	if !ok || !vcd.Can(c.p, vcd.ActOrgRead, id, "") {
		return errForbidden
	}
	ctx := r.Context()
	o, err := a.store.Org(ctx, id)
	if err != nil {
		return forbiddenIfMissing(err)
	}
	recs, err := a.visibleTasks(ctx, ts, c.p, o.ID)
	if err != nil {
		return err
	}
	if len(recs) > maxTasksList {
		recs = recs[:maxTasksList]
	}
	base := a.baseURL(r)
	href := base + "/api/tasksList/" + o.ID
	var b []byte
	ct := mtTasksList
	if c.format == formatJSON {
		ct = jsonType(mtTasksList)
		b = append(b, `{"href":`...)
		b = appendJSONString(b, href)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, ct)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, o.Name)
		b = append(b, `,"task":[`...)
	} else {
		b = append(b, xml.Header...)
		b = append(b, `<TasksList xmlns="http://www.vmware.com/vcloud/v1.5" href="`...)
		b = appendXMLAttr(b, href)
		b = append(b, `" type="`+mtTasksList+`" name="`...)
		b = appendXMLAttr(b, o.Name)
		b = append(b, `">`...)
	}
	for i, rec := range recs {
		d, err := decodeTaskData(rec.Data)
		if err != nil {
			return err
		}
		t := taskView(base, rec, d, c.p.IsSysAdmin())
		if c.format == formatJSON {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.AppendJSON(b)
		} else if b, err = t.AppendXML(b); err != nil {
			return err
		}
	}
	if c.format == formatJSON {
		b = append(b, "]}"...)
	} else {
		b = append(b, "</TasksList>"...)
	}
	w.Header().Set("Content-Type", ct+";version="+c.version)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
