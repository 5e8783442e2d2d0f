package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldmq/herald/internal/vcd"
)

// tokenVersion is the JWT "version" claim VCD sets.
const tokenVersion = "vcloud_1.0"

// maxTokenLen bounds the JWTs the Authenticator parses; herald's are about 900 bytes.
const maxTokenLen = 8 << 10

// maxKIDLen bounds the kid header.
const maxKIDLen = 128

// claims are the claims of a session JWT (VCD-COMPAT §2.5): sub, iss, exp, iat, jti from
// the registered claims (the others stay empty and are omitted), and herald's version,
// userId, orgId and sessionId. Roles are not in the token on purpose.
type claims struct {
	jwt.RegisteredClaims
	Version   string `json:"version"`
	UserID    string `json:"userId"`
	OrgID     string `json:"orgId"`
	SessionID string `json:"sessionId"`
	// Service JWTs only (ServiceLogin): urn:vcloud:token:<account id> and the account's
	// secret generation; such tokens carry no userId or sessionId.
	ServiceAccountID string `json:"serviceAccountId,omitempty"`
	SecretGeneration int    `json:"secretGeneration,omitempty"`
}

// issuer returns the iss claim of a session in org: <orgUUID>@<siteUUID>.
func (a *Authenticator) issuer(orgID string) string { return orgID + "@" + a.site.ID }

// newJTI returns 32 random lowercase hex characters.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// signToken returns the signed JWT of session s for user name sub.
func (a *Authenticator) signToken(ctx context.Context, s vcd.Session, sub string) (string, error) {
	key, err := a.signer(ctx, s.Created)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Issuer:    a.issuer(s.OrgID),
			ExpiresAt: jwt.NewNumericDate(s.Expires),
			IssuedAt:  jwt.NewNumericDate(s.Created),
			ID:        s.JTI,
		},
		Version:   tokenVersion,
		UserID:    vcd.URN(vcd.KindUser, s.UserID),
		OrgID:     vcd.URN(vcd.KindOrg, s.OrgID),
		SessionID: vcd.URN(vcd.KindSession, s.ID),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = key.kid
	delete(t.Header, "typ") // VCD's header is alg and kid only
	signed, err := t.SignedString(key.priv)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed, nil
}

// tokenRef is what a verified JWT names: bare UUIDs and the jti.
type tokenRef struct {
	sessionID, userID, orgID string
	jti, iss, sub            string
	expires                  time.Time
	// serviceID is set, and the session fields are empty, for a service JWT.
	serviceID  string
	generation int
}

// parseToken verifies a JWT's signature (RS256 only, by a known unexpired key), its
// expiry and the shape of its claims, and returns what it names. It does not consult
// sessions. Client errors are *vcd.Error (CodeUnauthorized) wrapping a sentinel; a store
// failure while reloading keys is returned as is.
func (a *Authenticator) parseToken(ctx context.Context, token string) (tokenRef, error) {
	if token == "" || len(token) > maxTokenLen {
		return tokenRef{}, unauthorized(ErrMalformed, "parse token: length %d", len(token))
	}
	now := a.now()
	h := sha256.Sum256([]byte(token))
	if e, ok := a.verified.get(h); ok {
		return a.recheck(ctx, h, e, now)
	}
	var storeErr error
	var usedKID string
	keyFunc := func(t *jwt.Token) (any, error) {
		// WithValidMethods already refused any other alg; this guards against a change there.
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("alg %v: %w", t.Header["alg"], ErrBadSignature)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" || len(kid) > maxKIDLen {
			return nil, fmt.Errorf("kid missing or too long: %w", ErrUnknownKey)
		}
		k, err := a.verifyKey(ctx, kid, now)
		if err != nil {
			if !errors.Is(err, ErrUnknownKey) {
				storeErr = err
			}
			return nil, err
		}
		usedKID = kid
		return &k.priv.PublicKey, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, keyFunc,
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if storeErr != nil {
		return tokenRef{}, storeErr
	}
	if err != nil {
		var cause error
		switch {
		case errors.Is(err, ErrUnknownKey):
			cause = ErrUnknownKey
		case errors.Is(err, ErrBadSignature), errors.Is(err, jwt.ErrTokenSignatureInvalid):
			cause = ErrBadSignature
		case errors.Is(err, jwt.ErrTokenExpired):
			cause = ErrTokenExpired
		default:
			cause = ErrMalformed
		}
		return tokenRef{}, unauthorized(cause, "parse token (%v)", err)
	}
	ref := tokenRef{jti: c.ID, iss: c.Issuer, sub: c.Subject, expires: c.ExpiresAt.Time}
	if c.ServiceAccountID != "" {
		var ok bool
		ref.serviceID, ok = vcd.ParseID(vcd.KindToken, c.ServiceAccountID)
		ref.generation = c.SecretGeneration
		if !ok || c.UserID != "" || c.SessionID != "" || c.Version != tokenVersion || !isLowerHex(c.ID, 32) {
			return tokenRef{}, unauthorized(ErrMalformed, "parse token: bad service claims")
		}
		a.verified.put(h, verifiedToken{ref: ref, kid: usedKID})
		return ref, nil
	}
	var ok1, ok2, ok3 bool
	ref.sessionID, ok1 = vcd.ParseID(vcd.KindSession, c.SessionID)
	ref.userID, ok2 = vcd.ParseID(vcd.KindUser, c.UserID)
	ref.orgID, ok3 = vcd.ParseID(vcd.KindOrg, c.OrgID)
	if !ok1 || !ok2 || !ok3 || c.Version != tokenVersion || !isLowerHex(c.ID, 32) {
		return tokenRef{}, unauthorized(ErrMalformed, "parse token: bad claims")
	}
	a.verified.put(h, verifiedToken{ref: ref, kid: usedKID})
	return ref, nil
}

// recheck accepts a token parseToken verified before (h is its hash, e what it
// named) if it has not expired and its signing key is still valid at now, exactly
// as the full verification would decide.
func (a *Authenticator) recheck(ctx context.Context, h [sha256.Size]byte, e verifiedToken, now time.Time) (tokenRef, error) {
	// jwt's rule: valid while now is before exp.
	if !now.Before(e.ref.expires) {
		a.verified.forget(h)
		return tokenRef{}, unauthorized(ErrTokenExpired, "parse token (token is expired)")
	}
	if _, err := a.verifyKey(ctx, e.kid, now); err != nil {
		if !errors.Is(err, ErrUnknownKey) {
			return tokenRef{}, err
		}
		a.verified.forget(h)
		return tokenRef{}, unauthorized(ErrUnknownKey, "parse token (%v)", err)
	}
	return e.ref, nil
}

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
