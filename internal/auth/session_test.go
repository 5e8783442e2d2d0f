package auth_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// decodeSegment decodes one base64url segment of a JWT as JSON.
func decodeSegment(tb testing.TB, token string, i int) map[string]any {
	tb.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func mustParseKey(tb testing.TB, file string) *rsa.PrivateKey {
	tb.Helper()
	block, _ := pem.Decode([]byte(mustReadFile(tb, file)))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// mustSign signs claims with method and key under kid.
func mustSign(tb testing.TB, method jwt.SigningMethod, key any, kid string, claims map[string]any) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestLogin_TokenShape(t *testing.T) {
	f := mustOpenFixture(t)
	res := f.mustLogin(t, "alice@acme", alicePW)
	header := decodeSegment(t, res.JWT, 0)
	if diff := cmp.Diff(map[string]any{"alg": "RS256", "kid": testKID}, header); diff != "" {
		t.Errorf("JWT header mismatch (-want +got):\n%s", diff)
	}
	payload := decodeSegment(t, res.JWT, 1)
	want := map[string]any{
		"sub":       "alice",
		"iss":       acmeID + "@" + testSiteID,
		"exp":       float64(t0.Add(24 * time.Hour).Unix()),
		"iat":       float64(t0.Unix()),
		"version":   "vcloud_1.0",
		"jti":       res.Session.JTI,
		"userId":    "urn:vcloud:user:" + aliceID,
		"orgId":     "urn:vcloud:org:" + acmeID,
		"sessionId": "urn:vcloud:session:" + res.Session.ID,
	}
	if diff := cmp.Diff(want, payload); diff != "" {
		t.Errorf("JWT claims mismatch (-want +got):\n%s", diff)
	}
	if jti, _ := payload["jti"].(string); !isLowerHex(jti, 32) {
		t.Errorf("jti = %q; want 32 lowercase hex characters", jti)
	}
}

func TestAuthenticate(t *testing.T) {
	f := mustOpenFixture(t)
	res := f.mustLogin(t, "alice@acme", alicePW)
	f.clock.Advance(10 * time.Minute)
	p, err := f.a.Authenticate(context.Background(), res.JWT)
	if err != nil {
		t.Fatalf("Authenticate = %v", err)
	}
	if diff := cmp.Diff(res.Principal, p); diff != "" {
		t.Errorf("principal mismatch (-login +authenticate):\n%s", diff)
	}
}

func TestAuthenticate_Lifetime(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*auth.Config)
		advance time.Duration
		touch   bool
		cause   error // nil: accepted
	}{
		{name: "OK just before idle", advance: 30 * time.Minute},
		{name: "ErrIdle", advance: 30*time.Minute + time.Second, cause: auth.ErrIdle},
		{name: "OK touched", advance: 50 * time.Minute, touch: true},
		{name: "ErrTokenExpired", cfg: func(c *auth.Config) { c.TokenLifetime = time.Hour; c.IdleTimeout = 2 * time.Hour },
			advance: time.Hour, cause: auth.ErrTokenExpired},
		{name: "OK before exp", cfg: func(c *auth.Config) { c.TokenLifetime = time.Hour; c.IdleTimeout = 2 * time.Hour },
			advance: time.Hour - time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*auth.Config)
			if tc.cfg != nil {
				opts = append(opts, tc.cfg)
			}
			f := mustOpenFixture(t, opts...)
			res := f.mustLogin(t, "alice@acme", alicePW)
			if tc.touch {
				f.clock.Advance(20 * time.Minute)
				f.a.Touch(context.Background(), res.Principal)
				f.clock.Advance(tc.advance - 20*time.Minute)
			} else {
				f.clock.Advance(tc.advance)
			}
			p, err := f.a.Authenticate(context.Background(), res.JWT)
			if tc.cause == nil {
				if err != nil {
					t.Fatalf("Authenticate = %v; want success", err)
				}
				s := f.dir.session(res.Session.ID)
				want := s.LastActive.Add(f.cfg.IdleTimeout)
				if s.Expires.Before(want) {
					want = s.Expires
				}
				if !p.ExpiresAt.Equal(want) {
					t.Errorf("ExpiresAt = %v; want %v", p.ExpiresAt, want)
				}
				return
			}
			wantUnauthorized(t, err, tc.cause)
		})
	}
}

