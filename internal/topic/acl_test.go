package topic_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// Ids from VCD-COMPAT §1.
const (
	org       = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b" // acme
	user      = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f" // alice@acme
	otherUser = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"
	otherOrg  = vcd.SystemOrgID
	vApp      = "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c"
)

var (
	extIn  = topic.ExtensionIn("acme", "backup", "1.0.0")
	extOut = topic.ExtensionOut("acme", "backup", "1.0.0")
)

// roles are the principals of the ACL matrix, in the order of the columns of the want
// strings below.
var roles = []struct {
	name string
	p    vcd.Principal
}{
	{"user", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelUser, OrgID: org, UserID: user}},
	{"org admin", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelOrgAdmin, OrgID: org, UserID: user}},
	{"sysadmin", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelSysAdmin, OrgID: vcd.SystemOrgID, UserID: otherUser}},
	{"service producer", vcd.Principal{Kind: vcd.PrincipalService, UserID: otherUser, Producer: true,
		Subscribe: []string{extIn, "publish/" + org + "/#"},
		Publish:   []string{extOut, "publish/#", "metrics/#"}}},
	{"service", vcd.Principal{Kind: vcd.PrincipalService, UserID: otherUser,
		Subscribe: []string{extIn},
		Publish:   []string{extOut, "#"}}},
	{"no rights", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelNone, OrgID: org, UserID: user}},
}

// decisions spells the want strings: one letter per role column.
var decisions = map[byte]topic.Decision{
	'G': topic.Granted, 'D': topic.Denied, 'N': topic.GrantedNeverMatches, 'M': topic.Malformed,
}

func TestCanSubscribe(t *testing.T) {
	tests := []struct {
		name, filter string
		want         string // user, org admin, sysadmin, service producer, service, no rights
	}{
		{"own topic", "publish/" + org + "/" + user, "GGGGDD"},
		{"other user", "publish/" + org + "/" + otherUser, "DGGGDD"},
		{"org plus", "publish/" + org + "/+", "DGGGDD"},
		{"org star", "publish/" + org + "/*", "DGGGDD"},
		{"org hash", "publish/" + org + "/#", "DGGGDD"},
		{"publish hash", "publish/#", "DDGDDD"},
		{"publish plus plus", "publish/+/+", "DDGDDD"},
		{"publish star star", "publish/*/*", "DDGDDD"},
		{"publish plus own user", "publish/+/" + user, "DDGDDD"},
		{"hash", "#", "DDDDDD"},
		{"plus levels", "+/" + org + "/" + user, "DDDDDD"},
		{"plus hash", "+/#", "DDDDDD"},
		{"metrics hash", "metrics/#", "DDGDDD"},
		{"metrics org plus", "metrics/" + org + "/+", "DDGDDD"},
		{"metrics vApp", "metrics/" + org + "/" + vApp, "DDGDDD"},
		{"other org user", "publish/" + otherOrg + "/" + user, "DDGDDD"},
		{"other org plus", "publish/" + otherOrg + "/+", "DDGDDD"},
		{"urn org", "publish/urn:vcloud:org:" + org + "/*", "DDNDDD"},
		{"urn user in own org", "publish/" + org + "/urn:vcloud:user:" + user, "DNNNDD"},
		{"uppercase org", "publish/7F3E2B1A-5C4D-4E6F-8A9B-0C1D2E3F4A5B/+", "DDNDDD"},
		{"too deep", "publish/" + org + "/" + user + "/x", "DNNNDD"},
		{"deep hash parent", "publish/" + org + "/" + user + "/#", "DGGGDD"},
		{"too shallow", "publish/" + org, "DNNNDD"}, // inside publish/{org}/#, which matches its parent
		{"empty levels", "publish//", "DDNDDD"},
		{"empty user level", "publish/" + org + "/", "DNNNDD"},
		{"dollar", "$SYS/#", "DDDDDD"},
		{"extension in", extIn, "DDDGGD"},
		{"extension out", extOut, "DDDDDD"},
		{"extension hash", "topic/extension/#", "DDDDDD"},
		{"plus inside level", "publish/" + org + "/us+er", "MMMMMM"},
		{"hash not last", "publish/#/x", "MMMMMM"},
		{"empty filter", "", "MMMMMM"},
	}
	for _, tc := range tests {
		for i, r := range roles {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				want := decisions[tc.want[i]]
				if got := topic.CanSubscribe(r.p, tc.filter); got != want {
					t.Errorf("CanSubscribe(%s, %q) = %v; want %v", r.name, tc.filter, got, want)
				}
			})
		}
	}
}

