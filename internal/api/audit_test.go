package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

const (
	cellURN    = "urn:vcloud:cell:6a0c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
	auditVMID  = "8c6a4e2f-0d1b-4c3a-9e5f-7b9d1f3a5c7e"
	auditTask  = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	loginEvent = "3b7e2d41-9f0a-4c6b-8d1e-5a2f6c7b8e90" // VCD-COMPAT §8.2's example
)

// auditAt returns 2025-03-14 at hh:mm UTC.
func auditAt(hh, mm int) time.Time { return time.Date(2025, 3, 14, hh, mm, 0, 0, time.UTC) }

// auditEventID returns the id of test event n (1…8); event 1 is loginEvent.
func auditEventID(n int) string {
	if n == 1 {
		return loginEvent
	}
	return fmt.Sprintf("e0000000-0000-4000-8000-%012d", n)
}

// loginSession and loginIP are event 1's origin, as in VCD-COMPAT §10.1's example.
const (
	loginSession = "0f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b"
	loginIP      = "192.0.2.10"
)

// auditEvents are the notifications of the audit tests, events 1…8 in time order.
// Event 1, a login, has an origin (loginSession, loginIP).
func auditEvents(tb testing.TB) []notify.Notification {
	tb.Helper()
	ev := func(n int, typ string, at time.Time, ok bool, org, user, kind, entity, name, task string) notify.EventInfo {
		return notify.EventInfo{ID: auditEventID(n), Type: notify.EventTypePrefix + typ, Time: at, Success: ok,
			OrgID: org, UserID: user, EntityType: kind, EntityID: entity, EntityName: name, TaskID: task}
	}
	login := ev(1, "session/login", time.Date(2025, 3, 14, 9, 26, 53, 589e6, time.UTC), true, acmeID, aliceID, "user", aliceID, "alice", "")
	login.SessionID, login.ClientIP = loginSession, loginIP
	infos := []notify.EventInfo{
		login,
		ev(2, "session/login", auditAt(9, 30), false, acmeID, aliceID, "user", aliceID, "alice", ""),
		ev(3, "user/lockout", auditAt(9, 40), true, acmeID, carolID, "user", aliceID, "alice", ""),
		ev(4, "session/login", auditAt(9, 45), true, betaID, daveID, "user", daveID, "dave", ""),
		ev(5, "org/modify", auditAt(10, 0), true, acmeID, adminID, "org", acmeID, "acme", ""),
		// 6 is the external event below.
		ev(7, "task/complete", auditAt(10, 30), true, acmeID, erinID, "task", auditTask, "backup", auditTask),
		ev(8, "session/login", auditAt(10, 45), true, vcd.SystemOrgID, adminID, "user", adminID, "administrator", ""),
	}
	var out []notify.Notification
	for _, info := range infos {
		n, err := notify.Event(info)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	x, err := notify.ExternalEvent(notify.ExternalEventInfo{ID: auditEventID(6), Time: auditAt(10, 15), OrgID: acmeID,
		OrgName: "acme", UserID: aliceID, Body: notify.EventBody{Type: "backup/completed", ServiceNamespace: "org.example.backup",
			Success: true, TypeFull: "Backup of web-01 finished", Owner: &notify.Reference{ID: "urn:vcloud:vm:" + auditVMID, Name: "web-01"},
			Properties: []notify.Property{{Name: "sizeGB", Value: "42"}}}})
	if err != nil {
		tb.Fatal(err)
	}
	return slices.Insert(out, 5, x)
}

// mustServeAudit serves the API with a fakeAudit holding the records of auditEvents,
// converted by api.NewAuditRecord against the seeded directory.
func mustServeAudit(tb testing.TB) (*testEnv, *fakeAudit) {
	tb.Helper()
	fa := &fakeAudit{}
	env := mustServe(tb, func(c *apiConfig) { c.Audit = fa })
	for _, n := range auditEvents(tb) {
		_, rec, ok := api.AppendAuditRecord(context.Background(), nil, env.store, cellURN, n.Envelope, notify.ParseOrigin(n.Origin))
		if !ok {
			tb.Fatalf("AppendAuditRecord(%s) = false", n.Envelope)
		}
		fa.add(rec)
	}
	return env, fa
}

func mustAddAudit(tb testing.TB, env *testEnv, fa *fakeAudit, envelope []byte) {
	tb.Helper()
	rec, ok := api.NewAuditRecord(context.Background(), env.store, cellURN, envelope)
	if !ok {
		tb.Fatalf("NewAuditRecord(%s) = false", envelope)
	}
	fa.add(rec)
}

// auditPage is the decoded body of a page.
type auditPage struct {
	ResultTotal int `json:"resultTotal"`
	PageCount   int `json:"pageCount"`
	Page        int `json:"page"`
	PageSize    int `json:"pageSize"`
	Values      []struct {
		EventID string `json:"eventId"`
	} `json:"values"`
}

// events returns the test event numbers of p's values, in order.
func (p auditPage) events(tb testing.TB) []int {
	tb.Helper()
	var out []int
	for _, v := range p.Values {
		n := 0
		for i := 1; i <= 10; i++ {
			if v.EventID == "urn:vcloud:audit:"+auditEventID(i) {
				n = i
			}
		}
		if n == 0 {
			tb.Fatalf("unexpected eventId %q", v.EventID)
		}
		out = append(out, n)
	}
	return out
}

// getAudit GETs the audit trail with query (already encoded) as who.
func getAudit(tb testing.TB, env *testEnv, who, query string) (response, auditPage) {
	tb.Helper()
	path := "/cloudapi/1.0.0/auditTrail"
	if query != "" {
		path += "?" + query
	}
	r := env.do(tb, "GET", path, "", who, "Accept: application/json;version=37.0")
	var p auditPage
	if r.StatusCode == 200 {
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			tb.Fatalf("decode page: %v: %s", err, r.body)
		}
	}
	return r, p
}

