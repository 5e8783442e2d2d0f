package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldmq/herald/internal/vcd"
)

// ErrSecretRotated: a service JWT was issued for a secret that has since been rotated.
var ErrSecretRotated = errors.New("service account secret rotated")

// maxServiceNameLen bounds service account names, in characters.
const maxServiceNameLen = 128

// CheckServiceName validates a service account name: 1 to 128 characters, no control
// characters or spaces, and no ':' (Basic credentials split at the first ':') or '@' (a
// CONNECT username with '@' names a user, VCD-COMPAT §6.2). Errors are vcd.CodeInvalid.
func CheckServiceName(name string) error {
	bad := name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxServiceNameLen ||
		strings.ContainsAny(name, ":@") ||
		strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) })
	if bad {
		return vcd.Errorf(vcd.CodeInvalid, "The name must have 1 to %d characters, without spaces, ':' or '@'.", maxServiceNameLen)
	}
	return nil
}

// CreateServiceAccount stores a new service account and returns it with its secret,
// which is shown only this once. An empty acct.ID gets a new UUID. With secret empty a
// new one is generated; otherwise secret (an API token secret: 32 alphanumerics) becomes
// the account's, which is how an EXTENSION token's holder connects (VCD-COMPAT §6.3).
// Only the secret's SHA-256 is stored. The name is checked with CheckServiceName; grants
// are the caller's to validate. A taken name is vcd.CodeDuplicate.
func (a *Authenticator) CreateServiceAccount(ctx context.Context, acct vcd.ServiceAccount, secret string) (vcd.ServiceAccount, string, error) {
	if err := CheckServiceName(acct.Name); err != nil {
		return vcd.ServiceAccount{}, "", err
	}
	if secret == "" {
		var err error
		if secret, err = newAPISecret(); err != nil {
			return vcd.ServiceAccount{}, "", err
		}
	} else if !isAPISecret(secret) {
		return vcd.ServiceAccount{}, "", vcd.Errorf(vcd.CodeInvalid, "The secret must be %d alphanumeric characters.", apiSecretLen)
	}
	if acct.ID == "" {
		acct.ID = vcd.NewUUID()
	}
	now := a.now()
	acct = acct.Clone()
	acct.SecretHash = sha256Hex(secret)
	acct.Generation = 0
	acct.Created = now
	acct.SecretRotated = now
	created, err := a.dir.CreateServiceAccount(ctx, acct)
	if err != nil {
		return vcd.ServiceAccount{}, "", fmt.Errorf("create service account: %w", err)
	}
	a.logger.Debug("service account created", "service_account_id", created.ID, "name", created.Name)
	return created, secret, nil
}

// RotateServiceSecret gives the account a new secret, shown only this once. The old
// secret and every service JWT issued before stop working at once (the generation in
// the record moves on). An unknown id is vcd.CodeNotFound.
func (a *Authenticator) RotateServiceSecret(ctx context.Context, id string) (vcd.ServiceAccount, string, error) {
	secret, err := newAPISecret()
	if err != nil {
		return vcd.ServiceAccount{}, "", err
	}
	now := a.now()
	acct, err := a.dir.UpdateServiceAccount(ctx, id, func(s *vcd.ServiceAccount) error {
		s.SecretHash = sha256Hex(secret)
		s.Generation++
		s.SecretRotated = now
		return nil
	})
	if err != nil {
		return vcd.ServiceAccount{}, "", fmt.Errorf("rotate service account secret: %w", err)
	}
	a.logger.Debug("service account secret rotated", "service_account_id", acct.ID, "generation", acct.Generation)
	return acct, secret, nil
}

// dummySecretHash is compared against when no account has the name, so that an unknown
// name takes as long as a wrong secret.
var dummySecretHash = sha256Hex("herald: no service account has this name")

// AuthenticateService checks a service account's name (any case) and secret, as MQTT
// CONNECT form C does (VCD-COMPAT §6.2), and returns its principal with the grants of the
// current record. An unknown name, a wrong secret and a disabled account all give the
// same vcd.CodeUnauthorized error, whose cause matches ErrBadCredentials (with
// ErrUnknownUser for an unknown name) or ErrDisabled. A failure of the Directory keeps
// its own code.
func (a *Authenticator) AuthenticateService(ctx context.Context, name, secret string) (vcd.Principal, error) {
	acct, err := a.checkService(ctx, name, secret)
	if err != nil {
		return vcd.Principal{}, err
	}
	return servicePrincipal(acct), nil
}

