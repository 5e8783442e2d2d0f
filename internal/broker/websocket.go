package broker

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Subprotocols of the MQTT WebSocket binding (VCD-COMPAT §6.1).
const (
	subprotocolMQTT   = "mqtt"
	subprotocolMQTT31 = "mqttv3.1" // old clients; their level 3 CONNECT gets CONNACK 0x01
)

// ServeHTTP serves the /messaging/mqtt WebSocket endpoint (VCD-COMPAT §6.1).
// Before upgrading it checks the Origin header (absent, same host as the
// request, or matching Config.AllowedOrigins; else 403), the subprotocols (a list without "mqtt" is
// refused with 400 unless it is only "mqttv3.1"; no header is accepted) and,
// when an Authorization header is present, that it is a valid Bearer JWT (else
// 401: form A). It then runs the MQTT connection over binary messages, as a
// byte stream in which a message may hold several packets or part of one
// [MQTT-6.0.0-2]; a text message closes the connection with code 1003. It
// returns when the connection ends, or earlier when it goes idle over plain
// TCP: it is then parked (park.go) and lives on without this goroutine.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.isClosed() {
		b.httpError(w, r, vcd.Errorf(vcd.CodeUnavailable, "the server is shutting down"))
		return
	}
	if err := b.checkOrigin(r); err != nil {
		b.logger.Debug("websocket refused", logKeyReason, "origin", logKeyRemote, r.RemoteAddr)
		b.httpError(w, r, err)
		return
	}
	if err := checkSubprotocols(r.Header); err != nil {
		b.logger.Debug("websocket refused", logKeyReason, "subprotocol", logKeyRemote, r.RemoteAddr)
		b.httpError(w, r, err)
		return
	}
	var pre *vcd.Principal
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		p, err := b.bearer(r, hs)
		if err != nil {
			b.logger.Debug("websocket refused", logKeyReason, "authorization", logKeyRemote, r.RemoteAddr, logKeyErr, err)
			b.httpError(w, r, err)
			return
		}
		pre = &p
	}
	// checkOrigin has applied the origin policy, with herald's error body.
	nc, err := wsAccept(w, r, selectSubprotocol(r.Header))
	if err != nil {
		// wsAccept has written the HTTP error (not an upgrade, bad key, …).
		b.logger.Debug("websocket accept failed", logKeyRemote, r.RemoteAddr, logKeyErr, err)
		return
	}
	// nc turns binary messages into a byte stream and closes with 1003
	// (unsupported data) when a text message arrives. Each Write is one
	// message, which is how the writer's coalesced packets leave. The
	// connection is hijacked: it outlives the request and its context, and
	// Broker.Close ends it. It starts from a fresh context rather than
	// WithoutCancel(r.Context()), which would keep the request's whole context
	// chain (net/http's per-connection contexts, the middleware's values)
	// alive as long as the connection: about 500 bytes each of tens of
	// thousands of idle connections (issue 7). The broker reads no values
	// from it.
	b.serveConn(context.Background(), nc, pre, transportWebSocket)
}

// selectSubprotocol returns the subprotocol to answer: mqtt if offered, else
// mqttv3.1 if offered, else none.
func selectSubprotocol(h http.Header) string {
	for _, want := range []string{subprotocolMQTT, subprotocolMQTT31} {
		if headerHasToken(h, "Sec-WebSocket-Protocol", want) {
			return want
		}
	}
	return ""
}

// checkOrigin refuses a browser page of another origin (cross-site WebSocket
// hijacking, RFC 6455 §10.2): the Origin header must be absent, name the
// request's own host, or match Config.AllowedOrigins.
func (b *Broker) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" {
		if strings.EqualFold(u.Host, r.Host) {
			return nil
		}
		host := strings.ToLower(u.Host)
		for _, pat := range b.cfg.AllowedOrigins {
			if ok, _ := path.Match(strings.ToLower(pat), host); ok {
				return nil
			}
		}
	}
	return vcd.Errorf(vcd.CodeForbidden, "WebSocket connections from origin %q are not allowed", origin)
}

// checkSubprotocols applies the Sec-WebSocket-Protocol rules of VCD-COMPAT §6.1.
func checkSubprotocols(h http.Header) error {
	var offered []string
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				offered = append(offered, p)
			}
		}
	}
	if len(offered) == 0 {
		return nil
	}
	only31 := true
	for _, p := range offered {
		if p == subprotocolMQTT {
			return nil
		}
		only31 = only31 && p == subprotocolMQTT31
	}
	if only31 {
		return nil
	}
	return vcd.Errorf(vcd.CodeInvalid, "unsupported WebSocket subprotocol %q: offer \"mqtt\"", strings.Join(offered, ", "))
}

// bearer authenticates the upgrade's Authorization header (form A). Anything
// but one valid "Bearer <JWT>" (scheme in any case) is unauthorized.
func (b *Broker) bearer(r *http.Request, hs []string) (vcd.Principal, error) {
	if len(hs) != 1 {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "the Authorization header must be a Bearer token")
	}
	if b.authn == nil {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "bearer tokens are not accepted here")
	}
	p, err := b.authn.Authenticate(r.Context(), token)
	if err != nil {
		return vcd.Principal{}, err
	}
	if !p.ExpiresAt.IsZero() && !b.cfg.Now().Before(p.ExpiresAt) {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "the token has expired")
	}
	return p, nil
}

// httpError writes a refusal of the upgrade through Config.WriteHTTPError.
func (b *Broker) httpError(w http.ResponseWriter, r *http.Request, err error) {
	if b.cfg.WriteHTTPError != nil {
		b.cfg.WriteHTTPError(w, r, err)
		return
	}
	status := http.StatusInternalServerError
	switch vcd.CodeOf(err) {
	case vcd.CodeInvalid:
		status = http.StatusBadRequest
	case vcd.CodeUnauthorized:
		status = http.StatusUnauthorized
	case vcd.CodeForbidden:
		status = http.StatusForbidden
	case vcd.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	http.Error(w, vcd.MessageOf(err), status)
}
