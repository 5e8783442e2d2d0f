package api

import (
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// Credential headers of VCD-COMPAT §2.4 and §3.2.
const (
	HeaderLegacyToken   = "x-vcloud-authorization"
	HeaderAccessToken   = "X-VMWARE-VCLOUD-ACCESS-TOKEN"
	HeaderTokenType     = "X-VMWARE-VCLOUD-TOKEN-TYPE"
	HeaderTenantContext = "x-vmware-vcloud-tenant-context"
)

// errAuthFailed is the one login failure body, whatever the cause (VCD-COMPAT §2.1).
var errAuthFailed = vcd.Errorf(vcd.CodeUnauthorized, "Authentication failed.")

// BearerToken returns the token of r's "Authorization: Bearer <token>" header (scheme
// case-insensitive, VCD-COMPAT §2.4). present reports whether an Authorization header
// was sent at all; err (vcd.CodeUnauthorized) is set when it was sent but is not a
// well-formed Bearer header, which callers answer with 401.
func BearerToken(r *http.Request) (token string, present bool, err error) {
	h, ok := r.Header["Authorization"]
	if !ok || len(h) == 0 {
		return "", false, nil
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h[0]), " ")
	token = strings.TrimSpace(rest)
	if len(h) > 1 || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", true, vcd.Errorf(vcd.CodeUnauthorized, "The Authorization header is not a valid Bearer credential.")
	}
	return token, true, nil
}

// basicCredentials parses "Authorization: Basic base64(user@org:password)". Anything
// malformed is errAuthFailed.
func basicCredentials(r *http.Request) (name, password string, err error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", errAuthFailed
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return "", "", errAuthFailed
	}
	// Basic auth splits at the first ':'; user names never contain one (VCD-COMPAT §1.1).
	name, password, ok := strings.Cut(string(raw), ":")
	if !ok || name == "" {
		return "", "", errAuthFailed
	}
	return name, password, nil
}

// authenticate resolves the principal of r from its credential headers
// (VCD-COMPAT §2.4): a present Authorization header decides, valid or not; otherwise
// x-vcloud-authorization. A sysadmin may act in another org with
// x-vmware-vcloud-tenant-context.
func (a *API) authenticate(r *http.Request) (vcd.Principal, error) {
	ctx := r.Context()
	token, present, err := BearerToken(r)
	var p vcd.Principal
	switch {
	case err != nil:
		return p, err
	case present:
		p, err = a.auth.Authenticate(ctx, token)
	case r.Header.Get(HeaderLegacyToken) != "":
		p, err = a.auth.AuthenticateLegacy(ctx, r.Header.Get(HeaderLegacyToken))
	default:
		return p, vcd.Errorf(vcd.CodeUnauthorized, "This operation requires authentication.")
	}
	if err != nil {
		if vcd.CodeOf(err) == vcd.CodeInternal {
			return p, err
		}
		return p, &vcd.Error{Code: vcd.CodeUnauthorized, Message: "The credentials are missing, invalid, expired or revoked.", Err: err}
	}
	if tc := strings.TrimSpace(r.Header.Get(HeaderTenantContext)); tc != "" {
		orgID, ok := vcd.ParseID(vcd.KindOrg, tc)
		if !ok {
			return p, vcd.Errorf(vcd.CodeInvalid, "The %s header is not an org id.", HeaderTenantContext)
		}
		if orgID != p.OrgID {
			if !p.IsSysAdmin() {
				return p, vcd.Errorf(vcd.CodeForbidden, "Access is forbidden.")
			}
			if _, err := a.store.Org(ctx, orgID); err != nil {
				return p, forbiddenIfMissing(err)
			}
			p.OperatingOrgID = orgID
		}
	}
	a.auth.Touch(ctx, p)
	return p, nil
}

// clientIP returns the address of the peer, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// checkLoginRate answers 429 with Retry-After when r's client IP has made too many
// login attempts (VCD-COMPAT §11.2).
func (a *API) checkLoginRate(w http.ResponseWriter, r *http.Request) error {
	ok, wait := a.limiter.Allow(clientIP(r), a.now())
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return vcd.Errorf(vcd.CodeTooManyRequests, "Too many login attempts; retry in %d seconds.", secs)
}

// forbiddenIfMissing turns "not found" from the store into 403 for secured entities
// (VCD-COMPAT §11.2) and passes other errors through.
func forbiddenIfMissing(err error) error {
	if vcd.CodeOf(err) == vcd.CodeNotFound {
		return &vcd.Error{Code: vcd.CodeForbidden, Message: "Access is forbidden.", Err: err}
	}
	return err
}

var errForbidden = vcd.Errorf(vcd.CodeForbidden, "Access is forbidden.")

// observeLogin reports the login attempt whose handler returned *errp to the
// Observer. Handlers defer it with their named error result.
func (a *API) observeLogin(kind string, errp *error) {
	if a.cfg.Observer != nil {
		a.cfg.Observer.Login(kind, loginResult(*errp))
	}
}

// loginResult classifies a login handler's result for Observer.Login.
func loginResult(err error) string {
	var oe *oauthError
	switch {
	case err == nil:
		return LoginSuccess
	case errors.Is(err, auth.ErrLocked), errors.Is(err, auth.ErrLockedNow):
		return LoginLocked
	case errors.As(err, &oe):
		return LoginFailure
	}
	switch vcd.CodeOf(err) {
	case vcd.CodeTooManyRequests:
		return LoginRateLimited
	case vcd.CodeInternal, vcd.CodeUnavailable:
		return LoginError
	}
	return LoginFailure
}