func TestTouch_AtMostOncePerMinute(t *testing.T) {
	f := mustOpenFixture(t)
	res := f.mustLogin(t, "alice@acme", alicePW)
	ctx := context.Background()
	f.clock.Advance(2 * time.Minute)
	for range 3 {
		f.a.Touch(ctx, res.Principal)
		f.clock.Advance(10 * time.Second)
	}
	if f.dir.sessionUpdates != 1 {
		t.Fatalf("%d session writes after 3 touches within a minute; want 1", f.dir.sessionUpdates)
	}
	if got, want := f.dir.session(res.Session.ID).LastActive, t0.Add(2*time.Minute); !got.Equal(want) {
		t.Errorf("LastActive = %v; want %v", got, want)
	}
	f.clock.Advance(time.Minute)
	f.a.Touch(ctx, res.Principal)
	if f.dir.sessionUpdates != 2 {
		t.Errorf("%d session writes after a touch a minute later; want 2", f.dir.sessionUpdates)
	}
	f.a.Touch(ctx, vcd.Principal{}) // no session: nothing to do
	if f.dir.sessionUpdates != 2 {
		t.Errorf("Touch without a session wrote")
	}
}

func TestLogout(t *testing.T) {
	f := mustOpenFixture(t)
	res := f.mustLogin(t, "alice@acme", alicePW)
	other := f.mustLogin(t, "alice@acme", alicePW)
	ctx := context.Background()
	if err := f.a.Logout(ctx, res.Session.ID); err != nil {
		t.Fatalf("Logout = %v", err)
	}
	_, err := f.a.Authenticate(ctx, res.JWT)
	wantUnauthorized(t, err, auth.ErrRevoked)
	if err := f.a.Logout(ctx, res.Session.ID); err != nil {
		t.Errorf("second Logout = %v; want nil (idempotent)", err)
	}
	if _, err := f.a.Authenticate(ctx, other.JWT); err != nil {
		t.Errorf("Authenticate(other session) = %v; want success", err)
	}
	if err := f.a.Logout(ctx, vcd.NewUUID()); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("Logout(unknown) = %v; want not found", err)
	}
}

