package auth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		pw        string
		provider  bool
		want      vcd.Principal
		wantLevel vcd.Level
	}{
		{name: "tenant", user: "alice@acme", pw: alicePW,
			want: vcd.Principal{UserID: aliceID, UserName: "alice", OrgID: acmeID, OrgName: "acme", Role: vcd.RoleVAppAuthor, Level: vcd.LevelUser}},
		{name: "tenant any case", user: "ALICE@Acme", pw: alicePW,
			want: vcd.Principal{UserID: aliceID, UserName: "alice", OrgID: acmeID, OrgName: "acme", Role: vcd.RoleVAppAuthor, Level: vcd.LevelUser}},
		{name: "provider", user: "root@System", pw: rootPW, provider: true,
			want: vcd.Principal{UserID: rootID, UserName: "root", OrgID: vcd.SystemOrgID, OrgName: "System", Role: vcd.RoleSystemAdmin, Level: vcd.LevelSysAdmin}},
		{name: "provider lowercase org", user: "root@system", pw: rootPW, provider: true,
			want: vcd.Principal{UserID: rootID, UserName: "root", OrgID: vcd.SystemOrgID, OrgName: "System", Role: vcd.RoleSystemAdmin, Level: vcd.LevelSysAdmin}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpenFixture(t)
			res, err := f.a.Login(context.Background(), tc.user, tc.pw, tc.provider, "192.0.2.7")
			if err != nil {
				t.Fatalf("Login(%q) = %v", tc.user, err)
			}
			s := res.Session
			want := tc.want
			want.SessionID, want.JTI = s.ID, s.JTI
			want.ExpiresAt = t0.Add(30 * time.Minute) // the idle limit comes before exp
			if diff := cmp.Diff(want, res.Principal); diff != "" {
				t.Errorf("Login(%q) principal mismatch (-want +got):\n%s", tc.user, diff)
			}
			wantSession := vcd.Session{ID: s.ID, UserID: want.UserID, OrgID: want.OrgID, JTI: s.JTI, ClientIP: "192.0.2.7",
				Created: t0, Expires: t0.Add(24 * time.Hour), LastActive: t0}
			if diff := cmp.Diff(wantSession, f.dir.session(s.ID)); diff != "" {
				t.Errorf("stored session mismatch (-want +got):\n%s", diff)
			}
			if !vcd.IsUUID(s.ID) || len(s.JTI) != 32 {
				t.Errorf("session id %q, jti %q; want a UUID and 32 hex characters", s.ID, s.JTI)
			}
			if res.JWT == "" || res.LegacyToken != "" {
				t.Errorf("JWT %q, LegacyToken %q; want a JWT and no legacy token", res.JWT, res.LegacyToken)
			}
		})
	}
}

func TestLogin_Failures(t *testing.T) {
	tests := []struct {
		name     string
		user, pw string
		provider bool
		setup    func(f *fixture)
		cause    error
		userID   string
	}{
		{name: "ErrUnknownOrg", user: "alice@nowhere", pw: alicePW, cause: auth.ErrUnknownUser},
		{name: "ErrUnknownUser", user: "mallory@acme", pw: alicePW, cause: auth.ErrUnknownUser},
		{name: "ErrMalformedName", user: "alice", pw: alicePW, cause: auth.ErrBadCredentials},
		{name: "ErrEmptyUser", user: "@acme", pw: alicePW, cause: auth.ErrBadCredentials},
		{name: "ErrEmptyOrg", user: "alice@", pw: alicePW, cause: auth.ErrBadCredentials},
		{name: "ErrBadPassword", user: "alice@acme", pw: "wrong-password", cause: auth.ErrBadCredentials, userID: aliceID},
		{name: "ErrPasswordPrefix", user: "alice@acme", pw: alicePW[:len(alicePW)-1], cause: auth.ErrBadCredentials, userID: aliceID},
		{name: "ErrEmptyPassword", user: "alice@acme", pw: "", cause: auth.ErrBadCredentials, userID: aliceID},
		{name: "ErrDisabledUser", user: "bob@acme", pw: bobPW, cause: auth.ErrDisabled, userID: bobID},
		{name: "ErrDisabledOrg", user: "alice@acme", pw: alicePW, cause: auth.ErrDisabled, userID: aliceID,
			setup: func(f *fixture) { f.dir.putOrg(vcd.Org{ID: acmeID, Name: "acme", Enabled: false}) }},
		{name: "ErrLocked", user: "alice@acme", pw: alicePW, cause: auth.ErrLocked, userID: aliceID,
			setup: func(f *fixture) {
				u := f.dir.user(aliceID)
				u.LockedUntil = t0.Add(time.Minute)
				f.dir.putUser(u)
			}},
		{name: "ErrTenantAtProvider", user: "alice@acme", pw: alicePW, provider: true, cause: auth.ErrWrongEndpoint, userID: aliceID},
		{name: "ErrProviderAtTenant", user: "root@System", pw: rootPW, provider: false, cause: auth.ErrWrongEndpoint, userID: rootID},
		{name: "ErrUserOfOtherOrg", user: "dave@acme", pw: davePW, cause: auth.ErrUnknownUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpenFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := f.a.Login(context.Background(), tc.user, tc.pw, tc.provider, "192.0.2.1")
			wantUnauthorized(t, err, tc.cause)
			if got := vcd.MessageOf(err); got != "Authentication failed." {
				t.Errorf("MessageOf(err) = %q; want the one message for every cause", got)
			}
			var le *auth.LoginError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v; want a *LoginError", err)
			}
			if le.UserID != tc.userID {
				t.Errorf("LoginError.UserID = %q; want %q", le.UserID, tc.userID)
			}
			if strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
				t.Errorf("err %q reveals the password", err)
			}
			if n := len(f.dir.sessions); n != 0 {
				t.Errorf("%d sessions created; want none", n)
			}
		})
	}
}

