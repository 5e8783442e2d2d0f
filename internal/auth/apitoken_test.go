package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

var alnum32 = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// mustCreateToken creates a REFRESH token for the principal of a fresh login of name.
func (f *fixture) mustCreateToken(tb testing.TB, name, pw string) (vcd.APIToken, string) {
	tb.Helper()
	p := f.mustLogin(tb, name, pw).Principal
	tok, secret, err := f.a.CreateAPIToken(context.Background(), p, "ci", vcd.TokenRefresh, "")
	if err != nil {
		tb.Fatalf("CreateAPIToken = %v", err)
	}
	return tok, secret
}

func TestCreateAPIToken(t *testing.T) {
	f := mustOpenFixture(t, func(c *auth.Config) { c.APITokenLifetime = 48 * time.Hour })
	p := f.mustLogin(t, "alice@acme", alicePW).Principal
	tok, secret, err := f.a.CreateAPIToken(context.Background(), p, "ci-pipeline", "refresh", "ignored")
	if err != nil {
		t.Fatalf("CreateAPIToken = %v", err)
	}
	if !alnum32.MatchString(secret) {
		t.Errorf("secret = %q; want 32 alphanumeric characters", secret)
	}
	want := vcd.APIToken{ID: tok.ID, Name: "ci-pipeline", Type: vcd.TokenRefresh, UserID: aliceID, OrgID: acmeID,
		SecretHash: sha256Hex(secret), Created: t0, Expires: t0.Add(48 * time.Hour)}
	if tok != want {
		t.Errorf("token = %+v; want %+v", tok, want)
	}
	if stored, _ := f.dir.APIToken(context.Background(), tok.ID); stored != want {
		t.Errorf("stored token = %+v; want %+v", stored, want)
	}
	_, secret2, _ := f.a.CreateAPIToken(context.Background(), p, "second", "", "")
	if secret2 == secret {
		t.Error("two tokens got the same secret")
	}
}

func TestCreateAPIToken_Refused(t *testing.T) {
	f := mustOpenFixture(t)
	alice := f.mustLogin(t, "alice@acme", alicePW).Principal
	root := f.mustLogin(t, "root@System", rootPW).Principal
	tokenSession := alice
	tokenSession.APITokenID = vcd.NewUUID()
	tests := []struct {
		name     string
		p        vcd.Principal
		tokName  string
		typ      string
		wantCode vcd.Code
	}{
		{name: "ErrAPITokenSession", p: tokenSession, tokName: "x", typ: vcd.TokenRefresh, wantCode: vcd.CodeForbidden},
		{name: "ErrExtensionByTenant", p: alice, tokName: "acme/backup/1.0.0", typ: vcd.TokenExtension, wantCode: vcd.CodeForbidden},
		{name: "ErrProxy", p: root, tokName: "x", typ: "PROXY", wantCode: vcd.CodeInvalid},
		{name: "ErrEmptyName", p: alice, tokName: " ", typ: vcd.TokenRefresh, wantCode: vcd.CodeInvalid},
		{name: "ErrServiceAccount", p: vcd.Principal{Kind: vcd.PrincipalService, UserID: vcd.NewUUID(), OrgID: acmeID}, tokName: "x", typ: vcd.TokenRefresh, wantCode: vcd.CodeForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.a.CreateAPIToken(context.Background(), tc.p, tc.tokName, tc.typ, "")
			if got := vcd.CodeOf(err); got != tc.wantCode {
				t.Errorf("CreateAPIToken = %v (code %q); want code %q", err, got, tc.wantCode)
			}
		})
	}
	if _, _, err := f.a.CreateAPIToken(context.Background(), tokenSession, "x", "", ""); !errors.Is(err, auth.ErrTokenSession) {
		t.Errorf("err = %v; want ErrTokenSession", err)
	}
	if len(f.dir.tokens) != 0 {
		t.Errorf("%d tokens stored by refused calls", len(f.dir.tokens))
	}
	ext, _, err := f.a.CreateAPIToken(context.Background(), root, "acme/backup/1.0.0", vcd.TokenExtension, "urn:vcloud:extension-api:acme:backup:1.0.0")
	if err != nil || ext.Type != vcd.TokenExtension || ext.ExtensionID != "urn:vcloud:extension-api:acme:backup:1.0.0" {
		t.Errorf("CreateAPIToken(EXTENSION by sysadmin) = %+v, %v", ext, err)
	}
}