func TestAuditTrail_Golden(t *testing.T) {
	env, _ := mustServeAudit(t)
	alice := env.mustLogin(t, "alice@acme")
	admin := env.mustLogin(t, "administrator@System")
	for _, tc := range []struct{ name, who, filter, golden string }{
		{"Login", alice, "eventId==" + loginEvent, "audittrail-login.json"},
		{"External", admin, "external==true", "audittrail-external.json"},
		{"Task", admin, "taskId==urn:vcloud:task:" + auditTask, "audittrail-task.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := getAudit(t, env, tc.who, "filter="+url.QueryEscape(tc.filter))
			wantStatus(t, r, 200)
			if got := r.Header.Get("Content-Type"); got != "application/json;version=37.0" {
				t.Errorf("Content-Type = %q", got)
			}
			checkGolden(t, tc.golden, normalize(r))
		})
	}
}

func TestAuditTrail_Filter(t *testing.T) {
	env, _ := mustServeAudit(t)
	admin := env.mustLogin(t, "administrator@System")
	tests := []struct {
		filter string
		want   []int
	}{
		{"eventType==com/vmware/vcloud/event/session/login", []int{8, 4, 2, 1}},
		{"eventType!=com/vmware/vcloud/event/session/login", []int{7, 6, 5, 3}},
		{"timestamp=gt=2025-03-14T10:00:00.000Z", []int{8, 7, 6}},
		{"timestamp=ge=2025-03-14T10:00:00.000Z", []int{8, 7, 6, 5}},
		{"timestamp=lt=2025-03-14T09:40:00Z", []int{2, 1}},
		{"timestamp=le=2025-03-14T09:40:00+00:00", []int{3, 2, 1}},
		{"timestamp=ge=2025-03-14T09:26:53.589Z;timestamp=le=2025-03-14T09:30:00.000Z", []int{2, 1}},
		{"timestamp=gt=2025-03-14T09:26:53.589Z;timestamp=lt=2025-03-14T09:30:00.001Z", []int{2}},
		{"eventType==*login;eventStatus==FAILURE", []int{2}},
		{"user.name==dave,user.name==erin", []int{7, 4}},
		{"(timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==com/vmware/vcloud/event/user/lockout))", []int{8, 4, 3, 2, 1}},
		{"user.name==AL*", []int{6, 2, 1}},
		{"external==true", []int{6}},
		{"external==false;operatingOrg.id==urn:vcloud:org:" + acmeID, []int{7, 5, 3, 2, 1}},
		{"taskId==urn:vcloud:task:" + auditTask, []int{7}},
		{"eventEntity.id==urn:vcloud:vm:" + auditVMID, []int{6}},
		{"eventEntity.name==web-01,eventEntity.name==backup", []int{7, 6}},
		{"operatingOrg.name==beta", []int{4}},
		{"serviceNamespace==org.example.backup", []int{6}},
		{"serviceNamespace==com.vmware.vcloud;user.id==" + adminID, []int{8, 5}},
		{"eventId==urn:vcloud:audit:" + loginEvent, []int{1}},
		{"eventType==nothing*", nil},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			r, p := getAudit(t, env, admin, "filter="+url.QueryEscape(tc.filter))
			wantStatus(t, r, 200)
			if got := p.events(t); !slices.Equal(got, tc.want) || p.ResultTotal != len(tc.want) {
				t.Errorf("filter %s = %v (total %d); want %v", tc.filter, got, p.ResultTotal, tc.want)
			}
		})
	}
}

