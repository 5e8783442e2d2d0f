package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// Config holds the authentication policy. config.Default() supplies the defaults
// noted on each field.
type Config struct {
	TokenLifetime    time.Duration // JWT lifetime; default 24h
	IdleTimeout      time.Duration // session idle limit; default 30m
	LockoutThreshold int           // failed logins within LockoutWindow that lock a user; default 5
	LockoutWindow    time.Duration // default 10m
	LockoutDuration  time.Duration // default 10m
	KeyLifetime      time.Duration // signing-key rotation period; default 90 days
	// APITokenLifetime bounds API tokens; zero means they do not expire.
	APITokenLifetime time.Duration
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// LoginResult is the outcome of a successful login or token exchange.
type LoginResult struct {
	Session     vcd.Session
	Principal   vcd.Principal
	JWT         string
	LegacyToken string // set by LegacyLogin only
}

// Authenticator verifies credentials, issues and verifies session JWTs, and resolves
// principals against the current directory. It is safe for concurrent use and holds no
// state that other nodes cannot see: sessions, keys and tokens live in the Directory.
type Authenticator struct {
	cfg    Config
	dir    Directory
	site   vcd.Site
	logger *slog.Logger
}

var errUnimplemented = errors.New("not implemented")

// New returns an Authenticator for the site, backed by dir.
func New(cfg Config, dir Directory, site vcd.Site, logger *slog.Logger) *Authenticator {
	return &Authenticator{cfg: cfg, dir: dir, site: site, logger: logger}
}

// Open makes sure a signing key exists, creating one when none is valid.
func (a *Authenticator) Open(ctx context.Context) error { return errUnimplemented }

// Login checks name ("user@org") and password at the tenant endpoint (provider false)
// or the provider endpoint (provider true) and opens a session. Every failure, whatever
// its cause, is vcd.CodeUnauthorized with the same message. A wrong password counts
// towards the user's lockout.
func (a *Authenticator) Login(ctx context.Context, name, password string, provider bool, clientIP string) (LoginResult, error) {
	return LoginResult{}, errUnimplemented
}

// LegacyLogin is Login for POST /api/sessions: System and tenant users alike, and the
// result also carries a 32-hex-character legacy token bound to the session.
func (a *Authenticator) LegacyLogin(ctx context.Context, name, password, clientIP string) (LoginResult, error) {
	return LoginResult{}, errUnimplemented
}

// Authenticate verifies a session JWT (signature, expiry, revocation, idle limit) and
// resolves its principal from the current directory (user and org enabled, role).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (vcd.Principal, error) {
	return vcd.Principal{}, errUnimplemented
}

// AuthenticateLegacy resolves an x-vcloud-authorization token like Authenticate.
func (a *Authenticator) AuthenticateLegacy(ctx context.Context, token string) (vcd.Principal, error) {
	return vcd.Principal{}, errUnimplemented
}

// Touch records activity on p's session, writing at most once a minute per session.
func (a *Authenticator) Touch(ctx context.Context, p vcd.Principal) {}

// Logout revokes a session at once: its JWT and legacy token are refused from then on.
func (a *Authenticator) Logout(ctx context.Context, sessionID string) error { return errUnimplemented }

// ExchangeAPIToken opens a session for the holder of an API token (grant_type
// refresh_token). orgName is the org of /oauth/tenant/{org}; provider is true for
// /oauth/provider. Errors are vcd.CodeUnauthorized.
func (a *Authenticator) ExchangeAPIToken(ctx context.Context, orgName string, provider bool, secret, clientIP string) (LoginResult, error) {
	return LoginResult{}, errUnimplemented
}

// CreateAPIToken creates a REFRESH (or EXTENSION) token owned by p and returns it with
// its secret, which is shown only this once.
func (a *Authenticator) CreateAPIToken(ctx context.Context, p vcd.Principal, name, typ, extensionID string) (vcd.APIToken, string, error) {
	return vcd.APIToken{}, "", errUnimplemented
}

// RegisterClient is step 1 of VCD's token flow: it records a registered client (an API
// token without a secret yet) owned by p and returns it; its ID is the client_id.
func (a *Authenticator) RegisterClient(ctx context.Context, p vcd.Principal, name string) (vcd.APIToken, error) {
	return vcd.APIToken{}, errUnimplemented
}

// ExchangeJWTBearer is step 2 of VCD's token flow (grant_type jwt-bearer): the caller's
// JWT (assertion) and a client id registered by the same user yield a new session and
// the API token's secret. It works once per registration.
func (a *Authenticator) ExchangeJWTBearer(ctx context.Context, orgName string, provider bool, assertion, clientID, clientIP string) (LoginResult, string, error) {
	return LoginResult{}, "", errUnimplemented
}
