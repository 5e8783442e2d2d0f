package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/heraldmq/herald/internal/vcd"
)

// apiSecretLen is the length of an API token secret (VCD-COMPAT §4.2).
const apiSecretLen = 32

// maxTokenNameLen bounds API token and client names, in characters.
const maxTokenNameLen = 128

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newAPISecret returns apiSecretLen random alphanumeric characters (about 190 bits).
func newAPISecret() (string, error) {
	out := make([]byte, 0, apiSecretLen)
	var buf [64]byte
	for len(out) < apiSecretLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generate api token secret: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps every character equally likely.
			if b < 248 && len(out) < apiSecretLen {
				out = append(out, alphanumeric[b%62])
			}
		}
	}
	return string(out), nil
}

// isAPISecret reports whether s has the shape of an API token secret.
func isAPISecret(s string) bool {
	if len(s) != apiSecretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphanumeric, s[i]) < 0 {
			return false
		}
	}
	return true
}

// checkTokenName validates the name of a new API token or client.
func checkTokenName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > maxTokenNameLen || !utf8.ValidString(name) {
		return vcd.Errorf(vcd.CodeInvalid, "The token name must have 1 to %d characters.", maxTokenNameLen)
	}
	return nil
}

// mayCreateTokens refuses principals that may not create API tokens.
func mayCreateTokens(p vcd.Principal) error {
	if p.Kind != vcd.PrincipalUser || p.UserID == "" {
		return vcd.Errorf(vcd.CodeForbidden, "Access is forbidden.")
	}
	if p.APITokenID != "" {
		return vcd.Wrap(vcd.CodeForbidden, ErrTokenSession, "A session opened with an API token may not create API tokens.")
	}
	return nil
}

// CreateAPIToken creates a REFRESH (or EXTENSION) token owned by p and returns it with
// its secret, which is shown only this once. typ is matched case-insensitively; an empty
// typ means REFRESH. Only sysadmins may create EXTENSION tokens (vcd.CodeForbidden);
// sessions opened with an API token may create none (vcd.CodeForbidden, ErrTokenSession).
// Any other type, or an empty name, is vcd.CodeInvalid. Only the SHA-256 of the secret
// is stored.
func (a *Authenticator) CreateAPIToken(ctx context.Context, p vcd.Principal, name, typ, extensionID string) (vcd.APIToken, string, error) {
	if err := mayCreateTokens(p); err != nil {
		return vcd.APIToken{}, "", err
	}
	if err := checkTokenName(name); err != nil {
		return vcd.APIToken{}, "", err
	}
	switch typ = strings.ToUpper(typ); typ {
	case "", vcd.TokenRefresh:
		typ, extensionID = vcd.TokenRefresh, ""
	case vcd.TokenExtension:
		if !p.IsSysAdmin() {
			return vcd.APIToken{}, "", vcd.Errorf(vcd.CodeForbidden, "Only a system administrator may create EXTENSION tokens.")
		}
	default:
		return vcd.APIToken{}, "", vcd.Errorf(vcd.CodeInvalid, "The token type must be REFRESH or EXTENSION.")
	}
	secret, err := newAPISecret()
	if err != nil {
		return vcd.APIToken{}, "", err
	}
	now := a.now()
	t := vcd.APIToken{
		ID:          vcd.NewUUID(),
		Name:        name,
		Type:        typ,
		UserID:      p.UserID,
		OrgID:       p.OrgID,
		ExtensionID: extensionID,
		SecretHash:  sha256Hex(secret),
		Created:     now,
	}
	if a.cfg.APITokenLifetime > 0 {
		t.Expires = now.Add(a.cfg.APITokenLifetime)
	}
	if err := a.dir.CreateAPIToken(ctx, t); err != nil {
		return vcd.APIToken{}, "", fmt.Errorf("create api token: %w", err)
	}
	a.logger.Debug("api token created", "token_id", t.ID, "type", t.Type, "user_id", t.UserID)
	return t, secret, nil
}

