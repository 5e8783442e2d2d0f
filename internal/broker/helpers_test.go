package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// Directory of the tests (ids from VCD-COMPAT's examples where they exist).
const (
	orgAcme   = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	orgOther  = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
	orgSystem = "a93c9db9-7471-3192-8d09-a8f7eeda85f9"
	idAlice   = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f" // user of acme
	idBob     = "5c3e7a9b-2d4f-4b6c-8e0a-3f5b7d9c1e2a" // org admin of acme
	idAdmin   = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9" // sysadmin
	idCarol   = "6d4f8b0c-3e5a-4c7d-9f1b-4a6c8e0d2f3b" // user of the other org
	idFeed    = "3f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f" // producer service account
	idExt     = "2e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b" // extension service account
	idRelay   = "8c7b6a5f-4e3d-4c2b-9a1f-0e9d8c7b6a5f" // service account publishing and subscribing under relay/
	vApp      = "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c"
	sessAlice = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"
)

var (
	extIn  = topic.ExtensionIn("acme", "backup", "1.0.0")
	extOut = topic.ExtensionOut("acme", "backup", "1.0.0")
)

func principals() map[string]vcd.Principal {
	return map[string]vcd.Principal{
		"tok-alice": {Kind: vcd.PrincipalUser, UserID: idAlice, UserName: "alice", OrgID: orgAcme, OrgName: "acme", Level: vcd.LevelUser, SessionID: sessAlice},
		"tok-bob":   {Kind: vcd.PrincipalUser, UserID: idBob, UserName: "bob", OrgID: orgAcme, OrgName: "acme", Level: vcd.LevelOrgAdmin},
		"tok-admin": {Kind: vcd.PrincipalUser, UserID: idAdmin, UserName: "administrator", OrgID: orgSystem, OrgName: "System", Level: vcd.LevelSysAdmin},
		"tok-carol": {Kind: vcd.PrincipalUser, UserID: idCarol, UserName: "carol", OrgID: orgOther, OrgName: "other", Level: vcd.LevelUser},
		"tok-old":   {Kind: vcd.PrincipalUser, UserID: idAlice, UserName: "alice", OrgID: orgAcme, OrgName: "acme", Level: vcd.LevelUser, ExpiresAt: time.Now().Add(-time.Minute)},
	}
}

// fakeAuth resolves tokens from a map and service accounts by name.
type fakeAuth struct {
	mu       sync.Mutex
	tokens   map[string]vcd.Principal
	accounts map[string]fakeAccount
	touches  atomic.Int64
	touched  chan vcd.Principal // if not nil, receives every Touch
}

type fakeAccount struct {
	secret string
	p      vcd.Principal
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{
		tokens: principals(),
		accounts: map[string]fakeAccount{
			"feed": {secret: "feed-secret", p: vcd.Principal{Kind: vcd.PrincipalService, UserID: idFeed, UserName: "feed",
				Producer: true, Publish: []string{"publish/#", "metrics/#", extIn}}},
			"acme/backup/1.0.0": {secret: "ext-secret", p: vcd.Principal{Kind: vcd.PrincipalService, UserID: idExt, UserName: "acme/backup/1.0.0",
				Subscribe: []string{extIn}, Publish: []string{extOut}}},
			// relay publishes and subscribes under relay/, for No Local and
			// subscription identifiers.
			"relay": {secret: "relay-secret", p: vcd.Principal{Kind: vcd.PrincipalService, UserID: idRelay, UserName: "relay",
				Subscribe: []string{"relay/#"}, Publish: []string{"relay/#"}}},
		},
	}
}

func (a *fakeAuth) Authenticate(_ context.Context, token string) (vcd.Principal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.tokens[token]
	if !ok {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "bad token")
	}
	return p, nil
}

func (a *fakeAuth) Touch(_ context.Context, p vcd.Principal) {
	a.touches.Add(1)
	if a.touched != nil {
		a.touched <- p
	}
}

func (a *fakeAuth) AuthenticateService(_ context.Context, name, secret string) (vcd.Principal, error) {
	acc, ok := a.accounts[name]
	if !ok || acc.secret != secret {
		return vcd.Principal{}, vcd.Errorf(vcd.CodeUnauthorized, "bad account")
	}
	return acc.p, nil
}

