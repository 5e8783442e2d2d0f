package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/fiql"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// AuditTrail is what GET /cloudapi/1.0.0/auditTrail needs: a query over the audit
// history's index. The server adapts *store.DB to it. Records are ordered by time, then
// by storage order; QueryAudit returns the page's records as AuditRecord.Data (the
// JSON NewAuditRecord rendered). PageSize below 1 is vcd.CodeInvalid.
type AuditTrail interface {
	QueryAudit(ctx context.Context, q AuditQuery) (AuditPage, error)
}

// AuditQuery selects a page of audit records; it mirrors store.AuditQuery.
type AuditQuery struct {
	// OrgID and UserID restrict visibility when not empty; both empty means all.
	OrgID, UserID string
	// From and To bound the record time inclusively (zero: open); they only narrow the
	// scan, Match decides.
	From, To time.Time
	// EventType, when set, is asked once per distinct event type whether to keep it.
	EventType func(eventType string) bool
	// Match, when set, keeps the records it accepts; the entry is valid during the call.
	Match func(e AuditEntry) bool
	// Asc orders oldest first; the default is newest first.
	Asc bool
	// Page is 1-based.
	Page, PageSize int
	// MaxSeq, when set, ignores records stored after it, so that pages stay stable.
	MaxSeq uint64
}

// AuditEntry is an indexed audit record as AuditQuery.Match sees it, without its JSON.
// Ids are bare UUIDs; absent ones are "".
type AuditEntry interface {
	ID() string
	Time() time.Time
	OrgID() string
	OrgName() string
	UserID() string
	UserName() string
	EventType() string
	Success() bool
	External() bool
	EntityID() string
	EntityName() string
	TaskID() string
	ServiceNamespace() string
}

// AuditPage is one page of QueryAudit.
type AuditPage struct {
	Total   int      // matching records on all pages
	Records [][]byte // the page's records, each the JSON of NewAuditRecord
	MaxSeq  uint64   // the sequence bound the query saw; pass it back for later pages
}

// AuditRecord is the audit record of one event notification: the fields the history
// index keeps and Data, the record's JSON (VCD-COMPAT §10.1). Its fields are those of
// store.AuditRecord, in the same order, so that one converts to the other.
type AuditRecord struct {
	ID               string
	Time             time.Time
	OrgID            string
	OrgName          string
	UserID           string
	UserName         string
	EventType        string
	Success          bool
	EntityID         string
	EntityName       string
	TaskID           string
	ServiceNamespace string
	External         bool
	Data             []byte
}

// AuditDirectory looks up the names an audit record shows. The api Store satisfies it.
type AuditDirectory interface {
	Org(ctx context.Context, id string) (vcd.Org, error)
	User(ctx context.Context, id string) (vcd.User, error)
}

// vcdNamespace is the serviceNamespace of herald's own events (VCD-COMPAT §10.1).
const vcdNamespace = "com.vmware.vcloud"

// auditTimeLayout is the timestamp of an audit record, written in UTC (…Z).
const auditTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// auditJSON is an audit record (VCD-COMPAT §10.1); field order is the wire order.
type auditJSON struct {
	EventID              string            `json:"eventId"`
	Description          string            `json:"description"`
	OperatingOrg         entityRef         `json:"operatingOrg"`
	User                 entityRef         `json:"user"`
	EventEntity          entityRef         `json:"eventEntity"`
	TaskID               *string           `json:"taskId"`
	TaskCellID           *string           `json:"taskCellId"`
	CellID               string            `json:"cellId"`
	EventType            string            `json:"eventType"`
	ServiceNamespace     string            `json:"serviceNamespace"`
	EventStatus          string            `json:"eventStatus"`
	Timestamp            string            `json:"timestamp"`
	External             bool              `json:"external"`
	AdditionalProperties map[string]string `json:"additionalProperties"`
}

