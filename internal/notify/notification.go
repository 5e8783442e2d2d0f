package notify

import (
	"net/url"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// Notification is one encoded message, ready to be appended to the notification log
// and shared, unchanged, by every subscriber.
type Notification struct {
	// ID de-duplicates the message in the log: the eventId for EVENT and
	// EXTERNAL_EVENT (and so the audit record's UUID, VCD-COMPAT §10.1); for TASK and
	// METRICS the id given to the constructor or one it derives.
	ID string
	// Topic is publish/{orgUUID}/{userUUID} or metrics/{orgUUID}/{vAppUUID}, with
	// bare lowercase UUIDs (VCD-COMPAT §7.1, §8.5).
	Topic string
	// Type is the envelope type: TypeEvent, TypeExternalEvent, TypeTask or TypeMetrics.
	Type string
	// Envelope is the whole message in canonical layout (VCD-COMPAT §8.1). It is owned
	// by the Notification and must not be modified.
	Envelope []byte
	// Time is when the notified thing happened (event time, task change time, metrics
	// time), in UTC.
	Time time.Time
	// Origin is an encoded Origin, or empty: stored beside the notification for its
	// audit record, never delivered.
	Origin string
}

// Origin is where a notification came from, as its audit record names it
// (VCD-COMPAT §10.1, additionalProperties): the login session and the client
// address of the request that raised it.
type Origin struct {
	SessionID string // a bare UUID
	ClientIP  string
}

// String encodes o for Notification.Origin: empty when o is, else a URL query.
func (o Origin) String() string {
	if o == (Origin{}) {
		return ""
	}
	v := url.Values{}
	if o.SessionID != "" {
		v.Set("session", o.SessionID)
	}
	if o.ClientIP != "" {
		v.Set("ip", o.ClientIP)
	}
	return v.Encode()
}

// ParseOrigin decodes Notification.Origin; what it cannot read is left empty.
func ParseOrigin(s string) Origin {
	if s == "" {
		return Origin{}
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return Origin{}
	}
	return Origin{SessionID: v.Get("session"), ClientIP: v.Get("ip")}
}

// build runs write into a pooled buffer and returns a Notification holding a copy of
// exactly the written bytes, so the pooled buffer is reused and the envelope is one
// right-sized allocation.
func build(id, topicName, typ string, t time.Time, write func(dst []byte) ([]byte, error)) (Notification, error) {
	p := getBuf()
	b, err := write((*p)[:0])
	if err != nil {
		putBuf(p)
		return Notification{}, err
	}
	env := make([]byte, len(b))
	copy(env, b)
	*p = b[:0]
	putBuf(p)
	return Notification{ID: id, Topic: topicName, Type: typ, Envelope: env, Time: t.UTC()}, nil
}

// publishTopic and metricsTopic name the routes of VCD-COMPAT §8.5 and §9.3.
func publishTopic(orgID, userID string) string { return topic.Publish(orgID, userID) }

func metricsTopic(orgID, vAppID string) string { return topic.Metrics(orgID, vAppID) }

// id returns the bare lowercase UUID of s, a bare UUID or a URN of the given kind.
// field names s in the error.
func id(kind, field, s string) (string, error) {
	v, ok := vcd.ParseID(kind, s)
	if !ok {
		if s == "" {
			return "", vcd.Errorf(vcd.CodeInvalid, "%s is required", field)
		}
		return "", vcd.Errorf(vcd.CodeInvalid, "%s %q is not a UUID or urn:vcloud:%s URN", field, s, kind)
	}
	return v, nil
}

// parseURN splits urn:vcloud:<kind>:<uuid> (prefix and kind in any case) into a
// lowercase kind and a lowercase bare UUID.
func parseURN(s string) (kind, uuid string, ok bool) {
	const prefix = "urn:vcloud:"
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", "", false
	}
	kind, uuid, ok = strings.Cut(s[len(prefix):], ":")
	if !ok || !validKind(strings.ToLower(kind)) || !vcd.IsUUID(uuid) {
		return "", "", false
	}
	return strings.ToLower(kind), strings.ToLower(uuid), true
}

// validKind reports whether k can be an entity type: 1 to 64 lowercase letters,
// digits and '-', as URN kinds are (user, org, vm, vapp, extension-api, …).
func validKind(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
