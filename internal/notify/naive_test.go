package notify_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// naiveAlphabet is free text the script of VCD-COMPAT §8.1 can read: everything but
// '"', '\\', control characters and U+2028/U+2029 (the documented limit).
var naiveAlphabet = []rune("abcXYZ019 <>&'/:{}[],.-_=+*%#@!?éß日本😀payload")

func randomText(r *rand.Rand, max int) string {
	var b strings.Builder
	for n := r.IntN(max + 1); n > 0; n-- {
		b.WriteRune(naiveAlphabet[r.IntN(len(naiveAlphabet))])
	}
	return b.String()
}

func randomUUID(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := []byte("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx")
	for i, c := range b {
		if c == 'x' {
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

// checkNaive fails unless the naive client reads exactly the payload a JSON parser
// finds in msg, and msg is already in canonical layout.
func checkNaive(t *testing.T, msg []byte) {
	t.Helper()
	got, err := naivePayload(msg)
	if err != nil {
		t.Fatalf("naive client: %v\nmessage: %s", err, msg)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal(msg, &env); err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal([]byte(env.Payload), &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(got, want) {
		t.Fatalf("naive client read %v; want %v", got, want)
	}
	e, err := notify.ParseEnvelope(msg)
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	if c := notify.Canonical(e); !bytes.Equal(c, msg) {
		t.Fatalf("message is not canonical:\n got %s\nwant %s", msg, c)
	}
}

// TestNaiveClient_RandomInputs runs random events, external events and tasks whose
// free text stays within the naive client's limit through it.
func TestNaiveClient_RandomInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(2025, 314))
	at := time.Date(2025, 3, 14, 9, 26, 53, 589e6, time.UTC)
	for i := 0; i < 300; i++ {
		org, user, entity := randomUUID(r), randomUUID(r), randomUUID(r)
		e := notify.EventInfo{ID: randomUUID(r), Type: notify.EventTypePrefix + randomText(r, 20), Time: at,
			Success: r.IntN(2) == 0, OrgID: org, UserID: user, EntityType: vcd.KindVM, EntityID: entity,
			EntityName: randomText(r, 30)}
		if r.IntN(2) == 0 {
			e.TaskID = randomUUID(r)
		}
		n, err := notify.Event(e)
		if err != nil {
			t.Fatalf("Event(%+v): %v", e, err)
		}
		checkNaive(t, n.Envelope)

		body := notify.EventBody{Type: "x" + randomText(r, 40), ServiceNamespace: "y" + randomText(r, 40),
			Success: true, TypeFull: randomText(r, 100),
			Owner: &notify.Reference{ID: "urn:vcloud:vm:" + entity, Name: randomText(r, 20)}}
		for k := r.IntN(4); k > 0; k-- {
			body.Properties = append(body.Properties, notify.Property{Name: randomText(r, 10) + "#" + string(rune('a'+k)), Value: randomText(r, 20)})
		}
		n, err = notify.ExternalEvent(notify.ExternalEventInfo{Time: at, OrgID: org, OrgName: "o", UserID: user, Body: body})
		if vcd.CodeOf(err) == vcd.CodeInvalid && strings.Contains(err.Error(), `payload":"`) {
			continue // the random type spelled the payload key; rightly refused
		}
		if err != nil {
			t.Fatalf("ExternalEvent(%+v): %v", body, err)
		}
		checkNaive(t, n.Envelope)

		task := &notify.Task{ID: "urn:vcloud:task:" + randomUUID(r), Href: "https://h/api/task/x", Name: randomText(r, 10),
			Status: "running", Operation: randomText(r, 60), OperationName: randomText(r, 20), ServiceNamespace: randomText(r, 20),
			Details: randomText(r, 100), Progress: r.IntN(101), StartTime: at,
			Owner:        &notify.Reference{Name: randomText(r, 20), Href: "https://h/api/vApp/vm-" + entity},
			User:         &notify.Reference{ID: "urn:vcloud:user:" + user, Name: randomText(r, 10)},
			Organization: &notify.Reference{ID: "urn:vcloud:org:" + org, Name: randomText(r, 10)},
			Error:        &notify.TaskError{Message: randomText(r, 50), MajorErrorCode: 500, MinorErrorCode: "X"},
			Result:       &notify.TaskResult{ResultContent: randomText(r, 50)}}
		task.Links = notify.TaskLinks(task, r.IntN(2) == 0)
		n, err = notify.TaskChanged(task, "", at)
		if err != nil {
			t.Fatalf("TaskChanged: %v", err)
		}
		checkNaive(t, n.Envelope)
	}
}

// TestNaiveClient_Limit documents the limit of VCD-COMPAT §8.1: free text holding a
// quote breaks the script, while the envelope stays valid JSON.
func TestNaiveClient_Limit(t *testing.T) {
	e := loginEvent(t)
	e.EntityName = `al"ice`
	n, err := notify.Event(e)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(n.Envelope) {
		t.Fatalf("envelope is not valid JSON: %s", n.Envelope)
	}
	if _, err := naivePayload(n.Envelope); err == nil {
		t.Errorf("naive client read a payload with a quote in free text; the documented limit is gone, update doc.go")
	}
}