// grantOrg returns the org an OAuth path names: the System org for /oauth/provider,
// the named tenant org for /oauth/tenant/{org} (never the System org there).
func (a *Authenticator) grantOrg(ctx context.Context, orgName string, provider bool) (vcd.Org, error) {
	if provider {
		org, err := a.dir.Org(ctx, vcd.SystemOrgID)
		if err != nil && !isNotFound(err) {
			return vcd.Org{}, storeError(err, "read system org")
		}
		if err != nil {
			return vcd.Org{}, invalidGrant(ErrUnknownUser, "system org")
		}
		return org, nil
	}
	if vcd.IsSystemOrg(orgName) {
		return vcd.Org{}, invalidGrant(ErrWrongEndpoint, "system org at the tenant endpoint")
	}
	org, err := a.dir.OrgByName(ctx, orgName)
	if isNotFound(err) {
		return vcd.Org{}, invalidGrant(ErrUnknownUser, "org")
	}
	if err != nil {
		return vcd.Org{}, storeError(err, "read org")
	}
	if org.IsSystem() {
		return vcd.Org{}, invalidGrant(ErrWrongEndpoint, "system org at the tenant endpoint")
	}
	return org, nil
}

// ExchangeAPIToken opens a session for the holder of an API token (grant_type
// refresh_token). orgName is the org of /oauth/tenant/{org} (any case); provider is
// true for /oauth/provider, which admits only System org tokens. The session's
// APITokenID is the token's id. Errors are vcd.CodeUnauthorized matching
// ErrInvalidGrant: an unknown, unregistered or expired secret, an EXTENSION token (whose
// holder connects to MQTT as a service account instead), another org's token, or a
// disabled or deleted owner. A failure of the Directory keeps its own code.
func (a *Authenticator) ExchangeAPIToken(ctx context.Context, orgName string, provider bool, secret, clientIP string) (LoginResult, error) {
	if !isAPISecret(secret) {
		return LoginResult{}, invalidGrant(ErrMalformed, "api token")
	}
	hash := sha256Hex(secret)
	t, err := a.dir.APITokenBySecret(ctx, hash)
	if isNotFound(err) {
		return LoginResult{}, invalidGrant(ErrUnknownSession, "api token")
	}
	if err != nil {
		return LoginResult{}, storeError(err, "read api token")
	}
	if t.SecretHash == "" || subtle.ConstantTimeCompare([]byte(t.SecretHash), []byte(hash)) != 1 {
		return LoginResult{}, invalidGrant(ErrUnknownSession, "api token "+t.ID)
	}
	if t.Type != vcd.TokenRefresh {
		return LoginResult{}, invalidGrant(ErrWrongEndpoint, "api token "+t.ID+" of type "+t.Type)
	}
	now := a.now()
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return LoginResult{}, invalidGrant(ErrTokenExpired, "api token "+t.ID)
	}
	org, err := a.grantOrg(ctx, orgName, provider)
	if err != nil {
		return LoginResult{}, err
	}
	if t.OrgID != org.ID {
		return LoginResult{}, invalidGrant(ErrWrongEndpoint, "api token "+t.ID+" of another org")
	}
	u, org, err := a.userAndOrg(ctx, t.UserID, t.OrgID)
	if err != nil {
		if vcd.CodeOf(err) == vcd.CodeUnauthorized {
			return LoginResult{}, invalidGrant(err, "api token "+t.ID)
		}
		return LoginResult{}, err
	}
	res, err := a.openSession(ctx, u, org, t.ID, clientIP, false)
	if err != nil {
		return LoginResult{}, err
	}
	return res, nil
}

// RegisterClient is step 1 of VCD's token flow: it records a registered client (an API
// token without a secret yet) owned by p and returns it; its ID is the client_id.
// Sessions opened with an API token may not register clients (vcd.CodeForbidden).
func (a *Authenticator) RegisterClient(ctx context.Context, p vcd.Principal, name string) (vcd.APIToken, error) {
	if err := mayCreateTokens(p); err != nil {
		return vcd.APIToken{}, err
	}
	if err := checkTokenName(name); err != nil {
		return vcd.APIToken{}, err
	}
	t := vcd.APIToken{
		ID:      vcd.NewUUID(),
		Name:    name,
		Type:    vcd.TokenRefresh,
		UserID:  p.UserID,
		OrgID:   p.OrgID,
		Created: a.now(),
	}
	if err := a.dir.CreateAPIToken(ctx, t); err != nil {
		return vcd.APIToken{}, fmt.Errorf("register client: %w", err)
	}
	return t, nil
}

