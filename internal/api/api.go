// Package api serves herald's HTTP API: VCD's OpenAPI under /cloudapi (login, sessions,
// API tokens, orgs, users, roles), herald's MQTT service accounts under
// /cloudapi/herald/1.0.0 (VCD-COMPAT §6.3), the legacy XML API under /api (versions, legacy login,
// session, org list, external events, tasks and task queries) and the OAuth endpoints under
// /oauth, wire compatible with VMware Cloud Director as docs/VCD-COMPAT.md §1–5, §8, §10.2
// and §11 describe. Notifications (herald's own events, external events, tasks) leave through
// the Notifier of Config.
//
// Rules the package keeps:
//   - Handlers return errors; writeError is the one place an error becomes an HTTP status
//     and a VCD error body (OpenAPI JSON, legacy XML or JSON, or an RFC 6749 body).
//   - Every response carries X-VMWARE-VCLOUD-REQUEST-ID, errors and upgrades included.
//   - Rights are decided by vcd.Can against the current directory; a secured entity the
//     caller may not see, or that does not exist, is 403 (VCD-COMPAT §11.2).
//   - Authorization headers, tokens and passwords are never logged.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/ratelimit"
	"github.com/heraldmq/herald/internal/vcd"
)

// Auth is what the handlers need from the authenticator. *auth.Authenticator satisfies
// it; see that type for each method's contract.
type Auth interface {
	Login(ctx context.Context, name, password string, provider bool, clientIP string) (auth.LoginResult, error)
	LegacyLogin(ctx context.Context, name, password, clientIP string) (auth.LoginResult, error)
	Authenticate(ctx context.Context, token string) (vcd.Principal, error)
	AuthenticateLegacy(ctx context.Context, token string) (vcd.Principal, error)
	Touch(ctx context.Context, p vcd.Principal)
	Logout(ctx context.Context, sessionID string) error
	ExchangeAPIToken(ctx context.Context, orgName string, provider bool, secret, clientIP string) (auth.LoginResult, error)
	CreateAPIToken(ctx context.Context, p vcd.Principal, name, typ, extensionID string) (vcd.APIToken, string, error)
	RegisterClient(ctx context.Context, p vcd.Principal, name string) (vcd.APIToken, error)
	ExchangeJWTBearer(ctx context.Context, orgName string, provider bool, assertion, clientID, clientIP string) (auth.LoginResult, string, error)

	CreateServiceAccount(ctx context.Context, s vcd.ServiceAccount, secret string) (vcd.ServiceAccount, string, error)
	RotateServiceSecret(ctx context.Context, id string) (vcd.ServiceAccount, string, error)
	ServiceLogin(ctx context.Context, name, secret, clientIP string) (auth.LoginResult, error)
}

var _ Auth = (*auth.Authenticator)(nil)