func (a *fakeAuth) set(token string, p vcd.Principal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = p
}

// fakeLog is the durable log in memory: it numbers messages and feeds them
// straight to Broker.Deliver, one at a time, as the store's live feed does.
type fakeLog struct {
	mu   sync.Mutex
	b    *broker.Broker
	seq  uint64
	msgs []broker.Message
	ids  map[string]bool
	hold bool          // AppendAsync waits for release
	held []*heldAppend // in order
	// prev, once reset, is the last sequence of the log before: the next append
	// tells the broker, as the server's feed does.
	prev uint64
	// resets counts the resets: the log's epoch.
	resets int
	// failed holds the held appends that failed: a real log may still send
	// their payloads (a resend on its way), so the broker must leave them be.
	failed  []*heldAppend
	changed []string // appends whose payload changed in flight
}

// changedPayloads reports the held appends whose payload the broker changed
// while they were in flight, or after they failed.
func (l *fakeLog) changedPayloads() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for _, a := range l.failed {
		if !bytes.Equal(a.payload, a.orig) {
			bad = append(bad, fmt.Sprintf("failed append %q now %q", a.orig, a.payload))
		}
	}
	return append(bad, l.changed...)
}

// reset deletes the log and starts a new one, whose sequences start over.
func (l *fakeLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prev, l.seq, l.msgs = l.seq, 0, nil
	l.resets++
	clear(l.ids)
}

func (l *fakeLog) Append(_ context.Context, t, id string, payload []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(t, id, payload)
}

