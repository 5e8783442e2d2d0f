package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

	// props are the properties in the order scanEvent read them, or in the map's
	// order after encoding/json; encoding/json ignores this field.
	props []auditProp
}

// NewAuditRecord returns the audit record of a notification envelope, or false if it
// has none: only EVENT and EXTERNAL_EVENT notifications with a UUID eventId and a
// timestamp have one (VCD-COMPAT §10.1). Names of the org and the user come from dir
// at the time of the call (falling back to the entity's name when the entity is that
// org or user); a lookup that fails leaves the name empty. cellID is the URN of the
// herald node (urn:vcloud:cell:<uuid>) that writes the record. The server's history
// projector calls it for each notification of the log.
//
// Every envelope in the log is in canonical layout (notify.Canonical), so the usual
// one is read by scanEvent, which extracts the fields without validating or
// reflecting; anything it does not expect (escapes, null values, unusual keys) goes
// through notify.ParseEnvelope and encoding/json as before, so both ways give the
// same record for any input.
func NewAuditRecord(ctx context.Context, dir AuditDirectory, cellID string, envelope []byte) (AuditRecord, bool) {
	_, rec, ok := AppendAuditRecord(ctx, nil, dir, cellID, envelope, notify.Origin{})
	return rec, ok
}

// AppendAuditRecord is NewAuditRecord writing the record's Data at the end of dst: it
// returns dst extended, with rec.Data its last part (sharing its memory, as any
// part of an appended buffer does), so that the records of a batch
// lie back to back in one buffer the caller reuses (the history projector's). Without
// a record, dst is returned as it was. origin, stored beside the notification
// (notify.Notification.Origin), adds the session and the client's address to the
// record's additionalProperties, as VCD's login records have them.
func AppendAuditRecord(ctx context.Context, dst []byte, dir AuditDirectory, cellID string, envelope []byte, origin notify.Origin) (_ []byte, rec AuditRecord, ok bool) {
	var p eventPayload
	external, res := scanEvent(envelope, &p)
	switch res {
	case scanNone:
		return dst, AuditRecord{}, false
	case scanSlow:
		p = eventPayload{}
		if external, ok = parseEvent(envelope, &p); !ok {
			return dst, AuditRecord{}, false
		}
	}
	return buildAuditRecord(ctx, dst, dir, cellID, &p, external, origin)
}

// setProp sets property k to v, over an external event's own property of that name:
// what herald saw of the request wins over what the producer wrote.
func setProp(props []auditProp, k, v string) []auditProp {
	for i := range props {
		if props[i].k == k {
			props[i].v = v
			return props
		}
	}
	return append(props, auditProp{k, v})
}

// parseEvent reads an EVENT or EXTERNAL_EVENT envelope with full validation, the
// reference scanEvent must agree with; false means the envelope has no audit record.
func parseEvent(envelope []byte, p *eventPayload) (external, ok bool) {
	env, err := notify.ParseEnvelope(envelope)
	if err != nil || env.Type != notify.TypeEvent && env.Type != notify.TypeExternalEvent {
		return false, false
	}
	if err := json.Unmarshal(env.Payload, p); err != nil {
		return false, false
	}
	for k, v := range p.Properties {
		p.props = append(p.props, auditProp{k, v})
	}
	return env.Type == notify.TypeExternalEvent, true
}

