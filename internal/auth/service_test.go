package auth_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// mustCreateService creates an enabled producer account "billing-feed" and returns it
// with its secret.
func (f *fixture) mustCreateService(tb testing.TB) (vcd.ServiceAccount, string) {
	tb.Helper()
	acct, secret, err := f.a.CreateServiceAccount(context.Background(), vcd.ServiceAccount{
		Name: "billing-feed", Enabled: true, Producer: true,
		Publish: []string{"publish/#", "metrics/#"}, Subscribe: []string{"topic/x/#"},
	}, "")
	if err != nil {
		tb.Fatalf("CreateServiceAccount = %v", err)
	}
	return acct, secret
}

func TestCreateServiceAccount(t *testing.T) {
	f := mustOpenFixture(t)
	acct, secret := f.mustCreateService(t)
	if len(secret) < 32 || strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("secret %q: want 32+ alphanumerics", secret)
	}
	if !vcd.IsUUID(acct.ID) || acct.Generation != 0 || !acct.Created.Equal(t0) || !acct.SecretRotated.Equal(t0) {
		t.Errorf("account = %+v", acct)
	}
	if acct.SecretHash == "" || strings.Contains(acct.SecretHash, secret) {
		t.Errorf("SecretHash = %q; want the SHA-256 of the secret, not the secret", acct.SecretHash)
	}
	stored, err := f.dir.ServiceAccount(context.Background(), acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(acct, stored); diff != "" {
		t.Errorf("stored account differs (-returned +stored):\n%s", diff)
	}

	t.Run("GivenSecret", func(t *testing.T) {
		const given = "Abcdefghijklmnopqrstuvwxyz012345"
		acct, got, err := f.a.CreateServiceAccount(context.Background(),
			vcd.ServiceAccount{ID: vcd.NewUUID(), Name: "acme/backup/1.0.0", Enabled: true}, given)
		if err != nil || got != given {
			t.Fatalf("CreateServiceAccount(given secret) = %q, %v", got, err)
		}
		if _, err := f.a.AuthenticateService(context.Background(), acct.Name, given); err != nil {
			t.Errorf("AuthenticateService(given secret) = %v", err)
		}
	})
	errs := []struct {
		name, acctName, secret string
		code                   vcd.Code
	}{
		{"ErrDuplicateName", "BILLING-FEED", "", vcd.CodeDuplicate},
		{"ErrEmptyName", "", "", vcd.CodeInvalid},
		{"ErrBadSecret", "x", "short", vcd.CodeInvalid},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.a.CreateServiceAccount(context.Background(), vcd.ServiceAccount{Name: tc.acctName}, tc.secret)
			if got := vcd.CodeOf(err); got != tc.code {
				t.Errorf("CreateServiceAccount(%q) code = %q (%v); want %q", tc.acctName, got, err, tc.code)
			}
		})
	}
}

func TestCheckServiceName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"billing-feed", true},
		{"acme/backup/1.0.0", true},
		{strings.Repeat("é", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{"user@org", false},
		{"a:b", false},
		{"a b", false},
		{"a\x00b", false},
		{"\xff", false},
	}
	for _, tc := range tests {
		if err := auth.CheckServiceName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckServiceName(%q) = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestAuthenticateService(t *testing.T) {
	f := mustOpenFixture(t)
	acct, secret := f.mustCreateService(t)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		p, err := f.a.AuthenticateService(ctx, "Billing-Feed", secret)
		if err != nil {
			t.Fatal(err)
		}
		want := vcd.Principal{Kind: vcd.PrincipalService, UserID: acct.ID, UserName: "billing-feed",
			OrgID: vcd.SystemOrgID, OrgName: vcd.SystemOrgName, Producer: true,
			Publish: []string{"publish/#", "metrics/#"}, Subscribe: []string{"topic/x/#"}}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("principal (-want +got):\n%s", diff)
		}
	})
	errs := []struct {
		name, acctName, secret string
		cause                  error
	}{
		{"ErrWrongSecret", "billing-feed", strings.Repeat("A", 32), auth.ErrBadCredentials},
		{"ErrEmptySecret", "billing-feed", "", auth.ErrBadCredentials},
		{"ErrUnknownName", "nobody", secret, auth.ErrUnknownUser},
		{"ErrUserName", "root@System", rootPW, auth.ErrUnknownUser},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.AuthenticateService(ctx, tc.acctName, tc.secret)
			wantUnauthorized(t, err, tc.cause)
			if got := vcd.MessageOf(err); got != "Authentication failed." {
				t.Errorf("MessageOf(err) = %q; want the one login failure message", got)
			}
		})
	}
	t.Run("ErrDisabled", func(t *testing.T) {
		f := mustOpenFixture(t)
		acct, secret := f.mustCreateService(t)
		setEnabled(t, f, acct.ID, false)
		_, err := f.a.AuthenticateService(ctx, acct.Name, secret)
		wantUnauthorized(t, err, auth.ErrDisabled)
	})
	t.Run("Rotated", func(t *testing.T) {
		f := mustOpenFixture(t)
		acct, old := f.mustCreateService(t)
		f.clock.Advance(time.Minute)
		rotated, fresh, err := f.a.RotateServiceSecret(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fresh == old || rotated.Generation != 1 || !rotated.SecretRotated.Equal(t0.Add(time.Minute)) {
			t.Errorf("rotated = %+v (same secret: %v)", rotated, fresh == old)
		}
		_, err = f.a.AuthenticateService(ctx, acct.Name, old)
		wantUnauthorized(t, err, auth.ErrBadCredentials)
		if _, err := f.a.AuthenticateService(ctx, acct.Name, fresh); err != nil {
			t.Errorf("AuthenticateService(new secret) = %v", err)
		}
	})
	t.Run("ErrRotateUnknown", func(t *testing.T) {
		_, _, err := f.a.RotateServiceSecret(ctx, vcd.NewUUID())
		if got := vcd.CodeOf(err); got != vcd.CodeNotFound {
			t.Errorf("RotateServiceSecret(unknown) code = %q; want %q", got, vcd.CodeNotFound)
		}
	})
}

