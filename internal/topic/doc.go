// Package topic holds herald's MQTT topic rules: the grammar of topic names and
// filters, matching, the authorization rules of docs/VCD-COMPAT.md §7 (who may subscribe
// or publish where), the mapping of topics to NATS subjects in the durable log, and a
// subscription index for fan-out.
//
// # Grammar
//
// Topic names and filters are 1 to 65535 bytes of UTF-8 without U+0000, split into
// levels at '/'; a level may be empty. A topic name (PUBLISH) holds no wildcard. In a
// filter (SUBSCRIBE), '+' matches exactly one level and may only be a whole level; '#'
// matches any number of levels, including none (so "a/#" matches "a"), and may only be
// the whole last level. As in VCD, whose broker uses Artemis syntax, a whole-level '*'
// is a single-level wildcard like '+'; a '*' inside a level is literal. Filters are
// kept as sent, so an UNSUBSCRIBE with the same string removes the subscription. A
// filter whose first level is a wildcard does not match a topic that begins with '$'
// [MQTT-4.7.2-1].
//
// # Topics
//
//	publish/{orgUUID}/{userUUID}                    EVENT, EXTERNAL_EVENT, TASK (Publish)
//	metrics/{orgUUID}/{vAppUUID}                    METRICS (Metrics)
//	topic/extension/{vendor}/{name}/{version}/ext   to an extension (ExtensionIn)
//	topic/extension/{vendor}/{name}/{version}/vcd   from an extension (ExtensionOut)
//
// UUIDs in topics are bare (never URNs) and lowercase. Topics under publish/ and
// metrics/ are notification topics and always have exactly this form.
//
// # Who may subscribe
//
// A SUBSCRIBE filter is granted when it is contained in one of the principal's allowed
// filters (AllowedFilters, Contains): a user may subscribe to publish/{org}/{self}; an
// org admin inside publish/{org}/#; a sysadmin inside publish/# and metrics/# (never
// "#", "+/…" or extension topics); a service account inside its subscribe grants. A
// sysadmin filter that can never match, such as publish/urn:vcloud:org:{uuid}/*, is
// granted and flagged (GrantedNeverMatches) so the broker can log a warning.
//
// # Who may publish
//
// Interactive users never publish. A service account publishes where a publish grant
// matches the topic; under publish/ and metrics/ it must also be a producer and the
// topic must be a strict notification topic (CanPublish).
package topic
