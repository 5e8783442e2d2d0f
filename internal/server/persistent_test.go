package server_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// persistFixture is a server with org acme, user alice (vApp Author) and a producer
// service account, whose data directory survives restarts.
type persistFixture struct {
	dir    string
	cfg    config.Config
	s      *server.Server
	org    string // acme's UUID
	alice  string // alice's UUID
	secret string // the producer's secret
}

func newPersistFixture(t *testing.T) *persistFixture {
	t.Helper()
	f := &persistFixture{dir: t.TempDir()}
	f.cfg = testConfig(f.dir)
	f.cfg.MQTT.Addr = "127.0.0.1:0"
	f.s = MustRunServer(t, f.cfg)
	admin := newClient(t, f.s)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	o := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"acme"}`, http.StatusCreated)
	f.org = mustUUID(t, "org", o["id"].(string))
	u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","password":"pw-alice","roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":%q}}`, f.org), http.StatusCreated)
	f.alice = mustUUID(t, "user", u["id"].(string))
	sa := admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"feed","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#"]}`, http.StatusCreated)
	f.secret = sa["secret"].(string)
	return f
}

// restart closes the server gracefully and starts it again on the same data.
func (f *persistFixture) restart(t *testing.T) {
	t.Helper()
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	f.cfg.MQTT.Addr = "127.0.0.1:0"
	f.s = MustRunServer(t, f.cfg)
}

// token logs alice in and returns her JWT.
func (f *persistFixture) token(t *testing.T) string {
	t.Helper()
	c := newClient(t, f.s)
	if code, _ := c.login("alice@acme", "pw-alice"); code != http.StatusOK {
		t.Fatalf("login alice = %d", code)
	}
	return c.token
}

// publish has the producer publish n events about alice at QoS 1, pipelined, and
// returns their event ids in order.
func (f *persistFixture) publish(t *testing.T, n int) []string {
	t.Helper()
	return publishAliceEvents(t, f.s, f.secret, f.org, f.alice, n)
}

// publishAliceEvents has the producer service account "feed" (secret), connected
// to s's MQTT listener, publish n events about user alice of org at QoS 1, with up
// to 200 in flight, and returns their event ids in order once all are acknowledged.
func publishAliceEvents(t *testing.T, s *server.Server, secret, org, alice string, n int) []string {
	t.Helper()
	p := mustConnectMQTT(t, s, "ssl://"+s.MQTTAddr(), "feed-"+vcd.NewUUID(), func(o *paho.ClientOptions) {
		o.SetUsername("feed").SetPassword(secret).SetOrderMatters(true)
	})
	defer p.Disconnect(0)
	ids := make([]string, n)
	toks := make([]paho.Token, n)
	for i := range n {
		ids[i] = vcd.NewUUID()
		ev, err := notify.Event(notify.EventInfo{ID: ids[i], Type: "com/vmware/vcloud/event/user/modify", Time: time.Now(),
			Success: true, OrgID: org, UserID: alice, EntityType: "user", EntityID: alice, EntityName: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = p.Publish(ev.Topic, 1, false, ev.Envelope)
		if i >= 200 { // a window keeps paho's in-flight store small
			if tok := toks[i-200]; !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i-200, tok.Error())
			}
		}
	}
	for k, tok := range toks[max(0, n-200):] {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", max(0, n-200)+k, tok.Error())
		}
	}
	return ids
}

// rawMQTT is a raw MQTT client over the TLS listener, for packet-level checks.
type rawMQTT struct {
	tb testing.TB
	nc net.Conn
	r  *mqtt.Reader
	v  byte
}

func (f *persistFixture) dialRaw(t *testing.T, v byte) *rawMQTT {
	t.Helper()
	nc, err := tls.Dial("tcp", f.s.MQTTAddr(), tlsConfig(t, f.s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	r := mqtt.NewReader(nc, 0)
	r.SetVersion(v)
	return &rawMQTT{tb: t, nc: nc, r: r, v: v}
}

func (c *rawMQTT) send(p mqtt.Packet) {
	c.tb.Helper()
	b, err := p.Append(nil, c.v)
	if err != nil {
		c.tb.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *rawMQTT) read() mqtt.Packet {
	c.tb.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	p, err := c.r.ReadPacket()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return p
}

// connect sends CONNECT for alice with clean start as given (persistent sessions ask
// for an hour on 5.0) and returns the CONNACK.
func (c *rawMQTT) connect(token, clientID string, clean bool) *mqtt.Connack {
	c.tb.Helper()
	cp := &mqtt.Connect{ProtocolVersion: c.v, CleanStart: clean, KeepAlive: 60, ClientID: clientID,
		UsernameFlag: true, PasswordFlag: true, Password: []byte(token)}
	if c.v == mqtt.Version5 && !clean {
		cp.Props = &mqtt.Properties{SessionExpiryInterval: new(uint32(3600))}
	}
	c.send(cp)
	ack, ok := c.read().(*mqtt.Connack)
	if !ok || ack.ReasonCode != 0 {
		c.tb.Fatalf("CONNACK %+v", ack)
	}
	return ack
}

func (c *rawMQTT) subscribe(qos byte, filter string) {
	c.tb.Helper()
	c.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: filter, QoS: qos}}})
	if ack, ok := c.read().(*mqtt.Suback); !ok || ack.ReasonCodes[0] != mqtt.ReasonCode(qos) {
		c.tb.Fatalf("SUBACK %+v", ack)
	}
}

// disconnect ends the connection normally; the server saves the session.
func (c *rawMQTT) disconnect() {
	c.send(&mqtt.Disconnect{})
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := c.r.ReadPacket(); err != nil {
			return
		}
	}
}

// receiveAll reads len(ids) PUBLISH packets, acknowledging each, and checks that they
// carry the events ids in order.
func (c *rawMQTT) receiveAll(ids []string) {
	c.tb.Helper()
	for i, id := range ids {
		p, ok := c.read().(*mqtt.Publish)
		if !ok {
			c.tb.Fatalf("message %d: got %T; want PUBLISH", i, p)
		}
		if !bytes.Contains(p.Payload, []byte(id)) {
			c.tb.Fatalf("message %d of %d is not event %s (dup %v): out of order, duplicated or missing", i, len(ids), id, p.Dup)
		}
		c.send(&mqtt.Puback{PacketID: p.PacketID})
	}
}

// expectNothing checks that nothing else is queued: the next packet answers PINGREQ.
func (c *rawMQTT) expectNothing() {
	c.tb.Helper()
	c.send(&mqtt.Pingreq{})
	if p := c.read(); p.Type() != mqtt.TypePingresp {
		c.tb.Fatalf("got %T %+v; want PINGRESP", p, p)
	}
}

// TestEndToEnd_PersistentSession: a QoS 1 persistent session gets every notification
// published while it was offline, in order and once, also across a graceful restart
// (VCD-COMPAT §6.6).
func TestEndToEnd_PersistentSession(t *testing.T) {
	const n = 10000
	f := newPersistFixture(t)
	tok := f.token(t)
	filter := topic.Publish(f.org, f.alice)

	c := f.dialRaw(t, mqtt.Version311)
	if ack := c.connect(tok, "offline", false); ack.SessionPresent {
		t.Error("new session: session present 1")
	}
	c.subscribe(1, filter)
	c.disconnect()

	ids := f.publish(t, n)
	c = f.dialRaw(t, mqtt.Version311)
	if ack := c.connect(tok, "offline", false); !ack.SessionPresent {
		t.Fatal("resumed session: session present 0")
	}
	start := time.Now()
	c.receiveAll(ids)
	t.Logf("backlog of %d received in %v", n, time.Since(start))
	live := f.publish(t, 1) // live after the backlog
	c.receiveAll(live)
	c.expectNothing()
	c.disconnect()

	// Across a graceful restart: half before, half after.
	ids = f.publish(t, n/2)
	f.restart(t)
	ids = append(ids, f.publish(t, n/2)...)
	// The token still verifies (the keys are in the store); logging in again would
	// publish a login event to alice.
	c = f.dialRaw(t, mqtt.Version5)
	if ack := c.connect(tok, "offline", false); !ack.SessionPresent {
		t.Fatal("after restart: session present 0")
	}
	c.receiveAll(ids)
	c.expectNothing()

	// A clean session discards it.
	c.disconnect()
	c = f.dialRaw(t, mqtt.Version311)
	if ack := c.connect(tok, "offline", true); ack.SessionPresent {
		t.Error("clean session: session present 1")
	}
	c.disconnect()
	c = f.dialRaw(t, mqtt.Version311)
	if ack := c.connect(tok, "offline", false); ack.SessionPresent {
		t.Error("after clean session: session present 1")
	}
}

// TestEndToEnd_PersistentInflight: messages sent but not acknowledged when the
// connection dropped come back first, with DUP=1 and the same packet ids.
func TestEndToEnd_PersistentInflight(t *testing.T) {
	f := newPersistFixture(t)
	tok := f.token(t)
	c := f.dialRaw(t, mqtt.Version5)
	c.connect(tok, "inflight", false)
	c.subscribe(1, topic.Publish(f.org, f.alice))
	ids := f.publish(t, 3)
	var pids []uint16
	for range 3 {
		p := c.read().(*mqtt.Publish)
		pids = append(pids, p.PacketID)
	}
	c.send(&mqtt.Puback{PacketID: pids[0]})
	c.expectNothing()
	_ = c.nc.Close() // dropped without DISCONNECT

	more := f.publish(t, 2)
	// The server may not have seen the drop yet: the new connection takes over.
	c = f.dialRaw(t, mqtt.Version5)
	if ack := c.connect(tok, "inflight", false); !ack.SessionPresent {
		t.Fatal("session present 0")
	}
	for i := 1; i < 3; i++ {
		p, ok := c.read().(*mqtt.Publish)
		if !ok || !p.Dup || p.PacketID != pids[i] || !bytes.Contains(p.Payload, []byte(ids[i])) {
			t.Fatalf("resend %d: %+v; want DUP=1, packet id %d, event %s", i, p, pids[i], ids[i])
		}
		c.send(&mqtt.Puback{PacketID: p.PacketID})
	}
	c.receiveAll(more)
	c.expectNothing()
}

// TestEndToEnd_PersistentLogReset: a session that was offline while the notification
// log was deleted and created again (its files removed while herald was down), and
// the new log grew past the session's ack floor, resumes from the new log's first
// message, and the CONNACK says why.
func TestEndToEnd_PersistentLogReset(t *testing.T) {
	f := newPersistFixture(t)
	tok := f.token(t)
	c := f.dialRaw(t, mqtt.Version5)
	c.connect(tok, "away", false)
	c.subscribe(1, topic.Publish(f.org, f.alice))
	c.receiveAll(f.publish(t, 3))
	c.disconnect()

	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	removeStream(t, f.dir, "NOTIFY")
	f.cfg.MQTT.Addr = "127.0.0.1:0"
	f.s = MustRunServer(t, f.cfg)
	ids := f.publish(t, 10) // the new log's first sequences, past the old floor
	c = f.dialRaw(t, mqtt.Version5)
	ack := c.connect(tok, "away", false)
	if !ack.SessionPresent || ack.Props == nil || !strings.Contains(ack.Props.ReasonString, "reset") {
		t.Errorf("CONNACK %+v; want session present and a Reason String about the reset", ack)
	}
	c.receiveAll(ids)
	c.expectNothing()

	// The history projector read the new log from its start too: every event of it
	// has its audit record.
	admin := newClient(t, f.s)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	path := "/cloudapi/1.0.0/auditTrail?pageSize=128&filter=" + url.QueryEscape("eventType==com/vmware/vcloud/event/user/modify")
	within(t, 15*time.Second, "audit records of the new log's events", func() bool {
		page := admin.mustJSON(http.MethodGet, path, "", http.StatusOK)
		values, _ := page["values"].([]any)
		have := map[string]bool{}
		for _, v := range values {
			if id, _ := v.(map[string]any)["eventId"].(string); id != "" {
				have[strings.TrimPrefix(id, "urn:vcloud:audit:")] = true
			}
		}
		for _, id := range ids {
			if !have[id] {
				return false
			}
		}
		return true
	})
}

// TestEndToEnd_StorageFull: with less free disk than store.diskReserve (here a
// reserve larger than any disk), producers are refused and told so, and the rest of
// herald works on: a REST event gets 503 saying the storage is full, an MQTT 5
// producer's QoS 1 PUBLISH a PUBACK 0x80 saying so, an MQTT 3.1.1 producer's a closed
// connection; logins and subscriptions go on, and /metrics shows the free space.
func TestEndToEnd_StorageFull(t *testing.T) {
	f := newPersistFixture(t)
	f.cfg.Store.DiskReserve = 1 << 60
	f.restart(t)
	tok := f.token(t)
	sub := f.dialRaw(t, mqtt.Version5)
	sub.connect(tok, "watcher", true)
	sub.subscribe(1, topic.Publish(f.org, f.alice))

	admin := newClient(t, f.s)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	ev := fmt.Sprintf(`{"type":"backup/completed","serviceNamespace":"org.example.backup","success":true,`+
		`"user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, f.alice)
	resp, body := admin.do(http.MethodPost, "/api/admin/org/"+f.org+"/events", "application/*+json;version=39.0", ev,
		"Content-Type", "application/vnd.vmware.admin.event+json")
	if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("storage is full")) {
		t.Errorf("POST event = %d %s; want 503 saying the storage is full", resp.StatusCode, body)
	}

	n, err := notify.Event(notify.EventInfo{ID: vcd.NewUUID(), Type: "com/vmware/vcloud/event/user/modify", Time: time.Now(),
		Success: true, OrgID: f.org, UserID: f.alice, EntityType: "user", EntityID: f.alice, EntityName: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []byte{mqtt.Version5, mqtt.Version311} {
		p := f.dialRaw(t, v)
		p.send(&mqtt.Connect{ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: fmt.Sprint("feed-", v),
			UsernameFlag: true, Username: "feed", PasswordFlag: true, Password: []byte(f.secret)})
		if ack, ok := p.read().(*mqtt.Connack); !ok || ack.ReasonCode != 0 {
			t.Fatalf("producer CONNACK %+v", ack)
		}
		p.send(&mqtt.Publish{Topic: n.Topic, QoS: 1, PacketID: 7, Payload: n.Envelope})
		if v == mqtt.Version5 {
			ack, ok := p.read().(*mqtt.Puback)
			if !ok || ack.PacketID != 7 || ack.ReasonCode != mqtt.ReasonUnspecifiedError ||
				ack.Props == nil || !strings.Contains(ack.Props.ReasonString, "storage is full") {
				t.Errorf("MQTT 5 producer: %+v; want PUBACK 7 with reason 0x80 saying the storage is full", ack)
			}
			continue
		}
		_ = p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if pk, err := p.r.ReadPacket(); err == nil {
			t.Errorf("MQTT 3.1.1 producer got %+v; want the connection closed", pk)
		}
	}
	sub.expectNothing()
	if got := scrape(t, admin); got["herald_store_disk_free_bytes"] <= 0 {
		t.Errorf("herald_store_disk_free_bytes = %v", got["herald_store_disk_free_bytes"])
	}
}

// removeStream deletes the files of the JetStream stream name under the data
// directory dir of a stopped herald.
func removeStream(t *testing.T, dir, name string) {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == name && filepath.Base(filepath.Dir(path)) == "streams" {
			found = append(found, path)
			return filepath.SkipDir
		}
		return err
	})
	if err != nil || len(found) != 1 {
		t.Fatalf("stream %s under %s: %v, %v; want one directory", name, dir, found, err)
	}
	if err := os.RemoveAll(found[0]); err != nil {
		t.Fatal(err)
	}
}

// TestPerf_BacklogReplay measures the replay of a 100,000-message backlog to one
// subscriber (docs/PERFORMANCE.md, "Offline clients"). Set HERALD_PERF=1 to run it.
func TestPerf_BacklogReplay(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("set HERALD_PERF=1 to measure")
	}
	n := 100000
	if s := os.Getenv("HERALD_PERF_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newPersistFixture(t)
	tok := f.token(t)
	c := f.dialRaw(t, mqtt.Version311)
	c.connect(tok, "perf", false)
	c.subscribe(1, topic.Publish(f.org, f.alice))
	c.disconnect()
	start := time.Now()
	ids := f.publish(t, n)
	t.Logf("published %d in %v (%.0f/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
	c = f.dialRaw(t, mqtt.Version311)
	start = time.Now()
	c.connect(tok, "perf", false)
	c.receiveAll(ids)
	d := time.Since(start)
	t.Logf("backlog replay: %d messages in %v = %.0f messages/s", n, d, float64(n)/d.Seconds())
}
