package notify

import (
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald/internal/vcd"
)

// EventTypePrefix begins the type of every event herald raises itself
// (VCD-COMPAT §8.2): com/vmware/vcloud/event/<object>/<action>.
const EventTypePrefix = "com/vmware/vcloud/event/"

// EventInfo describes one of herald's own operations, to be published as an EVENT
// (VCD-COMPAT §8.2). Ids may be bare UUIDs or URNs of the right kind, in any case;
// they are written lowercase.
type EventInfo struct {
	// ID is the eventId, a bare UUID; the audit record is urn:vcloud:audit:<ID>. Event
	// and ExternalEvent fill an empty ID with a new random UUID.
	ID string
	// Type is the full event type, such as com/vmware/vcloud/event/session/login.
	Type string
	// Time is when the operation happened; it is written in UTC.
	Time time.Time
	// Success is operationSuccess: false for a failed login, for example.
	Success bool
	// OrgID is the org the entity belongs to (for org/* events, the org itself). It
	// routes the message (§8.5) and gives "org".
	OrgID string
	// UserID is the acting user, or the user concerned for a failed login or a
	// lockout. It routes the message and gives "user".
	UserID string
	// EntityType is the entity's URN kind (vcd.KindUser, vcd.KindOrg, vcd.KindTask,
	// vcd.KindVM, …).
	EntityType string
	// EntityID is the entity's id; EntityName its name.
	EntityID   string
	EntityName string
	// TaskID, when set, adds "task" and "taskOwner" to the payload and the
	// notification.taskUUID header.
	TaskID string
	// TaskOwner is the URN written as "taskOwner": the user who owns the task, as in
	// VCD's AMQP notifications. Empty means the URN of UserID. Ignored without TaskID.
	TaskOwner string
	// SessionID (a bare UUID) and ClientIP name the login session and the client
	// address of the request that raised the event, when it has them: they become
	// Notification.Origin, for the audit record, and are not in the payload.
	SessionID string
	ClientIP  string
}

// event is an EventInfo checked and normalized: bare lowercase ids, URNs built.
type event struct {
	id, typ            string
	time               time.Time
	success            bool
	org, user          string // bare UUIDs
	entityType, entity string // kind and bare UUID
	entityName         string
	task               string // bare UUID; empty without a task
	taskOwnerURN       string // empty: the user's URN
}

func (e EventInfo) normalize() (event, error) {
	var ev event
	var err error
	if ev.id, err = id(vcd.KindAudit, "event id", e.ID); err != nil {
		return event{}, err
	}
	if e.Type == "" || !utf8.ValidString(e.Type) {
		return event{}, vcd.Errorf(vcd.CodeInvalid, "event type is required and must be valid UTF-8")
	}
	ev.typ = e.Type
	if e.Time.IsZero() {
		return event{}, vcd.Errorf(vcd.CodeInvalid, "event time is required")
	}
	ev.time = e.Time.UTC()
	ev.success = e.Success
	if ev.org, err = id(vcd.KindOrg, "org id", e.OrgID); err != nil {
		return event{}, err
	}
	if ev.user, err = id(vcd.KindUser, "user id", e.UserID); err != nil {
		return event{}, err
	}
	if !validKind(e.EntityType) {
		return event{}, vcd.Errorf(vcd.CodeInvalid, "entity type %q is not a URN kind", e.EntityType)
	}
	ev.entityType = e.EntityType
	if ev.entity, err = id(e.EntityType, "entity id", e.EntityID); err != nil {
		return event{}, err
	}
	ev.entityName = e.EntityName
	if e.TaskID != "" {
		if ev.task, err = id(vcd.KindTask, "task id", e.TaskID); err != nil {
			return event{}, err
		}
		if e.TaskOwner != "" {
			kind, uuid, ok := parseURN(e.TaskOwner)
			if !ok {
				return event{}, vcd.Errorf(vcd.CodeInvalid, "task owner %q is not a urn:vcloud URN", e.TaskOwner)
			}
			ev.taskOwnerURN = vcd.URN(kind, uuid)
		}
	}
	return ev, nil
}

