package fiql_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/heraldmq/herald/internal/fiql"
)

// ignorePos compares expressions by meaning, not by where they were written.
var ignorePos = cmpopts.IgnoreFields(fiql.Comparison{}, "Pos")

func cmpEq(sel, val string) fiql.Comparison {
	return fiql.Comparison{Selector: sel, Op: fiql.Eq, Value: val}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     fiql.Expr
		str      string // String(); "" means the input itself
	}{
		{"equal", "user.name==alice", cmpEq("user.name", "alice"), ""},
		{"not equal", "eventStatus!=FAILURE", fiql.Comparison{Selector: "eventStatus", Op: fiql.Ne, Value: "FAILURE"}, ""},
		{"greater", "timestamp=gt=2025-03-14T09:00:00.000Z",
			fiql.Comparison{Selector: "timestamp", Op: fiql.Gt, Value: "2025-03-14T09:00:00.000Z"}, ""},
		{"ge le lt", "a=ge=1;b=le=2;c=lt=3", fiql.And{
			fiql.Comparison{Selector: "a", Op: fiql.Ge, Value: "1"},
			fiql.Comparison{Selector: "b", Op: fiql.Le, Value: "2"},
			fiql.Comparison{Selector: "c", Op: fiql.Lt, Value: "3"}}, ""},
		{"slashes in value", "eventType==com/vmware/vcloud/event/session/login",
			cmpEq("eventType", "com/vmware/vcloud/event/session/login"), ""},
		{"wildcard", "user.name==al*", cmpEq("user.name", "al*"), ""},
		{"offset timestamp", "timestamp=lt=2025-03-14T10:00:00+01:00",
			fiql.Comparison{Selector: "timestamp", Op: fiql.Lt, Value: "2025-03-14T10:00:00+01:00"}, ""},
		{"urn value", "user.id==urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f",
			cmpEq("user.id", "urn:vcloud:user:4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"), ""},
		{"equals and bang in value", "a==b=c!d", cmpEq("a", "b=c!d"), ""},
		{"space in value", "description==User 'alice' logged in", cmpEq("description", "User 'alice' logged in"), ""},
		{"precedence", "a==1,b==2;c==3", fiql.Or{cmpEq("a", "1"), fiql.And{cmpEq("b", "2"), cmpEq("c", "3")}}, ""},
		{"precedence left", "a==1;b==2,c==3", fiql.Or{fiql.And{cmpEq("a", "1"), cmpEq("b", "2")}, cmpEq("c", "3")}, ""},
		{"group", "(a==1,b==2);c==3", fiql.And{fiql.Or{cmpEq("a", "1"), cmpEq("b", "2")}, cmpEq("c", "3")}, ""},
		{"redundant parens", "((a==1))", cmpEq("a", "1"), "a==1"},
		{"flatten and", "a==1;(b==2;c==3)", fiql.And{cmpEq("a", "1"), cmpEq("b", "2"), cmpEq("c", "3")}, "a==1;b==2;c==3"},
		{"flatten or", "(a==1,b==2),c==3", fiql.Or{cmpEq("a", "1"), cmpEq("b", "2"), cmpEq("c", "3")}, "a==1,b==2,c==3"},
		{"vcd example",
			"(timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==com/vmware/vcloud/event/user/lockout))",
			fiql.And{
				fiql.Comparison{Selector: "timestamp", Op: fiql.Gt, Value: "2025-03-14T09:00:00.000Z"},
				fiql.Or{cmpEq("eventType", "com/vmware/vcloud/event/session/login"), cmpEq("eventType", "com/vmware/vcloud/event/user/lockout")},
			},
			"timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==com/vmware/vcloud/event/user/lockout)"},
		{"task status", "(status==running,status==queued)", fiql.Or{cmpEq("status", "running"), cmpEq("status", "queued")}, "status==running,status==queued"},
		{"double quoted", `name=="a,b;(c)"`, cmpEq("name", "a,b;(c)"), ""},
		{"single quoted", `name=='x"y'`, cmpEq("name", `x"y`), `name==x"y`}, // quotes only where needed
		{"escapes in quotes", `name=="a\"b\\c"`, cmpEq("name", `a"b\c`), `name==a"b\c`},
		{"empty quoted", `name==""`, cmpEq("name", ""), ""},
		{"selector with digits and dash", "a_1.b-2==x", cmpEq("a_1.b-2", "x"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fiql.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, ignorePos); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
			want := tc.str
			if want == "" {
				want = tc.in
			}
			if s := got.String(); s != want {
				t.Errorf("Parse(%q).String() = %q; want %q", tc.in, s, want)
			}
		})
	}
}

