package api

import (
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// OAuth grant types of VCD-COMPAT §4.
const (
	grantRefreshToken = "refresh_token"
	grantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// tokenResponse is the token endpoint's 200 body; RefreshToken is null for the API
// token exchange, which does not rotate tokens.
type tokenResponse struct {
	AccessToken  string  `json:"access_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    int64   `json:"expires_in"`
	RefreshToken *string `json:"refresh_token"`
}

// oauthParams reads the token request's parameters from a form body or, with an empty
// body, from the query string (one SDK release sends them there).
func oauthParams(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError(err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return r.URL.Query(), nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, vcd.Errorf(vcd.CodeUnsupportedMedia, "The request body must be application/x-www-form-urlencoded.")
		}
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &oauthError{Code: "invalid_request", Description: "The request body is not a valid form."}
	}
	return v, nil
}

// oauthToken serves POST /oauth/tenant/{org}/token and /oauth/provider/token
// (VCD-COMPAT §4.1 and §4.2 step 2). Grant errors are RFC 6749 §5.2 bodies.
func (a *API) oauthToken(provider bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (err error) {
		defer a.observeLogin(LoginOAuth, &err)
		if err := a.checkLoginRate(w, r); err != nil {
			return err
		}
		params, err := oauthParams(r)
		if err != nil {
			return err
		}
		org := r.PathValue("org")
		if provider {
			org = vcd.SystemOrgName
		}
		ctx, ip := r.Context(), clientIP(r)
		var (
			res    auth.LoginResult
			secret *string
		)
		switch gt := params.Get("grant_type"); gt {
		case "":
			return &oauthError{Code: "invalid_request", Description: "grant_type is required."}
		case grantRefreshToken:
			rt := params.Get("refresh_token")
			if rt == "" {
				return &oauthError{Code: "invalid_request", Description: "refresh_token is required."}
			}
			if res, err = a.auth.ExchangeAPIToken(ctx, org, provider, rt, ip); err != nil {
				return grantError(err, "The API token is invalid, revoked or expired, or belongs to another organization.")
			}
		case grantJWTBearer:
			assertion, clientID := params.Get("assertion"), params.Get("client_id")
			if assertion == "" || clientID == "" {
				return &oauthError{Code: "invalid_request", Description: "assertion and client_id are required."}
			}
			s, err := "", error(nil)
			if res, s, err = a.auth.ExchangeJWTBearer(ctx, org, provider, assertion, clientID, ip); err != nil {
				return grantError(err, "The assertion or client_id is invalid, or the client was already used.")
			}
			secret = &s
		default:
			return &oauthError{Code: "unsupported_grant_type", Description: "Supported grant types are refresh_token and " + grantJWTBearer + "."}
		}
		a.loggedIn(r, res.Principal)
		exp := res.Session.Expires
		if exp.IsZero() {
			exp = res.Principal.ExpiresAt
		}
		body := tokenResponse{AccessToken: res.JWT, TokenType: "Bearer",
			ExpiresIn: max(0, int64(math.Round(exp.Sub(a.now()).Seconds()))), RefreshToken: secret}
		w.Header().Set("Cache-Control", "no-store")
		return writeBody(w, http.StatusOK, "application/json", body, json.Marshal)
	}
}

// grantError turns an authenticator error into invalid_grant, keeping server faults.
func grantError(err error, desc string) error {
	switch vcd.CodeOf(err) {
	case vcd.CodeInternal, vcd.CodeUnavailable, vcd.CodeTooManyRequests:
		return err
	}
	return &oauthError{Code: "invalid_grant", Description: desc}
}

// registerRequest and registerResponse are the OAuth dynamic client registration
// bodies of VCD-COMPAT §4.2 step 1.
type registerRequest struct {
	ClientName string `json:"client_name"`
}

type registerResponse struct {
	ClientName              string   `json:"client_name"`
	ClientID                string   `json:"client_id"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// oauthRegister serves POST /oauth/tenant/{org}/register and /oauth/provider/register.
// The caller must belong to the org of the path and may not be on an API-token session.
func (a *API) oauthRegister(provider bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		p := c.p
		sameOrg := p.OrgID == vcd.SystemOrgID
		if !provider {
			sameOrg = !sameOrg && strings.EqualFold(r.PathValue("org"), p.OrgName)
		}
		if !sameOrg || !vcd.Can(p, vcd.ActTokenCreate, p.OrgID, p.UserID) {
			return errForbidden
		}
		var req registerRequest
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
		if err := validName("client_name", req.ClientName); err != nil {
			return err
		}
		t, err := a.auth.RegisterClient(r.Context(), p, req.ClientName)
		if err != nil {
			return err
		}
		a.tokenEvent(r, evTokenCreate, p.UserID, t)
		return writeBody(w, http.StatusOK, "application/json", registerResponse{
			ClientName: t.Name, ClientID: t.ID,
			GrantTypes:              []string{grantJWTBearer, grantRefreshToken},
			TokenEndpointAuthMethod: "none",
		}, json.Marshal)
	}
}

// validName checks a required name of 1–128 characters.
func validName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return vcd.Errorf(vcd.CodeInvalid, "%s is required.", field)
	}
	if len(s) > 128 {
		return vcd.Errorf(vcd.CodeInvalid, "%s must be at most 128 characters.", field)
	}
	return nil
}
