package topic

import (
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Decision is the outcome of an authorization check. The zero value is Denied.
type Decision int

// Decisions. The broker maps them to reason codes (VCD-COMPAT §7.3): Denied to 0x80
// (3.1.1) or 0x87 (5.0), Malformed to 0x80 or 0x8F on SUBSCRIBE and 0x90 on PUBLISH.
const (
	// Denied: the filter or topic is valid but outside what the principal may use.
	Denied Decision = iota
	// Granted: the principal may subscribe to the filter or publish to the topic.
	Granted
	// GrantedNeverMatches: the subscription is allowed but can never match a
	// notification, for example a sysadmin's "publish/urn:vcloud:org:<uuid>/*"
	// (topics carry bare UUIDs). The broker grants it and logs a warning (§7.2).
	GrantedNeverMatches
	// Malformed: not a valid MQTT filter or topic, or (on PUBLISH under publish/ or
	// metrics/) not a strict notification topic.
	Malformed
)

// Allowed reports whether d lets the operation proceed.
func (d Decision) Allowed() bool { return d == Granted || d == GrantedNeverMatches }

// String returns the decision in words, for logs.
func (d Decision) String() string {
	switch d {
	case Denied:
		return "denied"
	case Granted:
		return "granted"
	case GrantedNeverMatches:
		return "granted, never matches"
	case Malformed:
		return "malformed"
	}
	return "unknown decision"
}

// AllowedFilters returns the filters inside which p may subscribe (VCD-COMPAT §7.2):
//
//	user (LevelUser)          publish/{org}/{user}
//	org admin                 publish/{org}/#
//	sysadmin                  publish/#, metrics/#
//	service account           its subscribe grants
//	anyone else (LevelNone)   nothing
//
// Sysadmins get neither "#" nor extension topics: extension traffic carries users'
// access tokens. An interactive principal whose org or user id cannot be a topic level
// gets nothing. The result is a new slice.
func AllowedFilters(p vcd.Principal) []string {
	switch p.Kind {
	case vcd.PrincipalService:
		return append([]string(nil), p.Subscribe...)
	case vcd.PrincipalUser:
	default:
		return nil
	}
	switch p.Level {
	case vcd.LevelSysAdmin:
		return []string{PublishLevel + "/#", MetricsLevel + "/#"}
	case vcd.LevelOrgAdmin:
		if !idLevel(p.OrgID) {
			return nil
		}
		return []string{PublishLevel + "/" + p.OrgID + "/#"}
	case vcd.LevelUser:
		if !idLevel(p.OrgID) || !idLevel(p.UserID) {
			return nil
		}
		return []string{Publish(p.OrgID, p.UserID)}
	}
	return nil
}

// idLevel reports whether an id can stand as one literal topic level, so that a filter
// built from it never widens into a wildcard or spans levels.
func idLevel(id string) bool {
	return id != "" && id != "*" && !strings.ContainsAny(id, "/+#\x00")
}

// CanSubscribe decides whether p may subscribe to filter. The rules, first match wins:
//
//  1. a filter that is not valid MQTT (ValidateFilter) is Malformed;
//  2. a filter contained (Contains) in one of AllowedFilters(p) is Granted, or
//     GrantedNeverMatches when it lies under publish/ or metrics/ but cannot match any
//     strict notification topic (URN or uppercase levels, wrong depth);
//  3. anything else is Denied.
//
// A whole-level '*' counts as '+', so "publish/{org}/*" is inside "publish/{org}/#".
func CanSubscribe(p vcd.Principal, filter string) Decision {
	if checkFilter(filter).err != nil {
		return Malformed
	}
	for _, allowed := range AllowedFilters(p) {
		if Contains(allowed, filter) {
			if InNotificationSpace(filter) && !canMatchNotification(filter) {
				return GrantedNeverMatches
			}
			return Granted
		}
	}
	return Denied
}

// CanPublish decides whether p may publish to topic (VCD-COMPAT §6.3, §7.3). The rules,
// first match wins:
//
//  1. a topic that is not valid MQTT (ValidateTopic) is Malformed;
//  2. an interactive user never publishes: Denied, whatever the role;
//  3. a service account needs a publish grant that matches the topic, else Denied;
//  4. under publish/ or metrics/ it must be a producer, else Denied,
//  5. and the topic must be a strict notification topic, else Malformed;
//  6. otherwise Granted.
//
// Any other principal kind is Denied.
func CanPublish(p vcd.Principal, topic string) Decision {
	if checkTopic(topic).err != nil {
		return Malformed
	}
	if p.Kind != vcd.PrincipalService {
		return Denied
	}
	granted := false
	for _, g := range p.Publish {
		if Match(g, topic) {
			granted = true
			break
		}
	}
	switch {
	case !granted:
		return Denied
	case !InNotificationSpace(topic):
		return Granted
	case !p.Producer:
		return Denied
	case !IsNotificationTopic(topic):
		return Malformed
	}
	return Granted
}

// canMatchNotification reports whether a valid filter can match at least one strict
// notification topic ({publish|metrics}/<uuid>/<uuid>, lowercase).
func canMatchNotification(f string) bool {
	n := 0
	for {
		l, rest, more := strings.Cut(f, "/")
		if l == "#" {
			return true
		}
		switch n {
		case 0:
			if !isSingle(l) && l != PublishLevel && l != MetricsLevel {
				return false
			}
		case 1, 2:
			if !isSingle(l) && !isLowerUUID(l) {
				return false
			}
		default:
			return false
		}
		n++
		if !more {
			return n == 3
		}
		f = rest
	}
}