func TestParse_Positions(t *testing.T) {
	e, err := fiql.Parse("a==1;(b==2,cc==3)")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	fiql.Walk(e, func(c fiql.Comparison) bool {
		got = append(got, c.Pos)
		return true
	})
	if diff := cmp.Diff([]int{0, 6, 11}, got); diff != "" {
		t.Errorf("positions mismatch (-want +got):\n%s", diff)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty", "", 0, "expected a field name, found the end"},
		{"no operator", "name", 4, "expected an operator, found the end"},
		{"bad operator", "name<5", 4, `expected an operator, found '<'`},
		{"unknown operator", "name=in=5", 4, `unknown operator "=in="`},
		{"single equals", "name=5", 4, `expected an operator, found '='`},
		{"no value", "name==", 6, "expected a value"},
		{"no value before and", "name==;b==1", 6, "expected a value"},
		{"trailing and", "a==1;", 5, "expected a field name, found the end"},
		{"trailing or", "a==1,", 5, "expected a field name, found the end"},
		{"leading or", ",a==1", 0, `expected a field name, found ','`},
		{"unclosed", "(a==1;b==2", 0, "unclosed '('"},
		{"unclosed inner", "a==1;((b==2)", 5, "unclosed '('"},
		{"extra close", "a==1)", 4, `unexpected ')'`},
		{"empty group", "()", 1, `expected a field name, found ')'`},
		{"paren in value", "a==f(x)", 4, `unexpected '('`},
		{"selector starts with digit", "1a==x", 0, `expected a field name, found '1'`},
		{"empty selector segment", "a..b==x", 2, `expected a field name, found '.'`},
		{"trailing dot", "a.==x", 2, `expected a field name, found '='`},
		{"space in selector", "user name==x", 4, `expected an operator, found ' '`},
		{"unterminated quote", `a=="abc`, 3, "unterminated quoted value"},
		{"junk after quote", `a=="abc"d`, 8, `unexpected 'd' after a quoted value`},
		{"too deep", strings.Repeat("(", 65) + "a==1" + strings.Repeat(")", 65), 64, "parentheses nested deeper than 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := fiql.Parse(tc.in)
			var se *fiql.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, %v; want a *SyntaxError", tc.in, e, err)
			}
			if se.Pos != tc.pos || se.Msg != tc.msg {
				t.Errorf("Parse(%q) error = at %d %q; want at %d %q", tc.in, se.Pos, se.Msg, tc.pos, tc.msg)
			}
		})
	}
}

func TestSyntaxError_Error(t *testing.T) {
	_, err := fiql.Parse("a==1)")
	if got, want := err.Error(), `fiql: syntax error at position 4: unexpected ')'`; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestOp_String(t *testing.T) {
	tests := []struct {
		op   fiql.Op
		want string
	}{{fiql.Eq, "=="}, {fiql.Ne, "!="}, {fiql.Gt, "=gt="}, {fiql.Ge, "=ge="}, {fiql.Lt, "=lt="}, {fiql.Le, "=le="}, {0, "?"}, {99, "?"}}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("Op(%d).String() = %q; want %q", int(tc.op), got, tc.want)
		}
	}
}

func TestWalk_Stops(t *testing.T) {
	e, err := fiql.Parse("a==1;(b==2,c==3);d==4")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	all := fiql.Walk(e, func(c fiql.Comparison) bool {
		seen = append(seen, c.Selector)
		return c.Selector != "b"
	})
	if all || !cmp.Equal(seen, []string{"a", "b"}) {
		t.Errorf("Walk stopped at b: got %v, all = %v; want [a b], false", seen, all)
	}
}