// buildAuditRecord renders the audit record of an event payload, its Data appended
// to dst (AppendAuditRecord).
func buildAuditRecord(ctx context.Context, dst []byte, dir AuditDirectory, cellID string, p *eventPayload, external bool, origin notify.Origin) ([]byte, AuditRecord, bool) {
	if !vcd.IsUUID(p.EventID) {
		return dst, AuditRecord{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, p.Timestamp)
	if err != nil {
		return dst, AuditRecord{}, false
	}
	orgID, _ := vcd.ParseID(vcd.KindOrg, p.Org)
	userID, _ := vcd.ParseID(vcd.KindUser, p.User)
	entityID := bareUUID(p.Entity)
	taskID, _ := vcd.ParseID(vcd.KindTask, p.Task)
	rec := AuditRecord{ID: strings.ToLower(p.EventID), Time: t.UTC().Truncate(time.Millisecond), OrgID: orgID,
		UserID: userID, EventType: p.Type, Success: p.OperationSuccess, EntityID: entityID,
		EntityName: p.EntityName, TaskID: taskID, ServiceNamespace: vcdNamespace, External: external}
	// additionalProperties, as a map that encoding/json would write: sorted keys, the
	// event's properties replacing user.roles, and the origin's session and client
	// address.
	var propsBuf [8]auditProp
	props := propsBuf[:0]
	if o, err := dir.Org(ctx, orgID); err == nil && orgID != "" {
		rec.OrgName = o.Name
	} else if p.EntityType == vcd.KindOrg && entityID == orgID {
		rec.OrgName = p.EntityName
	}
	if u, err := dir.User(ctx, userID); err == nil && userID != "" {
		rec.UserName = u.Name
		if u.Role != "" {
			props = append(props, auditProp{"user.roles", u.Role})
		}
	} else if p.EntityType == vcd.KindUser && entityID == userID {
		rec.UserName = p.EntityName
	}
	var description string
	if external {
		rec.ServiceNamespace = p.ServiceNamespace
		description = p.Description
		for _, pr := range p.props {
			if len(props) > 0 && props[0].k == "user.roles" && pr.k == "user.roles" {
				props[0].v = pr.v
				continue
			}
			props = append(props, pr)
		}
	} else {
		description = describe(p.Type, p.EntityType, p.EntityName, p.OperationSuccess)
	}
	if origin.ClientIP != "" {
		props = setProp(props, "currentContext.user.clientIpAddress", origin.ClientIP)
	}
	if origin.SessionID != "" {
		props = setProp(props, "user.session.id", "urn:vcloud:session:"+origin.SessionID)
	}
	if len(props) > 1 {
		slices.SortFunc(props, func(a, b auditProp) int { return strings.Compare(a.k, b.k) })
	}
	// The record's JSON (VCD-COMPAT §10.1), keys in wire order, byte for byte as
	// encoding/json wrote it from a struct before (SetEscapeHTML(false), map keys
	// sorted); audit_internal_test.go keeps that reference and compares the two.
	size := 640 + len(description) + len(rec.OrgName) + len(rec.UserName) + len(p.EntityName) + len(p.Entity) +
		len(p.Type) + len(cellID) + len(rec.ServiceNamespace)
	for _, pr := range props {
		size += len(pr.k) + len(pr.v) + 6
	}
	b := slices.Grow(dst, size) // the keys and ids, and the texts unescaped: at most one allocation
	b = append(b, `{"eventId":"urn:vcloud:audit:`...)
	b = append(b, rec.ID...) // a lowercase UUID
	b = append(b, `","description":`...)
	b = appendAuditString(b, description)
	b = append(b, `,"operatingOrg":{"name":`...)
	b = appendAuditString(b, rec.OrgName)
	b = append(b, `,"id":`...)
	b = appendURNOrEmpty(b, vcd.KindOrg, orgID)
	b = append(b, `},"user":{"name":`...)
	b = appendAuditString(b, rec.UserName)
	b = append(b, `,"id":`...)
	b = appendURNOrEmpty(b, vcd.KindUser, userID)
	b = append(b, `},"eventEntity":{"name":`...)
	b = appendAuditString(b, p.EntityName)
	b = append(b, `,"id":`...)
	b = appendAuditString(b, strings.ToLower(p.Entity))
	b = append(b, `},"taskId":`...)
	if taskID != "" {
		b = appendURNOrEmpty(b, vcd.KindTask, taskID)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"taskCellId":null,"cellId":`...)
	b = appendAuditString(b, cellID)
	b = append(b, `,"eventType":`...)
	b = appendAuditString(b, p.Type)
	b = append(b, `,"serviceNamespace":`...)
	b = appendAuditString(b, rec.ServiceNamespace)
	if p.OperationSuccess {
		b = append(b, `,"eventStatus":"SUCCESS","timestamp":"`...)
	} else {
		b = append(b, `,"eventStatus":"FAILURE","timestamp":"`...)
	}
	b = rec.Time.AppendFormat(b, auditTimeLayout)
	if external {
		b = append(b, `","external":true,"additionalProperties":{`...)
	} else {
		b = append(b, `","external":false,"additionalProperties":{`...)
	}
	for i, pr := range props {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAuditString(b, pr.k)
		b = append(b, ':')
		b = appendAuditString(b, pr.v)
	}
	b = append(b, "}}"...)
	rec.Data = b[len(dst):]
	return b, rec, true
}

// auditProp is one entry of a record's additionalProperties.
type auditProp struct{ k, v string }

// appendURNOrEmpty appends the JSON string of urn:vcloud:<kind>:<id>, or "" for an
// empty id. kind and id need no escaping (a URN kind and a lowercase UUID).
func appendURNOrEmpty(b []byte, kind, id string) []byte {
	if id == "" {
		return append(b, `""`...)
	}
	b = append(b, `"urn:vcloud:`...)
	b = append(b, kind...)
	b = append(b, ':')
	b = append(b, id...)
	return append(b, '"')
}

// appendAuditString appends s as a JSON string exactly as encoding/json writes it
// with SetEscapeHTML(false). Printable ASCII but '"' and '\\', and valid UTF-8 other
// than U+2028 and U+2029, are copied; a string with anything else is left to
// encoding/json.
func appendAuditString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return appendJSONString(b, s)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendJSONString(b, s)
		}
		i += size
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Outcomes of scanEvent.
const (
	scanOK   = iota // an EVENT or EXTERNAL_EVENT, its payload read
	scanNone        // not an event: no audit record
	scanSlow        // not the usual layout: parseEvent decides
)

