package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// endpoint tells which users a login endpoint admits.
type endpoint int

const (
	endpointTenant   endpoint = iota // POST /cloudapi/1.0.0/sessions: tenant users
	endpointProvider                 // POST /cloudapi/1.0.0/sessions/provider: System users
	endpointLegacy                   // POST /api/sessions: both
)

// Login checks name ("user@org") and password at the tenant endpoint (provider false)
// or the provider endpoint (provider true) and opens a session. Every failure, whatever
// its cause, is vcd.CodeUnauthorized with the same message. A wrong password counts
// towards the user's lockout.
//
// The error of a failed login wraps a *LoginError (errors.As) whose cause matches
// ErrBadCredentials (also for an unknown user or org, then with ErrUnknownUser),
// ErrLocked, ErrLockedNow (with ErrBadCredentials), ErrDisabled or ErrWrongEndpoint. A
// failure of the Directory is returned with its own code instead.
func (a *Authenticator) Login(ctx context.Context, name, password string, provider bool, clientIP string) (LoginResult, error) {
	ep := endpointTenant
	if provider {
		ep = endpointProvider
	}
	return a.login(ctx, name, password, ep, clientIP)
}

// LegacyLogin is Login for POST /api/sessions: System and tenant users alike, and the
// result also carries a 32-hex-character legacy token bound to the session.
func (a *Authenticator) LegacyLogin(ctx context.Context, name, password, clientIP string) (LoginResult, error) {
	return a.login(ctx, name, password, endpointLegacy, clientIP)
}

func (a *Authenticator) login(ctx context.Context, name, password string, ep endpoint, clientIP string) (LoginResult, error) {
	u, org, err := a.checkCredentials(ctx, name, password, ep)
	if err != nil {
		var le *LoginError
		if errors.As(err, &le) {
			a.logger.Debug("login failed", "user_id", le.UserID, "org_id", le.OrgID, "cause", le.Cause, "client_ip", clientIP)
		}
		return LoginResult{}, err
	}
	return a.openSession(ctx, u, org, "", clientIP, ep == endpointLegacy)
}

// checkCredentials applies the login rules of VCD-COMPAT §2.1 and the lockout policy.
func (a *Authenticator) checkCredentials(ctx context.Context, name, password string, ep endpoint) (vcd.User, vcd.Org, error) {
	unknown := fmt.Errorf("%w: %w", ErrBadCredentials, ErrUnknownUser)
	userName, orgName, ok := vcd.SplitUserOrg(name)
	if !ok {
		a.dummyCheck(password)
		return vcd.User{}, vcd.Org{}, loginFailed("", "", unknown)
	}
	org, err := a.dir.OrgByName(ctx, orgName)
	if isNotFound(err) {
		a.dummyCheck(password)
		return vcd.User{}, vcd.Org{}, loginFailed("", "", unknown)
	}
	if err != nil {
		return vcd.User{}, vcd.Org{}, storeError(err, "login: read org")
	}
	u, err := a.dir.UserByName(ctx, org.ID, userName)
	if isNotFound(err) {
		a.dummyCheck(password)
		return vcd.User{}, vcd.Org{}, loginFailed("", org.ID, unknown)
	}
	if err != nil {
		return vcd.User{}, vcd.Org{}, storeError(err, "login: read user")
	}
	// The password is checked in every case, so that the time taken tells nothing.
	good := a.checkPassword(u.PasswordHash, password)
	now := a.now()
	if u.Locked(now) {
		return vcd.User{}, vcd.Org{}, loginFailed(u.ID, org.ID, ErrLocked)
	}
	if !good {
		lockedNow, err := a.recordFailure(ctx, u.ID, now)
		if err != nil {
			return vcd.User{}, vcd.Org{}, err
		}
		cause := ErrBadCredentials
		if lockedNow {
			cause = fmt.Errorf("%w: %w", ErrBadCredentials, ErrLockedNow)
			a.logger.Info("user locked out", "user_id", u.ID, "org_id", org.ID, "until", now.Add(a.cfg.LockoutDuration))
		}
		return vcd.User{}, vcd.Org{}, loginFailed(u.ID, org.ID, cause)
	}
	if !u.Enabled || !org.Enabled {
		return vcd.User{}, vcd.Org{}, loginFailed(u.ID, org.ID, ErrDisabled)
	}
	if (ep == endpointTenant && org.IsSystem()) || (ep == endpointProvider && !org.IsSystem()) {
		return vcd.User{}, vcd.Org{}, loginFailed(u.ID, org.ID, ErrWrongEndpoint)
	}
	if len(u.FailedLogins) > 0 {
		_, err := a.dir.UpdateUser(ctx, u.ID, func(u *vcd.User) error {
			if len(u.FailedLogins) == 0 {
				return errSkip
			}
			u.FailedLogins = nil
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) {
			return vcd.User{}, vcd.Org{}, storeError(err, "login: clear failed logins")
		}
	}
	return u, org, nil
}

// recordFailure appends now to the user's failed logins within the lockout window and
// locks the user when they reach the threshold. It reports whether this failure locked
// the user.
func (a *Authenticator) recordFailure(ctx context.Context, userID string, now time.Time) (bool, error) {
	var lockedNow bool
	_, err := a.dir.UpdateUser(ctx, userID, func(u *vcd.User) error {
		lockedNow = false // fn may run again after a concurrent change
		if u.Locked(now) {
			return errSkip // locked by a concurrent failure meanwhile
		}
		recent := u.FailedLogins[:0:0]
		for _, t := range u.FailedLogins {
			if now.Sub(t) < a.cfg.LockoutWindow {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		if len(recent) >= a.cfg.LockoutThreshold {
			u.LockedUntil = now.Add(a.cfg.LockoutDuration)
			u.FailedLogins = nil
			lockedNow = true
			return nil
		}
		u.FailedLogins = recent
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		if isNotFound(err) { // deleted meanwhile
			return false, nil
		}
		return false, storeError(err, "login: record failure")
	}
	return lockedNow, nil
}
