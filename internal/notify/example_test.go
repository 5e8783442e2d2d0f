package notify_test

import (
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

func ExampleEvent() {
	n, err := notify.Event(notify.EventInfo{
		ID:         "3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90",
		Type:       notify.EventTypePrefix + "user/lockout",
		Time:       time.Date(2025, 3, 14, 9, 26, 53, 589e6, time.UTC),
		Success:    true,
		OrgID:      "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b",
		UserID:     "urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f",
		EntityType: "user",
		EntityID:   "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f",
		EntityName: "alice",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Topic)
	fmt.Println(string(n.Envelope))
	// Output:
	// publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f
	// {"type":"EVENT","headers":{"notification.type":"com/vmware/vcloud/event/user/lockout","notification.entityType":"user","notification.entityUUID":"4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f","notification.orgUUID":"7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b","notification.userUUID":"4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f","notification.operationSuccess":"true"},"payload":"{\"eventId\":\"3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90\",\"type\":\"com/vmware/vcloud/event/user/lockout\",\"timestamp\":\"2025-03-14T09:26:53.589+00:00\",\"operationSuccess\":true,\"user\":\"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f\",\"org\":\"urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b\",\"entity\":\"urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f\",\"entityName\":\"alice\",\"entityType\":\"user\"}"}
}

func ExampleParseEnvelope() {
	// A producer's message with spaces, keys out of order and HTML escapes.
	in := `{"payload": "{\"note\": \"\\u003cb\\u003e\"}", "headers": {"notification.orgUUID": "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"}, "type": "EVENT"}`
	e, err := notify.ParseEnvelope([]byte(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(notify.Canonical(e)))

	_, err = notify.ParseEnvelope([]byte(`{"type":"EVENT","headers":{"x.payload":"1"},"payload":"{}"}`))
	fmt.Println(err)
	// Output:
	// {"type":"EVENT","headers":{"notification.orgUUID":"7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"},"payload":"{\"note\":\"<b>\"}"}
	// invalid: envelope type or headers contain the text payload":" (backslashes ignored)
}

func ExampleCanonicalEnvelope() {
	// The broker's path for a producer's message: check it and get its canonical
	// layout, as Canonical(ParseEnvelope(in)) would, in one call.
	in := `{"payload": "{\"note\": \"\\u003cb\\u003e\"}", "headers": {"a": "1"}, "type": "EVENT"}`
	c, err := notify.CanonicalEnvelope([]byte(in))
	fmt.Println(string(c), err)

	_, err = notify.CanonicalEnvelope([]byte(`{"type":"EVENT","headers":{"a":"1","a":"2"},"payload":"{}"}`))
	fmt.Println(err)
	// Output:
	// {"type":"EVENT","headers":{"a":"1"},"payload":"{\"note\":\"<b>\"}"} <nil>
	// invalid: invalid envelope: duplicate header "a"
}

func ExampleValidMetric() {
	fmt.Println(notify.ValidMetric("disk.read.average.0", "KILOBYTES_PER_SECOND"))
	fmt.Println(notify.ValidMetric("cpu.usage.average", "MEGAHERTZ"))
	fmt.Println(notify.ValidMetric("net.usage.average", "KILOBYTES_PER_SECOND"))
	// Output:
	// <nil>
	// invalid: metric "cpu.usage.average" has unit PERCENT, not "MEGAHERTZ"
	// invalid: unknown metric "net.usage.average"
}

func ExampleValidTransition() {
	fmt.Println(notify.ValidTransition(notify.StatusRunning, notify.StatusSuccess))
	fmt.Println(notify.ValidTransition(notify.StatusSuccess, notify.StatusRunning))
	fmt.Println(notify.ValidTransition(notify.StatusSuccess, notify.StatusSuccess))
	// Output:
	// true
	// false
	// true
}
