package topic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/topic"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		name, topic, want string
		wantErr           bool
	}{
		{"publish", topic.Publish(org, user), "publish." + org + "." + user, false},
		{"metrics", topic.Metrics(org, vApp), "metrics." + org + "." + vApp, false},
		{"urn", "publish/urn:vcloud:org:" + org + "/" + user, "", true},
		{"extension", extIn, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := topic.Subject(tc.topic)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("Subject(%q) = %q, %v; want %q, error %v", tc.topic, got, err, tc.want, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, topic.ErrNotNotification) {
				t.Errorf("Subject(%q) error = %v; want ErrNotNotification", tc.topic, err)
			}
		})
	}
}

func TestEscapeSubject(t *testing.T) {
	tests := []struct {
		name, topic, want string
	}{
		{"notification equals Subject", topic.Publish(org, user), "publish." + org + "." + user},
		{"extension", extIn, "topic.extension.acme.backup.1=2E0=2E0.ext"},
		{"empty levels", "/a//", "=.a.=.="},
		{"nats wildcards", "*/>/a*b", "=2A.=3E.a=2Ab"},
		{"space and equals", "a b/c=d", "a=20b.c=3Dd"},
		{"dollar", "$SYS/x", "=24SYS.x"},
		{"utf8", "é", "=C3=A9"},
		{"plain bytes", "Az09-_", "Az09-_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := topic.EscapeSubject(tc.topic)
			if got != tc.want {
				t.Errorf("EscapeSubject(%q) = %q; want %q", tc.topic, got, tc.want)
			}
			back, err := topic.UnescapeSubject(got)
			if err != nil || back != tc.topic {
				t.Errorf("UnescapeSubject(%q) = %q, %v; want %q", got, back, err, tc.topic)
			}
		})
	}
}

func TestUnescapeSubject_Rejects(t *testing.T) {
	tests := []struct{ name, subject string }{
		{"empty", ""},
		{"empty token", "a..b"},
		{"trailing dot", "a."},
		{"leading dot", ".a"},
		{"lowercase hex", "=2e"},
		{"short escape", "a=2"},
		{"escape at end", "a="},
		{"escape across dot", "=2.a"},
		{"plain byte escaped", "=41"},
		{"bad byte", "a*b"},
		{"nats wildcard", ">"},
		{"slash", "a/b"},
		{"double equals", "=="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := topic.UnescapeSubject(tc.subject)
			if !errors.Is(err, topic.ErrBadSubject) {
				t.Errorf("UnescapeSubject(%q) = %q, %v; want ErrBadSubject", tc.subject, got, err)
			}
		})
	}
}

func TestFilterSubject(t *testing.T) {
	tests := []struct {
		name, filter, want string
		wantAll            []string
	}{
		{"exact", topic.Publish(org, user), "publish." + org + "." + user, nil},
		{"hash", "#", ">", nil},
		{"publish hash", "publish/#", "publish.>", nil},
		{"metrics hash", "metrics/#", "metrics.>", nil},
		{"org plus", "publish/" + org + "/+", "publish." + org + ".*", nil},
		{"org star", "publish/" + org + "/*", "publish." + org + ".*", nil},
		{"org hash", "publish/" + org + "/#", "publish." + org + ".>", nil},
		{"user hash is the parent", topic.Publish(org, user) + "/#", "publish." + org + "." + user, nil},
		{"star star", "publish/*/*", "publish.*.*", nil},
		{"literal star", "publish/a*", "publish.a=2A", nil},
		{"urn", "publish/urn:vcloud:org:x/*", "publish.urn=3Avcloud=3Aorg=3Ax.*", nil},
		{"plus first", "+/x", "*.x", nil},
		{"plus hash", "+/#", ">", []string{"*", "*.>"}},
		{"extension hash", "topic/extension/acme/#", "topic.extension.>",
			[]string{"topic.extension.acme", "topic.extension.acme.>"}},
		{"two levels hash", "a/b/#", "a.>", []string{"a.b", "a.b.>"}},
		{"one level hash", "a/#", ">", []string{"a", "a.>"}},
		{"empty levels", "a//+", "a.=.*", nil},
		{"invalid", "a/#/b", "", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := topic.FilterSubject(tc.filter); got != tc.want {
				t.Errorf("FilterSubject(%q) = %q; want %q", tc.filter, got, tc.want)
			}
			want := tc.wantAll
			switch {
			case want == nil:
				want = []string{tc.want}
			case len(want) == 0:
				want = nil
			}
			if diff := cmp.Diff(want, topic.FilterSubjects(tc.filter)); diff != "" {
				t.Errorf("FilterSubjects(%q) mismatch (-want +got):\n%s", tc.filter, diff)
			}
		})
	}
}

// subjectMatch reports whether a NATS subject filter matches a subject: '*' matches
// one token, a final '>' one or more.
func subjectMatch(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		if f == ">" && i == len(ft)-1 {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}

func TestSubjectMatch(t *testing.T) {
	tests := []struct {
		filter, subject string
		want            bool
	}{
		{"a.>", "a", false},
		{"a.>", "a.b.c", true},
		{">", "a", true},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
	}
	for _, tc := range tests {
		if got := subjectMatch(tc.filter, tc.subject); got != tc.want {
			t.Errorf("subjectMatch(%q, %q) = %v; want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
}
