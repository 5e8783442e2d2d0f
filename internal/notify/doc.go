// Package notify turns herald's events, tasks and metric samples into notification
// envelopes, byte for byte as docs/VCD-COMPAT.md §8 and §9.3 specify, and names the
// topic each one travels on. It also parses and re-encodes the envelopes that
// producers (MQTT service accounts) publish, and decodes the bodies of the producer
// APIs: external events (§8.3) and tasks (§8.4).
//
// # Envelope layout (§8.1, REQUIRED)
//
//	{"type":"EVENT","headers":{"notification.type":"…",…},"payload":"{\"eventId\":…}"}
//
// Keys come in the order type, headers, payload, with payload last; header values are
// strings, in the order given per kind; the JSON is compact, without a trailing
// newline, so a message ends with `"}`. The inner JSON is compact and written without
// HTML escaping ('<', '>' and '&' stay literal), then embedded as a JSON string; the
// only backslashes are the escapes of inner quotes and whatever free text forces.
// Nothing before payload contains the text payload":", even with every backslash
// removed: an envelope that would is refused with vcd.CodeInvalid.
//
// These rules exist for a widely copied "naive client" that deletes every backslash,
// takes the text after the first payload":", drops the last two characters and parses
// the rest as JSON. It reads every message herald writes as long as free text (names,
// descriptions, details, property values) holds no '"', '\\', control character,
// U+2028 or U+2029; herald keeps such text intact and the message valid JSON rather
// than alter user data, so that client then fails (§8.1 accepts this limit).
//
// # Kinds, headers, routes
//
//	EVENT           Event, AppendEvent            headers type, entityType, entityUUID, orgUUID,
//	                                              userUUID, operationSuccess[, taskUUID]
//	EXTERNAL_EVENT  ExternalEvent                 the EVENT headers, then serviceNamespace
//	TASK            TaskChanged, AppendTask       entityType (task), entityUUID, orgUUID,
//	                                              userUUID, taskUUID, taskStatus
//	METRICS         Metrics, AppendMetrics        entityType (vApp), entityUUID, orgUUID
//
// Events, external events and tasks go to publish/{orgUUID}/{userUUID}, metrics to
// metrics/{orgUUID}/{vAppUUID}, with bare lowercase UUIDs (§8.5; names from package
// topic). Ids may be given as bare UUIDs or URNs in any case; they are written
// lowercase.
//
// # Payload choices (HERALD)
//
//   - EVENT and EXTERNAL_EVENT timestamps and METRICS timestamps use EventTimeLayout in
//     UTC (2025-03-14T09:26:53.589+00:00); Task JSON uses TaskTimeLayout
//     (…+0000). Task XML uses EventTimeLayout, a valid xs:dateTime.
//   - "taskOwner" is the URN of the user owning the task (VCD's AMQP meaning), the
//     event's user unless EventInfo.TaskOwner says otherwise.
//   - External event properties keep the order in which the producer sent them; names
//     must be unique. A missing success attribute means true.
//   - Task JSON writes empty strings as null except details, and fixed values for the
//     parts herald does not model (otherAttributes {}, tasks and params null,
//     vcTaskList {"vcTask":[]}, vCloudExtension []).
//   - Producer envelopes must have exactly the keys type, headers and payload; the type
//     is upper-case letters, digits and '_' (ValidType); header names are unique; the
//     payload holds one JSON value, which Canonical re-encodes (compact, no HTML
//     escaping, key order and number text kept). The broker checks and re-encodes a
//     producer's envelope with CanonicalEnvelope, which gives the same result as
//     Canonical(ParseEnvelope(b)) without building an Envelope.
//
// Encoding appends into caller buffers (AppendEvent, AppendTask, …) without
// allocating; the Notification constructors use pooled scratch buffers and allocate
// only the final envelope and the topic. Errors caused by input have code
// vcd.CodeInvalid.
package notify
