package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// touchInterval is how often at most Touch writes a session's LastActive.
const touchInterval = time.Minute

// maxTouched bounds the per-node map of last LastActive writes.
const maxTouched = 10000

// legacyTokenLen is the length of an x-vcloud-authorization token in hex characters.
const legacyTokenLen = 32

// openSession creates a session for u in org, signs its JWT and, when legacy is true,
// binds a new legacy token to it.
func (a *Authenticator) openSession(ctx context.Context, u vcd.User, org vcd.Org, apiTokenID, clientIP string, legacy bool) (LoginResult, error) {
	now := a.now()
	jti, err := newJTI()
	if err != nil {
		return LoginResult{}, err
	}
	// The JWT carries whole seconds; the session keeps the same instants.
	created := now.Truncate(time.Second)
	s := vcd.Session{
		ID:         vcd.NewUUID(),
		UserID:     u.ID,
		OrgID:      org.ID,
		JTI:        jti,
		APITokenID: apiTokenID,
		ClientIP:   clientIP,
		Created:    created,
		Expires:    created.Add(a.cfg.TokenLifetime),
		LastActive: now,
	}
	var res LoginResult
	if legacy {
		var b [legacyTokenLen / 2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return LoginResult{}, fmt.Errorf("generate legacy token: %w", err)
		}
		res.LegacyToken = hex.EncodeToString(b[:])
		s.LegacyTokenHash = sha256Hex(res.LegacyToken)
	}
	// Sign first so that no session exists without a token when signing fails.
	if res.JWT, err = a.signToken(ctx, s, u.Name); err != nil {
		return LoginResult{}, err
	}
	if err := a.dir.CreateSession(ctx, s); err != nil {
		return LoginResult{}, storeError(err, "create session")
	}
	res.Session = s
	res.Principal = a.principal(s, u, org)
	a.logger.Debug("session opened", "session_id", s.ID, "jti", s.JTI, "user", u.Name, "org", org.Name, "api_token_id", apiTokenID)
	return res, nil
}

// principal builds the principal of session s for user u of org.
func (a *Authenticator) principal(s vcd.Session, u vcd.User, org vcd.Org) vcd.Principal {
	exp := s.Expires
	if idle := s.LastActive.Add(a.cfg.IdleTimeout); idle.Before(exp) {
		exp = idle
	}
	return vcd.Principal{
		Kind:           vcd.PrincipalUser,
		UserID:         u.ID,
		UserName:       u.Name,
		OrgID:          org.ID,
		OrgName:        org.Name,
		Role:           u.Role,
		Level:          vcd.LevelOf(org.ID, u.Role),
		OperatingOrgID: s.OperatingOrgID,
		SessionID:      s.ID,
		JTI:            s.JTI,
		APITokenID:     s.APITokenID,
		ExpiresAt:      exp,
	}
}

// Authenticate verifies a session JWT (signature, expiry, revocation, idle limit) and
// resolves its principal from the current directory (user and org enabled, role). It
// also accepts service JWTs (ServiceLogin), resolved against the service account's
// current record: refused once the account is deleted or disabled (ErrUnknownUser,
// ErrDisabled) or its secret rotated (ErrSecretRotated).
//
// Every client-caused failure is a *vcd.Error with vcd.CodeUnauthorized whose cause
// matches one of ErrMalformed, ErrBadSignature, ErrUnknownKey, ErrTokenExpired,
// ErrUnknownSession, ErrRevoked, ErrIdle, ErrUnknownUser or ErrDisabled. A failure of the
// Directory keeps its own code. Authenticate does not record activity: see Touch.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (vcd.Principal, error) {
	ref, err := a.parseToken(ctx, token)
	if err != nil {
		return vcd.Principal{}, err
	}
	if ref.serviceID != "" {
		return a.resolveService(ctx, ref)
	}
	s, err := a.dir.Session(ctx, ref.sessionID)
	if isNotFound(err) {
		return vcd.Principal{}, unauthorized(ErrUnknownSession, "session %s, jti %s", ref.sessionID, ref.jti)
	}
	if err != nil {
		return vcd.Principal{}, storeError(err, "read session")
	}
	if subtle.ConstantTimeCompare([]byte(s.JTI), []byte(ref.jti)) != 1 ||
		s.UserID != ref.userID || s.OrgID != ref.orgID || ref.iss != a.issuer(s.OrgID) {
		return vcd.Principal{}, unauthorized(ErrUnknownSession, "session %s does not match token jti %s", s.ID, ref.jti)
	}
	return a.resolve(ctx, s)
}

