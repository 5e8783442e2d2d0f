package notify

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald/internal/vcd"
)

// Media types of the external event body (VCD-COMPAT §8.3).
const (
	MediaEventXML  = "application/vnd.vmware.admin.event+xml"
	MediaEventJSON = "application/vnd.vmware.admin.event+json"
)

// Limits of VCD's EventType (VCD-COMPAT §8.3), in characters.
const (
	maxEventTypeLen      = 128
	maxServiceNSLen      = 128
	maxTypeFullLen       = 2000
	reservedEventType    = "com/vmware/vcloud"
	reservedServiceSpace = "com.vmware.vcloud"
)

// Property is one EventProperty of an external event: a name and its value.
type Property struct {
	Name  string
	Value string
}

// EventBody is VCD's EventType as posted to POST /api/admin/org/{id}/events
// (VCD-COMPAT §8.3), decoded by DecodeEventXML or DecodeEventJSON.
type EventBody struct {
	Type             string
	ServiceNamespace string
	// Success is the success attribute; absent means true (HERALD).
	Success bool
	// TypeFull is the free-text description, written as "description".
	TypeFull string
	// Owner, when set, names the entity (see Entity); User the user the event is for.
	Owner *Reference
	User  *Reference
	// Properties are kept in the order posted; names are unique.
	Properties []Property
}

type eventXML struct {
	XMLName          xml.Name `xml:"Event"`
	Type             string   `xml:"type,attr"`
	ServiceNamespace string   `xml:"serviceNamespace,attr"`
	Success          *string  `xml:"success,attr"`
	TypeFull         string   `xml:"typeFull,attr"`
	Owner            *Reference
	User             *Reference
	Properties       []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"EventProperties>EventProperty"`
}

// DecodeEventXML decodes an Event element (application/vnd.vmware.admin.event+xml),
// in VCD's namespace or none, and validates it (Validate). Errors have code
// vcd.CodeInvalid.
func DecodeEventXML(b []byte) (EventBody, error) {
	var x eventXML
	if err := xml.Unmarshal(b, &x); err != nil {
		return EventBody{}, vcd.Errorf(vcd.CodeInvalid, "malformed Event XML: %v", err)
	}
	e := EventBody{Type: x.Type, ServiceNamespace: x.ServiceNamespace, Success: true,
		TypeFull: x.TypeFull, Owner: x.Owner, User: x.User}
	if x.Success != nil {
		// xs:boolean: true, false, 1 or 0, surrounded by optional white space.
		switch strings.TrimSpace(*x.Success) {
		case "true", "1":
		case "false", "0":
			e.Success = false
		default:
			return EventBody{}, vcd.Errorf(vcd.CodeInvalid, "Event success %q is not a boolean", *x.Success)
		}
	}
	for _, p := range x.Properties {
		e.Properties = append(e.Properties, Property{Name: p.Name, Value: p.Value})
	}
	return e, e.Validate()
}

type eventJSON struct {
	Type             string     `json:"type"`
	ServiceNamespace string     `json:"serviceNamespace"`
	Success          *bool      `json:"success"`
	TypeFull         string     `json:"typeFull"`
	Owner            *Reference `json:"owner"`
	User             *Reference `json:"user"`
	EventProperties  *struct {
		EventProperty []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"eventProperty"`
	} `json:"eventProperties"`
}

// decodeOneJSON decodes b, one JSON value, into v (unknown keys ignored), and
// refuses data after it; errors, naming what as what b should be, have code
// vcd.CodeInvalid.
func decodeOneJSON(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return vcd.Errorf(vcd.CodeInvalid, "malformed %s JSON: %v", what, err)
	}
	// Not dec.More(), which is false before a closing bracket or brace.
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return vcd.Errorf(vcd.CodeInvalid, "malformed %s JSON: data after the object", what)
	}
	return nil
}

