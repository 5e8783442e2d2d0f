package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// mqttClient is a paho MQTT 3.1.1 client whose messages and connection loss arrive
// on channels.
type mqttClient struct {
	paho.Client
	msgs chan paho.Message
	lost chan error
}

func tlsConfig(tb testing.TB, s *server.Server) *tls.Config {
	tb.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// mustConnectMQTT connects to broker URL with opts applied and fails the test on error.
func mustConnectMQTT(tb testing.TB, s *server.Server, url, clientID string, opts func(*paho.ClientOptions)) *mqttClient {
	tb.Helper()
	c := &mqttClient{msgs: make(chan paho.Message, 100), lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetKeepAlive(60 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).
		SetTLSConfig(tlsConfig(tb, s)).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err })
	if opts != nil {
		opts(o)
	}
	c.Client = paho.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		tb.Fatalf("connect %s: %v", clientID, t.Error())
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c
}

// subscribe subscribes to filters at QoS 0 and returns the granted code per filter.
func (c *mqttClient) subscribe(tb testing.TB, filters ...string) map[string]byte {
	tb.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 0
	}
	t := c.SubscribeMultiple(m, nil)
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		tb.Fatalf("subscribe %v: %v", filters, t.Error())
	}
	return t.(*paho.SubscribeToken).Result()
}

// next returns the next message or fails after a deadline.
func (c *mqttClient) next(tb testing.TB) paho.Message {
	tb.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(10 * time.Second):
		tb.Fatal("no message within 10 s")
		return nil
	}
}

func mustUUID(tb testing.TB, kind, urn string) string {
	tb.Helper()
	id, ok := vcd.ParseID(kind, urn)
	if !ok {
		tb.Fatalf("not a %s id: %q", kind, urn)
	}
	return id
}

