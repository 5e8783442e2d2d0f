package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// Notifier stores a notification durably (the notification log, de-duplicated by n.ID)
// and returns only once it is stored, so a producer's 2xx is honest. An error whose
// vcd.CodeOf is vcd.CodeUnavailable becomes 503, so that producers retry.
type Notifier interface {
	Notify(ctx context.Context, n notify.Notification) error
}

// Event type suffixes herald raises (VCD-COMPAT §8.2), after notify.EventTypePrefix.
const (
	evLogin       = "session/login"
	evLogout      = "session/logout"
	evUserCreate  = "user/create"
	evUserModify  = "user/modify"
	evUserDelete  = "user/delete"
	evUserEnable  = "user/enable"
	evUserDisable = "user/disable"
	evUserLockout = "user/lockout"
	evUserUnlock  = "user/unlock"
	evOrgCreate   = "org/create"
	evOrgModify   = "org/modify"
	evOrgDelete   = "org/delete"
	// API-token events are herald's names: VCD's event list has none for tokens.
	evTokenCreate  = "token/create"
	evTokenDelete  = "token/delete"
	evTaskCreate   = "task/create"
	evTaskStart    = "task/start"
	evTaskComplete = "task/complete"
	evTaskFail     = "task/fail"
	evTaskAbort    = "task/abort"
)

// Log attribute keys of notification failures; payloads are never logged.
const (
	logKeyNotification = "notification_id"
	logKeyEventType    = "event_type"
)

// publish hands n to the Notifier and returns once it is stored. Without a Notifier
// notifications are dropped.
func (a *API) publish(ctx context.Context, n notify.Notification) error {
	if a.cfg.Notifier == nil {
		return nil
	}
	if err := a.cfg.Notifier.Notify(ctx, n); err != nil {
		return fmt.Errorf("notify %s %s: %w", n.Type, n.ID, err)
	}
	return nil
}

// raise publishes the EVENT of one of herald's own operations, which has already
// succeeded (or, for a failed login, already failed): a failure to notify must not
// undo it, so it is logged at warn and otherwise ignored. The event is stored even if
// the client has gone away. e.Type is a suffix such as evLogin; a zero Time is now.
func (a *API) raise(r *http.Request, e notify.EventInfo) {
	e.Type = notify.EventTypePrefix + e.Type
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	// Its audit record names where it came from (a login sets its own).
	if e.SessionID == "" && e.ClientIP == "" {
		o := requestOrigin(r)
		e.SessionID, e.ClientIP = o.SessionID, o.ClientIP
	}
	n, err := notify.Event(e)
	if err == nil {
		err = a.publish(context.WithoutCancel(r.Context()), n)
	}
	if err != nil {
		a.Logger(r).Warn("event not published", logKeyEventType, e.Type, logKeyNotification, n.ID, logKeyError, err)
	}
}

// requestOrigin returns where r came from, for the audit records of the events it
// raises: the session that authenticated it, if any, and the client's address.
func requestOrigin(r *http.Request) notify.Origin {
	o := notify.Origin{ClientIP: clientIP(r)}
	if ri := infoOf(r); ri != nil {
		o.SessionID = ri.session
	}
	return o
}

// userEvent raises event typ about user u (VCD-COMPAT §8.2, §8.5): routed to u's org
// and the acting user actorID.
func (a *API) userEvent(r *http.Request, typ, actorID string, u vcd.User) {
	a.raise(r, notify.EventInfo{Type: typ, Success: true, OrgID: u.OrgID, UserID: actorID,
		EntityType: vcd.KindUser, EntityID: u.ID, EntityName: u.Name})
}

// orgEvent raises event typ about org o, routed to o itself and the acting user.
func (a *API) orgEvent(r *http.Request, typ, actorID string, o vcd.Org) {
	a.raise(r, notify.EventInfo{Type: typ, Success: true, OrgID: o.ID, UserID: actorID,
		EntityType: vcd.KindOrg, EntityID: o.ID, EntityName: o.Name})
}

// tokenEvent raises event typ about API token t, routed to the token's org and the
// acting user actorID.
func (a *API) tokenEvent(r *http.Request, typ, actorID string, t vcd.APIToken) {
	a.raise(r, notify.EventInfo{Type: typ, Success: true, OrgID: t.OrgID, UserID: actorID,
		EntityType: vcd.KindToken, EntityID: t.ID, EntityName: t.Name})
}

// loggedIn raises the session/login event of a successful login of p; its audit
// record names the new session and the client's address (VCD-COMPAT §10.1).
func (a *API) loggedIn(r *http.Request, p vcd.Principal) {
	a.raise(r, notify.EventInfo{Type: evLogin, Success: true, OrgID: p.OrgID, UserID: p.UserID,
		EntityType: vcd.KindUser, EntityID: p.UserID, EntityName: p.UserName,
		SessionID: p.SessionID, ClientIP: clientIP(r)})
}

// loginFailed raises the events of a failed login of an existing user: session/login
// with operationSuccess false and, when this failure locked the user out,
// user/lockout; both are routed to the user concerned (VCD-COMPAT §8.5). Failures that
// name no existing user raise nothing.
func (a *API) loginFailed(r *http.Request, err error) {
	var le *auth.LoginError
	if !errors.As(err, &le) || le.UserID == "" || le.OrgID == "" {
		return
	}
	name := ""
	if u, err := a.store.User(r.Context(), le.UserID); err == nil {
		name = u.Name
	}
	e := notify.EventInfo{Type: evLogin, Success: false, OrgID: le.OrgID, UserID: le.UserID,
		EntityType: vcd.KindUser, EntityID: le.UserID, EntityName: name, ClientIP: clientIP(r)}
	a.raise(r, e)
	if errors.Is(err, auth.ErrLockedNow) {
		e.Type, e.Success = evUserLockout, true
		a.raise(r, e)
	}
}

