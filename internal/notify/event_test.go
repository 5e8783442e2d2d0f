package notify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestEvent_TaskAndFailure(t *testing.T) {
	e := loginEvent(t)
	e.Type = notify.EventTypePrefix + "task/fail"
	e.Success = false
	e.EntityType, e.EntityID, e.EntityName = vcd.KindTask, "URN:vcloud:task:"+strings.ToUpper(taskID), "task"
	e.TaskID = "urn:vcloud:task:" + taskID
	n, err := notify.Event(e)
	if err != nil {
		t.Fatal(err)
	}
	env, err := notify.ParseEnvelope(n.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := []notify.Header{
		{notify.HeaderType, notify.EventTypePrefix + "task/fail"},
		{notify.HeaderEntityType, "task"},
		{notify.HeaderEntityUUID, taskID},
		{notify.HeaderOrgUUID, orgID},
		{notify.HeaderUserUUID, aliceID},
		{notify.HeaderOperationSuccess, "false"},
		{notify.HeaderTaskUUID, taskID},
	}
	if diff := cmp.Diff(wantHeaders, env.Headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	wantTail := `"operationSuccess":false,"user":"urn:vcloud:user:` + aliceID + `","org":"urn:vcloud:org:` + orgID +
		`","entity":"urn:vcloud:task:` + taskID + `","entityName":"task","entityType":"task","task":"urn:vcloud:task:` + taskID +
		`","taskOwner":"urn:vcloud:user:` + aliceID + `"}`
	if !strings.HasSuffix(string(env.Payload), wantTail) {
		t.Errorf("payload %s\ndoes not end with %s", env.Payload, wantTail)
	}

	e.TaskOwner = "urn:vcloud:user:1A2B3C4D-5E6F-4071-8293-A4B5C6D7E8F9"
	n, err = notify.Event(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `\"taskOwner\":\"urn:vcloud:user:1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9\"}"}`; !strings.HasSuffix(string(n.Envelope), want) {
		t.Errorf("envelope %s\ndoes not end with %s", n.Envelope, want)
	}
}

func TestEvent_NewID(t *testing.T) {
	e := loginEvent(t)
	e.ID = ""
	n, err := notify.Event(e)
	if err != nil {
		t.Fatal(err)
	}
	if !vcd.IsUUID(n.ID) || !strings.Contains(string(n.Envelope), `{\"eventId\":\"`+n.ID+`\"`) {
		t.Errorf("ID %q is not a UUID written as eventId in %s", n.ID, n.Envelope)
	}
}

func TestEvent_Rejects(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*notify.EventInfo)
		message string
	}{
		{"BadID", func(e *notify.EventInfo) { e.ID = "x" }, `event id "x" is not a UUID`},
		{"NoType", func(e *notify.EventInfo) { e.Type = "" }, "event type is required"},
		{"NoTime", func(e *notify.EventInfo) { e.Time = time.Time{} }, "event time is required"},
		{"NoOrg", func(e *notify.EventInfo) { e.OrgID = "" }, "org id is required"},
		{"OrgIsUserURN", func(e *notify.EventInfo) { e.OrgID = "urn:vcloud:user:" + aliceID }, "org id"},
		{"BadUser", func(e *notify.EventInfo) { e.UserID = "alice" }, "user id"},
		{"BadEntityType", func(e *notify.EventInfo) { e.EntityType = "User" }, "entity type"},
		{"EntityOfOtherKind", func(e *notify.EventInfo) { e.EntityID = "urn:vcloud:org:" + orgID }, "entity id"},
		{"BadTask", func(e *notify.EventInfo) { e.TaskID = "t" }, "task id"},
		{"BadTaskOwner", func(e *notify.EventInfo) { e.TaskID, e.TaskOwner = taskID, aliceID }, "task owner"},
		{"TypeHidesPayloadKey", func(e *notify.EventInfo) { e.Type = `payload":"` }, `payload":"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := loginEvent(t)
			tc.change(&e)
			_, err := notify.Event(e)
			if !errors.Is(err, vcd.ErrInvalid) || !strings.Contains(vcd.MessageOf(err), tc.message) {
				t.Errorf("Event = %v; want code invalid containing %q", err, tc.message)
			}
			if got, err := notify.AppendEvent([]byte("k"), e); err == nil || string(got) != "k" {
				t.Errorf("AppendEvent = %q, %v; want dst unchanged and an error", got, err)
			}
		})
	}
}