func TestCanPublish(t *testing.T) {
	tests := []struct {
		name, topic string
		want        string // user, org admin, sysadmin, service producer, service, no rights
	}{
		{"own topic", "publish/" + org + "/" + user, "DDDGDD"},
		{"other org", "publish/" + otherOrg + "/" + user, "DDDGDD"},
		{"metrics", "metrics/" + org + "/" + vApp, "DDDGDD"},
		{"extension out", extOut, "DDDGGD"},
		{"extension in", extIn, "DDDDGD"},
		{"other topic", "other/x", "DDDDGD"},
		{"urn org", "publish/urn:vcloud:org:" + org + "/" + user, "DDDMDD"},
		{"uppercase user", "publish/" + org + "/4B2D6F8A-1C3E-4A5B-9D7F-2E4A6C8B0D1F", "DDDMDD"},
		{"too shallow", "publish/" + org, "DDDMDD"},
		{"too deep", "metrics/" + org + "/" + vApp + "/x", "DDDMDD"},
		{"dollar", "$SYS/x", "DDDDDD"},
		{"wildcard", "publish/" + org + "/+", "MMMMMM"},
		{"empty", "", "MMMMMM"},
	}
	for _, tc := range tests {
		for i, r := range roles {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				want := decisions[tc.want[i]]
				if got := topic.CanPublish(r.p, tc.topic); got != want {
					t.Errorf("CanPublish(%s, %q) = %v; want %v", r.name, tc.topic, got, want)
				}
			})
		}
	}
}

func TestAllowedFilters(t *testing.T) {
	tests := []struct {
		name string
		p    vcd.Principal
		want []string
	}{
		{"user", roles[0].p, []string{"publish/" + org + "/" + user}},
		{"org admin", roles[1].p, []string{"publish/" + org + "/#"}},
		{"sysadmin", roles[2].p, []string{"publish/#", "metrics/#"}},
		{"service", roles[3].p, []string{extIn, "publish/" + org + "/#"}},
		{"no rights", roles[5].p, nil},
		{"unknown kind", vcd.Principal{Kind: 7, Level: vcd.LevelSysAdmin}, nil},
		{"user without org", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelUser, UserID: user}, nil},
		{"org admin with wildcard org", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelOrgAdmin, OrgID: "+"}, nil},
		{"user with slash id", vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelUser, OrgID: org, UserID: "a/b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := topic.AllowedFilters(tc.p)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AllowedFilters(%s) mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestAllowedFilters_ReturnsCopy(t *testing.T) {
	p := roles[3].p
	got := topic.AllowedFilters(p)
	got[0] = "#"
	if p.Subscribe[0] != extIn {
		t.Errorf("AllowedFilters shares the principal's grants: Subscribe[0] = %q", p.Subscribe[0])
	}
}

func TestDecision(t *testing.T) {
	tests := []struct {
		d       topic.Decision
		allowed bool
		str     string
	}{
		{topic.Denied, false, "denied"},
		{topic.Granted, true, "granted"},
		{topic.GrantedNeverMatches, true, "granted, never matches"},
		{topic.Malformed, false, "malformed"},
		{topic.Decision(42), false, "unknown decision"},
	}
	for _, tc := range tests {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.d.Allowed(); got != tc.allowed {
				t.Errorf("%v.Allowed() = %v; want %v", tc.d, got, tc.allowed)
			}
			if got := tc.d.String(); got != tc.str {
				t.Errorf("Decision(%d).String() = %q; want %q", int(tc.d), got, tc.str)
			}
		})
	}
	var zero topic.Decision
	if zero != topic.Denied {
		t.Errorf("zero Decision = %v; want denied", zero)
	}
}

func TestNotificationTopics(t *testing.T) {
	tests := []struct {
		name, topic                string
		ok, space                  bool
		wantSpace, wantOrg, wantID string
	}{
		{"publish", topic.Publish(org, user), true, true, "publish", org, user},
		{"metrics", topic.Metrics(org, vApp), true, true, "metrics", org, vApp},
		{"urn", "publish/urn:vcloud:org:" + org + "/" + user, false, true, "", "", ""},
		{"uppercase", "metrics/" + org + "/2F4E6A8C-0B1D-4E3F-A5C7-9E1B3D5F7A9C", false, true, "", "", ""},
		{"short uuid", "publish/" + org + "/4b2d6f8a", false, true, "", "", ""},
		{"bad hyphen", "publish/" + org + "/4b2d6f8a-1c3e-4a5b-9d7f_2e4a6c8b0d1f", false, true, "", "", ""},
		{"two levels", "publish/" + org, false, true, "", "", ""},
		{"four levels", topic.Publish(org, user) + "/x", false, true, "", "", ""},
		{"extension", extIn, false, false, "", "", ""},
		{"prefix word", "publishx/" + org + "/" + user, false, false, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := topic.IsNotificationTopic(tc.topic); got != tc.ok {
				t.Errorf("IsNotificationTopic(%q) = %v; want %v", tc.topic, got, tc.ok)
			}
			if got := topic.InNotificationSpace(tc.topic); got != tc.space {
				t.Errorf("InNotificationSpace(%q) = %v; want %v", tc.topic, got, tc.space)
			}
			space, o, id, err := topic.SplitNotification(tc.topic)
			if (err == nil) != tc.ok || space != tc.wantSpace || o != tc.wantOrg || id != tc.wantID {
				t.Errorf("SplitNotification(%q) = %q, %q, %q, %v; want %q, %q, %q, ok %v",
					tc.topic, space, o, id, err, tc.wantSpace, tc.wantOrg, tc.wantID, tc.ok)
			}
			if err := topic.ValidateNotification(tc.topic); (err == nil) != tc.ok {
				t.Errorf("ValidateNotification(%q) = %v; want ok %v", tc.topic, err, tc.ok)
			}
		})
	}
}
