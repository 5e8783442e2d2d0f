package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldmq/herald/internal/vcd"
)

// The fuzz fixture's session, named by fuzzToken.
const (
	fuzzSessionID = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"
	fuzzJTI       = "6f1c0e8b9a7d4c2e8f3a1b5d7c9e0f2a"
)

// fuzzToken returns the one token the fuzz fixture accepts: signed with the test key
// (RS256 signatures are deterministic, so the seeds under testdata/fuzz hold it too).
func fuzzToken(tb testing.TB) string {
	tb.Helper()
	return mustSign(tb, jwt.SigningMethodRS256, mustParseKey(tb, "testdata/signing-key.pem"), testKID, map[string]any{
		"sub":       "alice",
		"iss":       acmeID + "@" + testSiteID,
		"exp":       t0.Add(24 * time.Hour).Unix(),
		"iat":       t0.Unix(),
		"version":   "vcloud_1.0",
		"jti":       fuzzJTI,
		"userId":    vcd.URN(vcd.KindUser, aliceID),
		"orgId":     vcd.URN(vcd.KindOrg, acmeID),
		"sessionId": vcd.URN(vcd.KindSession, fuzzSessionID),
	})
}

// FuzzParseToken checks that Authenticate never panics and accepts exactly one token:
// the one herald signed. Any alteration of its header, payload or signature, and any
// other string, is refused.
func FuzzParseToken(f *testing.F) {
	fx := mustOpenFixture(f)
	valid := fuzzToken(f)
	if err := fx.dir.CreateSession(context.Background(), vcd.Session{ID: fuzzSessionID, UserID: aliceID, OrgID: acmeID,
		JTI: fuzzJTI, Created: t0, Expires: t0.Add(24 * time.Hour), LastActive: t0}); err != nil {
		f.Fatal(err)
	}
	if _, err := fx.a.Authenticate(context.Background(), valid); err != nil {
		f.Fatalf("Authenticate(valid) = %v", err)
	}
	f.Add(valid)
	f.Add(valid + "A")
	f.Add(valid[:len(valid)-1])
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := fx.a.Authenticate(context.Background(), token)
		if err == nil && token != valid {
			t.Fatalf("Authenticate(%q) accepted an altered token as %+v", token, p)
		}
		if err != nil && vcd.CodeOf(err) != vcd.CodeUnauthorized {
			t.Fatalf("Authenticate(%q) = %v; want unauthorized", token, err)
		}
	})
}
