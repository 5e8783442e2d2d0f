package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// refAuditJSON is an audit record (VCD-COMPAT §10.1) as the reference encodes it;
// field order is the wire order.
type refAuditJSON struct {
	EventID              string            `json:"eventId"`
	Description          string            `json:"description"`
	OperatingOrg         entityRef         `json:"operatingOrg"`
	User                 entityRef         `json:"user"`
	EventEntity          entityRef         `json:"eventEntity"`
	TaskID               *string           `json:"taskId"`
	TaskCellID           *string           `json:"taskCellId"`
	CellID               string            `json:"cellId"`
	EventType            string            `json:"eventType"`
	ServiceNamespace     string            `json:"serviceNamespace"`
	EventStatus          string            `json:"eventStatus"`
	Timestamp            string            `json:"timestamp"`
	External             bool              `json:"external"`
	AdditionalProperties map[string]string `json:"additionalProperties"`
}

// refNewAuditRecord is NewAuditRecord as it was before scanEvent and the hand-written
// encoding: a validating parse, encoding/json both ways. NewAuditRecord must return
// the same for every envelope the log can hold.
func refNewAuditRecord(ctx context.Context, dir AuditDirectory, cellID string, envelope []byte) (AuditRecord, bool) {
	env, err := notify.ParseEnvelope(envelope)
	if err != nil || env.Type != notify.TypeEvent && env.Type != notify.TypeExternalEvent {
		return AuditRecord{}, false
	}
	var p eventPayload
	if err := json.Unmarshal(env.Payload, &p); err != nil || !vcd.IsUUID(p.EventID) {
		return AuditRecord{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, p.Timestamp)
	if err != nil {
		return AuditRecord{}, false
	}
	external := env.Type == notify.TypeExternalEvent
	orgID, _ := vcd.ParseID(vcd.KindOrg, p.Org)
	userID, _ := vcd.ParseID(vcd.KindUser, p.User)
	entityID := bareUUID(p.Entity)
	taskID, _ := vcd.ParseID(vcd.KindTask, p.Task)
	rec := AuditRecord{ID: strings.ToLower(p.EventID), Time: t.UTC().Truncate(time.Millisecond), OrgID: orgID,
		UserID: userID, EventType: p.Type, Success: p.OperationSuccess, EntityID: entityID,
		EntityName: p.EntityName, TaskID: taskID, ServiceNamespace: vcdNamespace, External: external}
	props := map[string]string{}
	if o, err := dir.Org(ctx, orgID); err == nil && orgID != "" {
		rec.OrgName = o.Name
	} else if p.EntityType == vcd.KindOrg && entityID == orgID {
		rec.OrgName = p.EntityName
	}
	if u, err := dir.User(ctx, userID); err == nil && userID != "" {
		rec.UserName = u.Name
		if u.Role != "" {
			props["user.roles"] = u.Role
		}
	} else if p.EntityType == vcd.KindUser && entityID == userID {
		rec.UserName = p.EntityName
	}
	description := describe(p.Type, p.EntityType, p.EntityName, p.OperationSuccess)
	if external {
		rec.ServiceNamespace = p.ServiceNamespace
		description = p.Description
		for k, v := range p.Properties {
			props[k] = v
		}
	}
	urnOrEmpty := func(kind, id string) string {
		if id == "" {
			return ""
		}
		return vcd.URN(kind, id)
	}
	j := refAuditJSON{
		EventID:      vcd.URN(vcd.KindAudit, rec.ID),
		Description:  description,
		OperatingOrg: entityRef{Name: rec.OrgName, ID: urnOrEmpty(vcd.KindOrg, orgID)},
		User:         entityRef{Name: rec.UserName, ID: urnOrEmpty(vcd.KindUser, userID)},
		EventEntity:  entityRef{Name: p.EntityName, ID: strings.ToLower(p.Entity)},
		CellID:       cellID,
		EventType:    p.Type, ServiceNamespace: rec.ServiceNamespace,
		EventStatus: "SUCCESS", Timestamp: rec.Time.Format(auditTimeLayout), External: external,
		AdditionalProperties: props,
	}
	if !p.OperationSuccess {
		j.EventStatus = "FAILURE"
	}
	if taskID != "" {
		s := vcd.URN(vcd.KindTask, taskID)
		j.TaskID = &s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return AuditRecord{}, false
	}
	rec.Data = bytes.TrimRight(b.Bytes(), "\n")
	return rec, true
}

// mapDirectory is an AuditDirectory over fixed maps.
type mapDirectory struct {
	orgs  map[string]vcd.Org
	users map[string]vcd.User
}

func (d mapDirectory) Org(_ context.Context, id string) (vcd.Org, error) {
	if o, ok := d.orgs[id]; ok {
		return o, nil
	}
	return vcd.Org{}, vcd.Errorf(vcd.CodeNotFound, "no org %s", id)
}

func (d mapDirectory) User(_ context.Context, id string) (vcd.User, error) {
	if u, ok := d.users[id]; ok {
		return u, nil
	}
	return vcd.User{}, vcd.Errorf(vcd.CodeNotFound, "no user %s", id)
}

const (
	tOrg    = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	tUser   = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	tNoRole = "c0000000-0000-4000-8000-000000000002"
	tVM     = "8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"
	tTask   = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	tEvent  = "3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90"
	tCell   = "urn:vcloud:cell:6a0c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
)

var testDirectory = mapDirectory{
	orgs: map[string]vcd.Org{tOrg: {ID: tOrg, Name: "acme <&> \"quoted\""}},
	users: map[string]vcd.User{
		tUser:   {ID: tUser, OrgID: tOrg, Name: "alice", Role: "Organization Administrator"},
		tNoRole: {ID: tNoRole, OrgID: tOrg, Name: "bob\u2028"},
	},
}

// auditTestEnvelopes returns envelopes that exercise both ways of NewAuditRecord:
// events herald raises (names with characters JSON escapes), external events with
// properties, and hand-written envelopes with the layouts scanEvent leaves to
// parseEvent.
func auditTestEnvelopes(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	at := time.Date(2025, 3, 14, 9, 26, 53, 589_123_456, time.UTC)
	names := []string{"web-01", "", `O"Brien \ back`, "tab\there\nnl", "ünïcödé ✓", "sep\u2028\u2029", "bad\xffutf8",
		"<html>&amp;", "ctl\x01\x7f", strings.Repeat("long ", 200)}
	for i, name := range names {
		info := notify.EventInfo{ID: fmt.Sprintf("e0000000-0000-4000-8000-%012d", i), Type: notify.EventTypePrefix + "vm/modify",
			Time: at.Add(time.Duration(i) * time.Minute), Success: i%2 == 0, OrgID: tOrg, UserID: tUser,
			EntityType: vcd.KindVM, EntityID: tVM, EntityName: name}
		switch i % 4 {
		case 1:
			info.TaskID = tTask
		case 2:
			info.UserID = tNoRole
			info.EntityType, info.EntityID = vcd.KindUser, tNoRole
		case 3:
			info.OrgID = vcd.SystemOrgID
			info.UserID = "c0000000-0000-4000-8000-0000000000ff" // unknown
			info.EntityType, info.EntityID = vcd.KindUser, info.UserID
		}
		if i == 4 {
			info.EntityType, info.EntityID, info.OrgID = vcd.KindOrg, "d0000000-0000-4000-8000-000000000001", "d0000000-0000-4000-8000-000000000001"
		}
		n, err := notify.Event(info)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n.Envelope)
	}
	for i, props := range [][]notify.Property{
		nil,
		{{Name: "sizeGB", Value: "42"}},
		{{Name: "z", Value: "1"}, {Name: "a", Value: "2"}, {Name: "user.roles", Value: "override"}, {Name: "m", Value: "q\"uote"}},
		func() (ps []notify.Property) {
			for k := range 40 {
				ps = append(ps, notify.Property{Name: fmt.Sprintf("p%02d", 40-k), Value: fmt.Sprint(k)})
			}
			return ps
		}(),
	} {
		x, err := notify.ExternalEvent(notify.ExternalEventInfo{ID: fmt.Sprintf("f0000000-0000-4000-8000-%012d", i),
			Time: at, OrgID: tOrg, OrgName: "acme", UserID: []string{tUser, tNoRole}[i%2],
			Body: notify.EventBody{Type: "backup/completed", ServiceNamespace: "org.example.backup", Success: i != 1,
				TypeFull: []string{"Backup finished", "", `said "done"`, "ünï"}[i],
				Owner:    &notify.Reference{ID: "urn:vcloud:vm:" + tVM, Name: "web-01"}, Properties: props}})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, x.Envelope)
	}
	// Hand-written payloads, wrapped in an envelope of each event type.
	ts := `"timestamp":"2025-03-14T09:26:53.589+00:00"`
	id := `"eventId":"` + tEvent + `"`
	for _, payload := range []string{
		`{` + id + `,` + ts + `,"type":"com/vmware/vcloud/event/session/login","operationSuccess":true,"user":"urn:vcloud:user:` + tUser + `","org":"` + strings.ToUpper(tOrg) + `","entity":"URN:VCLOUD:USER:` + strings.ToUpper(tUser) + `","entityName":"alice","entityType":"user"}`,
		`{` + id + `,` + ts + `}`,
		`{` + id + `}`,
		`{` + ts + `}`,
		`{"eventId":"not-a-uuid",` + ts + `}`,
		`{"eventId":"00000000-0000-4000-8000--00000000001",` + ts + `}`, // a dash too many: vcd.ParseUUID panicked
		`{"eventId":"00000000-0000-4000-8000-0000000000-1",` + ts + `}`,
		`{` + id + `,"timestamp":"yesterday"}`,
		`{` + id + `,` + ts + `,"entityName":null,"operationSuccess":null}`,
		`{` + id + `,` + ts + `,"EntityName":"case","entityname":"lower"}`,
		`{` + id + `,` + ts + `,"entityName":"first","entityName":"second"}`,
		`{` + id + `,` + ts + `,"entityName":"esc\u0041ped","description":"a\nb"}`,
		`{` + id + `,` + ts + `,"extra":{"a":[1,2,{"b":"}"}],"c":"\"]"},"n":-1.5e3,"t":true,"z":null,"entityName":"after"}`,
		`{` + id + `,` + ts + `,"entityName":42}`,
		`{` + id + `,` + ts + `,"operationSuccess":"yes"}`,
		`{` + id + `,` + ts + `,"properties":{"b":"1","a":"2"},"serviceNamespace":"ns","description":"d"}`,
		`{` + id + `,` + ts + `,"properties":null}`,
		`{` + id + `,` + ts + `,"properties":{"a":1}}`,
		`{` + id + `,` + ts + `,"properties":{"a":"1","a":"2"}}`,
		`{` + id + `,` + ts + `,"properties":{}}`,
		` { ` + id + ` , ` + ts + ` } `,
		`[1,2]`,
		`"string"`,
		`{}`,
		`{` + id + `,` + ts + `,"user":"urn:vcloud:org:` + tUser + `","task":"` + tTask + `","entity":"` + tVM + `"}`,
	} {
		for _, typ := range []string{notify.TypeEvent, notify.TypeExternalEvent, notify.TypeTask} {
			out = append(out, []byte(`{"type":"`+typ+`","headers":{"notification.type":"x","a\"b":"c\\d"},"payload":`+quoteJSON(payload)+`}`))
		}
	}
	out = append(out,
		[]byte(`{"headers":{},"type":"EVENT","payload":`+quoteJSON(`{`+id+`,`+ts+`}`)+`}`),
		[]byte(`{"type":"EVENT","headers":{},"payload":`+quoteJSON(`{`+id+`,`+ts+`}`)+`,"extra":1}`),
		[]byte(`{"type":"EVENT","headers":{},"payload":"{\"eventId\":\"`+tEvent+`\",\"timestamp\":\"2025-03-14T09:26:53.589+00:00\"}"}`),
		[]byte(`{"type":"EVENT","headers":{},"payload":"{\u0022eventId\":\"`+tEvent+`\",\"timestamp\":\"2025-03-14T09:26:53.589+00:00\"}"}`),
		[]byte(`{"type":"EVENT","headers":{},"payload":"}`),
		[]byte(`{"type":"EVENT","headers":{"a":"b","payload":"}`),
		[]byte(`{"type":"EVENT"`),
		[]byte(`{"type":"EVENT","headers":{"a":1},"payload":"{}"}`),
		[]byte(`not json`),
		nil,
	)
	return out
}

