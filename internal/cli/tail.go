package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/client"
)

// Role names that widen what tail subscribes to (VCD-COMPAT §5.3, §7.2).
const (
	roleSysAdmin = "System Administrator"
	roleOrgAdmin = "Organization Administrator"
)

// Reconnection backoff of tail: exponential from backoffMin, capped at backoffMax, each
// wait drawn uniformly from its upper half (jitter) so clients do not reconnect in step.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
)

// persistentClientID is tail's client id with -persistent unless -client-id is given.
// Client ids are scoped per user (VCD-COMPAT §6.5), so users do not collide.
const persistentClientID = "herald-tail"

func (e env) tail(ctx context.Context, args []string) error {
	var topic, clientID string
	var persistent bool
	rf, _, err := e.parseCommand(command{name: "tail",
		help: "Print the notifications the logged-in user may see as they come: sysadmins\n" +
			"publish/#, org admins publish/{org}/+, other users publish/{org}/{self}.\n" +
			"Reconnects with backoff; with -persistent the session (and what arrives while\n" +
			"disconnected) is kept across reconnections. Exit 0 on interrupt, 1 when the\n" +
			"login is expired or revoked.",
		json: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&topic, "topic", "", "subscribe to this MQTT filter instead (must be within what the user may see)")
			fs.StringVar(&clientID, "client-id", "", "MQTT client id (default: "+persistentClientID+" with -persistent, else random)")
			fs.BoolVar(&persistent, "persistent", false, "use a persistent session (CleanSession=0) and a stable client id")
		}}, args)
	if err != nil {
		return err
	}
	// Not runCommand: tail runs until interrupted, so only its one REST request is
	// bounded by the request timeout, and it needs the login's user and expiry.
	c, cr, err := e.session(rf)
	if err != nil {
		return err
	}
	filter := topic
	if filter == "" {
		rctx, cancel := withTimeout(ctx)
		s, err := c.CurrentSession(rctx)
		cancel()
		if err != nil {
			return apiError(fmt.Errorf("read session: %w", err))
		}
		filter = filterFor(s)
	}
	id := clientID
	if id == "" {
		if persistent {
			id = persistentClientID
		} else {
			var b [4]byte
			_, _ = rand.Read(b[:])
			id = "herald-tail-" + hex.EncodeToString(b[:])
		}
	}
	opts := client.MQTTOptions{ClientID: id, CleanSession: !persistent, Filters: []string{filter}}
	fmt.Fprintf(e.stderr, "herald: tailing %s as %s@%s (client id %s)\n", filter, cr.User, cr.Org, id)
	failures := 0
	for {
		if !cr.Expiry.IsZero() && !e.now().Before(cr.Expiry) {
			return fmt.Errorf("the login expired at %s: run 'herald login' again", cr.Expiry.Format(time.RFC3339))
		}
		err := e.tailOnce(ctx, c, opts, rf.json, func() { failures = 0 })
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, client.ErrUnauthorized):
			return apiError(err)
		}
		wait := backoff(failures)
		failures++
		fmt.Fprintf(e.stderr, "herald: %v; reconnecting in %s\n", err, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// tailOnce connects, prints messages until the connection fails or ctx is done, and
// calls connected once subscribed.
func (e env) tailOnce(ctx context.Context, c *client.Client, opts client.MQTTOptions, raw bool, connected func()) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := c.DialMQTT(dctx, opts)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	connected()
	if conn.SessionPresent {
		fmt.Fprintln(e.stderr, "herald: subscribed; resumed the persistent session")
	} else {
		fmt.Fprintln(e.stderr, "herald: subscribed")
	}
	for {
		msg, err := conn.Next(ctx)
		if err != nil {
			return err
		}
		if raw {
			fmt.Fprintf(e.stdout, "%s\n", msg.Payload)
			continue
		}
		line, err := formatNotification(msg.Payload, e.now())
		if err != nil {
			fmt.Fprintf(e.stderr, "herald: %s: %v\n", msg.Topic, err)
			continue
		}
		fmt.Fprintln(e.stdout, line)
	}
}

// backoff is the wait before reconnection attempt n+1 after n consecutive failures.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 16 {
		d = min(backoffMin<<n, backoffMax)
	}
	return d/2 + mrand.N(d/2+1)
}