func TestExchangeAPIToken(t *testing.T) {
	tests := []struct {
		name     string
		user, pw string
		org      string
		provider bool
	}{
		{name: "tenant", user: "alice@acme", pw: alicePW, org: "acme"},
		{name: "tenant org any case", user: "alice@acme", pw: alicePW, org: "ACME"},
		{name: "provider", user: "root@System", pw: rootPW, provider: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpenFixture(t)
			tok, secret := f.mustCreateToken(t, tc.user, tc.pw)
			res, err := f.a.ExchangeAPIToken(context.Background(), tc.org, tc.provider, secret, "198.51.100.1")
			if err != nil {
				t.Fatalf("ExchangeAPIToken = %v", err)
			}
			if res.Session.APITokenID != tok.ID || res.Principal.APITokenID != tok.ID {
				t.Errorf("session APITokenID %q, principal %q; want %q", res.Session.APITokenID, res.Principal.APITokenID, tok.ID)
			}
			p, err := f.a.Authenticate(context.Background(), res.JWT)
			if err != nil {
				t.Fatalf("Authenticate(exchanged JWT) = %v", err)
			}
			if p.UserID != tok.UserID || p.APITokenID != tok.ID {
				t.Errorf("principal %+v; want user %s and token %s", p, tok.UserID, tok.ID)
			}
			_, _, err = f.a.CreateAPIToken(context.Background(), p, "again", "", "")
			if vcd.CodeOf(err) != vcd.CodeForbidden {
				t.Errorf("CreateAPIToken from an API-token session = %v; want forbidden", err)
			}
		})
	}
}

func TestExchangeAPIToken_InvalidGrant(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*auth.Config)
		user, pw string
		org      string
		provider bool
		secret   func(secret string) string
		setup    func(f *fixture, tok vcd.APIToken)
		cause    error
	}{
		{name: "ErrUnknownSecret", user: "alice@acme", pw: alicePW, org: "acme",
			secret: func(string) string { return "A234567890123456789012345678901Z" }, cause: auth.ErrUnknownSession},
		{name: "ErrMalformedSecret", user: "alice@acme", pw: alicePW, org: "acme",
			secret: func(s string) string { return s + "=" }, cause: auth.ErrMalformed},
		{name: "ErrOtherOrg", user: "alice@acme", pw: alicePW, org: "other", cause: auth.ErrWrongEndpoint},
		{name: "ErrUnknownOrg", user: "alice@acme", pw: alicePW, org: "nowhere", cause: auth.ErrUnknownUser},
		{name: "ErrTenantAtProvider", user: "alice@acme", pw: alicePW, provider: true, cause: auth.ErrWrongEndpoint},
		{name: "ErrProviderAtTenant", user: "root@System", pw: rootPW, org: "system", cause: auth.ErrWrongEndpoint},
		{name: "ErrExpired", cfg: func(c *auth.Config) { c.APITokenLifetime = time.Hour }, user: "alice@acme", pw: alicePW, org: "acme",
			setup: func(f *fixture, _ vcd.APIToken) { f.clock.Advance(time.Hour) }, cause: auth.ErrTokenExpired},
		{name: "ErrOwnerDisabled", user: "alice@acme", pw: alicePW, org: "acme", cause: auth.ErrDisabled,
			setup: func(f *fixture, _ vcd.APIToken) {
				u := f.dir.user(aliceID)
				u.Enabled = false
				f.dir.putUser(u)
			}},
		{name: "ErrOrgDisabled", user: "alice@acme", pw: alicePW, org: "acme", cause: auth.ErrDisabled,
			setup: func(f *fixture, _ vcd.APIToken) { f.dir.putOrg(vcd.Org{ID: acmeID, Name: "acme"}) }},
		{name: "ErrExtensionToken", user: "alice@acme", pw: alicePW, org: "acme", cause: auth.ErrWrongEndpoint,
			setup: func(f *fixture, tok vcd.APIToken) {
				_, _ = f.dir.UpdateAPIToken(context.Background(), tok.ID, func(t *vcd.APIToken) error { t.Type = vcd.TokenExtension; return nil })
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*auth.Config)
			if tc.cfg != nil {
				opts = append(opts, tc.cfg)
			}
			f := mustOpenFixture(t, opts...)
			tok, secret := f.mustCreateToken(t, tc.user, tc.pw)
			if tc.setup != nil {
				tc.setup(f, tok)
			}
			if tc.secret != nil {
				secret = tc.secret(secret)
			}
			_, err := f.a.ExchangeAPIToken(context.Background(), tc.org, tc.provider, secret, "")
			wantUnauthorized(t, err, auth.ErrInvalidGrant)
			if !errors.Is(err, tc.cause) {
				t.Errorf("err = %v; want cause %v", err, tc.cause)
			}
		})
	}
}