// TestAuthenticate_DirectoryChanges checks that the principal is resolved from the
// directory at each call, not from the token.
func TestAuthenticate_DirectoryChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fixture)
		cause  error
		want   func(p *vcd.Principal)
	}{
		{name: "ErrUserDisabled", cause: auth.ErrDisabled, change: func(f *fixture) {
			u := f.dir.user(aliceID)
			u.Enabled = false
			f.dir.putUser(u)
		}},
		{name: "ErrOrgDisabled", cause: auth.ErrDisabled, change: func(f *fixture) {
			f.dir.putOrg(vcd.Org{ID: acmeID, Name: "acme", Enabled: false})
		}},
		{name: "ErrUserDeleted", cause: auth.ErrUnknownUser, change: func(f *fixture) {
			f.dir.mu.Lock()
			delete(f.dir.users, aliceID)
			f.dir.mu.Unlock()
		}},
		{name: "ErrSessionDeleted", cause: auth.ErrUnknownSession, change: func(f *fixture) {
			f.dir.mu.Lock()
			clear(f.dir.sessions)
			f.dir.mu.Unlock()
		}},
		{name: "role changed", change: func(f *fixture) {
			u := f.dir.user(aliceID)
			u.Role = vcd.RoleOrgAdmin
			f.dir.putUser(u)
		}, want: func(p *vcd.Principal) { p.Role, p.Level = vcd.RoleOrgAdmin, vcd.LevelOrgAdmin }},
		{name: "unknown role has no rights", change: func(f *fixture) {
			u := f.dir.user(aliceID)
			u.Role = vcd.RoleSystemAdmin // not a tenant role
			f.dir.putUser(u)
		}, want: func(p *vcd.Principal) { p.Role, p.Level = vcd.RoleSystemAdmin, vcd.LevelNone }},
		{name: "user renamed", change: func(f *fixture) {
			u := f.dir.user(aliceID)
			u.Name = "alice2"
			f.dir.putUser(u)
		}, want: func(p *vcd.Principal) { p.UserName = "alice2" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpenFixture(t)
			res := f.mustLogin(t, "alice@acme", alicePW)
			tc.change(f)
			p, err := f.a.Authenticate(context.Background(), res.JWT)
			if tc.cause != nil {
				wantUnauthorized(t, err, tc.cause)
				return
			}
			if err != nil {
				t.Fatalf("Authenticate = %v", err)
			}
			want := res.Principal
			tc.want(&want)
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("principal mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthenticate_Forged checks tokens that were altered or never issued by herald.
func TestAuthenticate_Forged(t *testing.T) {
	f := mustOpenFixture(t)
	res := f.mustLogin(t, "alice@acme", alicePW)
	claims := decodeSegment(t, res.JWT, 1)
	key := mustParseKey(t, "testdata/signing-key.pem")
	otherKey := mustParseKey(t, "testdata/other-key.pem")
	with := func(k string, v any) map[string]any {
		c := maps.Clone(claims)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	parts := strings.Split(res.JWT, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	pubPEM, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	bobClaims := with("userId", "urn:vcloud:user:"+bobID)
	bobPayload, _ := json.Marshal(bobClaims)

	tests := []struct {
		name  string
		token string
		cause error
	}{
		{name: "ErrEmpty", token: "", cause: auth.ErrMalformed},
		{name: "ErrGarbage", token: "not a token", cause: auth.ErrMalformed},
		{name: "ErrTooLong", token: strings.Repeat("a", 10000), cause: auth.ErrMalformed},
		{name: "ErrSignatureAltered", token: parts[0] + "." + parts[1] + "." + flip(parts[2], 10), cause: auth.ErrBadSignature},
		// 342 base64 characters less one leaves a length no base64 text can have, so the
		// token is always malformed (cutting 4 would, one time in 16, still decode).
		{name: "ErrSignatureTruncated", token: parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1], cause: auth.ErrMalformed},
		{name: "ErrSignatureMissing", token: parts[0] + "." + parts[1] + ".", cause: auth.ErrBadSignature},
		{name: "ErrPayloadAltered", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString(bobPayload) + "." + parts[2], cause: auth.ErrBadSignature},
		{name: "ErrHeaderAltered", token: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k-test","x":1}`)) + "." + parts[1] + "." + parts[2], cause: auth.ErrBadSignature},
		{name: "ErrAlgNone", token: mustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testKID, claims), cause: auth.ErrBadSignature},
		{name: "ErrAlgNoneUnsigned", token: strings.TrimSuffix(mustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testKID, claims), ".") + "." + parts[2], cause: auth.ErrBadSignature},
		{name: "ErrHS256WithPublicKey", token: mustSign(t, jwt.SigningMethodHS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPEM}), testKID, claims), cause: auth.ErrBadSignature},
		{name: "ErrRS512", token: mustSign(t, jwt.SigningMethodRS512, key, testKID, claims), cause: auth.ErrBadSignature},
		{name: "ErrPS256", token: mustSign(t, jwt.SigningMethodPS256, key, testKID, claims), cause: auth.ErrBadSignature},
		{name: "ErrOtherKeySameKID", token: mustSign(t, jwt.SigningMethodRS256, otherKey, testKID, claims), cause: auth.ErrBadSignature},
		{name: "ErrUnknownKID", token: mustSign(t, jwt.SigningMethodRS256, key, "k-unknown", claims), cause: auth.ErrUnknownKey},
		{name: "ErrNoKID", token: mustSign(t, jwt.SigningMethodRS256, key, "", claims), cause: auth.ErrUnknownKey},
		{name: "ErrNoExp", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("exp", nil)), cause: auth.ErrMalformed},
		{name: "ErrExpPast", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("exp", t0.Add(-time.Second).Unix())), cause: auth.ErrTokenExpired},
		{name: "ErrWrongVersion", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("version", "vcloud_2.0")), cause: auth.ErrMalformed},
		{name: "ErrBadSessionURN", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("sessionId", "urn:vcloud:user:"+res.Session.ID)), cause: auth.ErrMalformed},
		{name: "ErrOtherJTI", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("jti", strings.Repeat("ab", 16))), cause: auth.ErrUnknownSession},
		{name: "ErrOtherUser", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, bobClaims), cause: auth.ErrUnknownSession},
		{name: "ErrOtherIssuerOrg", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("iss", otherOrgID+"@"+testSiteID)), cause: auth.ErrUnknownSession},
		{name: "ErrOtherIssuerSite", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("iss", acmeID+"@"+vcd.NewUUID())), cause: auth.ErrUnknownSession},
		{name: "ErrUnknownSession", token: mustSign(t, jwt.SigningMethodRS256, key, testKID, with("sessionId", "urn:vcloud:session:"+vcd.NewUUID())), cause: auth.ErrUnknownSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.Authenticate(context.Background(), tc.token)
			wantUnauthorized(t, err, tc.cause)
			if got := vcd.MessageOf(err); strings.Contains(got, "sign") || strings.Contains(got, "kid") {
				t.Errorf("MessageOf(err) = %q reveals the cause", got)
			}
		})
	}
	// A re-signed copy of the real claims with the real key is, of course, accepted:
	// the cases above fail for the reason given, not by accident.
	if _, err := f.a.Authenticate(context.Background(), mustSign(t, jwt.SigningMethodRS256, key, testKID, claims)); err != nil {
		t.Errorf("Authenticate(re-signed original claims) = %v; want success", err)
	}
}