// Config holds the API's settings. Zero values take the defaults noted on each field.
type Config struct {
	// PublicURL is the scheme and host clients use, e.g. "https://vcd.example:8443".
	// Empty means derive it from each request: https when r.TLS is set, and r.Host.
	PublicURL string
	// MaxBodyBytes bounds request bodies; default 1 MiB.
	MaxBodyBytes int64
	// LoginRateLimit is the number of login attempts one client IP may make per minute
	// before getting 429; default 20.
	LoginRateLimit int
	// SessionIdleMinutes is reported as sessionIdleTimeoutMinutes; default 30.
	SessionIdleMinutes int
	// HashPassword hashes a new user password for storage; nil means auth.HashPassword.
	// Tests inject a fast fake.
	HashPassword func(password string) (string, error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Notifier stores the notifications the API raises: herald's own events
	// (VCD-COMPAT §8.2), external events (§8.3) and tasks (§8.4). nil drops them.
	Notifier Notifier
	// Tasks stores producer tasks (VCD-COMPAT §8.4); nil makes the task endpoints
	// answer 503.
	Tasks TaskStore
	// Audit answers audit-trail queries (VCD-COMPAT §10.1); nil makes
	// GET /cloudapi/1.0.0/auditTrail answer 503.
	Audit AuditTrail
	// Inventory stores the vApps and VMs of VCD-COMPAT §9.3; nil makes the vApp,
	// samples and current-usage endpoints answer 503 and leaves vappCount out of Org JSON.
	Inventory Inventory
	// Metrics stores the metrics settings and samples (VCD-COMPAT §9); nil makes the
	// settings, samples and current-usage endpoints answer 503.
	Metrics MetricsStore
	// Observer receives request and login telemetry; nil records none.
	Observer Observer
}

// Observer receives the API's telemetry. Its methods are called on every
// request and login attempt and must be cheap and non-blocking.
type Observer interface {
	// Request reports one finished request: its method, the status sent
	// (101 for a WebSocket upgrade) and the time it took.
	Request(method string, status int, elapsed time.Duration)
	// Login reports one login attempt at an endpoint of kind LoginCloudAPI,
	// LoginLegacy, LoginOAuth or LoginServiceAccount, with its result:
	// LoginSuccess, LoginFailure, LoginLocked, LoginRateLimited or LoginError.
	Login(kind, result string)
}

// Login endpoint kinds and results, as Observer.Login reports them.
const (
	LoginCloudAPI       = "cloudapi"
	LoginLegacy         = "legacy"
	LoginOAuth          = "oauth"
	LoginServiceAccount = "service_account"

	LoginSuccess     = "success"
	LoginFailure     = "failure"      // bad credentials, unknown user, disabled, wrong endpoint
	LoginLocked      = "locked"       // the user is locked out, or this failure locked it
	LoginRateLimited = "rate_limited" // the client address exceeded LoginRateLimit
	LoginError       = "error"        // the store or another dependency failed
)

// Defaults for Config fields left zero.
const (
	DefaultMaxBodyBytes       = 1 << 20
	DefaultLoginRateLimit     = 20
	DefaultSessionIdleMinutes = 30
)

// API serves the HTTP endpoints. It is safe for concurrent use.
type API struct {
	cfg     Config
	store   Store
	auth    Auth
	logger  *slog.Logger
	mux     *http.ServeMux
	limiter *ratelimit.Limiter
}

// New returns an API over st and au. A nil logger discards logs.
func New(cfg Config, st Store, au Auth, logger *slog.Logger) *API {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.LoginRateLimit <= 0 {
		cfg.LoginRateLimit = DefaultLoginRateLimit
	}
	if cfg.SessionIdleMinutes <= 0 {
		cfg.SessionIdleMinutes = DefaultSessionIdleMinutes
	}
	if cfg.HashPassword == nil {
		cfg.HashPassword = auth.HashPassword
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{
		cfg:     cfg,
		store:   st,
		auth:    au,
		logger:  logger.With("subsystem", "api"),
		mux:     http.NewServeMux(),
		limiter: ratelimit.New(cfg.LoginRateLimit, time.Minute),
	}
	a.routes()
	return a
}

// Handler returns the handler for everything under /api, /cloudapi and /oauth, wrapped
// in Middleware. Unknown paths get 404 NOT_FOUND and known paths with another method
// 405 METHOD_NOT_ALLOWED, in the error format of the path's API.
func (a *API) Handler() http.Handler {
	return a.Middleware(a.Routes())
}

// Routes returns the API's endpoints without Middleware, for a caller that mounts
// them beside other handlers under one Middleware (so each request gets one id and
// is counted once).
func (a *API) Routes() http.Handler { return http.HandlerFunc(a.dispatch) }

// probeMethods are the methods tried to tell 405 from 404.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

func (a *API) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	// No route for this method and path. If another method has one, the path is known.
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.writeError(w, r, vcd.Errorf(vcd.CodeMethodNotAllowed, "The method %s is not allowed on this resource.", r.Method))
		return
	}
	a.writeError(w, r, vcd.Errorf(vcd.CodeNotFound, "The requested resource was not found."))
}

func (a *API) now() time.Time { return a.cfg.Now() }

// baseURL returns the scheme and host clients reach herald at, without a trailing slash.
func (a *API) baseURL(r *http.Request) string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