// DecodeEventJSON decodes an Event in VCD's legacy JSON naming
// (application/vnd.vmware.admin.event+json, VCD-COMPAT §8.3):
// {"type":…,"serviceNamespace":…,"success":true,"typeFull":…,"owner":{…},"user":{…},
// "eventProperties":{"eventProperty":[{"name":…,"value":…}]}}. Unknown keys are
// ignored. It validates the result (Validate); errors have code vcd.CodeInvalid.
func DecodeEventJSON(b []byte) (EventBody, error) {
	var x eventJSON
	if err := decodeOneJSON(b, &x, "Event"); err != nil {
		return EventBody{}, err
	}
	e := EventBody{Type: x.Type, ServiceNamespace: x.ServiceNamespace, Success: true,
		TypeFull: x.TypeFull, Owner: x.Owner, User: x.User}
	if x.Success != nil {
		e.Success = *x.Success
	}
	if x.EventProperties != nil {
		for _, p := range x.EventProperties.EventProperty {
			e.Properties = append(e.Properties, Property{Name: p.Name, Value: p.Value})
		}
	}
	return e, e.Validate()
}

// Validate checks e against VCD's EventType rules (VCD-COMPAT §8.3): type 1 to 128
// characters, not starting with com/vmware/vcloud; serviceNamespace 1 to 128, not
// starting with com.vmware.vcloud; typeFull at most 2000. herald also requires valid
// UTF-8 and unique, non-empty property names. The error, of code vcd.CodeInvalid,
// names every problem.
func (e EventBody) Validate() error {
	var problems []string
	add := func(s string) { problems = append(problems, s) }
	checkText := func(field, v string, minLen, maxLen int) bool {
		n := utf8.RuneCountInString(v)
		switch {
		case !utf8.ValidString(v):
			add(field + " is not valid UTF-8")
		case n < minLen || n > maxLen:
			add(field + " must be " + itoa(minLen) + " to " + itoa(maxLen) + " characters, not " + itoa(n))
		default:
			return true
		}
		return false
	}
	// The reserved prefixes are compared without case: audit trail filters match
	// text without case (eventType==com/vmware/vcloud/event/session/login would
	// find a producer's COM/VMWARE/VCLOUD/event/session/login).
	if checkText("type", e.Type, 1, maxEventTypeLen) && hasPrefixFold(e.Type, reservedEventType) {
		add("type must not start with " + reservedEventType)
	}
	if checkText("serviceNamespace", e.ServiceNamespace, 1, maxServiceNSLen) &&
		hasPrefixFold(e.ServiceNamespace, reservedServiceSpace) {
		add("serviceNamespace must not start with " + reservedServiceSpace)
	}
	checkText("typeFull", e.TypeFull, 0, maxTypeFullLen)
	for i, p := range e.Properties {
		if p.Name == "" {
			add("EventProperty " + itoa(i) + " has no name")
			continue
		}
		if !utf8.ValidString(p.Name) || !utf8.ValidString(p.Value) {
			add("EventProperty " + itoa(i) + " is not valid UTF-8")
			continue
		}
		for _, o := range e.Properties[:i] {
			if o.Name == p.Name {
				add("EventProperty name " + quote(p.Name) + " is repeated")
				break
			}
		}
	}
	if len(problems) > 0 {
		return vcd.Errorf(vcd.CodeInvalid, "invalid Event: %s", strings.Join(problems, "; "))
	}
	return nil
}

// UserID returns the bare UUID of the event's User, from its id or its legacy href.
// It reports false when User is absent or names no user; the caller then uses itself
// (VCD-COMPAT §8.3) and must check that the user belongs to the org.
func (e EventBody) UserID() (string, bool) {
	if e.User == nil {
		return "", false
	}
	kind, uuid, ok := e.User.Entity()
	if !ok || kind != vcd.KindUser {
		return "", false
	}
	return uuid, true
}

// Entity returns the event's entity (VCD-COMPAT §8.3): Owner's id, else the entity
// of Owner's legacy href, else the org orgID named orgName.
func (e EventBody) Entity(orgID, orgName string) (kind, uuid, name string) {
	if e.Owner != nil {
		if kind, uuid, ok := e.Owner.Entity(); ok {
			return kind, uuid, e.Owner.Name
		}
	}
	return vcd.KindOrg, orgID, orgName
}