func TestRegisterClient_ExchangeJWTBearer(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	login := f.mustLogin(t, "alice@acme", alicePW)
	client, err := f.a.RegisterClient(ctx, login.Principal, "ci-pipeline")
	if err != nil {
		t.Fatalf("RegisterClient = %v", err)
	}
	if client.SecretHash != "" || client.UserID != aliceID || client.OrgID != acmeID || client.Type != vcd.TokenRefresh {
		t.Fatalf("registered client = %+v; want alice's REFRESH token without a secret", client)
	}

	// Another user of the same org may not take the registration.
	f.dir.putUser(vcd.User{ID: bobID, OrgID: acmeID, Name: "bob", Role: vcd.RoleVAppUser, Enabled: true, PasswordHash: testHash(t, bobPW)})
	bob := f.mustLogin(t, "bob@acme", bobPW)
	_, _, err = f.a.ExchangeJWTBearer(ctx, "acme", false, bob.JWT, client.ID, "")
	wantUnauthorized(t, err, auth.ErrInvalidGrant)

	refusals := []struct {
		name      string
		org       string
		provider  bool
		assertion string
		clientID  string
	}{
		{name: "ErrBadAssertion", org: "acme", assertion: login.JWT + "x", clientID: client.ID},
		{name: "ErrOtherOrgPath", org: "other", assertion: login.JWT, clientID: client.ID},
		{name: "ErrProviderPath", provider: true, assertion: login.JWT, clientID: client.ID},
		{name: "ErrUnknownClient", org: "acme", assertion: login.JWT, clientID: vcd.NewUUID()},
		{name: "ErrMalformedClient", org: "acme", assertion: login.JWT, clientID: "client"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.a.ExchangeJWTBearer(ctx, tc.org, tc.provider, tc.assertion, tc.clientID, "")
			wantUnauthorized(t, err, auth.ErrInvalidGrant)
		})
	}

	res, secret, err := f.a.ExchangeJWTBearer(ctx, "acme", false, login.JWT, vcd.URN(vcd.KindToken, client.ID), "")
	if err != nil {
		t.Fatalf("ExchangeJWTBearer = %v", err)
	}
	if !alnum32.MatchString(secret) {
		t.Errorf("secret = %q; want 32 alphanumeric characters", secret)
	}
	if stored, _ := f.dir.APIToken(ctx, client.ID); stored.SecretHash != sha256Hex(secret) {
		t.Errorf("stored SecretHash = %q; want the secret's SHA-256", stored.SecretHash)
	}
	if p, err := f.a.Authenticate(ctx, res.JWT); err != nil || p.UserID != aliceID || p.APITokenID != client.ID {
		t.Errorf("Authenticate(new session) = %+v, %v; want alice with APITokenID %s", p, err, client.ID)
	}

	// Once only.
	_, _, err = f.a.ExchangeJWTBearer(ctx, "acme", false, login.JWT, client.ID, "")
	wantUnauthorized(t, err, auth.ErrInvalidGrant)

	// The secret works as a refresh token.
	if _, err := f.a.ExchangeAPIToken(ctx, "acme", false, secret, ""); err != nil {
		t.Errorf("ExchangeAPIToken(secret from jwt-bearer) = %v", err)
	}

	// A session from an API token may not register clients.
	if _, err := f.a.RegisterClient(ctx, res.Principal, "x"); vcd.CodeOf(err) != vcd.CodeForbidden {
		t.Errorf("RegisterClient from an API-token session = %v; want forbidden", err)
	}
}

func TestExchangeJWTBearer_ConcurrentOnceOnly(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	login := f.mustLogin(t, "alice@acme", alicePW)
	client, err := f.a.RegisterClient(ctx, login.Principal, "ci")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = f.a.ExchangeJWTBearer(ctx, "acme", false, login.JWT, client.ID, "")
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, auth.ErrInvalidGrant) {
			t.Errorf("err = %v; want ErrInvalidGrant", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent exchanges succeeded; want 1", ok, n)
	}
}