// fixture is a running server with two orgs, users of several roles and a producer
// service account connected over the plain MQTT listener.
type fixture struct {
	s        *server.Server
	admin    *client
	orgs     map[string]string // name → UUID
	users    map[string]string // "user@org" → UUID
	producer *mqttClient
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.MQTT.Addr = "127.0.0.1:0"
	f := &fixture{s: MustRunServer(t, cfg), orgs: map[string]string{}, users: map[string]string{}}
	f.admin = newClient(t, f.s)
	if code, _ := f.admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	for _, name := range []string{"acme", "beta"} {
		o := f.admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", fmt.Sprintf(`{"name":%q,"displayName":%q}`, name, name), http.StatusCreated)
		f.orgs[name] = mustUUID(t, "org", o["id"].(string))
	}
	for _, u := range []struct{ name, org, role string }{
		{"alice", "acme", "vApp Author"}, {"boss", "acme", "Organization Administrator"}, {"bob", "beta", "vApp User"},
	} {
		body := fmt.Sprintf(`{"username":%q,"password":"pw-%s","roleEntityRefs":[{"name":%q}],"orgEntityRef":{"id":%q}}`,
			u.name, u.name, u.role, f.orgs[u.org])
		created := f.admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", body, http.StatusCreated)
		f.users[u.name+"@"+u.org] = mustUUID(t, "user", created["id"].(string))
	}
	sa := f.admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"feed","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#"]}`, http.StatusCreated)
	f.producer = mustConnectMQTT(t, f.s, "ssl://"+f.s.MQTTAddr(), "feed-1", func(o *paho.ClientOptions) {
		o.SetUsername("feed").SetPassword(sa["secret"].(string))
	})
	return f
}

// login returns a client logged in as "user@org" (password pw-<user>).
func (f *fixture) login(t *testing.T, name string) *client {
	t.Helper()
	c := newClient(t, f.s)
	user, _, _ := strings.Cut(name, "@")
	if code, _ := c.login(name, "pw-"+user); code != http.StatusOK {
		t.Fatalf("login %s = %d", name, code)
	}
	return c
}

// publishEvent has the producer publish a user/modify EVENT about "user@org" at QoS 1
// and returns the envelope.
func (f *fixture) publishEvent(t *testing.T, name string) notify.Notification {
	t.Helper()
	user, org, _ := strings.Cut(name, "@")
	n, err := notify.Event(notify.EventInfo{ID: vcd.NewUUID(), Type: "com/vmware/vcloud/event/user/modify", Time: time.Now(),
		Success: true, OrgID: f.orgs[org], UserID: f.users[name], EntityType: "user", EntityID: f.users[name], EntityName: user})
	if err != nil {
		t.Fatal(err)
	}
	if tok := f.producer.Publish(n.Topic, 1, false, n.Envelope); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("producer publish: %v", tok.Error())
	}
	return n
}

func TestEndToEnd_MQTT(t *testing.T) {
	f := newFixture(t)
	s := f.s
	acme, beta := f.orgs["acme"], f.orgs["beta"]
	aliceID, bobID := f.users["alice@acme"], f.users["bob@beta"]
	wss := "wss://" + s.Addr() + "/messaging/mqtt"

	// Form A: the Python script's way, Bearer header on the upgrade, fixed client id.
	alice := f.login(t, "alice@acme")
	aliceMQTT := mustConnectMQTT(t, s, wss, "PythonMQTT", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + alice.token}})
	})
	own := topic.Publish(acme, aliceID)
	got := aliceMQTT.subscribe(t, own, "publish/#", "publish/"+acme+"/*")
	if got[own] != 0 || got["publish/#"] != 0x80 || got["publish/"+acme+"/*"] != 0x80 {
		t.Errorf("alice's SUBACK codes = %v; want own 0, publish/# 0x80, org wildcard 0x80", got)
	}

	// The org admin, also as PythonMQTT (client ids are scoped per user), on the org's topics.
	boss := f.login(t, "boss@acme")
	bossMQTT := mustConnectMQTT(t, s, wss, "PythonMQTT", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + boss.token}})
	})
	if got := bossMQTT.subscribe(t, "publish/"+acme+"/*"); got["publish/"+acme+"/*"] != 0 {
		t.Errorf("org admin's SUBACK for publish/%s/* = %#x; want 0", acme, got["publish/"+acme+"/*"])
	}

	// Form B: the Node client's way, user@org and the JWT as the CONNECT password.
	bob := f.login(t, "bob@beta")
	bobMQTT := mustConnectMQTT(t, s, wss, "js_mqtt_0badf00d", func(o *paho.ClientOptions) {
		o.SetUsername("bob@beta").SetPassword(bob.token)
	})
	bobMQTT.subscribe(t, topic.Publish(beta, bobID))

	forAlice := f.publishEvent(t, "alice@acme").Envelope
	forBob := f.publishEvent(t, "bob@beta").Envelope

	if m := aliceMQTT.next(t); m.Topic() != own || string(m.Payload()) != string(forAlice) {
		t.Errorf("alice got %s %q; want her own notification", m.Topic(), m.Payload())
	}
	if m := bossMQTT.next(t); m.Topic() != own {
		t.Errorf("org admin got %s; want alice's notification", m.Topic())
	}
	// Bob's first message is his own: nothing of acme's reached him.
	if m := bobMQTT.next(t); string(m.Payload()) != string(forBob) {
		t.Errorf("bob got %s %q; want only his own notification", m.Topic(), m.Payload())
	}
	select {
	case m := <-aliceMQTT.msgs:
		t.Errorf("alice got another org's message on %s", m.Topic())
	default:
	}

	// An interactive user may not publish: the 3.1.1 connection is closed.
	aliceMQTT.Publish(own, 1, false, forAlice)
	select {
	case <-aliceMQTT.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a user's PUBLISH did not close the connection")
	}

	// Logout closes the MQTT connections of that token within a second.
	start := time.Now()
	boss.mustJSON(http.MethodDelete, "/cloudapi/1.0.0/sessions/current", "", http.StatusNoContent)
	select {
	case <-bossMQTT.lost:
		if d := time.Since(start); d > time.Second {
			t.Errorf("connection closed %v after logout; want within 1 s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logout did not close the MQTT connection")
	}
	if !strings.HasPrefix(string(forAlice), `{"type":"EVENT","headers":{`) {
		t.Errorf("envelope layout changed: %q", forAlice)
	}
}

func TestServer_ConnectRateLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.MQTT.ConnectsPerSecondPerIP = 2
	s := MustRunServer(t, cfg)
	c := newClient(t, s)
	var statuses []int
	for range 6 {
		// Plain GETs without upgrade headers: the limiter runs before the upgrade.
		resp, _ := c.do(http.MethodGet, "/messaging/mqtt", "", "")
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	// At most 2 pass per one-second window; even if the window rolls over once during
	// the loop, one of the two windows sees at least 3 and refuses one.
	limited := 0
	for _, st := range statuses {
		if st == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("statuses %v: no 429 after 6 upgrades with a limit of 2 per second", statuses)
	}
}
