package auth

import (
	"errors"
	"fmt"

	"github.com/heraldmq/herald/internal/vcd"
)

// Causes of authentication failures. Every failure the Authenticator reports to a client
// is a *vcd.Error with vcd.CodeUnauthorized (or vcd.CodeForbidden where noted) whose
// message reveals nothing; the cause, for logs and events, is one of these sentinels,
// reachable with errors.Is.
var (
	// ErrMalformed: the token is not a well-formed herald JWT or legacy token.
	ErrMalformed = errors.New("malformed token")
	// ErrBadSignature: the JWT's signature does not verify, or its alg is not RS256.
	ErrBadSignature = errors.New("bad token signature")
	// ErrUnknownKey: the JWT names a signing key (kid) that is unknown or expired.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrTokenExpired: the JWT or its session is past its expiry.
	ErrTokenExpired = errors.New("token expired")
	// ErrRevoked: the session was logged out.
	ErrRevoked = errors.New("session revoked")
	// ErrIdle: the session saw no activity within the idle timeout.
	ErrIdle = errors.New("session idle")
	// ErrUnknownSession: the token names no session, or a session it does not match.
	ErrUnknownSession = errors.New("unknown session")
	// ErrUnknownUser: the user or org does not exist (any more).
	ErrUnknownUser = errors.New("unknown user or org")
	// ErrDisabled: the user or its org is disabled.
	ErrDisabled = errors.New("user or org disabled")

	// ErrBadCredentials: a login named an unknown user or org, or gave a wrong password.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrLocked: the user is locked out; even the right password fails.
	ErrLocked = errors.New("user locked")
	// ErrLockedNow: this failed login locked the user out. Errors with this cause also
	// match ErrBadCredentials.
	ErrLockedNow = errors.New("user locked by this failure")
	// ErrWrongEndpoint: a System user at the tenant endpoint or a tenant user at the
	// provider endpoint.
	ErrWrongEndpoint = errors.New("wrong login endpoint")

	// ErrInvalidGrant: an OAuth token exchange failed (RFC 6749 §5.2 invalid_grant).
	// Every error of ExchangeAPIToken and ExchangeJWTBearer that is not a store failure
	// matches it.
	ErrInvalidGrant = errors.New("invalid grant")
	// ErrTokenSession: the principal's session was opened with an API token, so it may
	// not create API tokens (vcd.CodeForbidden).
	ErrTokenSession = errors.New("session opened with an API token")
)

// Client-visible messages.
const (
	msgLoginFailed  = "Authentication failed."
	msgUnauthorized = "Authentication required: the token is missing, invalid, expired or revoked."
	msgInvalidGrant = "The grant is invalid, expired or revoked."
)

// LoginError is the cause of a failed login: it tells the caller which user and org
// were involved (empty when unknown) so that it can raise login-failure and lockout
// events. Its Error text names only the cause. Login wraps it in a *vcd.Error with
// vcd.CodeUnauthorized and the message "Authentication failed.".
type LoginError struct {
	UserID string // bare UUID; empty when no such user
	OrgID  string // bare UUID; empty when no such org
	Cause  error  // wraps ErrBadCredentials, ErrLocked, ErrLockedNow, ErrDisabled or ErrWrongEndpoint
}

// Error names the cause only: no user name, password or id.
func (e *LoginError) Error() string { return "login failed: " + e.Cause.Error() }

// Unwrap returns the cause.
func (e *LoginError) Unwrap() error { return e.Cause }

// loginFailed returns the one error every failed login gets.
func loginFailed(userID, orgID string, cause error) error {
	return vcd.Wrap(vcd.CodeUnauthorized, &LoginError{UserID: userID, OrgID: orgID, Cause: cause}, msgLoginFailed)
}

// unauthorized returns the error of a failed token check with cause wrapped.
func unauthorized(cause error, format string, args ...any) error {
	return vcd.Wrap(vcd.CodeUnauthorized, fmt.Errorf(format+": %w", append(args, cause)...), msgUnauthorized)
}

// invalidGrant wraps err (which may already be a *vcd.Error) as an invalid grant.
func invalidGrant(cause error, what string) error {
	return vcd.Wrap(vcd.CodeUnauthorized, fmt.Errorf("%s: %w: %w", what, ErrInvalidGrant, cause), msgInvalidGrant)
}

// storeError wraps a failure of the Directory that is not a missing entity; it keeps the
// store's code (for example vcd.CodeUnavailable), since it is no client's fault.
func storeError(err error, what string) error {
	return fmt.Errorf("%s: %w", what, err)
}

func isNotFound(err error) bool { return vcd.CodeOf(err) == vcd.CodeNotFound }