// AuthenticateLegacy resolves an x-vcloud-authorization token like Authenticate. The
// token must be 32 hex characters; it is looked up by its SHA-256.
func (a *Authenticator) AuthenticateLegacy(ctx context.Context, token string) (vcd.Principal, error) {
	if !isHex(token, legacyTokenLen) {
		return vcd.Principal{}, unauthorized(ErrMalformed, "legacy token")
	}
	s, err := a.dir.SessionByLegacyToken(ctx, sha256Hex(token))
	if isNotFound(err) {
		return vcd.Principal{}, unauthorized(ErrUnknownSession, "legacy token")
	}
	if err != nil {
		return vcd.Principal{}, storeError(err, "read session by legacy token")
	}
	return a.resolve(ctx, s)
}

// resolve checks that session s is alive and its user and org enabled, and returns its
// principal.
func (a *Authenticator) resolve(ctx context.Context, s vcd.Session) (vcd.Principal, error) {
	now := a.now()
	switch {
	case s.Revoked:
		return vcd.Principal{}, unauthorized(ErrRevoked, "session %s, jti %s", s.ID, s.JTI)
	case !now.Before(s.Expires):
		return vcd.Principal{}, unauthorized(ErrTokenExpired, "session %s, jti %s", s.ID, s.JTI)
	case now.Sub(s.LastActive) > a.cfg.IdleTimeout:
		return vcd.Principal{}, unauthorized(ErrIdle, "session %s, jti %s", s.ID, s.JTI)
	}
	u, org, err := a.userAndOrg(ctx, s.UserID, s.OrgID)
	if err != nil {
		return vcd.Principal{}, err
	}
	return a.principal(s, u, org), nil
}

// userAndOrg reads a user and its org and checks that both exist and are enabled.
func (a *Authenticator) userAndOrg(ctx context.Context, userID, orgID string) (vcd.User, vcd.Org, error) {
	u, err := a.dir.User(ctx, userID)
	if isNotFound(err) {
		return vcd.User{}, vcd.Org{}, unauthorized(ErrUnknownUser, "user %s", userID)
	}
	if err != nil {
		return vcd.User{}, vcd.Org{}, storeError(err, "read user")
	}
	if u.OrgID != orgID {
		return vcd.User{}, vcd.Org{}, unauthorized(ErrUnknownUser, "user %s is not in org %s", userID, orgID)
	}
	org, err := a.dir.Org(ctx, orgID)
	if isNotFound(err) {
		return vcd.User{}, vcd.Org{}, unauthorized(ErrUnknownUser, "org %s", orgID)
	}
	if err != nil {
		return vcd.User{}, vcd.Org{}, storeError(err, "read org")
	}
	if !u.Enabled || !org.Enabled {
		return vcd.User{}, vcd.Org{}, unauthorized(ErrDisabled, "user %s, org %s", userID, orgID)
	}
	return u, org, nil
}

// errSkip aborts an update that has nothing to do.
var errSkip = errors.New("nothing to update")

// Touch records activity on p's session, writing at most once a minute per session.
// The api calls it after each authenticated request and the broker while a connection
// that used the token is open. Failures are logged, not returned: activity is best effort.
func (a *Authenticator) Touch(ctx context.Context, p vcd.Principal) {
	if p.SessionID == "" {
		return
	}
	now := a.now()
	a.touchMu.Lock()
	last, ok := a.touched[p.SessionID]
	if ok && now.Sub(last) < touchInterval && !now.Before(last) {
		a.touchMu.Unlock()
		return
	}
	if len(a.touched) >= maxTouched {
		for id, t := range a.touched {
			if now.Sub(t) >= touchInterval {
				delete(a.touched, id)
			}
		}
		if len(a.touched) >= maxTouched {
			clear(a.touched) // at worst some sessions get an extra write
		}
	}
	a.touched[p.SessionID] = now
	a.touchMu.Unlock()

	_, err := a.dir.UpdateSession(ctx, p.SessionID, func(s *vcd.Session) error {
		if s.Revoked || now.Sub(s.LastActive) < touchInterval {
			return errSkip
		}
		s.LastActive = now
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		a.logger.Warn("session activity not recorded", "session_id", p.SessionID, "jti", p.JTI, "err", err)
	}
}

// Logout revokes a session at once: its JWT and legacy token are refused from then on.
// It is idempotent; an unknown session is an error with vcd.CodeNotFound. An empty
// sessionID (a service JWT has no session) is vcd.CodeForbidden.
func (a *Authenticator) Logout(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return vcd.Errorf(vcd.CodeForbidden, "This token has no session to log out.")
	}
	s, err := a.dir.UpdateSession(ctx, sessionID, func(s *vcd.Session) error {
		if s.Revoked {
			return errSkip
		}
		s.Revoked = true
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		return fmt.Errorf("logout: %w", err)
	}
	a.touchMu.Lock()
	delete(a.touched, sessionID)
	a.touchMu.Unlock()
	a.logger.Debug("session revoked", "session_id", sessionID, "jti", s.JTI)
	return nil
}

// sha256Hex returns the SHA-256 of s in lowercase hex.
func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// isHex reports whether s is n hex digits of either case.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