// checkService is AuthenticateService returning the account.
func (a *Authenticator) checkService(ctx context.Context, name, secret string) (vcd.ServiceAccount, error) {
	acct, err := a.dir.ServiceAccountByName(ctx, name)
	known := err == nil
	if err != nil && !isNotFound(err) {
		return vcd.ServiceAccount{}, storeError(err, "read service account")
	}
	want := dummySecretHash
	if known {
		want = acct.SecretHash
	}
	// The hash is compared in every case, in constant time.
	good := subtle.ConstantTimeCompare([]byte(sha256Hex(secret)), []byte(want)) == 1
	switch {
	case !known:
		return vcd.ServiceAccount{}, vcd.Wrap(vcd.CodeUnauthorized, fmt.Errorf("service account: %w: %w", ErrBadCredentials, ErrUnknownUser), msgLoginFailed)
	case !good || acct.SecretHash == "":
		return vcd.ServiceAccount{}, vcd.Wrap(vcd.CodeUnauthorized, fmt.Errorf("service account %s: %w", acct.ID, ErrBadCredentials), msgLoginFailed)
	case !acct.Enabled:
		return vcd.ServiceAccount{}, vcd.Wrap(vcd.CodeUnauthorized, fmt.Errorf("service account %s: %w", acct.ID, ErrDisabled), msgLoginFailed)
	}
	return acct, nil
}

// servicePrincipal returns the principal of a service account: kind PrincipalService in
// the System org, its id as UserID, and copies of its grants.
func servicePrincipal(acct vcd.ServiceAccount) vcd.Principal {
	return vcd.Principal{
		Kind:      vcd.PrincipalService,
		UserID:    acct.ID,
		UserName:  acct.Name,
		OrgID:     vcd.SystemOrgID,
		OrgName:   vcd.SystemOrgName,
		Publish:   slices.Clone(acct.Publish),
		Subscribe: slices.Clone(acct.Subscribe),
		Producer:  acct.Producer,
	}
}

// serviceClaims are the claims of a service JWT: those of a session JWT without userId
// and sessionId, with serviceAccountId (urn:vcloud:token:<id>) and secretGeneration. sub
// is the account name; iss names the System org.
type serviceClaims struct {
	jwt.RegisteredClaims
	Version          string `json:"version"`
	OrgID            string `json:"orgId"`
	ServiceAccountID string `json:"serviceAccountId"`
	SecretGeneration int    `json:"secretGeneration"`
}

// ServiceLogin checks a service account's name and secret like AuthenticateService and
// issues a service JWT for REST calls and the WebSocket upgrade (VCD-COMPAT §6.3). The
// token keeps no session: Authenticate resolves it against the account's current record
// each time, so it ends at exp (TokenLifetime), at a secret rotation, or when the
// account is disabled or deleted. The result's Session is zero.
func (a *Authenticator) ServiceLogin(ctx context.Context, name, secret, clientIP string) (LoginResult, error) {
	acct, err := a.checkService(ctx, name, secret)
	if err != nil {
		a.logger.Debug("service login failed", "cause", errors.Unwrap(err), "client_ip", clientIP)
		return LoginResult{}, err
	}
	jti, err := newJTI()
	if err != nil {
		return LoginResult{}, err
	}
	now := a.now().Truncate(time.Second)
	exp := now.Add(a.cfg.TokenLifetime)
	key, err := a.signer(ctx, now)
	if err != nil {
		return LoginResult{}, fmt.Errorf("sign service token: %w", err)
	}
	c := serviceClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   acct.Name,
			Issuer:    a.issuer(vcd.SystemOrgID),
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Version:          tokenVersion,
		OrgID:            vcd.URN(vcd.KindOrg, vcd.SystemOrgID),
		ServiceAccountID: vcd.URN(vcd.KindToken, acct.ID),
		SecretGeneration: acct.Generation,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = key.kid
	delete(t.Header, "typ")
	signed, err := t.SignedString(key.priv)
	if err != nil {
		return LoginResult{}, fmt.Errorf("sign service token: %w", err)
	}
	p := servicePrincipal(acct)
	p.JTI = jti
	p.ExpiresAt = exp
	a.logger.Debug("service token issued", "service_account_id", acct.ID, "jti", jti, "client_ip", clientIP)
	return LoginResult{Principal: p, JWT: signed}, nil
}

// resolveService checks a verified service JWT against the account's current record:
// it must exist, be enabled, still have the name and secret generation the token names.
func (a *Authenticator) resolveService(ctx context.Context, ref tokenRef) (vcd.Principal, error) {
	acct, err := a.dir.ServiceAccount(ctx, ref.serviceID)
	if isNotFound(err) {
		return vcd.Principal{}, unauthorized(ErrUnknownUser, "service account %s, jti %s", ref.serviceID, ref.jti)
	}
	if err != nil {
		return vcd.Principal{}, storeError(err, "read service account")
	}
	switch {
	case ref.iss != a.issuer(vcd.SystemOrgID) || !strings.EqualFold(ref.sub, acct.Name):
		return vcd.Principal{}, unauthorized(ErrUnknownSession, "service account %s does not match token jti %s", acct.ID, ref.jti)
	case ref.generation != acct.Generation:
		return vcd.Principal{}, unauthorized(ErrSecretRotated, "service account %s, jti %s", acct.ID, ref.jti)
	case !acct.Enabled:
		return vcd.Principal{}, unauthorized(ErrDisabled, "service account %s, jti %s", acct.ID, ref.jti)
	}
	p := servicePrincipal(acct)
	p.JTI = ref.jti
	p.ExpiresAt = ref.expires
	return p, nil
}