// eventPayload is the inner object of EVENT and EXTERNAL_EVENT (VCD-COMPAT §8.2, §8.3).
type eventPayload struct {
	EventID          string            `json:"eventId"`
	Type             string            `json:"type"`
	Timestamp        string            `json:"timestamp"`
	OperationSuccess bool              `json:"operationSuccess"`
	User             string            `json:"user"`
	Org              string            `json:"org"`
	Entity           string            `json:"entity"`
	EntityName       string            `json:"entityName"`
	EntityType       string            `json:"entityType"`
	Task             string            `json:"task"`
	ServiceNamespace string            `json:"serviceNamespace"`
	Description      string            `json:"description"`
	Properties       map[string]string `json:"properties"`
}

// NewAuditRecord returns the audit record of a notification envelope, or false if it
// has none: only EVENT and EXTERNAL_EVENT notifications with a UUID eventId and a
// timestamp have one (VCD-COMPAT §10.1). Names of the org and the user come from dir
// at the time of the call (falling back to the entity's name when the entity is that
// org or user); a lookup that fails leaves the name empty. cellID is the URN of the
// herald node (urn:vcloud:cell:<uuid>) that writes the record. The server's history
// projector calls it for each notification of the log.
func NewAuditRecord(ctx context.Context, dir AuditDirectory, cellID string, envelope []byte) (AuditRecord, bool) {
	env, err := notify.ParseEnvelope(envelope)
	if err != nil || env.Type != notify.TypeEvent && env.Type != notify.TypeExternalEvent {
		return AuditRecord{}, false
	}
	var p eventPayload
	if err := json.Unmarshal(env.Payload, &p); err != nil || !vcd.IsUUID(p.EventID) {
		return AuditRecord{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, p.Timestamp)
	if err != nil {
		return AuditRecord{}, false
	}
	external := env.Type == notify.TypeExternalEvent
	orgID, _ := vcd.ParseID(vcd.KindOrg, p.Org)
	userID, _ := vcd.ParseID(vcd.KindUser, p.User)
	entityID := bareUUID(p.Entity)
	taskID, _ := vcd.ParseID(vcd.KindTask, p.Task)
	rec := AuditRecord{ID: strings.ToLower(p.EventID), Time: t.UTC().Truncate(time.Millisecond), OrgID: orgID,
		UserID: userID, EventType: p.Type, Success: p.OperationSuccess, EntityID: entityID,
		EntityName: p.EntityName, TaskID: taskID, ServiceNamespace: vcdNamespace, External: external}
	props := map[string]string{}
	if o, err := dir.Org(ctx, orgID); err == nil && orgID != "" {
		rec.OrgName = o.Name
	} else if p.EntityType == vcd.KindOrg && entityID == orgID {
		rec.OrgName = p.EntityName
	}
	if u, err := dir.User(ctx, userID); err == nil && userID != "" {
		rec.UserName = u.Name
		if u.Role != "" {
			props["user.roles"] = u.Role
		}
	} else if p.EntityType == vcd.KindUser && entityID == userID {
		rec.UserName = p.EntityName
	}
	description := describe(p.Type, p.EntityType, p.EntityName, p.OperationSuccess)
	if external {
		rec.ServiceNamespace = p.ServiceNamespace
		description = p.Description
		for k, v := range p.Properties {
			props[k] = v
		}
	}
	j := auditJSON{
		EventID:      vcd.URN(vcd.KindAudit, rec.ID),
		Description:  description,
		OperatingOrg: entityRef{Name: rec.OrgName, ID: urnOrEmpty(vcd.KindOrg, orgID)},
		User:         entityRef{Name: rec.UserName, ID: urnOrEmpty(vcd.KindUser, userID)},
		EventEntity:  entityRef{Name: p.EntityName, ID: strings.ToLower(p.Entity)},
		CellID:       cellID,
		EventType:    p.Type, ServiceNamespace: rec.ServiceNamespace,
		EventStatus: "SUCCESS", Timestamp: rec.Time.Format(auditTimeLayout), External: external,
		AdditionalProperties: props,
	}
	if !p.OperationSuccess {
		j.EventStatus = "FAILURE"
	}
	if taskID != "" {
		s := vcd.URN(vcd.KindTask, taskID)
		j.TaskID = &s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return AuditRecord{}, false
	}
	rec.Data = bytes.TrimRight(b.Bytes(), "\n")
	return rec, true
}

// bareUUID returns the lowercase UUID of a URN of any kind, or of a bare UUID.
func bareUUID(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if !vcd.IsUUID(s) {
		return ""
	}
	return strings.ToLower(s)
}

func urnOrEmpty(kind, id string) string {
	if id == "" {
		return ""
	}
	return vcd.URN(kind, id)
}

// pastTense names the actions of VCD-COMPAT §8.2 in descriptions.
var pastTense = map[string]string{
	"login": "logged in", "logout": "logged out", "create": "created", "modify": "modified",
	"delete": "deleted", "enable": "enabled", "disable": "disabled", "lockout": "locked out",
	"unlock": "unlocked", "start": "started", "complete": "completed", "fail": "failed",
	"abort": "aborted",
}

// describe returns the description of one of herald's events, such as
// "User 'alice' logged in" (HERALD wording).
func describe(typ, entityType, entityName string, success bool) string {
	rest := strings.TrimPrefix(typ, notify.EventTypePrefix)
	object, action, _ := strings.Cut(rest, "/")
	if entityType != "" {
		object = entityType
	}
	if object != "" {
		object = strings.ToUpper(object[:1]) + object[1:]
	}
	if !success {
		return object + " '" + entityName + "' " + action + " failed"
	}
	if pt, ok := pastTense[action]; ok {
		action = pt
	}
	return object + " '" + entityName + "' " + action
}

// auditFields are the filterable fields of VCD-COMPAT §10.1.
var auditFields = fiql.Fields{
	"eventId": fiql.KindID, "eventType": fiql.KindText, "eventStatus": fiql.KindText,
	"timestamp": fiql.KindTime, "user.id": fiql.KindID, "user.name": fiql.KindText,
	"operatingOrg.id": fiql.KindID, "operatingOrg.name": fiql.KindText, "eventEntity.id": fiql.KindID,
	"eventEntity.name": fiql.KindText, "taskId": fiql.KindID, "serviceNamespace": fiql.KindText,
	"external": fiql.KindBool,
}

// auditValue returns e's value of a field of auditFields.
func auditValue(e AuditEntry, field string) fiql.Value {
	text := func(s string) fiql.Value {
		if s == "" {
			return fiql.Null
		}
		return fiql.Text(s)
	}
	switch field {
	case "eventId":
		return text(e.ID())
	case "eventType":
		return text(e.EventType())
	case "eventStatus":
		if e.Success() {
			return fiql.Text("SUCCESS")
		}
		return fiql.Text("FAILURE")
	case "timestamp":
		return fiql.Time(e.Time())
	case "user.id":
		return text(e.UserID())
	case "user.name":
		return text(e.UserName())
	case "operatingOrg.id":
		return text(e.OrgID())
	case "operatingOrg.name":
		return text(e.OrgName())
	case "eventEntity.id":
		return text(e.EntityID())
	case "eventEntity.name":
		return text(e.EntityName())
	case "taskId":
		return text(e.TaskID())
	case "serviceNamespace":
		return text(e.ServiceNamespace())
	case "external":
		return fiql.Bool(e.External())
	}
	return fiql.Null
}

// auditQuery builds the query of a filter: Match evaluates it, and its top-level
// conjunctive comparisons on timestamp and eventType narrow the scan. A syntax error or
// a comparison that does not fit auditFields is vcd.CodeInvalid naming the position.
func auditQuery(filter string) (AuditQuery, error) {
	var q AuditQuery
	if filter == "" {
		return q, nil
	}
	e, err := fiql.Parse(filter)
	if err == nil {
		var f *fiql.Filter
		if f, err = fiql.Compile(e, auditFields); err == nil {
			q.Match = func(e AuditEntry) bool {
				return f.Match(func(field string) fiql.Value { return auditValue(e, field) })
			}
			narrow(&q, f.Constraints())
			return q, nil
		}
	}
	return q, vcd.Errorf(vcd.CodeInvalid, "Invalid filter: %s", strings.TrimPrefix(err.Error(), "fiql: "))
}

// narrow sets q's time bounds and event-type predicate from constraints every match
// satisfies.
func narrow(q *AuditQuery, cs []fiql.Constraint) {
	var types []*fiql.Filter
	for _, c := range cs {
		switch c.Field {
		case "timestamp":
			t := c.Value.Time
			if c.Op == fiql.Gt || c.Op == fiql.Ge || c.Op == fiql.Eq {
				if q.From.IsZero() || t.After(q.From) {
					q.From = t
				}
			}
			if c.Op == fiql.Lt || c.Op == fiql.Le || c.Op == fiql.Eq {
				if q.To.IsZero() || t.Before(q.To) {
					q.To = t
				}
			}
		case "eventType":
			f, err := fiql.Compile(fiql.Comparison{Selector: c.Field, Op: c.Op, Value: c.Value.Text}, auditFields)
			if err == nil {
				types = append(types, f)
			}
		}
	}
	if len(types) > 0 {
		q.EventType = func(s string) bool {
			for _, f := range types {
				if !f.Match(func(string) fiql.Value { return fiql.Text(s) }) {
					return false
				}
			}
			return true
		}
	}
}

// listAuditTrail serves GET /cloudapi/1.0.0/auditTrail (VCD-COMPAT §10.1, §5.4):
// sysadmins see every record, org admins their org's, other users their own.
// Newest first unless sortAsc=timestamp. Link URLs carry maxSeq, the bound of the
// first page, so that following pages do not shift while new records arrive.
func (a *API) listAuditTrail(w http.ResponseWriter, r *http.Request, c *call) error {
	p := c.p
	if !vcd.Can(p, vcd.ActTaskRead, p.OrgID, p.UserID) {
		return errForbidden
	}
	if a.cfg.Audit == nil {
		return vcd.Errorf(vcd.CodeUnavailable, "The audit trail is unavailable.")
	}
	params := queryParams(r)
	q, err := auditQuery(params.Get("filter"))
	if err != nil {
		return err
	}
	switch {
	case p.IsSysAdmin():
	case p.IsOrgAdmin():
		q.OrgID = p.OrgID
	default:
		q.OrgID, q.UserID = p.OrgID, p.UserID
	}
	pg := page[json.RawMessage]{page: 1, pageSize: defaultPageSize, model: "AuditTrailEvents"}
	if s := params.Get("page"); s != "" {
		if pg.page, err = strconv.Atoi(s); err != nil || pg.page < 1 {
			return vcd.Errorf(vcd.CodeInvalid, "The page parameter must be a positive integer.")
		}
	}
	if s := params.Get("pageSize"); s != "" {
		if pg.pageSize, err = strconv.Atoi(s); err != nil || pg.pageSize < 1 || pg.pageSize > maxPageSize {
			return vcd.Errorf(vcd.CodeInvalid, "The pageSize parameter must be an integer from 1 to %d.", maxPageSize)
		}
	}
	asc, desc := params.Get("sortAsc"), params.Get("sortDesc")
	switch {
	case asc != "" && desc != "":
		return vcd.Errorf(vcd.CodeInvalid, "Use either sortAsc or sortDesc, not both.")
	case asc+desc != "" && asc+desc != "timestamp":
		return vcd.Errorf(vcd.CodeInvalid, "Cannot sort by %q.", truncate(asc+desc, 64))
	}
	q.Asc = asc != ""
	if s := params.Get("maxSeq"); s != "" {
		if q.MaxSeq, err = strconv.ParseUint(s, 10, 64); err != nil {
			return vcd.Errorf(vcd.CodeInvalid, "The maxSeq parameter must be a non-negative integer.")
		}
	}
	q.Page, q.PageSize = pg.page, pg.pageSize
	res, err := a.cfg.Audit.QueryAudit(r.Context(), q)
	if err != nil {
		return err
	}
	pg.total = res.Total
	pg.pageCount = (res.Total + pg.pageSize - 1) / pg.pageSize
	values := make([]any, len(res.Records))
	for i, b := range res.Records {
		values[i] = json.RawMessage(b)
	}
	// The Link URLs repeat the request's parameters, with maxSeq pinned.
	params.Set("maxSeq", strconv.FormatUint(res.MaxSeq, 10))
	linked := r.Clone(r.Context())
	linked.URL = &url.URL{Path: r.URL.Path, RawQuery: params.Encode()}
	return writePage(w, linked, a.baseURL(r), c, pg, values)
}