// AppendAsync makes the broker pipeline producers' publishes. It stores the
// message at once, unless hold is set: then the append waits, in order, for
// release.
func (l *fakeLog) AppendAsync(t, id string, payload []byte) (func(context.Context) (uint64, error), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.hold {
		seq, err := l.appendLocked(t, id, payload)
		return func(context.Context) (uint64, error) { return seq, err }, nil
	}
	a := &heldAppend{t: t, id: id, payload: payload, orig: bytes.Clone(payload), done: make(chan struct{})}
	l.held = append(l.held, a)
	return func(ctx context.Context) (uint64, error) {
		select {
		case <-a.done:
			return a.seq, a.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, nil
}

// heldAppend is an append that waits for fakeLog.release.
type heldAppend struct {
	t, id   string
	payload []byte
	orig    []byte // payload as it was handed over
	seq     uint64
	err     error
	done    chan struct{}
}

// holding reports how many appends wait for release.
func (l *fakeLog) holding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// release completes the held appends in order: fail(i) returns the error the
// i-th one fails with (nil: stored).
func (l *fakeLog) release(fail func(i int) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range l.held {
		if !bytes.Equal(a.payload, a.orig) {
			l.changed = append(l.changed, fmt.Sprintf("append in flight %q now %q", a.orig, a.payload))
		}
		if a.err = fail(i); a.err != nil {
			l.failed = append(l.failed, a)
		} else {
			a.seq, a.err = l.appendLocked(a.t, a.id, a.payload)
		}
		close(a.done)
	}
	l.held = nil
}

// appendLocked stores one message. Lock held on entry.
func (l *fakeLog) appendLocked(t, id string, payload []byte) (uint64, error) {
	if id != "" {
		if l.ids[id] {
			return 0, errors.New("duplicate id")
		}
		l.ids[id] = true
	}
	l.seq++
	if l.prev != 0 {
		l.b.LogReset(l.prev, l.seq)
		l.prev = 0
	}
	m := broker.Message{Seq: l.seq, Topic: t, Payload: append([]byte(nil), payload...), Time: time.Now()}
	l.msgs = append(l.msgs, m)
	l.b.Deliver(m)
	return l.seq, nil
}

func (l *fakeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

func (l *fakeLog) last() broker.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[len(l.msgs)-1]
}

// fakeRetained is the retained-message store in memory. err, when set, makes
// SetRetained fail.
type fakeRetained struct {
	mu  sync.Mutex
	m   map[string]broker.Retained
	err error
}

func newFakeRetained() *fakeRetained { return &fakeRetained{m: map[string]broker.Retained{}} }

func (r *fakeRetained) SetRetained(_ context.Context, t string, payload []byte, qos byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if len(payload) == 0 {
		delete(r.m, t)
		return nil
	}
	r.m[t] = broker.Retained{Topic: t, Payload: append([]byte(nil), payload...), QoS: qos}
	return nil
}

func (r *fakeRetained) Retained() []broker.Retained {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]broker.Retained, 0, len(r.m))
	for _, m := range r.m {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b broker.Retained) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// get returns the retained message of t.
func (r *fakeRetained) get(t string) (broker.Retained, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.m[t]
	return m, ok
}

func (r *fakeRetained) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// withRetained gives the broker r as its RetainedStore.
func withRetained(r *fakeRetained) func(*broker.Config) {
	return func(c *broker.Config) { c.Retained = r }
}

// harness is a broker behind a real TCP listener on loopback.
type harness struct {
	b     *broker.Broker
	auth  *fakeAuth
	log   *fakeLog
	addr  string // the TCP listener
	wsURL string // the WebSocket endpoint, for the same broker
}

// overWebSocket makes dial use the /messaging/mqtt WebSocket endpoint instead of TCP,
// so the conformance tests run over both transports: CI runs this package once more
// with HERALD_BROKER_TRANSPORT=ws. It reads the variable while a test runs, where
// go test records it as an input of the result: read when the package initialised,
// it was not, and the WebSocket run reused the TCP run's cached result.
func overWebSocket() bool { return os.Getenv("HERALD_BROKER_TRANSPORT") == "ws" }

func testLogger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// mustRunBroker starts a broker with a TCP listener and stops both when the
// test ends.
func mustRunBroker(tb testing.TB, opts ...func(*broker.Config)) *harness {
	tb.Helper()
	var cfg broker.Config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ParkAfter == 0 {
		// Park WebSocket connections as soon as they are quiet, so that the
		// conformance tests over WebSocket go through parking and resuming.
		cfg.ParkAfter = time.Millisecond
	}
	h := &harness{auth: newFakeAuth(), log: &fakeLog{ids: map[string]bool{}}}
	h.b = broker.New(cfg, h.auth, h.auth, h.log, testLogger())
	h.log.b = h.b
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	h.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // exits when the listener is closed
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.b.ServeConn(context.Background(), nc, nil)
			}()
		}
	}()
	mux := http.NewServeMux()
	mux.Handle("/messaging/mqtt", h.b)
	srv := httptest.NewServer(mux)
	h.wsURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/messaging/mqtt"
	tb.Cleanup(func() {
		_ = ln.Close()
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.b.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
	return h
}

// client is a raw MQTT client for conformance tests.
type client struct {
	tb testing.TB
	nc net.Conn
	r  *mqtt.Reader
	v  byte
}

const waitFor = 5 * time.Second

func (h *harness) dial(tb testing.TB, version byte) *client {
	tb.Helper()
	if overWebSocket() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		wc, _, err := websocket.Dial(ctx, h.wsURL, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			tb.Fatal(err)
		}
		wc.SetReadLimit(-1)
		nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
		tb.Cleanup(func() { _ = nc.Close() })
		return newClient(tb, nc, version)
	}
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	return newClient(tb, nc, version)
}

func newClient(tb testing.TB, nc net.Conn, version byte) *client {
	c := &client{tb: tb, nc: nc, r: mqtt.NewReader(nc, 0), v: version}
	c.r.SetVersion(version)
	return c
}