// eventKeys are the keys of eventPayload, in the order of its fields.
var eventKeys = [...]string{"eventId", "type", "timestamp", "operationSuccess", "user", "org", "entity",
	"entityName", "entityType", "task", "serviceNamespace", "description", "properties"}

// scanEvent reads an envelope in canonical layout, {"type":…,"headers":{…},"payload":"…"}
// compact, into p without validating it. It returns scanNone for another type and
// scanSlow for anything else it does not handle: escapes other than \" and \\ in
// the payload, escapes in the payload's strings, invalid UTF-8, null or non-string
// values of the fields it reads, a repeated field or a key that differs from one only
// in case (encoding/json would match it), or any other layout. What it accepts it
// reads as encoding/json would.
func scanEvent(b []byte, p *eventPayload) (external bool, res int) {
	const head = `{"type":"`
	if !bytes.HasPrefix(b, []byte(head)) {
		return false, scanSlow
	}
	i := len(head)
	j := bytes.IndexByte(b[i:], '"')
	if j < 0 {
		return false, scanSlow
	}
	typ := b[i : i+j]
	if bytes.IndexByte(typ, '\\') >= 0 {
		return false, scanSlow
	}
	switch string(typ) {
	case notify.TypeEvent:
	case notify.TypeExternalEvent:
		external = true
	default:
		// ParseEnvelope would read another type, or fail: no record either way.
		return false, scanNone
	}
	i += j + 1
	const headers = `,"headers":{`
	if !bytes.HasPrefix(b[i:], []byte(headers)) {
		return false, scanSlow
	}
	i += len(headers)
	// Headers: "name":"value" pairs, skipped.
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i = skipRawString(b, i); i < 0 || i >= len(b) || b[i] != ':' {
				return false, scanSlow
			}
			if i = skipRawString(b, i+1); i < 0 || i >= len(b) {
				return false, scanSlow
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return false, scanSlow
			}
			i++
		}
	}
	const payload = `,"payload":"`
	if !bytes.HasPrefix(b[i:], []byte(payload)) || !bytes.HasSuffix(b, []byte(`"}`)) {
		return false, scanSlow
	}
	if i+len(payload) > len(b)-2 {
		return false, scanSlow
	}
	raw := b[i+len(payload) : len(b)-2]
	// Unescape the payload string: \" and \\ only; a bare '"' would end it early.
	var sb strings.Builder
	sb.Grow(len(raw))
	for len(raw) > 0 {
		k := bytes.IndexByte(raw, '\\')
		chunk := raw
		if k >= 0 {
			chunk = raw[:k]
		}
		if bytes.IndexByte(chunk, '"') >= 0 {
			return false, scanSlow
		}
		sb.Write(chunk)
		if k < 0 {
			break
		}
		if k+1 >= len(raw) || raw[k+1] != '"' && raw[k+1] != '\\' {
			return false, scanSlow
		}
		sb.WriteByte(raw[k+1])
		raw = raw[k+2:]
	}
	s := sb.String()
	if !utf8.ValidString(s) {
		return false, scanSlow
	}
	if !scanPayload(s, p) {
		return false, scanSlow
	}
	return external, scanOK
}