// errExchanged aborts the second exchange of one registration.
var errExchanged = errors.New("client already exchanged")

// ExchangeJWTBearer is step 2 of VCD's token flow (grant_type jwt-bearer): the caller's
// JWT (assertion) and a client id registered by the same user yield a new session and
// the API token's secret. It works once per registration. clientID is a bare UUID or a
// urn:vcloud:token URN. The new session is an API-token session (its APITokenID is the
// client id). Errors are vcd.CodeUnauthorized matching ErrInvalidGrant, except failures
// of the Directory.
func (a *Authenticator) ExchangeJWTBearer(ctx context.Context, orgName string, provider bool, assertion, clientID, clientIP string) (LoginResult, string, error) {
	p, err := a.Authenticate(ctx, assertion)
	if err != nil {
		if vcd.CodeOf(err) == vcd.CodeUnauthorized {
			return LoginResult{}, "", invalidGrant(err, "assertion")
		}
		return LoginResult{}, "", err
	}
	if p.APITokenID != "" {
		return LoginResult{}, "", invalidGrant(ErrTokenSession, "assertion")
	}
	if p.Kind != vcd.PrincipalUser {
		return LoginResult{}, "", invalidGrant(ErrWrongEndpoint, "assertion of a service account")
	}
	org, err := a.grantOrg(ctx, orgName, provider)
	if err != nil {
		return LoginResult{}, "", err
	}
	if p.OrgID != org.ID {
		return LoginResult{}, "", invalidGrant(ErrWrongEndpoint, "assertion of another org")
	}
	id, ok := vcd.ParseID(vcd.KindToken, clientID)
	if !ok {
		return LoginResult{}, "", invalidGrant(ErrMalformed, "client id")
	}
	t, err := a.dir.APIToken(ctx, id)
	if isNotFound(err) {
		return LoginResult{}, "", invalidGrant(ErrUnknownSession, "client "+id)
	}
	if err != nil {
		return LoginResult{}, "", storeError(err, "read client")
	}
	if t.UserID != p.UserID || t.OrgID != p.OrgID || t.Type != vcd.TokenRefresh {
		return LoginResult{}, "", invalidGrant(ErrUnknownSession, "client "+id+" of another user")
	}
	secret, err := newAPISecret()
	if err != nil {
		return LoginResult{}, "", err
	}
	now := a.now()
	t, err = a.dir.UpdateAPIToken(ctx, id, func(t *vcd.APIToken) error {
		if t.SecretHash != "" {
			return errExchanged
		}
		t.SecretHash = sha256Hex(secret)
		if a.cfg.APITokenLifetime > 0 {
			t.Expires = now.Add(a.cfg.APITokenLifetime)
		}
		return nil
	})
	switch {
	case errors.Is(err, errExchanged):
		return LoginResult{}, "", invalidGrant(errExchanged, "client "+id)
	case isNotFound(err):
		return LoginResult{}, "", invalidGrant(ErrUnknownSession, "client "+id)
	case err != nil:
		return LoginResult{}, "", storeError(err, "store client secret")
	}
	u, uorg, err := a.userAndOrg(ctx, p.UserID, p.OrgID)
	if err != nil {
		if vcd.CodeOf(err) == vcd.CodeUnauthorized {
			return LoginResult{}, "", invalidGrant(err, "assertion")
		}
		return LoginResult{}, "", err
	}
	res, err := a.openSession(ctx, u, uorg, t.ID, clientIP, false)
	if err != nil {
		return LoginResult{}, "", err
	}
	a.logger.Debug("api token issued", "token_id", t.ID, "user_id", t.UserID)
	return res, secret, nil
}
