package vcd_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/vcd"
)

const (
	acme  = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	beta  = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
	alice = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
	bob   = "5c3e7a9b-2d4f-4b6c-8e0a-3f5b7d9c1e2a"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		kind, in, want string
		ok             bool
	}{
		{"org", "urn:vcloud:org:" + acme, acme, true},
		{"org", acme, acme, true},
		{"org", "URN:VCLOUD:ORG:7F3E2B1A-5C4D-4E6F-8A9B-0C1D2E3F4A5B", acme, true},
		{"org", "urn:vcloud:user:" + acme, "", false},
		{"org", "urn:vcloud:org:", "", false},
		{"org", "urn:vcloud:org:not-a-uuid", "", false},
		{"org", "7f3e2b1a5c4d4e6f8a9b0c1d2e3f4a5b", "", false},
		{"user", "", "", false},
		{"vm", "urn:vcloud:vm:" + alice, alice, true},
	}
	for _, tc := range tests {
		got, ok := vcd.ParseID(tc.kind, tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseID(%q, %q) = %q, %v; want %q, %v", tc.kind, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSplitUserOrg(t *testing.T) {
	tests := []struct{ in, user, org string }{
		{"alice@acme", "alice", "acme"},
		{"bob@corp.example@acme", "bob@corp.example", "acme"},
		{"administrator@System", "administrator", "System"},
		{"@acme", "", ""},
		{"alice@", "", ""},
		{"alice", "", ""},
	}
	for _, tc := range tests {
		u, o, ok := vcd.SplitUserOrg(tc.in)
		if u != tc.user || o != tc.org || ok != (tc.user != "") {
			t.Errorf("SplitUserOrg(%q) = %q, %q, %v; want %q, %q", tc.in, u, o, ok, tc.user, tc.org)
		}
	}
}

func TestUUIDs(t *testing.T) {
	a, b := vcd.NewUUID(), vcd.NewUUID()
	if a == b || !vcd.IsUUID(a) || a[14] != '4' {
		t.Errorf("NewUUID() gave %q and %q", a, b)
	}
	// Name-based ids are stable, distinct per name and per namespace.
	r1, r2 := vcd.NameUUID(acme, "role:vapp author"), vcd.NameUUID(acme, "role:vapp author")
	if r1 != r2 || r1[14] != '5' || r1 == vcd.NameUUID(beta, "role:vapp author") || r1 == vcd.NameUUID(acme, "role:vapp user") {
		t.Errorf("NameUUID is not stable and distinct: %q", r1)
	}
	// RFC 4122 appendix B's example: the DNS namespace and "www.example.com".
	if got := vcd.NameUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("NameUUID(DNS, www.example.com) = %s", got)
	}
}

func TestRoles(t *testing.T) {
	if r, ok := vcd.RoleByName(vcd.SystemOrgID, "system administrator"); !ok || r.Level != vcd.LevelSysAdmin {
		t.Errorf("RoleByName(System, system administrator) = %+v, %v", r, ok)
	}
	if _, ok := vcd.RoleByName(acme, vcd.RoleSystemAdmin); ok {
		t.Error("System Administrator exists in a tenant org")
	}
	id := vcd.RoleID(acme, vcd.RoleVAppAuthor)
	if r, ok := vcd.RoleByID(acme, id); !ok || r.Name != vcd.RoleVAppAuthor {
		t.Errorf("RoleByID(RoleID(vApp Author)) = %+v, %v", r, ok)
	}
	if _, ok := vcd.RoleByID(beta, id); ok {
		t.Error("a role id of one org resolves in another")
	}
	if got := len(vcd.RolesOf(acme)); got != 6 {
		t.Errorf("tenant orgs have %d built-in roles; want 6", got)
	}
	if vcd.LevelOf(acme, vcd.RoleOrgAdmin) != vcd.LevelOrgAdmin || vcd.LevelOf(acme, "Nobody") != vcd.LevelNone {
		t.Error("LevelOf gives wrong levels")
	}
	// Every connect and request resolves its principal's level.
	if n := testing.AllocsPerRun(100, func() { _ = vcd.LevelOf(acme, vcd.RoleVAppUser) }); n != 0 {
		t.Errorf("LevelOf allocates %v times; want 0", n)
	}
}

