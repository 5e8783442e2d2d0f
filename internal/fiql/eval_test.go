package fiql_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/fiql"
)

// auditFields are the filterable fields of the audit trail (VCD-COMPAT §10.1), plus a
// number for the tests.
var auditFields = fiql.Fields{
	"eventId": fiql.KindID, "eventType": fiql.KindText, "eventStatus": fiql.KindText,
	"timestamp": fiql.KindTime, "user.id": fiql.KindID, "user.name": fiql.KindText,
	"operatingOrg.id": fiql.KindID, "operatingOrg.name": fiql.KindText, "taskId": fiql.KindID,
	"external": fiql.KindBool, "progress": fiql.KindNumber,
}

// record is one audit event as a test accessor serves it.
type record map[string]fiql.Value

func (r record) get(field string) fiql.Value {
	if v, ok := r[field]; ok {
		return v
	}
	return fiql.Null
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestFilter_Match(t *testing.T) {
	login := record{
		"eventType":         fiql.Text("com/vmware/vcloud/event/session/login"),
		"eventStatus":       fiql.Text("SUCCESS"),
		"timestamp":         fiql.Time(mustTime(t, "2025-03-14T09:26:53.589Z")),
		"user.id":           fiql.Text("urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"),
		"user.name":         fiql.Text("alice"),
		"operatingOrg.name": fiql.Text("acme"),
		"external":          fiql.Bool(false),
		"progress":          fiql.Number(40),
	}
	tests := []struct {
		name, filter string
		want         bool
	}{
		{"text equal", "user.name==alice", true},
		{"text equal ignores case", "user.name==ALICE", true},
		{"text differs", "user.name==bob", false},
		{"text not equal", "user.name!=bob", true},
		{"wildcard prefix", "user.name==al*", true},
		{"wildcard case", "user.name==AL*", true},
		{"wildcard middle", "eventType==com/*/login", true},
		{"wildcard several", "eventType==*vcloud*session*", true},
		{"wildcard no match", "user.name==*b*", false},
		{"wildcard only", "user.name==*", true},
		{"not wildcard", "user.name!=bo*", true},
		{"text ordering", "user.name=gt=ALFRED", true},
		{"text ordering le", "user.name=le=alice", true},
		{"time after", "timestamp=gt=2025-03-14T09:00:00.000Z", true},
		{"time before", "timestamp=lt=2025-03-14T09:00:00.000Z", false},
		{"time offset", "timestamp=gt=2025-03-14T10:26:00+01:00", true},
		{"time offset space for plus", "timestamp=lt=2025-03-14T10:27:00 01:00", true},
		{"time equal", "timestamp==2025-03-14T09:26:53.589Z", true},
		{"time equal in other zone", "timestamp==2025-03-14T10:26:53.589+01:00", true},
		{"time ge", "timestamp=ge=2025-03-14T09:26:53.589Z", true},
		{"time date", "timestamp=ge=2025-03-14", true},
		{"id urn equals bare", "user.id==4B2D6F8A-1C3E-4A5B-9D7F-2E4A6C8B0D1F", true},
		{"id urn equals urn", "user.id==urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f", true},
		{"id differs", "user.id!=1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9", true},
		{"bool", "external==false", true},
		{"bool case", "external==TRUE", false},
		{"number gt", "progress=gt=39.5", true},
		{"number le", "progress=le=39", false},
		{"number equal", "progress==4e1", true},
		{"null equal", "taskId==9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", false},
		{"null not equal", "taskId!=9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", true},
		{"null id", "operatingOrg.id==x", false},
		{"null ordering", "taskId!=x;progress=gt=1;timestamp=gt=2025-01-01", true},
		{"and", "user.name==alice;eventStatus==SUCCESS", true},
		{"and false", "user.name==alice;eventStatus==FAILURE", false},
		{"or", "user.name==bob,eventStatus==success", true},
		{"or false", "user.name==bob,eventStatus==FAILURE", false},
		{"precedence", "user.name==bob,user.name==alice;external==true", false},
		{"grouping", "(user.name==bob,user.name==alice);external==false", true},
		{"vcd example", "(timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==com/vmware/vcloud/event/user/lockout))", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := fiql.Parse(tc.filter)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.filter, err)
			}
			f, err := fiql.Compile(e, auditFields)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.filter, err)
			}
			if got := f.Match(login.get); got != tc.want {
				t.Errorf("Match(%q) = %v; want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func TestCompile_Errors(t *testing.T) {
	tests := []struct {
		name, filter, field string
		pos                 int
		want                error
	}{
		{"unknown field", "user.name==a;bogus==1", "bogus", 13, fiql.ErrUnknownField},
		{"unknown nested", "(a.b==1)", "a.b", 1, fiql.ErrUnknownField},
		{"field names are case-sensitive", "User.Name==a", "User.Name", 0, fiql.ErrUnknownField},
		{"bad time", "timestamp=gt=yesterday", "timestamp", 0, fiql.ErrBadValue},
		{"bad number", "progress==forty", "progress", 0, fiql.ErrBadValue},
		{"bad bool", "external==yes", "external", 0, fiql.ErrBadValue},
		{"ordering on bool", "external=gt=false", "external", 0, fiql.ErrBadOperator},
		{"ordering on id", "user.id=lt=x", "user.id", 0, fiql.ErrBadOperator},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := fiql.Parse(tc.filter)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.filter, err)
			}
			err = auditFields.Validate(e)
			var fe *fiql.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tc.want) {
				t.Fatalf("Validate(%q) = %v; want a *FieldError wrapping %v", tc.filter, err, tc.want)
			}
			if fe.Field != tc.field || fe.Pos != tc.pos {
				t.Errorf("Validate(%q) error names %q at %d; want %q at %d", tc.filter, fe.Field, fe.Pos, tc.field, tc.pos)
			}
		})
	}
}

