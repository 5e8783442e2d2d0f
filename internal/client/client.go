// Package client is a small Go client for herald: its REST API (login and sessions,
// orgs, users, API tokens, MQTT service accounts, and the external-event and task
// producer APIs of VCD-COMPAT §2, §4, §5, §6.3, §8.3 and §8.4) and its MQTT over
// WebSocket service (§6), built on the standard library, github.com/coder/websocket and
// herald's own internal/mqtt codec.
//
// A Client holds a base URL, an *http.Client and, once logged in, a Bearer JWT. Every
// method takes a context and returns an error; a non-2xx answer is an *Error carrying
// the HTTP status and VCD's minorErrorCode and message. ErrUnauthorized matches (with
// errors.Is) any 401 answer, a refused WebSocket upgrade and a CONNACK that refuses the
// credentials, so callers can tell "log in again" from other failures.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Accept is the Accept header of every request: JSON at the newest API version herald
// serves (VCD-COMPAT §1.3).
const Accept = "application/json;version=39.0"

// Header names of VCD's login answer (VCD-COMPAT §2.1).
const headerAccessToken = "X-VMWARE-VCLOUD-ACCESS-TOKEN"

// SystemOrg is the provider org's name; its users log in at /sessions/provider.
const SystemOrg = "System"

// ErrUnauthorized is matched by errors meaning the credentials were refused, expired
// or revoked: HTTP 401, or a CONNACK refusing the connection as not authorized.
var ErrUnauthorized = errors.New("not authenticated")

// Error is a non-2xx answer of the REST API.
type Error struct {
	Status         int    // HTTP status code
	MinorErrorCode string // VCD's minorErrorCode, when the body had one
	Message        string // VCD's message, when the body had one
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.MinorErrorCode != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.MinorErrorCode, msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, msg)
}

// Is makes errors.Is(err, ErrUnauthorized) true for a 401.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthorized && e.Status == http.StatusUnauthorized
}

// Client talks to one herald server. Set Token after Login (Login does it) or from
// stored credentials. A Client is safe for concurrent use once configured.
type Client struct {
	BaseURL string       // e.g. https://localhost:8443, no trailing slash
	HTTP    *http.Client // its transport carries the TLS configuration
	Token   string       // Bearer JWT; empty before login
}

// New returns a Client for baseURL whose connections use tlsConfig (nil: the system
// roots).
func New(baseURL string, tlsConfig *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// TLSConfig returns the TLS configuration of c's transport, for the WebSocket dial.
func (c *Client) TLSConfig() *tls.Config {
	if tr, ok := c.HTTP.Transport.(*http.Transport); ok {
		return tr.TLSClientConfig
	}
	return nil
}

// Ref is an entity reference as OpenAPI writes it.
type Ref struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Session is the Session JSON of VCD-COMPAT §2.2 (the fields a client needs).
type Session struct {
	ID    string   `json:"id"`
	User  Ref      `json:"user"`
	Org   Ref      `json:"org"`
	Roles []string `json:"roles"`
}

// SplitName splits user@org at the last '@' (VCD-COMPAT §1.1: user names may hold '@').
func SplitName(s string) (user, org string, ok bool) {
	i := strings.LastIndex(s, "@")
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// Login logs user@org in with password at the tenant or, for the System org, the
// provider endpoint (VCD-COMPAT §2.1), keeps the JWT in c.Token and returns the session.
func (c *Client) Login(ctx context.Context, user, org, password string) (Session, error) {
	path := "/cloudapi/1.0.0/sessions"
	if strings.EqualFold(org, SystemOrg) {
		path += "/provider"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, nil)
	if err != nil {
		return Session{}, err
	}
	req.SetBasicAuth(user+"@"+org, password)
	req.Header.Set("Accept", Accept)
	var s Session
	resp, err := c.send(req, &s)
	if err != nil {
		return Session{}, err
	}
	tok := resp.Header.Get(headerAccessToken)
	if tok == "" {
		return Session{}, errors.New("login answer has no access token")
	}
	c.Token = tok
	return s, nil
}

// Logout revokes the current session (DELETE /cloudapi/1.0.0/sessions/current).
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/cloudapi/1.0.0/sessions/current", nil, nil)
}

// CurrentSession returns the Session of c.Token.
func (c *Client) CurrentSession(ctx context.Context) (Session, error) {
	var s Session
	err := c.Do(ctx, http.MethodGet, "/cloudapi/1.0.0/sessions/current", nil, &s)
	return s, err
}

// Do sends a request with c.Token as Bearer and in, if not nil, as the JSON body, and
// decodes a JSON answer into out, if not nil. A non-2xx answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", Accept)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	_, err = c.send(req, out)
	return err
}

// send does req and decodes a 2xx JSON body into out (if not nil and the body is not
// empty); a non-2xx answer is an *Error.
func (c *Client) send(req *http.Request, out any) (*http.Response, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode}
		var body struct {
			MinorErrorCode string `json:"minorErrorCode"`
			Message        string `json:"message"`
		}
		if json.Unmarshal(b, &body) == nil {
			e.MinorErrorCode, e.Message = body.MinorErrorCode, body.Message
		}
		return resp, e
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = append((*raw)[:0], b...)
		} else if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp, nil
}

// page is the paged answer of VCD-COMPAT §5.4.
type page struct {
	PageCount int               `json:"pageCount"`
	Page      int               `json:"page"`
	Values    []json.RawMessage `json:"values"`
}

// list returns every value of a paged collection at path (which has no query), with an
// optional FIQL filter, following the pages.
func (c *Client) list(ctx context.Context, path, filter string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for n := 1; ; n++ {
		q := url.Values{"page": {strconv.Itoa(n)}, "pageSize": {"128"}}
		if filter != "" {
			q.Set("filter", filter)
		}
		var p page
		if err := c.Do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Values...)
		if n >= p.PageCount || len(p.Values) == 0 {
			return all, nil
		}
	}
}

// listInto decodes every value of a paged collection into a []T.
func listInto[T any](ctx context.Context, c *Client, path, filter string) ([]T, error) {
	raw, err := c.list(ctx, path, filter)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// TokenExpiry returns the exp claim of a JWT, decoded without checking the signature,
// as VCD clients do (VCD-COMPAT §2.5).
func TokenExpiry(jwt string) (time.Time, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("decode JWT payload: %w", err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Exp == 0 {
		return time.Time{}, errors.New("JWT has no exp")
	}
	return time.Unix(claims.Exp, 0).UTC(), nil
}

// BareID returns the UUID of a URN (urn:vcloud:org:<uuid> → <uuid>), or s unchanged.
func BareID(s string) string {
	if strings.HasPrefix(s, "urn:") {
		return s[strings.LastIndex(s, ":")+1:]
	}
	return s
}