func TestCan(t *testing.T) {
	sys := vcd.Principal{UserID: "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9", OrgID: vcd.SystemOrgID, Level: vcd.LevelSysAdmin}
	admin := vcd.Principal{UserID: alice, OrgID: acme, Level: vcd.LevelOrgAdmin}
	user := vcd.Principal{UserID: alice, OrgID: acme, Level: vcd.LevelUser}
	tokenUser := user
	tokenUser.APITokenID = "x"
	tokenSys := sys
	tokenSys.APITokenID = "x"
	service := vcd.Principal{Kind: vcd.PrincipalService, UserID: alice, OrgID: vcd.SystemOrgID, Level: vcd.LevelSysAdmin}
	none := vcd.Principal{UserID: alice, OrgID: vcd.SystemOrgID, Level: vcd.LevelNone}

	type target struct{ org, user string }
	self, peer, other := target{acme, alice}, target{acme, bob}, target{beta, bob}
	orgOnly, otherOrg := target{acme, ""}, target{beta, ""}
	tests := []struct {
		who    string
		p      vcd.Principal
		action vcd.Action
		t      target
		want   bool
	}{
		{"sysadmin", sys, vcd.ActOrgManage, otherOrg, true},
		{"sysadmin", sys, vcd.ActUserDelete, other, true},
		{"sysadmin", sys, vcd.ActServiceAccounts, orgOnly, true},
		{"sysadmin", sys, vcd.ActProduce, orgOnly, true},
		{"org admin", admin, vcd.ActOrgRead, orgOnly, true},
		{"org admin", admin, vcd.ActOrgRead, otherOrg, false},
		{"org admin", admin, vcd.ActOrgManage, orgOnly, false},
		{"org admin", admin, vcd.ActUserCreate, orgOnly, true},
		{"org admin", admin, vcd.ActUserCreate, otherOrg, false},
		{"org admin", admin, vcd.ActUserModify, peer, true},
		{"org admin", admin, vcd.ActUserModify, other, false},
		{"org admin", admin, vcd.ActUserDelete, peer, true},
		{"org admin", admin, vcd.ActUserDelete, self, false},
		{"org admin", admin, vcd.ActPasswordChange, peer, true},
		{"org admin", admin, vcd.ActSessionManage, peer, true},
		{"org admin", admin, vcd.ActSessionManage, other, false},
		{"org admin", admin, vcd.ActTokenManage, peer, true},
		{"org admin", admin, vcd.ActTokenCreate, peer, false},
		{"org admin", admin, vcd.ActServiceAccounts, orgOnly, false},
		{"org admin", admin, vcd.ActProduce, orgOnly, false},
		{"org admin", admin, vcd.ActTaskRead, peer, true},
		{"user", user, vcd.ActOrgRead, orgOnly, true},
		{"user", user, vcd.ActOrgRead, otherOrg, false},
		{"user", user, vcd.ActUserRead, self, true},
		{"user", user, vcd.ActUserRead, peer, false},
		{"user", user, vcd.ActUserModify, self, true},
		{"user", user, vcd.ActUserCreate, orgOnly, false},
		{"user", user, vcd.ActUserDelete, self, false},
		{"user", user, vcd.ActSessionManage, self, true},
		{"user", user, vcd.ActSessionManage, peer, false},
		{"user", user, vcd.ActTokenCreate, self, true},
		{"user", user, vcd.ActTokenManage, peer, false},
		{"user", user, vcd.ActTaskRead, self, true},
		{"user", user, vcd.ActTaskRead, peer, false},
		{"user", user, vcd.ActProduce, orgOnly, false},
		{"api-token user", tokenUser, vcd.ActUserRead, self, true},
		{"api-token user", tokenUser, vcd.ActTokenCreate, self, false},
		{"api-token user", tokenUser, vcd.ActPasswordChange, self, false},
		{"api-token sysadmin", tokenSys, vcd.ActOrgManage, orgOnly, false},
		{"api-token sysadmin", tokenSys, vcd.ActServiceAccounts, orgOnly, false},
		{"api-token sysadmin", tokenSys, vcd.ActProduce, orgOnly, true},
		{"service account", service, vcd.ActOrgRead, orgOnly, false},
		{"no rights", none, vcd.ActOrgRead, target{vcd.SystemOrgID, ""}, false},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%s/%s/%s:%s", tc.who, tc.action, tc.t.org[:4], tc.t.user)
		t.Run(name, func(t *testing.T) {
			if got := vcd.Can(tc.p, tc.action, tc.t.org, tc.t.user); got != tc.want {
				t.Errorf("Can(%s, %s, %q, %q) = %v; want %v", tc.who, tc.action, tc.t.org, tc.t.user, got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cause := errors.New("disk full")
	err := fmt.Errorf("create org: %w", vcd.Wrap(vcd.CodeUnavailable, cause, "The store is unavailable."))
	if vcd.CodeOf(err) != vcd.CodeUnavailable || !errors.Is(err, vcd.ErrUnavailable) || !errors.Is(err, cause) {
		t.Errorf("wrapped error lost its code or cause: %v", err)
	}
	if errors.Is(err, vcd.ErrForbidden) {
		t.Error("errors.Is matched another code")
	}
	if vcd.MessageOf(err) != "The store is unavailable." {
		t.Errorf("MessageOf = %q", vcd.MessageOf(err))
	}
	plain := errors.New("boom: secret detail")
	if vcd.CodeOf(plain) != vcd.CodeInternal || vcd.MessageOf(plain) == plain.Error() {
		t.Errorf("a plain error is not internal with a generic message: %q", vcd.MessageOf(plain))
	}
	if e := vcd.Errorf(vcd.CodeInvalid, "bad %s", "name"); e.Message != "bad name" {
		t.Errorf("Errorf message = %q", e.Message)
	}
}

// FuzzParseID checks the parsers of ids and credential names that requests carry:
// what ParseUUID accepts formats back to its lowercase self, what ParseID accepts
// is the lowercase UUID the input spelled (bare or as a URN of the kind), and
// SplitUserOrg splits at the last '@' into two non-empty parts.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"2a1f9c3e-8d4b-4c1a-9e2f-7b6d5c4a3b21", "urn:vcloud:org:2A1F9C3E-8D4B-4C1A-9E2F-7B6D5C4A3B21",
		"URN:VCLOUD:user:2a1f9c3e-8d4b-4c1a-9e2f-7b6d5c4a3b21", "urn:vcloud:org:", "alice@acme", "a@b@c", "@x", "x@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, ok := vcd.ParseUUID(s); ok && vcd.FormatUUID(u) != strings.ToLower(s) {
			t.Fatalf("ParseUUID(%q) formats as %q", s, vcd.FormatUUID(u))
		}
		for _, kind := range []string{"org", "user"} {
			id, ok := vcd.ParseID(kind, s)
			if !ok {
				continue
			}
			if !vcd.IsUUID(id) || id != strings.ToLower(id) ||
				!strings.EqualFold(s, id) && !strings.EqualFold(s, vcd.URN(kind, id)) {
				t.Fatalf("ParseID(%q, %q) = %q", kind, s, id)
			}
		}
		if user, org, ok := vcd.SplitUserOrg(s); ok &&
			(user == "" || org == "" || strings.Contains(org, "@") || user+"@"+org != s) {
			t.Fatalf("SplitUserOrg(%q) = %q, %q", s, user, org)
		}
	})
}