func TestFieldError_Error(t *testing.T) {
	e, _ := fiql.Parse("a==1;bogus==2")
	err := fiql.Fields{"a": fiql.KindNumber}.Validate(e)
	if got, want := err.Error(), `fiql: field "bogus" at position 5: unknown field`; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestFilter_Constraints(t *testing.T) {
	ts := mustTime(t, "2025-03-14T09:00:00Z")
	tests := []struct {
		name, filter string
		want         []fiql.Constraint
	}{
		{"one comparison", "timestamp=gt=2025-03-14T09:00:00.000Z",
			[]fiql.Constraint{{Field: "timestamp", Kind: fiql.KindTime, Op: fiql.Gt, Value: fiql.Time(ts)}}},
		{"and", "timestamp=gt=2025-03-14T09:00:00.000Z;eventType==com/x;(user.name==a,user.name==b);user.name==al*",
			[]fiql.Constraint{
				{Field: "timestamp", Kind: fiql.KindTime, Op: fiql.Gt, Value: fiql.Time(ts)},
				{Field: "eventType", Kind: fiql.KindText, Op: fiql.Eq, Value: fiql.Text("com/x")},
				{Field: "user.name", Kind: fiql.KindText, Op: fiql.Eq, Value: fiql.Text("al*"), Wildcard: true},
			}},
		{"id is bare", "user.id==urn:vcloud:user:ABC",
			[]fiql.Constraint{{Field: "user.id", Kind: fiql.KindID, Op: fiql.Eq, Value: fiql.Text("ABC")}}},
		{"or has none", "user.name==a,user.name==b", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := fiql.Parse(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			f, err := fiql.Compile(e, auditFields)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Constraints()); diff != "" {
				t.Errorf("Constraints(%q) mismatch (-want +got):\n%s", tc.filter, diff)
			}
			if f.Expr().String() != e.String() {
				t.Errorf("Expr() = %v; want %v", f.Expr(), e)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	nine := "2025-03-14T09:00:00Z"
	tests := []struct {
		name, in string
		want     string // RFC 3339; "" means an error
	}{
		{"millis Z", "2025-03-14T09:00:00.000Z", nine},
		{"no fraction", "2025-03-14T09:00:00Z", nine},
		{"offset", "2025-03-14T10:00:00+01:00", nine},
		{"offset without colon", "2025-03-14T10:00:00+0100", nine},
		{"decoded plus", "2025-03-14T10:00:00.000 01:00", nine},
		{"negative offset", "2025-03-14T08:00:00-01:00", nine},
		{"no zone is UTC", "2025-03-14T09:00:00", nine},
		{"date is midnight UTC", "2025-03-14", "2025-03-14T00:00:00Z"},
		{"garbage", "soon", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fiql.ParseTime(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Errorf("ParseTime(%q) = %v; want an error", tc.in, got)
				}
				return
			}
			if want := mustTime(t, tc.want); err != nil || !got.Equal(want) {
				t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, want)
			}
		})
	}
}
