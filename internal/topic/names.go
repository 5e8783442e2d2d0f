package topic

import (
	"fmt"
	"strings"
)

// First levels of the notification topics (VCD-COMPAT §7.1).
const (
	PublishLevel = "publish"
	MetricsLevel = "metrics"
)

// Publish returns the topic of an org's user, publish/{orgID}/{userID}, on which EVENT,
// EXTERNAL_EVENT and TASK notifications travel (VCD-COMPAT §7.1, §8.5). The ids must be
// lowercase bare UUIDs; topics never carry URNs.
func Publish(orgID, userID string) string { return PublishLevel + "/" + orgID + "/" + userID }

// Metrics returns the topic of a vApp's metrics, metrics/{orgID}/{vAppID} (VCD-COMPAT
// §9.3). The ids must be lowercase bare UUIDs.
func Metrics(orgID, vAppID string) string { return MetricsLevel + "/" + orgID + "/" + vAppID }

// ExtensionIn returns the topic that carries messages to an extension,
// topic/extension/{vendor}/{name}/{version}/ext; the extension subscribes to it
// (VCD-COMPAT §6.3, §7.1).
func ExtensionIn(vendor, name, version string) string {
	return extension(vendor, name, version) + "/ext"
}

// ExtensionOut returns the topic on which an extension publishes to VCD,
// topic/extension/{vendor}/{name}/{version}/vcd (VCD-COMPAT §6.3, §7.1).
func ExtensionOut(vendor, name, version string) string {
	return extension(vendor, name, version) + "/vcd"
}

func extension(vendor, name, version string) string {
	return "topic/extension/" + vendor + "/" + name + "/" + version
}

// IsNotificationTopic reports whether t is a notification topic in the strict form
// herald publishes: publish/<uuid>/<uuid> or metrics/<uuid>/<uuid>, each UUID bare and
// lowercase.
func IsNotificationTopic(t string) bool {
	_, _, _, err := splitNotification(t)
	return err == nil
}

// InNotificationSpace reports whether t (a topic or a filter) lies under publish/ or
// metrics/: the levels reserved for notifications, where only producers publish, only
// strict notification topics are allowed, and nothing is retained (VCD-COMPAT §6.4).
func InNotificationSpace(t string) bool {
	l := firstLevel(t)
	return l == PublishLevel || l == MetricsLevel
}

// ValidateNotification reports why t is not a strict notification topic (see
// IsNotificationTopic). The error wraps ErrNotNotification. A producer's PUBLISH to a
// topic under publish/ or metrics/ that fails this check is refused (VCD-COMPAT §7.3).
func ValidateNotification(t string) error {
	_, _, _, err := splitNotification(t)
	return err
}

// SplitNotification splits a strict notification topic into its first level
// (PublishLevel or MetricsLevel), org id and user or vApp id. The error is that of
// ValidateNotification.
func SplitNotification(t string) (space, orgID, id string, err error) {
	return splitNotification(t)
}

func splitNotification(t string) (space, orgID, id string, err error) {
	space, rest, _ := strings.Cut(t, "/")
	if space != PublishLevel && space != MetricsLevel {
		return "", "", "", fmt.Errorf("%w: first level must be %q or %q", ErrNotNotification, PublishLevel, MetricsLevel)
	}
	orgID, id, ok := strings.Cut(rest, "/")
	if !ok || strings.IndexByte(id, '/') >= 0 {
		return "", "", "", fmt.Errorf("%w: want 3 levels", ErrNotNotification)
	}
	if !isLowerUUID(orgID) {
		return "", "", "", fmt.Errorf("%w: level 2 is not a lowercase bare UUID", ErrNotNotification)
	}
	if !isLowerUUID(id) {
		return "", "", "", fmt.Errorf("%w: level 3 is not a lowercase bare UUID", ErrNotNotification)
	}
	return space, orgID, id, nil
}

// isLowerUUID reports whether s is a UUID in lowercase 8-4-4-4-12 form.
func isLowerUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
