package fiql_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/fiql"
)

// FuzzParse checks that Parse never panics, that String re-parses to an equal
// expression, and that compiling and matching a parsed expression never panics and,
// for ASCII text, agrees with a regular-expression reading of the wildcard. Seeds are
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("(timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==x))", "alice")
	f.Add(`user.name=="a,b";user.name==al*`, "Al,b")
	f.Add("a==1,b==2;c==3", "")
	f.Fuzz(func(t *testing.T, s, text string) {
		e, err := fiql.Parse(s)
		if err != nil {
			if _, ok := err.(*fiql.SyntaxError); !ok {
				t.Fatalf("Parse(%q) error %T; want *SyntaxError", s, err)
			}
			return
		}
		str := e.String()
		e2, err := fiql.Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, str, err)
		}
		if diff := cmp.Diff(e, e2, ignorePos); diff != "" {
			t.Fatalf("Parse(String()) differs for %q -> %q (-first +second):\n%s", s, str, diff)
		}
		if e2.String() != str {
			t.Fatalf("String() is not a fixed point: %q, then %q", str, e2.String())
		}

		// Every selector a text field: compile and match must not panic.
		fields := fiql.Fields{}
		fiql.Walk(e, func(c fiql.Comparison) bool {
			fields[c.Selector] = fiql.KindText
			return true
		})
		flt, err := fiql.Compile(e, fields)
		if err != nil {
			t.Fatalf("Compile with all-text fields: %v", err)
		}
		got := flt.Match(func(string) fiql.Value { return fiql.Text(text) })
		flt.Constraints()

		// A single == on ASCII agrees with a case-insensitive regexp.
		c, ok := e.(fiql.Comparison)
		if !ok || c.Op != fiql.Eq || !ascii(c.Value) || !ascii(text) {
			return
		}
		parts := strings.Split(c.Value, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re := regexp.MustCompile("(?is)^" + strings.Join(parts, ".*") + "$")
		if want := re.MatchString(text); got != want {
			t.Fatalf("%q matching %q = %v; regexp says %v", s, text, got, want)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestFilter_MatchWildcards(t *testing.T) {
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"*", "", true},
		{"a*", "", false},
		{"**", "x", true},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*ab", "aab", true},
		{"É*", "école", true},
		{"*É", "cafe", false},
		{"*é", "CAFÉ", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.text, func(t *testing.T) {
			e, err := fiql.Parse("name==" + tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			f, err := fiql.Compile(e, fiql.Fields{"name": fiql.KindText})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(func(string) fiql.Value { return fiql.Text(tc.text) }); got != tc.want {
				t.Errorf("name==%s on %q = %v; want %v", tc.pattern, tc.text, got, tc.want)
			}
		})
	}
}