// failLogin makes one failed login of alice and returns its error.
func (f *fixture) failLogin(t *testing.T) error {
	t.Helper()
	_, err := f.a.Login(context.Background(), "alice@acme", "wrong-password", false, "")
	wantUnauthorized(t, err, auth.ErrBadCredentials)
	return err
}

func TestLogin_Lockout(t *testing.T) {
	f := mustOpenFixture(t)
	for i := range 4 {
		if err := f.failLogin(t); errors.Is(err, auth.ErrLockedNow) {
			t.Fatalf("failure %d: err = %v; want no lockout yet", i+1, err)
		}
		f.clock.Advance(time.Minute)
	}
	if got := len(f.dir.user(aliceID).FailedLogins); got != 4 {
		t.Fatalf("FailedLogins has %d entries; want 4", got)
	}
	err := f.failLogin(t)
	if !errors.Is(err, auth.ErrLockedNow) {
		t.Fatalf("5th failure: err = %v; want ErrLockedNow", err)
	}
	var le *auth.LoginError
	if !errors.As(err, &le) || le.UserID != aliceID || le.OrgID != acmeID {
		t.Errorf("LoginError = %+v; want user %s of org %s", le, aliceID, acmeID)
	}
	u := f.dir.user(aliceID)
	if want := f.clock.Now().Add(10 * time.Minute); !u.LockedUntil.Equal(want) || len(u.FailedLogins) != 0 {
		t.Fatalf("after lockout LockedUntil = %v, FailedLogins = %v; want %v and none", u.LockedUntil, u.FailedLogins, want)
	}

	// While locked even the right password fails, and failures do not extend the lock.
	_, err = f.a.Login(context.Background(), "alice@acme", alicePW, false, "")
	wantUnauthorized(t, err, auth.ErrLocked)
	f.clock.Advance(9 * time.Minute)
	_, err = f.a.Login(context.Background(), "alice@acme", "wrong-password", false, "")
	wantUnauthorized(t, err, auth.ErrLocked)
	if got := f.dir.user(aliceID).LockedUntil; !got.Equal(u.LockedUntil) {
		t.Errorf("LockedUntil = %v after a failure while locked; want %v", got, u.LockedUntil)
	}

	// The lock ends after LockoutDuration.
	f.clock.Advance(time.Minute)
	f.mustLogin(t, "alice@acme", alicePW)
}

func TestLogin_FailuresOutsideWindowDoNotCount(t *testing.T) {
	f := mustOpenFixture(t)
	for range 4 {
		f.failLogin(t)
	}
	f.clock.Advance(10 * time.Minute) // the four fall out of the window
	for i := range 4 {
		if err := f.failLogin(t); errors.Is(err, auth.ErrLockedNow) {
			t.Fatalf("failure %d after the window: err = %v; want no lockout", i+1, err)
		}
	}
	if got := len(f.dir.user(aliceID).FailedLogins); got != 4 {
		t.Errorf("FailedLogins has %d entries; want 4 (old ones dropped)", got)
	}
	if err := f.failLogin(t); !errors.Is(err, auth.ErrLockedNow) {
		t.Errorf("5th failure within the window: err = %v; want ErrLockedNow", err)
	}
}

func TestLogin_SuccessClearsFailures(t *testing.T) {
	f := mustOpenFixture(t)
	for range 4 {
		f.failLogin(t)
	}
	f.mustLogin(t, "alice@acme", alicePW)
	if got := f.dir.user(aliceID).FailedLogins; len(got) != 0 {
		t.Fatalf("FailedLogins = %v after a successful login; want none", got)
	}
	for range 4 {
		if err := f.failLogin(t); errors.Is(err, auth.ErrLockedNow) {
			t.Fatalf("err = %v; want the count to restart after success", err)
		}
	}
}