// appendPayloadFields appends the EVENT object of VCD-COMPAT §8.2 without its closing
// brace, keys in the specified order, so EXTERNAL_EVENT can add its own.
func (ev *event) appendPayloadFields(b []byte) []byte {
	b = append(b, `{"eventId":`...)
	b = appendString(b, ev.id)
	b = append(b, `,"type":`...)
	b = appendString(b, ev.typ)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ev.time, EventTimeLayout)
	b = append(b, `,"operationSuccess":`...)
	b = appendBool(b, ev.success)
	// Ids are checked lowercase UUIDs and kinds plain letters: no escaping needed.
	b = append(b, `,"user":"urn:vcloud:user:`...)
	b = append(b, ev.user...)
	b = append(b, `","org":"urn:vcloud:org:`...)
	b = append(b, ev.org...)
	b = append(b, `","entity":"urn:vcloud:`...)
	b = append(b, ev.entityType...)
	b = append(b, ':')
	b = append(b, ev.entity...)
	b = append(b, '"')
	b = append(b, `,"entityName":`...)
	b = appendString(b, ev.entityName)
	b = append(b, `,"entityType":`...)
	b = appendString(b, ev.entityType)
	if ev.task != "" {
		b = append(b, `,"task":"urn:vcloud:task:`...)
		b = append(b, ev.task...)
		b = append(b, `","taskOwner":`...)
		if ev.taskOwnerURN == "" {
			b = append(b, `"urn:vcloud:user:`...)
			b = append(b, ev.user...)
			b = append(b, '"')
		} else {
			b = appendString(b, ev.taskOwnerURN)
		}
	}
	return b
}

// writeHeaders writes the EVENT headers of VCD-COMPAT §8.2, in order.
func (ev *event) writeHeaders(w *envelopeWriter) {
	w.header(HeaderType, ev.typ)
	w.header(HeaderEntityType, ev.entityType)
	w.header(HeaderEntityUUID, ev.entity)
	w.header(HeaderOrgUUID, ev.org)
	w.header(HeaderUserUUID, ev.user)
	if ev.success {
		w.header(HeaderOperationSuccess, "true")
	} else {
		w.header(HeaderOperationSuccess, "false")
	}
	if ev.task != "" {
		w.header(HeaderTaskUUID, ev.task)
	}
}

// appendEnvelope appends the EVENT envelope; scratch is used for the inner payload.
func (ev *event) appendEnvelope(dst []byte) ([]byte, error) {
	p := getBuf()
	defer putBuf(p)
	inner := ev.appendPayloadFields((*p)[:0])
	inner = append(inner, '}')
	*p = inner[:0]
	var w envelopeWriter
	w.begin(dst, TypeEvent)
	ev.writeHeaders(&w)
	return w.end(inner)
}

// AppendEvent appends the EVENT envelope of e to dst (VCD-COMPAT §8.2) and returns the
// extended buffer. e.ID must be set. Errors have code vcd.CodeInvalid and leave dst
// unchanged.
func AppendEvent(dst []byte, e EventInfo) ([]byte, error) {
	ev, err := e.normalize()
	if err != nil {
		return dst, err
	}
	return ev.appendEnvelope(dst)
}

// Event returns the EVENT notification of e, routed to publish/{OrgID}/{UserID}
// (VCD-COMPAT §8.5). An empty e.ID is replaced by a new random UUID, which becomes
// the Notification's ID. Errors have code vcd.CodeInvalid.
func Event(e EventInfo) (Notification, error) {
	if e.ID == "" {
		e.ID = vcd.NewUUID()
	}
	ev, err := e.normalize()
	if err != nil {
		return Notification{}, err
	}
	n, err := build(ev.id, publishTopic(ev.org, ev.user), TypeEvent, ev.time, ev.appendEnvelope)
	if err == nil {
		n.Origin = Origin{SessionID: e.SessionID, ClientIP: e.ClientIP}.String()
	}
	return n, err
}
