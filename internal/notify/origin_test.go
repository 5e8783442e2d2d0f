package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

func TestOrigin_RoundTrip(t *testing.T) {
	for _, o := range []notify.Origin{
		{},
		{SessionID: "0f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b", ClientIP: "192.0.2.10"},
		{ClientIP: "2001:db8::1"},
		{SessionID: "0f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b"},
		{ClientIP: "a&b=c d%"}, // whatever the text, it comes back
	} {
		s := o.String()
		if (s == "") != (o == notify.Origin{}) {
			t.Errorf("%+v encodes as %q", o, s)
		}
		if got := notify.ParseOrigin(s); got != o {
			t.Errorf("ParseOrigin(%q) = %+v; want %+v", s, got, o)
		}
	}
	if got := notify.ParseOrigin("%zz"); got != (notify.Origin{}) {
		t.Errorf("ParseOrigin of an undecodable text = %+v; want empty", got)
	}
}

// TestEvent_Origin: an event's session and client address go to the notification's
// Origin, not into its envelope.
func TestEvent_Origin(t *testing.T) {
	const session, ip = "0f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b", "192.0.2.10"
	n, err := notify.Event(notify.EventInfo{Type: notify.EventTypePrefix + "session/login", Time: time.Now(), Success: true,
		OrgID: "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", UserID: "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f",
		EntityType: "user", EntityID: "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f", EntityName: "alice",
		SessionID: session, ClientIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	if got := notify.ParseOrigin(n.Origin); got != (notify.Origin{SessionID: session, ClientIP: ip}) {
		t.Errorf("Origin = %q (%+v)", n.Origin, got)
	}
	if strings.Contains(string(n.Envelope), session) || strings.Contains(string(n.Envelope), ip) {
		t.Errorf("the envelope carries the origin: %s", n.Envelope)
	}
}