func TestAuditTrail_BadRequest(t *testing.T) {
	env, _ := mustServeAudit(t)
	admin := env.mustLogin(t, "administrator@System")
	tests := []struct{ name, query, want string }{
		{"UnknownField", "filter=colour==blue", `field \"colour\" at position 0: unknown field`},
		{"UnknownFieldLater", "filter=" + url.QueryEscape("user.name==alice;colour==blue"), `field \"colour\" at position 17`},
		{"Syntax", "filter=" + url.QueryEscape("user.name==al*;(eventType==x"), "syntax error at position 15"},
		{"BadTime", "filter=timestamp=gt=yesterday", `field \"timestamp\" at position 0: bad value`},
		{"BadOperator", "filter=external=gt=true", "operator not allowed"},
		{"SortField", "sortAsc=eventType", "Cannot sort by"},
		{"SortBoth", "sortAsc=timestamp&sortDesc=timestamp", "either sortAsc or sortDesc"},
		{"PageSize", "pageSize=129", "pageSize"},
		{"Page", "page=0", "page parameter"},
		{"MaxSeq", "maxSeq=-1", "maxSeq"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := getAudit(t, env, admin, tc.query)
			wantStatus(t, r, 400)
			if !strings.Contains(r.body, `"minorErrorCode":"BAD_REQUEST"`) || !strings.Contains(r.body, tc.want) {
				t.Errorf("body %s; want BAD_REQUEST with %q", r.body, tc.want)
			}
		})
	}
}

func TestAuditTrail_Visibility(t *testing.T) {
	env, _ := mustServeAudit(t)
	tests := []struct {
		who  string
		want []int
	}{
		{"administrator@System", []int{8, 7, 6, 5, 4, 3, 2, 1}},
		{"carol@acme", []int{7, 6, 5, 3, 2, 1}}, // org admin: acme's records
		{"alice@acme", []int{6, 2, 1}},          // her own (user.id), not the lockout carol did
		{"erin@acme", []int{7}},
		{"dave@beta", []int{4}},
	}
	for _, tc := range tests {
		t.Run(tc.who, func(t *testing.T) {
			r, p := getAudit(t, env, env.mustLogin(t, tc.who), "")
			wantStatus(t, r, 200)
			if got := p.events(t); !slices.Equal(got, tc.want) || p.ResultTotal != len(tc.want) {
				t.Errorf("%s sees %v (total %d); want %v", tc.who, got, p.ResultTotal, tc.want)
			}
			// A filter naming another org's records finds nothing more.
			r, p = getAudit(t, env, env.mustLogin(t, tc.who), "filter="+url.QueryEscape("operatingOrg.name==beta"))
			wantStatus(t, r, 200)
			if n := len(p.events(t)); n > 0 && tc.who != "administrator@System" && tc.who != "dave@beta" {
				t.Errorf("%s sees %d of beta's records", tc.who, n)
			}
		})
	}
}

func TestAuditTrail_Order(t *testing.T) {
	env, _ := mustServeAudit(t)
	admin := env.mustLogin(t, "administrator@System")
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"", []int{8, 7, 6, 5, 4, 3, 2, 1}},
		{"sortDesc=timestamp", []int{8, 7, 6, 5, 4, 3, 2, 1}},
		{"sortAsc=timestamp", []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{"sortAsc=timestamp&page=2&pageSize=3", []int{4, 5, 6}},
	} {
		r, p := getAudit(t, env, admin, tc.query)
		wantStatus(t, r, 200)
		if got := p.events(t); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v; want %v", tc.query, got, tc.want)
		}
	}
}