// filterFor returns the widest filter session s may subscribe to (VCD-COMPAT §7.2).
func filterFor(s client.Session) string {
	org, user := client.BareID(s.Org.ID), client.BareID(s.User.ID)
	for _, r := range s.Roles {
		switch r {
		case roleSysAdmin:
			return "publish/#"
		case roleOrgAdmin:
			return "publish/" + org + "/+"
		}
	}
	return "publish/" + org + "/" + user
}

// envelope is a notification's outer JSON (VCD-COMPAT §8.1).
type envelope struct {
	Type    string            `json:"type"`
	Headers map[string]string `json:"headers"`
	Payload string            `json:"payload"`
}

// eventTimeLayouts are the timestamp forms of EVENT payloads (§8.2) and of Task JSON (§8.4).
var eventTimeLayouts = []string{"2006-01-02T15:04:05.000-07:00", "2006-01-02T15:04:05.000-0700", time.RFC3339Nano}

// lineTime is the layout of the time column: UTC, milliseconds.
const lineTime = "2006-01-02T15:04:05.000Z"

// formatNotification renders one notification as a line of text:
//
//	TIME TYPE KIND ENTITY STATUS [PROGRESS] [DETAILS]
//
// TIME is the payload's timestamp in UTC, or now for a TASK (Task JSON has no time of
// change). KIND is the event type without VCD's com/vmware/vcloud/event/ prefix, a
// task's operationName, or "-". ENTITY is type/name (a task's owner, or task/name).
// STATUS is success or failure for events, a task's status, or "-". Unknown types
// still give a line from their headers, since clients must accept them (§8.1).
func formatNotification(b []byte, now time.Time) (string, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return "", fmt.Errorf("not a notification envelope: %w", err)
	}
	var p map[string]any
	if env.Payload != "" {
		if err := json.Unmarshal([]byte(env.Payload), &p); err != nil {
			return "", fmt.Errorf("%s payload is not JSON: %w", env.Type, err)
		}
	}
	str := func(k string) string { s, _ := p[k].(string); return s }
	at := func(s string) string {
		for _, l := range eventTimeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC().Format(lineTime)
			}
		}
		return now.UTC().Format(lineTime)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	f := []string{"", env.Type}
	switch env.Type {
	case "EVENT", "EXTERNAL_EVENT":
		ok, _ := p["operationSuccess"].(bool)
		status := "failure"
		if ok {
			status = "success"
		}
		f[0] = at(str("timestamp"))
		f = append(f, dash(strings.TrimPrefix(str("type"), "com/vmware/vcloud/event/")),
			dash(str("entityType"))+"/"+dash(str("entityName")), status)
		if d := str("description"); d != "" {
			f = append(f, strconv.Quote(d))
		}
	case "TASK":
		f[0] = now.UTC().Format(lineTime)
		entity := "task/" + dash(str("name"))
		if o, _ := p["owner"].(map[string]any); o != nil {
			id, _ := o["id"].(string)
			name, _ := o["name"].(string)
			entity = dash(urnKind(id)) + "/" + dash(name)
		}
		progress := "-"
		if n, ok := p["progress"].(float64); ok {
			progress = strconv.Itoa(int(n)) + "%"
		}
		f = append(f, dash(str("operationName")), entity, dash(str("status")), progress)
		if op := str("operation"); op != "" {
			f = append(f, strconv.Quote(op))
		}
		f = append(f, "id="+client.BareID(str("id")))
	case "METRICS":
		f[0] = at(str("timestamp"))
		vms, _ := p["vms"].([]any)
		n := 0
		for _, vm := range vms {
			if m, _ := vm.(map[string]any); m != nil {
				ms, _ := m["metrics"].([]any)
				n += len(ms)
			}
		}
		f = append(f, "-", "vApp/"+dash(client.BareID(str("vApp"))), "-",
			fmt.Sprintf("vms=%d values=%d", len(vms), n))
	default:
		f[0] = now.UTC().Format(lineTime)
		h := env.Headers
		f = append(f, dash(h["notification.type"]), dash(h["notification.entityType"])+"/"+dash(h["notification.entityUUID"]), "-")
	}
	if f[1] == "" {
		f[1] = "-"
	}
	return strings.Join(f, " "), nil
}

// urnKind returns the kind of urn:vcloud:<kind>:<uuid>, or "".
func urnKind(urn string) string {
	parts := strings.Split(urn, ":")
	if len(parts) == 4 && parts[0] == "urn" {
		return parts[2]
	}
	return ""
}