// skipRawString returns the index after the JSON string starting at b[i], or -1.
func skipRawString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// scanPayload reads the compact inner object s into p; false means parseEvent must
// decide (see scanEvent).
func scanPayload(s string, p *eventPayload) bool {
	if len(s) < 2 || s[0] != '{' {
		return false
	}
	i := 1
	if s[i] == '}' {
		return i+1 == len(s)
	}
	var seen uint16
	for {
		key, n := plainString(s, i)
		if n < 0 || n >= len(s) || s[n] != ':' {
			return false
		}
		i = n + 1
		f := -1
		for k, name := range eventKeys {
			if key == name {
				f = k
				break
			}
		}
		if f < 0 {
			for _, name := range eventKeys {
				if strings.EqualFold(key, name) {
					return false
				}
			}
			if i = skipValue(s, i); i < 0 {
				return false
			}
		} else {
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
			switch key {
			case "operationSuccess":
				switch {
				case strings.HasPrefix(s[i:], "true"):
					p.OperationSuccess = true
					i += 4
				case strings.HasPrefix(s[i:], "false"):
					i += 5
				default:
					return false
				}
			case "properties":
				if i = scanProps(s, i, p); i < 0 {
					return false
				}
			default:
				v, n := plainString(s, i)
				if n < 0 {
					return false
				}
				i = n
				switch key {
				case "eventId":
					p.EventID = v
				case "type":
					p.Type = v
				case "timestamp":
					p.Timestamp = v
				case "user":
					p.User = v
				case "org":
					p.Org = v
				case "entity":
					p.Entity = v
				case "entityName":
					p.EntityName = v
				case "entityType":
					p.EntityType = v
				case "task":
					p.Task = v
				case "serviceNamespace":
					p.ServiceNamespace = v
				case "description":
					p.Description = v
				}
			}
		}
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(s)
		default:
			return false
		}
	}
}

// maxScanProps bounds the properties scanProps reads (it compares each key with the
// previous ones); an event with more goes through parseEvent.
const maxScanProps = 32

// scanProps reads the properties object at s[i] into p.props and returns the index
// after it, or -1 for anything but an object of plain strings with distinct keys.
func scanProps(s string, i int, p *eventPayload) int {
	if i >= len(s) || s[i] != '{' {
		return -1
	}
	i++
	if i < len(s) && s[i] == '}' {
		return i + 1
	}
	for {
		k, n := plainString(s, i)
		if n < 0 || n >= len(s) || s[n] != ':' {
			return -1
		}
		v, n := plainString(s, n+1)
		if n < 0 || n >= len(s) {
			return -1
		}
		if len(p.props) >= maxScanProps {
			return -1
		}
		for _, pr := range p.props {
			if pr.k == k {
				return -1
			}
		}
		p.props = append(p.props, auditProp{k, v})
		switch s[n] {
		case ',':
			i = n + 1
		case '}':
			return n + 1
		default:
			return -1
		}
	}
}

// plainString returns the JSON string at s[i], which must have no escapes or control
// characters, and the index after it; n is -1 otherwise.
func plainString(s string, i int) (v string, n int) {
	if i >= len(s) || s[i] != '"' {
		return "", -1
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1
		case c == '\\' || c < 0x20:
			return "", -1
		}
	}
	return "", -1
}

// skipValue returns the index after the compact JSON value at s[i], or -1. It trusts
// the value to be valid JSON, as every payload in the log is, and only keeps track of
// strings and nesting.
func skipValue(s string, i int) int {
	depth := 0
	for start := i; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if i >= len(s) {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				if i == start {
					return -1
				}
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				if i == start {
					return -1
				}
				return i
			}
		}
	}
	return -1
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