// A failure recorded concurrently by another node (between read and write) is kept:
// the update retries on the new value.
func TestLogin_ConcurrentFailureCounted(t *testing.T) {
	f := mustOpenFixture(t)
	for range 3 {
		f.failLogin(t)
	}
	injected := false
	f.dir.beforeWrite = func(id string) {
		if injected || id != aliceID {
			return
		}
		injected = true
		u := f.dir.user(aliceID)
		u.FailedLogins = append(u.FailedLogins, f.clock.Now())
		f.dir.putUser(u)
	}
	if err := f.failLogin(t); !errors.Is(err, auth.ErrLockedNow) {
		t.Fatalf("err = %v; want ErrLockedNow (3 + 1 concurrent + 1)", err)
	}
}

func TestLogin_LogsNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := mustOpenFixture(t)
	a := auth.New(f.cfg, f.dir, vcd.Site{ID: testSiteID}, logger)
	if err := a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(context.Background(), "alice@acme", "not-her-password", false, ""); err == nil {
		t.Fatal("Login with a wrong password succeeded")
	}
	res, err := a.LegacyLogin(context.Background(), "alice@acme", alicePW, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), res.JWT); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"not-her-password", alicePW, res.JWT, res.LegacyToken, testHash(t, alicePW)} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log reveals a secret %.12q…:\n%s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), res.Session.JTI) {
		t.Errorf("log does not name the jti %s:\n%s", res.Session.JTI, buf.String())
	}
}

func TestLegacyLogin(t *testing.T) {
	for _, name := range []string{"alice@acme", "root@System"} {
		t.Run(name, func(t *testing.T) {
			f := mustOpenFixture(t)
			res, err := f.a.LegacyLogin(context.Background(), name, map[string]string{"alice@acme": alicePW, "root@System": rootPW}[name], "")
			if err != nil {
				t.Fatalf("LegacyLogin(%q) = %v", name, err)
			}
			if !isLowerHex(res.LegacyToken, 32) {
				t.Errorf("LegacyToken = %q; want 32 lowercase hex characters", res.LegacyToken)
			}
			if got := f.dir.session(res.Session.ID).LegacyTokenHash; got == "" || got == res.LegacyToken {
				t.Errorf("stored LegacyTokenHash = %q; want the token's hash", got)
			}
			p, err := f.a.AuthenticateLegacy(context.Background(), res.LegacyToken)
			if err != nil {
				t.Fatalf("AuthenticateLegacy = %v", err)
			}
			if diff := cmp.Diff(res.Principal, p); diff != "" {
				t.Errorf("AuthenticateLegacy principal mismatch (-login +got):\n%s", diff)
			}
			if _, err := f.a.Authenticate(context.Background(), res.JWT); err != nil {
				t.Errorf("Authenticate(JWT of the legacy session) = %v", err)
			}
		})
	}
}

func TestLegacyLogin_Failures(t *testing.T) {
	f := mustOpenFixture(t)
	_, err := f.a.LegacyLogin(context.Background(), "bob@acme", bobPW, "")
	wantUnauthorized(t, err, auth.ErrDisabled)
	_, err = f.a.LegacyLogin(context.Background(), "alice@acme", "wrong-password", "")
	wantUnauthorized(t, err, auth.ErrBadCredentials)
}

func TestAuthenticateLegacy_Failures(t *testing.T) {
	f := mustOpenFixture(t)
	res, err := f.a.LegacyLogin(context.Background(), "alice@acme", alicePW, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		setup func()
		cause error
	}{
		{name: "ErrMalformedShort", token: "abc", cause: auth.ErrMalformed},
		{name: "ErrMalformedNotHex", token: strings.Repeat("z", 32), cause: auth.ErrMalformed},
		{name: "ErrUnknown", token: strings.Repeat("0", 32), cause: auth.ErrUnknownSession},
		{name: "ErrJWTAsLegacy", token: res.JWT, cause: auth.ErrMalformed},
		{name: "ErrIdle", token: res.LegacyToken, setup: func() { f.clock.Advance(31 * time.Minute) }, cause: auth.ErrIdle},
		{name: "ErrRevoked", token: res.LegacyToken, setup: func() {
			if err := f.a.Logout(context.Background(), res.Session.ID); err != nil {
				t.Fatal(err)
			}
		}, cause: auth.ErrRevoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			_, err := f.a.AuthenticateLegacy(context.Background(), tc.token)
			wantUnauthorized(t, err, tc.cause)
		})
	}
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