func (c *client) send(p mqtt.Packet) {
	c.tb.Helper()
	b, err := p.Append(nil, c.v)
	if err != nil {
		c.tb.Fatalf("encode %T: %v", p, err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.tb.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// read returns the next packet, failing the test after waitFor.
func (c *client) read() mqtt.Packet {
	c.tb.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	p, err := c.r.ReadPacket()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return p
}

func readAs[T mqtt.Packet](c *client) T {
	c.tb.Helper()
	p := c.read()
	t, ok := p.(T)
	if !ok {
		var want T
		c.tb.Fatalf("got %T %+v; want %T", p, p, want)
	}
	return t
}

// connect sends cp (its version is the client's) and returns the CONNACK.
func (c *client) connect(cp *mqtt.Connect) *mqtt.Connack {
	c.tb.Helper()
	c.send(cp)
	return readAs[*mqtt.Connack](c)
}

// expectClosed reads until the server closes the connection and returns the
// DISCONNECT it sent first, if any. Any other packet fails the test.
func (c *client) expectClosed() *mqtt.Disconnect {
	c.tb.Helper()
	var d *mqtt.Disconnect
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.tb.Fatalf("connection still open after %v", waitFor)
			}
			return d
		}
		dp, ok := p.(*mqtt.Disconnect)
		if !ok || d != nil {
			c.tb.Fatalf("got %T %+v while waiting for close", p, p)
		}
		d = dp
	}
}

// expectDisconnect checks that a 5.0 connection gets DISCONNECT with reason,
// and a 3.1.1 one is just closed.
func (c *client) expectDisconnect(reason mqtt.ReasonCode) {
	c.tb.Helper()
	d := c.expectClosed()
	switch {
	case c.v != mqtt.Version5 && d != nil:
		c.tb.Errorf("3.1.1 got DISCONNECT %+v", d)
	case c.v == mqtt.Version5 && d == nil:
		c.tb.Errorf("got no DISCONNECT; want reason %#x", byte(reason))
	case c.v == mqtt.Version5 && d.ReasonCode != reason:
		c.tb.Errorf("DISCONNECT reason %#x; want %#x", byte(d.ReasonCode), byte(reason))
	case c.v == mqtt.Version5 && (d.Props == nil || d.Props.ReasonString == ""):
		c.tb.Errorf("DISCONNECT %#x has no Reason String", byte(reason))
	}
}

func connectPacket(clientID, user, pass string) *mqtt.Connect {
	cp := &mqtt.Connect{CleanStart: true, KeepAlive: 60, ClientID: clientID}
	if user != "" {
		cp.UsernameFlag, cp.Username = true, user
	}
	if pass != "" {
		// 3.1.1 needs the user name flag with a password [MQTT-3.1.2-22]; the
		// name itself may be empty (form B).
		cp.UsernameFlag = true
		cp.PasswordFlag, cp.Password = true, []byte(pass)
	}
	return cp
}

// login connects with a JWT (form B, empty username) and fails on refusal.
func (h *harness) login(tb testing.TB, version byte, token, clientID string) *client {
	tb.Helper()
	c := h.dial(tb, version)
	if ack := c.connect(connectPacket(clientID, "", token)); ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK %#x; want 0", byte(ack.ReasonCode))
	}
	return c
}

// service connects a service account (form C).
func (h *harness) service(tb testing.TB, version byte, name, secret, clientID string) *client {
	tb.Helper()
	c := h.dial(tb, version)
	if ack := c.connect(connectPacket(clientID, name, secret)); ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK %#x; want 0", byte(ack.ReasonCode))
	}
	return c
}

var nextPacketID atomic.Uint32

func packetID() uint16 { return uint16(nextPacketID.Add(1)%65000 + 1) }

// subscribe subscribes to filters at qos and returns the SUBACK codes.
func (c *client) subscribe(qos byte, filters ...string) []mqtt.ReasonCode {
	c.tb.Helper()
	sp := &mqtt.Subscribe{PacketID: packetID()}
	for _, f := range filters {
		sp.Subscriptions = append(sp.Subscriptions, mqtt.Subscription{Filter: f, QoS: qos})
	}
	c.send(sp)
	ack := readAs[*mqtt.Suback](c)
	if ack.PacketID != sp.PacketID {
		c.tb.Fatalf("SUBACK packet id %d; want %d", ack.PacketID, sp.PacketID)
	}
	return ack.ReasonCodes
}

// expectPublish reads the next packet, which must be a PUBLISH on topic.
func (c *client) expectPublish(topic string) *mqtt.Publish {
	c.tb.Helper()
	p := readAs[*mqtt.Publish](c)
	if p.Topic != topic {
		c.tb.Fatalf("PUBLISH on %q; want %q", p.Topic, topic)
	}
	return p.Clone()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