// quoteJSON returns s as a JSON string, escaped as encoding/json does.
func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkAuditRecord fails unless NewAuditRecord and the reference agree on a valid
// envelope and on its canonical layout, the form the log stores. The log holds only
// valid envelopes, so on an invalid one NewAuditRecord need not agree (scanEvent does
// not validate headers), only return.
func checkAuditRecord(t *testing.T, envelope []byte) {
	t.Helper()
	env, err := notify.ParseEnvelope(envelope)
	if err != nil {
		NewAuditRecord(context.Background(), testDirectory, tCell, envelope)
		return
	}
	for _, b := range [][]byte{envelope, notify.Canonical(env)} {
		got, gotOK := NewAuditRecord(context.Background(), testDirectory, tCell, b)
		want, wantOK := refNewAuditRecord(context.Background(), testDirectory, tCell, b)
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("NewAuditRecord(%q)\n = %v %+v %s\nwant %v %+v %s", b, gotOK, got, got.Data, wantOK, want, want.Data)
		}
		// Appended after another record, into a buffer with room and one without:
		// the same record, the buffer's start kept, Data its last part.
		prefix := []byte(`{"earlier":"record"}`)
		for _, dst := range [][]byte{append(make([]byte, 0, 4096), prefix...), slices.Clip(prefix)} {
			out, rec, ok := AppendAuditRecord(context.Background(), dst, testDirectory, tCell, b, notify.Origin{})
			if ok != gotOK || !reflect.DeepEqual(rec, got) {
				t.Errorf("AppendAuditRecord(%q) = %v %+v %s; NewAuditRecord gave %v %+v %s", b, ok, rec, rec.Data, gotOK, got, got.Data)
			}
			if !bytes.HasPrefix(out, prefix) || len(out) != len(prefix)+len(rec.Data) ||
				ok && &out[len(prefix)] != &rec.Data[0] {
				t.Errorf("AppendAuditRecord(%q): buffer %q; want %q then the record's Data", b, out, prefix)
			}
		}
	}
}

// TestNewAuditRecord_MatchesReference compares NewAuditRecord, field by field and
// byte by byte, with the validating encoding/json implementation it replaced.
func TestNewAuditRecord_MatchesReference(t *testing.T) {
	fast := 0
	for _, b := range auditTestEnvelopes(t) {
		checkAuditRecord(t, b)
		var p eventPayload
		if _, res := scanEvent(b, &p); res == scanOK {
			fast++
		}
	}
	// The envelopes herald raises must take the fast way (names with escapes aside).
	if fast < 10 {
		t.Errorf("%d envelopes read by scanEvent; want at least 10", fast)
	}
	var p eventPayload
	for _, b := range auditTestEnvelopes(t)[:2] {
		if _, res := scanEvent(b, &p); res != scanOK {
			t.Errorf("scanEvent(%s) = %d; want scanOK", b, res)
		}
	}
}

// FuzzNewAuditRecord checks NewAuditRecord against the reference on arbitrary
// envelopes and their canonical layouts.
func FuzzNewAuditRecord(f *testing.F) {
	for _, b := range auditTestEnvelopes(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAuditRecord(t, b)
	})
}