// TestAuditTrail_Paging checks the Link headers and that following them gives the
// pages as they were, while newer records arrive.
func TestAuditTrail_Paging(t *testing.T) {
	env, fa := mustServeAudit(t)
	admin := env.mustLogin(t, "administrator@System")
	filter := url.QueryEscape("eventType!=x;timestamp=gt=2025-03-14T00:00:00.000Z")
	r, p := getAudit(t, env, admin, "pageSize=3&filter="+filter)
	wantStatus(t, r, 200)
	if p.ResultTotal != 8 || p.PageCount != 3 || p.Page != 1 || p.PageSize != 3 || !slices.Equal(p.events(t), []int{8, 7, 6}) {
		t.Fatalf("page 1 = %+v %v", p, p.events(t))
	}
	link := func(page int, rel string) string {
		return fmt.Sprintf(`<https://HOST/cloudapi/1.0.0/auditTrail?page=%d&pageSize=3&filter=%s&maxSeq=8>;rel="%s";type="application/json";model="AuditTrailEvents"`,
			page, url.QueryEscape("eventType!=x;timestamp=gt=2025-03-14T00:00:00.000Z"), rel)
	}
	want := []string{link(1, "firstPage"), link(2, "nextPage"), link(3, "lastPage")}
	if got := r.Header.Values("Link"); !slices.Equal(got, want) {
		t.Fatalf("Link headers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Two newer events arrive before the client asks for page 2.
	for _, n := range []int{9, 10} {
		x, err := notify.Event(notify.EventInfo{ID: auditEventID(n), Type: notify.EventTypePrefix + "session/login",
			Time: auditAt(11, n), Success: true, OrgID: acmeID, UserID: aliceID, EntityType: "user", EntityID: aliceID, EntityName: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		mustAddAudit(t, env, fa, x.Envelope)
	}
	var got []int
	got = append(got, p.events(t)...)
	for _, page := range []int{2, 3} {
		next := strings.TrimPrefix(strings.Split(link(page, ""), ">")[0], "<https://HOST/cloudapi/1.0.0/auditTrail?")
		r, p := getAudit(t, env, admin, next)
		wantStatus(t, r, 200)
		if p.ResultTotal != 8 || p.Page != page {
			t.Errorf("page %d: total %d, page %d; want 8, %d", page, p.ResultTotal, p.Page, page)
		}
		got = append(got, p.events(t)...)
	}
	if want := []int{8, 7, 6, 5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("pages = %v; want %v", got, want)
	}
	// A fresh first page sees the new events, with the new bound.
	r, p = getAudit(t, env, admin, "pageSize=3")
	if !slices.Equal(p.events(t), []int{10, 9, 8}) || p.ResultTotal != 10 || !strings.Contains(r.Header.Get("Link"), "maxSeq=10") {
		t.Errorf("fresh page = %v total %d, Link %s", p.events(t), p.ResultTotal, r.Header.Get("Link"))
	}
}

func TestAuditTrail_Unavailable(t *testing.T) {
	env := mustServe(t)
	r, _ := getAudit(t, env, env.mustLogin(t, "alice@acme"), "")
	wantStatus(t, r, 503)
}

func TestNewAuditRecord_NotAnEvent(t *testing.T) {
	env := mustServe(t)
	for name, b := range map[string]string{
		"Garbage": "not json",
		"Task":    `{"type":"TASK","headers":{},"payload":"{\"eventId\":\"` + loginEvent + `\",\"timestamp\":\"2025-03-14T09:26:53.589+00:00\"}"}`,
		"NoID":    `{"type":"EVENT","headers":{},"payload":"{\"timestamp\":\"2025-03-14T09:26:53.589+00:00\"}"}`,
		"NoTime":  `{"type":"EVENT","headers":{},"payload":"{\"eventId\":\"` + loginEvent + `\"}"}`,
	} {
		if _, ok := api.NewAuditRecord(context.Background(), env.store, cellURN, []byte(b)); ok {
			t.Errorf("%s: NewAuditRecord = true; want false", name)
		}
	}
}

// TestAuditRecord_OriginOverProducerProperties: an external event whose producer
// wrote properties named like the origin's gets herald's values, once each.
func TestAuditRecord_OriginOverProducerProperties(t *testing.T) {
	env := mustServe(t)
	x, err := notify.ExternalEvent(notify.ExternalEventInfo{ID: auditEventID(9), Time: auditAt(11, 0), OrgID: acmeID,
		OrgName: "acme", UserID: aliceID, Body: notify.EventBody{Type: "backup/completed", ServiceNamespace: "org.example.backup",
			Success: true, Properties: []notify.Property{{Name: "user.session.id", Value: "forged"},
				{Name: "currentContext.user.clientIpAddress", Value: "198.51.100.1"}, {Name: "sizeGB", Value: "42"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, rec, ok := api.AppendAuditRecord(context.Background(), nil, env.store, cellURN, x.Envelope,
		notify.Origin{SessionID: loginSession, ClientIP: loginIP})
	if !ok {
		t.Fatal("no record")
	}
	var got struct {
		AdditionalProperties map[string]string `json:"additionalProperties"`
	}
	if err := json.Unmarshal(rec.Data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user.session.id": "urn:vcloud:session:" + loginSession,
		"currentContext.user.clientIpAddress": loginIP, "sizeGB": "42", "user.roles": "vApp Author"}
	if diff := cmp.Diff(want, got.AdditionalProperties); diff != "" {
		t.Errorf("additionalProperties (-want +got):\n%s", diff)
	}
	if n := strings.Count(string(rec.Data), `"user.session.id"`); n != 1 {
		t.Errorf("user.session.id %d times in %s", n, rec.Data)
	}
}