// TestAuthenticate_KeyFromOtherNode checks that a key added to the directory after Open
// (by another node) verifies once the token naming it arrives.
func TestAuthenticate_KeyFromOtherNode(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	res := f.mustLogin(t, "alice@acme", alicePW)
	claims := decodeSegment(t, res.JWT, 1)
	token := mustSign(t, jwt.SigningMethodRS256, mustParseKey(t, "testdata/other-key.pem"), "k-other", claims)

	_, err := f.a.Authenticate(ctx, token)
	wantUnauthorized(t, err, auth.ErrUnknownKey)

	if err := f.dir.AddSigningKey(ctx, vcd.SigningKey{KID: "k-other", PrivateKeyPEM: mustReadFile(t, "testdata/other-key.pem"),
		Created: t0, NotAfter: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second) // reloads for unknown kids are rate limited
	if _, err := f.a.Authenticate(ctx, token); err != nil {
		t.Fatalf("Authenticate(token of the other node's key) = %v; want success", err)
	}
	// Every unexpired key verifies.
	if _, err := f.a.Authenticate(ctx, res.JWT); err != nil {
		t.Errorf("Authenticate(token of the first key) = %v; want success", err)
	}
	f.clock.Advance(time.Hour) // k-other's NotAfter
	_, err = f.a.Authenticate(ctx, token)
	wantUnauthorized(t, err, auth.ErrUnknownKey)
}

func TestAuthenticate_ReloadRateLimited(t *testing.T) {
	f := mustOpenFixture(t)
	ctx := context.Background()
	res := f.mustLogin(t, "alice@acme", alicePW)
	claims := decodeSegment(t, res.JWT, 1)
	token := mustSign(t, jwt.SigningMethodRS256, mustParseKey(t, "testdata/other-key.pem"), "k-other", claims)
	_, err := f.a.Authenticate(ctx, token)
	wantUnauthorized(t, err, auth.ErrUnknownKey)
	if err := f.dir.AddSigningKey(ctx, vcd.SigningKey{KID: "k-other", PrivateKeyPEM: mustReadFile(t, "testdata/other-key.pem"),
		Created: t0, NotAfter: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Within the reload interval the new key is not looked up yet.
	_, err = f.a.Authenticate(ctx, token)
	wantUnauthorized(t, err, auth.ErrUnknownKey)
}

func TestAuthenticate_ExpiredKey(t *testing.T) {
	f := mustOpenFixture(t, func(c *auth.Config) { c.IdleTimeout = 2 * time.Hour })
	ctx := context.Background()
	res := f.mustLogin(t, "alice@acme", alicePW)
	if err := f.dir.AddSigningKey(ctx, vcd.SigningKey{KID: "k-short", PrivateKeyPEM: mustReadFile(t, "testdata/other-key.pem"),
		Created: t0.Add(-time.Hour), NotAfter: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	token := mustSign(t, jwt.SigningMethodRS256, mustParseKey(t, "testdata/other-key.pem"), "k-short", decodeSegment(t, res.JWT, 1))
	if _, err := f.a.Authenticate(ctx, token); err != nil {
		t.Fatalf("Authenticate before the key's NotAfter = %v", err)
	}
	f.clock.Advance(time.Minute)
	_, err := f.a.Authenticate(ctx, token)
	wantUnauthorized(t, err, auth.ErrUnknownKey)
	if _, err := f.a.Authenticate(ctx, res.JWT); err != nil {
		t.Errorf("Authenticate(token of the long-lived key) = %v", err)
	}
}

func TestOpen_KeyRotation(t *testing.T) {
	ctx := context.Background()
	// The fixture key was created an hour before t0.
	f := mustOpenFixture(t, func(c *auth.Config) { c.KeyLifetime = 2 * time.Hour; c.IdleTimeout = 48 * time.Hour })
	first := f.mustLogin(t, "alice@acme", alicePW)
	if kid := decodeSegment(t, first.JWT, 0)["kid"]; kid != testKID {
		t.Fatalf("kid = %v; want %s", kid, testKID)
	}
	f.clock.Advance(time.Hour) // the key is now KeyLifetime old
	if err := f.a.RotateKeys(ctx); err != nil {
		t.Fatalf("RotateKeys = %v", err)
	}
	keys, _ := f.dir.SigningKeys(ctx)
	if len(keys) != 2 {
		t.Fatalf("%d keys after rotation; want 2", len(keys))
	}
	nk := keys[1]
	if want := f.clock.Now().Add(2*time.Hour + 24*time.Hour); !nk.NotAfter.Equal(want) || !nk.Created.Equal(f.clock.Now()) {
		t.Errorf("new key Created %v NotAfter %v; want %v and %v", nk.Created, nk.NotAfter, f.clock.Now(), want)
	}
	if !strings.HasPrefix(nk.PrivateKeyPEM, "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("new key PEM starts %.30q; want PKCS#8", nk.PrivateKeyPEM)
	}
	block, _ := pem.Decode([]byte(nk.PrivateKeyPEM))
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil || k.(*rsa.PrivateKey).N.BitLen() < 2048 {
		t.Errorf("new key does not parse as a 2048-bit PKCS#8 RSA key: %v", err)
	}
	second := f.mustLogin(t, "alice@acme", alicePW)
	if kid := decodeSegment(t, second.JWT, 0)["kid"]; kid != nk.KID {
		t.Errorf("kid after rotation = %v; want the new key %s", kid, nk.KID)
	}
	for _, tok := range []string{first.JWT, second.JWT} {
		if _, err := f.a.Authenticate(ctx, tok); err != nil {
			t.Errorf("Authenticate after rotation = %v; want old and new keys to verify", err)
		}
	}
	// A second rotation, or another node's Open, adds nothing while the key is fresh.
	other := auth.New(f.cfg, f.dir, vcd.Site{ID: testSiteID}, nil)
	if err := other.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.a.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.dir.SigningKeys(ctx); len(keys) != 2 {
		t.Errorf("%d keys; want 2", len(keys))
	}
}

func TestOpen_CreatesKey(t *testing.T) {
	ctx := context.Background()
	dir := newFakeDir()
	// An expired key and one that does not parse are ignored.
	_ = dir.AddSigningKey(ctx, vcd.SigningKey{KID: "k-old", PrivateKeyPEM: mustReadFile(t, "testdata/signing-key.pem"), Created: t0.Add(-48 * time.Hour), NotAfter: t0.Add(-time.Hour)})
	_ = dir.AddSigningKey(ctx, vcd.SigningKey{KID: "k-bad", PrivateKeyPEM: "garbage", Created: t0, NotAfter: t0.Add(time.Hour * 1000)})
	clock := &testClock{t: t0}
	a := auth.New(auth.Config{Now: clock.Now}, dir, vcd.Site{ID: testSiteID}, nil)
	if err := a.Open(ctx); err != nil {
		t.Fatalf("Open = %v", err)
	}
	keys, _ := dir.SigningKeys(ctx)
	kids := slices.Collect(func(yield func(string) bool) {
		for _, k := range keys {
			if !yield(k.KID) {
				return
			}
		}
	})
	if len(keys) != 3 || slices.Contains([]string{"k-old", "k-bad"}, keys[2].KID) {
		t.Fatalf("keys after Open = %v; want one new key", kids)
	}
	if err := a.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := dir.SigningKeys(ctx); len(keys) != 3 {
		t.Errorf("second Open added a key: %d keys", len(keys))
	}
}

// TestAuthenticate_CachedTokenExpires: a token verified before (and so answered
// from the verified-token cache) is refused once it expires, at the same instant
// a first verification would refuse it.
func TestAuthenticate_CachedTokenExpires(t *testing.T) {
	f := mustOpenFixture(t, func(c *auth.Config) { c.TokenLifetime = time.Hour; c.IdleTimeout = 2 * time.Hour })
	ctx := context.Background()
	res := f.mustLogin(t, "alice@acme", alicePW)
	for i := range 3 { // the first verifies, the others hit the cache
		if _, err := f.a.Authenticate(ctx, res.JWT); err != nil {
			t.Fatalf("Authenticate #%d = %v", i, err)
		}
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.a.Authenticate(ctx, res.JWT); err != nil {
		t.Fatalf("Authenticate a second before exp = %v", err)
	}
	f.clock.Advance(time.Second)
	_, err := f.a.Authenticate(ctx, res.JWT)
	wantUnauthorized(t, err, auth.ErrTokenExpired)
	// A token differing from a cached one in its signature is verified, not matched.
	forged := res.JWT[:len(res.JWT)-2] + "AA"
	if forged == res.JWT {
		forged = res.JWT[:len(res.JWT)-2] + "BB"
	}
	f.clock.Advance(-time.Hour)
	if _, err := f.a.Authenticate(ctx, forged); err == nil {
		t.Error("a token with another signature was accepted")
	}
}
