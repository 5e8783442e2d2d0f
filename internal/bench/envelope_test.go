package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestEventTemplate(t *testing.T) {
	const org, user = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	for _, size := range []int{100, 800, 4096} {
		tpl := newEventTemplate(org, user, "0123456789", size)
		want := Marker{Step: 3, Topic: 42, Seq: 1234567, SentNs: 1741944413123456789}
		tpl.stamp(want)
		msg := tpl.msg
		if tpl.topic != "publish/"+org+"/"+user {
			t.Errorf("topic = %q", tpl.topic)
		}
		if size >= 900 && len(msg) != size {
			t.Errorf("size %d: len = %d", size, len(msg))
		}
		// §8.1: compact, valid JSON with keys type, headers, payload, payload last.
		var env struct {
			Type    string            `json:"type"`
			Headers map[string]string `json:"headers"`
			Payload string            `json:"payload"`
		}
		if err := json.Unmarshal(msg, &env); err != nil {
			t.Fatalf("size %d: envelope is not JSON: %v\n%s", size, err, msg)
		}
		if !bytes.HasPrefix(msg, []byte(`{"type":"EVENT","headers":{`)) || !bytes.HasSuffix(msg, []byte(`"}`)) ||
			strings.Count(string(msg), `payload":"`) != 1 || bytes.Index(msg, []byte(`"payload":"`)) < bytes.LastIndex(msg, []byte(`"headers":`)) {
			t.Errorf("size %d: layout is not type, headers, payload last: %s", size, msg)
		}
		var inner map[string]any
		if err := json.Unmarshal([]byte(env.Payload), &inner); err != nil {
			t.Fatalf("size %d: payload is not JSON: %v", size, err)
		}
		// Each message its own event id (a UUID), from run, step, topic and sequence.
		if inner["eventId"] != "03000042-0123-4456-8789-000001234567" {
			t.Errorf("size %d: eventId = %v", size, inner["eventId"])
		}
		if inner["entityType"] != "user" || env.Headers["notification.orgUUID"] != org || env.Headers["notification.userUUID"] != user {
			t.Errorf("size %d: wrong content: %v %v", size, env.Headers, inner)
		}
		got, err := parseMarker(msg)
		if err != nil || got != want {
			t.Errorf("size %d: parseMarker = %+v, %v; want %+v", size, got, err, want)
		}
	}
}

func TestParseMarker_Refuses(t *testing.T) {
	for _, msg := range []string{
		`{"type":"EVENT"}`,
		`~bench~01~000001~0000000001~`,                       // too short
		`~bench~01~00000x~0000000001~1741944413123456789~`,   // not digits
		`~bench~01-000001~0000000001~1741944413123456789~xx`, // wrong separator
	} {
		if m, err := parseMarker([]byte(msg)); err == nil {
			t.Errorf("parseMarker(%q) = %+v; want an error", msg, m)
		}
	}
}

func TestExternalEventBody(t *testing.T) {
	b, at := externalEventBody("4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f", 2000)
	want := Marker{Step: 1, Topic: 2, Seq: 3, SentNs: 4}
	putMarker(b[at:], want)
	var body struct {
		Type     string `json:"type"`
		TypeFull string `json:"typeFull"`
		User     struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if got, err := parseMarker([]byte(body.TypeFull)); err != nil || got != want {
		t.Errorf("marker in typeFull = %+v, %v", got, err)
	}
	if body.User.ID != "urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f" || body.Type == "" {
		t.Errorf("body = %+v", body)
	}
}