func setEnabled(tb testing.TB, f *fixture, id string, enabled bool) {
	tb.Helper()
	if _, err := f.dir.UpdateServiceAccount(context.Background(), id, func(s *vcd.ServiceAccount) error {
		s.Enabled = enabled
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

func TestServiceLogin_TokenShape(t *testing.T) {
	f := mustOpenFixture(t)
	acct, secret := f.mustCreateService(t)
	res, err := f.a.ServiceLogin(context.Background(), acct.Name, secret, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeSegment(t, res.JWT, 1)
	jti, _ := claims["jti"].(string)
	want := map[string]any{
		"sub": "billing-feed", "iss": vcd.SystemOrgID + "@" + testSiteID, "version": "vcloud_1.0",
		"iat": float64(t0.Unix()), "exp": float64(t0.Add(24 * time.Hour).Unix()), "jti": jti,
		"orgId": "urn:vcloud:org:" + vcd.SystemOrgID, "serviceAccountId": "urn:vcloud:token:" + acct.ID,
		"secretGeneration": float64(0),
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if len(jti) != 32 || res.Principal.JTI != jti || !res.Principal.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("jti %q, principal %+v", jti, res.Principal)
	}
	if _, err := f.a.ServiceLogin(context.Background(), acct.Name, "wrong", ""); vcd.CodeOf(err) != vcd.CodeUnauthorized {
		t.Errorf("ServiceLogin(wrong secret) = %v; want unauthorized", err)
	}
}

// TestServiceLogin_TokenLifetime checks that a service JWT is resolved against the
// account's current record: grants as they are now, and refused after rotation,
// disabling, deletion or exp.
func TestServiceLogin_TokenLifetime(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, f *fixture, acct vcd.ServiceAccount)
		cause  error // nil: still accepted
	}{
		{"Unchanged", func(*testing.T, *fixture, vcd.ServiceAccount) {}, nil},
		{"BeforeExp", func(t *testing.T, f *fixture, _ vcd.ServiceAccount) { f.clock.Advance(24*time.Hour - time.Second) }, nil},
		{"ErrExpired", func(t *testing.T, f *fixture, _ vcd.ServiceAccount) { f.clock.Advance(24 * time.Hour) }, auth.ErrTokenExpired},
		{"ErrRotated", func(t *testing.T, f *fixture, acct vcd.ServiceAccount) {
			if _, _, err := f.a.RotateServiceSecret(ctx, acct.ID); err != nil {
				t.Fatal(err)
			}
		}, auth.ErrSecretRotated},
		{"ErrDisabled", func(t *testing.T, f *fixture, acct vcd.ServiceAccount) { setEnabled(t, f, acct.ID, false) }, auth.ErrDisabled},
		{"ErrDeleted", func(t *testing.T, f *fixture, acct vcd.ServiceAccount) { f.dir.deleteServiceAccount(acct.ID) }, auth.ErrUnknownUser},
		{"ErrRecreatedSameName", func(t *testing.T, f *fixture, acct vcd.ServiceAccount) {
			f.dir.deleteServiceAccount(acct.ID)
			f.mustCreateService(t)
		}, auth.ErrUnknownUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpenFixture(t)
			acct, secret := f.mustCreateService(t)
			res, err := f.a.ServiceLogin(ctx, acct.Name, secret, "")
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, f, acct)
			p, err := f.a.Authenticate(ctx, res.JWT)
			if tc.cause != nil {
				wantUnauthorized(t, err, tc.cause)
				return
			}
			if err != nil {
				t.Fatalf("Authenticate = %v", err)
			}
			if p.Kind != vcd.PrincipalService || p.UserID != acct.ID || p.SessionID != "" || p.IsSysAdmin() {
				t.Errorf("principal = %+v", p)
			}
		})
	}

	t.Run("GrantsFromCurrentRecord", func(t *testing.T) {
		f := mustOpenFixture(t)
		acct, secret := f.mustCreateService(t)
		res, err := f.a.ServiceLogin(ctx, acct.Name, secret, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.dir.UpdateServiceAccount(ctx, acct.ID, func(s *vcd.ServiceAccount) error {
			s.Publish, s.Subscribe, s.Producer = []string{"topic/y"}, nil, false
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		p, err := f.a.Authenticate(ctx, res.JWT)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(p.Publish, []string{"topic/y"}) || len(p.Subscribe) != 0 || p.Producer {
			t.Errorf("grants = %v / %v / producer %v; want the current record's", p.Publish, p.Subscribe, p.Producer)
		}
	})
}

// TestServiceLogin_Forged re-signs altered service claims with the real key: a token
// that mixes session and service claims, or names another account or generation, is
// refused; the unaltered claims, re-signed, are accepted.
func TestServiceLogin_Forged(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	acct, secret := f.mustCreateService(t)
	res, err := f.a.ServiceLogin(ctx, acct.Name, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeSegment(t, res.JWT, 1)
	key := mustParseKey(t, "testdata/signing-key.pem")
	with := func(k string, v any) map[string]any {
		c := maps.Clone(claims)
		c[k] = v
		return c
	}
	tests := []struct {
		name   string
		claims map[string]any
		cause  error
	}{
		{"ErrWithSessionID", with("sessionId", "urn:vcloud:session:"+vcd.NewUUID()), auth.ErrMalformed},
		{"ErrWithUserID", with("userId", "urn:vcloud:user:"+rootID), auth.ErrMalformed},
		{"ErrBadAccountURN", with("serviceAccountId", "urn:vcloud:user:"+acct.ID), auth.ErrMalformed},
		{"ErrUnknownAccount", with("serviceAccountId", "urn:vcloud:token:"+vcd.NewUUID()), auth.ErrUnknownUser},
		{"ErrOtherGeneration", with("secretGeneration", 7), auth.ErrSecretRotated},
		{"ErrOtherName", with("sub", "other-feed"), auth.ErrUnknownSession},
		{"ErrTenantIssuer", with("iss", acmeID+"@"+testSiteID), auth.ErrUnknownSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.Authenticate(ctx, mustSign(t, jwt.SigningMethodRS256, key, testKID, tc.claims))
			wantUnauthorized(t, err, tc.cause)
		})
	}
	if _, err := f.a.Authenticate(ctx, mustSign(t, jwt.SigningMethodRS256, key, testKID, claims)); err != nil {
		t.Errorf("Authenticate(re-signed original claims) = %v; want success", err)
	}
	// A user's session token is untouched by the service path.
	user := f.mustLogin(t, "root@System", rootPW)
	if p, err := f.a.Authenticate(ctx, user.JWT); err != nil || p.Kind != vcd.PrincipalUser || !p.IsSysAdmin() {
		t.Errorf("Authenticate(user token) = %+v, %v", p, err)
	}
}

// TestServiceToken_NoUserRights checks that a service JWT cannot stand in for a user's:
// it has no session to log out and is no jwt-bearer assertion.
func TestServiceToken_NoUserRights(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	acct, secret := f.mustCreateService(t)
	res, err := f.a.ServiceLogin(ctx, acct.Name, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Logout(ctx, res.Principal.SessionID); vcd.CodeOf(err) != vcd.CodeForbidden {
		t.Errorf("Logout(service principal's session) = %v; want forbidden", err)
	}
	_, _, err = f.a.ExchangeJWTBearer(ctx, "", true, res.JWT, acct.ID, "")
	wantUnauthorized(t, err, auth.ErrInvalidGrant)
	if !errors.Is(err, auth.ErrWrongEndpoint) {
		t.Errorf("ExchangeJWTBearer(service JWT) = %v; want it refused as a service account", err)
	}
}