// loggedOut raises session/logout for the session of user u (in org orgID) ended by
// actorID.
func (a *API) loggedOut(r *http.Request, actorID, orgID, userID string) {
	name := ""
	if u, err := a.store.User(r.Context(), userID); err == nil {
		name = u.Name
	}
	a.raise(r, notify.EventInfo{Type: evLogout, Success: true, OrgID: orgID, UserID: actorID,
		EntityType: vcd.KindUser, EntityID: userID, EntityName: name})
}

// bodyFormat tells how a producer's body is encoded: by Content-Type (XML or JSON
// media types, +xml and +json suffixes included), or by its first non-space byte when
// Content-Type is absent. Other media types are 415.
func bodyFormat(r *http.Request, body []byte) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '<' {
			return formatXML, nil
		}
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
	case mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return formatJSON, nil
	case mt == "application/xml" || mt == "text/xml" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+xml"):
		return formatXML, nil
	}
	return "", vcd.Errorf(vcd.CodeUnsupportedMedia, "The request body must be XML or JSON.")
}

// readBody reads a producer's request body and tells its format.
func readBody(r *http.Request) ([]byte, string, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "", bodyError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "", vcd.Errorf(vcd.CodeInvalid, "The request body is empty.")
	}
	f, err := bodyFormat(r, body)
	return body, f, err
}

// orgMember resolves a producer's User reference (of an event or a task) to a user of
// org orgID; a nil reference means the caller (VCD-COMPAT §8.3, §8.4). A reference that
// names no user, or a user of another org, is 400.
func (a *API) orgMember(ctx context.Context, c *call, ref *notify.Reference, orgID string) (vcd.User, error) {
	if ref == nil || ref.ID == "" && ref.Href == "" {
		u, err := a.store.User(ctx, c.p.UserID)
		if err != nil {
			return vcd.User{}, forbiddenIfMissing(err)
		}
		return u, nil
	}
	kind, id, ok := ref.Entity()
	if !ok || kind != vcd.KindUser {
		return vcd.User{}, vcd.Errorf(vcd.CodeInvalid, "User must name a user by id (urn:vcloud:user:…) or href (/api/admin/user/…).")
	}
	u, err := a.store.User(ctx, id)
	if err != nil {
		if vcd.CodeOf(err) == vcd.CodeNotFound {
			return vcd.User{}, vcd.Errorf(vcd.CodeInvalid, "User %s does not belong to the org.", id)
		}
		return vcd.User{}, err
	}
	if u.OrgID != orgID {
		return vcd.User{}, vcd.Errorf(vcd.CodeInvalid, "User %s does not belong to the org.", id)
	}
	return u, nil
}

// producerOrg resolves the org of a producer API's path for a sysadmin (VCD-COMPAT
// §5.4); everyone else, and unknown orgs, get 403.
func (a *API) producerOrg(r *http.Request, c *call, param string) (vcd.Org, error) {
	id, ok := vcd.ParseID(vcd.KindOrg, r.PathValue(param))
	if !ok || !vcd.Can(c.p, vcd.ActProduce, id, "") {
		return vcd.Org{}, errForbidden
	}
	o, err := a.store.Org(r.Context(), id)
	if err != nil {
		return vcd.Org{}, forbiddenIfMissing(err)
	}
	return o, nil
}

// postEvent serves POST /api/admin/org/{id}/events (VCD-COMPAT §8.3): a sysadmin posts
// an EventType as XML or JSON; herald publishes it as an EXTERNAL_EVENT on
// publish/{org}/{User} and answers 204 once it is stored.
func (a *API) postEvent(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := a.producerOrg(r, c, "id")
	if err != nil {
		return err
	}
	body, format, err := readBody(r)
	if err != nil {
		return err
	}
	var ev notify.EventBody
	if format == formatXML {
		ev, err = notify.DecodeEventXML(body)
	} else {
		ev, err = notify.DecodeEventJSON(body)
	}
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := a.orgMember(ctx, c, ev.User, o.ID)
	if err != nil {
		return err
	}
	n, err := notify.ExternalEvent(notify.ExternalEventInfo{Time: a.now(), OrgID: o.ID, OrgName: o.Name,
		UserID: u.ID, Body: ev})
	if err != nil {
		return err
	}
	n.Origin = requestOrigin(r).String() // who posted it, for its audit record
	// The notification is the operation: a failure is the producer's error to retry.
	if err := a.publish(ctx, n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userChanged raises the events of a user update by actorID (VCD-COMPAT §5.2, §8.2):
// user/enable or user/disable when enabled changed, user/unlock when the update
// unlocked the user, and user/modify when anything else changed, or when nothing did
// and no other event was raised (the PUT still modified the user).
func (a *API) userChanged(r *http.Request, actorID string, before, after vcd.User, unlocked bool) {
	raised := false
	if before.Enabled != after.Enabled {
		typ := evUserDisable
		if after.Enabled {
			typ = evUserEnable
		}
		a.userEvent(r, typ, actorID, after)
		raised = true
	}
	if unlocked {
		a.userEvent(r, evUserUnlock, actorID, after)
		raised = true
	}
	modified := before.FullName != after.FullName || before.Email != after.Email ||
		before.Description != after.Description || before.Role != after.Role ||
		before.PasswordHash != after.PasswordHash
	if modified || !raised {
		a.userEvent(r, evUserModify, actorID, after)
	}
}