// ExternalEventInfo is an external event accepted by POST /api/admin/org/{id}/events,
// to be published as an EXTERNAL_EVENT (VCD-COMPAT §8.3).
type ExternalEventInfo struct {
	// ID is the eventId; empty means a new random UUID.
	ID string
	// Time is when herald accepted the event.
	Time time.Time
	// OrgID and OrgName are the org of the path; OrgName names the entity when the
	// body has no usable Owner.
	OrgID   string
	OrgName string
	// UserID is the body's User (Body.UserID), already checked to belong to the org,
	// or else the caller. It routes the message.
	UserID string
	// Body is the decoded, validated EventType.
	Body EventBody
}

// externalEvent is an ExternalEventInfo checked and normalized.
type externalEvent struct {
	event
	body *EventBody
}

func (x ExternalEventInfo) normalize() (externalEvent, error) {
	if err := x.Body.Validate(); err != nil {
		return externalEvent{}, err
	}
	org, err := id(vcd.KindOrg, "org id", x.OrgID)
	if err != nil {
		return externalEvent{}, err
	}
	kind, uuid, name := x.Body.Entity(org, x.OrgName)
	ev, err := EventInfo{ID: x.ID, Type: x.Body.Type, Time: x.Time, Success: x.Body.Success,
		OrgID: org, UserID: x.UserID, EntityType: kind, EntityID: uuid, EntityName: name}.normalize()
	if err != nil {
		return externalEvent{}, err
	}
	return externalEvent{event: ev, body: &x.Body}, nil
}

func (xe *externalEvent) appendEnvelope(dst []byte) ([]byte, error) {
	p := getBuf()
	defer putBuf(p)
	b := xe.appendPayloadFields((*p)[:0])
	b = append(b, `,"serviceNamespace":`...)
	b = appendString(b, xe.body.ServiceNamespace)
	b = append(b, `,"description":`...)
	b = appendString(b, xe.body.TypeFull)
	// properties keep the order in which the producer sent them.
	b = append(b, `,"properties":{`...)
	for i, pr := range xe.body.Properties {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, pr.Name)
		b = append(b, ':')
		b = appendString(b, pr.Value)
	}
	b = append(b, "}}"...)
	*p = b[:0]
	var w envelopeWriter
	w.begin(dst, TypeExternalEvent)
	xe.writeHeaders(&w)
	w.header(HeaderServiceNamespace, xe.body.ServiceNamespace)
	return w.end(b)
}

// AppendExternalEvent appends the EXTERNAL_EVENT envelope of x to dst (VCD-COMPAT
// §8.3). x.ID must be set. Errors have code vcd.CodeInvalid and leave dst unchanged;
// one of them is a type or serviceNamespace containing payload":" (§8.1 rule 3).
func AppendExternalEvent(dst []byte, x ExternalEventInfo) ([]byte, error) {
	xe, err := x.normalize()
	if err != nil {
		return dst, err
	}
	return xe.appendEnvelope(dst)
}

// ExternalEvent returns the EXTERNAL_EVENT notification of x, routed to
// publish/{OrgID}/{UserID} (VCD-COMPAT §8.5). The inner object is the EVENT object
// plus serviceNamespace, description (TypeFull) and properties (name → value, in the
// order posted). An empty x.ID is replaced by a new random UUID. Errors have code
// vcd.CodeInvalid.
func ExternalEvent(x ExternalEventInfo) (Notification, error) {
	if x.ID == "" {
		x.ID = vcd.NewUUID()
	}
	xe, err := x.normalize()
	if err != nil {
		return Notification{}, err
	}
	return build(xe.id, publishTopic(xe.org, xe.user), TypeExternalEvent, xe.time, xe.appendEnvelope)
}

func itoa(n int) string { return strconv.Itoa(n) }

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// validText reports whether s is valid UTF-8.
func validText(s string) bool { return utf8.ValidString(s) }

func joinProblems(p []string) string { return strings.Join(p, "; ") }

func quote(s string) string { return string(appendString(nil, s)) }

// hasPrefixFold reports whether s begins with prefix, compared without case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
