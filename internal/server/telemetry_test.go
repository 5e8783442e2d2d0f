package server_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/telemetry"
	"github.com/heraldmq/herald/internal/topic"
)

// scrape reads GET /metrics and returns every sample by its series
// (name{labels} exactly as written), failing on a line it cannot parse.
func scrape(t *testing.T, c *client) map[string]float64 {
	t.Helper()
	resp, body := c.do(http.MethodGet, "/metrics", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != telemetry.ContentType {
		t.Errorf("Content-Type %q; want %q", ct, telemetry.ContentType)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unparsable sample line %q", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

// TestTelemetry_Scrape runs a known workload (logins, connections of each
// authentication form, a refused connect, producer publishes, deliveries) and checks
// the counts GET /metrics reports, and that GET /readyz answers ready.
func TestTelemetry_Scrape(t *testing.T) {
	f := newFixture(t) // 1 admin login; 2 orgs, 3 users, 1 service account created; producer over TCP
	s := f.s
	wss := "wss://" + s.Addr() + "/messaging/mqtt"

	alice := f.login(t, "alice@acme")
	bob := f.login(t, "bob@beta")
	if code, _ := newClient(t, s).login("alice@acme", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d; want 401", code)
	}

	aliceMQTT := mustConnectMQTT(t, s, wss, "alice-1", func(o *paho.ClientOptions) {
		o.SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + alice.token}})
	})
	mustConnectMQTT(t, s, wss, "bob-1", func(o *paho.ClientOptions) {
		o.SetUsername("bob@beta").SetPassword(bob.token)
	})
	bad := paho.NewClient(paho.NewClientOptions().AddBroker(wss).SetClientID("bad").
		SetUsername("bob@beta").SetPassword("not-a-jwt").SetTLSConfig(tlsConfig(t, s)).
		SetProtocolVersion(4). // no fallback to 3.1, which would be a second refused CONNECT
		SetAutoReconnect(false).SetConnectRetry(false))
	if tok := bad.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
		t.Fatal("a connect with a bad token was accepted")
	}

	own := topic.Publish(f.orgs["acme"], f.users["alice@acme"])
	aliceMQTT.subscribe(t, own)
	// Alice's own events (her login) may still be on their way through the feed when
	// she subscribes: count every message she receives until the producer's third.
	var last string
	for range 3 {
		last = string(f.publishEvent(t, "alice@acme").Envelope)
	}
	received := 0
	for {
		m := aliceMQTT.next(t)
		received++
		if string(m.Payload()) == last {
			break
		}
	}

	admin := f.admin
	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for { // the feed and the writers finish asynchronously; wait until they are idle
		got = scrape(t, admin)
		if got["herald_feed_lag_messages"] == 0 && got["herald_mqtt_messages_sent_total"] >= float64(received) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("feed lag %v, sent %v after 10 s", got["herald_feed_lag_messages"], got["herald_mqtt_messages_sent_total"])
		}
	}

	want := map[string]float64{
		`herald_logins_total{endpoint="cloudapi",result="success"}`:                3, // admin, alice, bob
		`herald_logins_total{endpoint="cloudapi",result="failure"}`:                1,
		`herald_mqtt_connections{transport="tcp",auth="service_account"}`:          1,
		`herald_mqtt_connections{transport="websocket",auth="bearer"}`:             1,
		`herald_mqtt_connections{transport="websocket",auth="jwt_password"}`:       1,
		`herald_mqtt_connections{transport="tcp",auth="jwt_password"}`:             0,
		`herald_mqtt_connections_total{transport="websocket",auth="jwt_password"}`: 1,
		`herald_mqtt_connects_refused_total`:                                       1,
		`herald_mqtt_subscriptions`:                                                1,
		`herald_mqtt_messages_received_total`:                                      3,
		`herald_mqtt_messages_sent_total`:                                          float64(received),
		`herald_mqtt_delivery_latency_seconds_count`:                               float64(received),
		`herald_mqtt_drops_total{reason="queue_full_qos0"}`:                        0,
		`herald_http_requests_total{method="POST",code="201"}`:                     6, // 2 orgs, 3 users, 1 service account
		`herald_http_requests_total{method="POST",code="401"}`:                     1,
		`herald_feed_lag_messages`:                                                 0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v); want %v", series, g, ok, v)
		}
	}
	// Every notification was stored through the two timed adapters, into an empty log.
	if a, l := got["herald_store_append_duration_seconds_count"], got["herald_store_log_last_sequence"]; a != l || a < 3 {
		t.Errorf("store appends timed = %v, log last sequence = %v; want equal and at least 3", a, l)
	}
	if got["herald_store_disk_free_bytes"] <= 0 {
		t.Errorf("herald_store_disk_free_bytes = %v; want the free space of the data directory's disk", got["herald_store_disk_free_bytes"])
	}
	if got["herald_process_resident_memory_bytes"] <= 0 || got["herald_go_goroutines"] <= 0 {
		t.Errorf("process gauges missing: rss %v, goroutines %v", got["herald_process_resident_memory_bytes"], got["herald_go_goroutines"])
	}

	resp, body := admin.do(http.MethodGet, "/readyz", "", "")
	if resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Errorf("GET /readyz = %d %q; want 200 ready", resp.StatusCode, body)
	}
}

// TestTelemetry_MetricsToken: with http.metricsToken set, GET /metrics answers 401
// with a Bearer challenge without the token or with another one (a user's session
// JWT too), and the families with it.
func TestTelemetry_MetricsToken(t *testing.T) {
	const token = "metrics-token-of-a-test"
	cfg := testConfig(t.TempDir())
	cfg.HTTP.MetricsToken = token
	s := MustRunServer(t, cfg)
	c := newClient(t, s)
	for _, tok := range []string{"", "metrics-token-of-a-tes", token + "x"} {
		c.token = tok
		resp, _ := c.do(http.MethodGet, "/metrics", "", "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d %q; want 401 and a Bearer challenge", tok, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if code, _ := c.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	if resp, _ := c.do(http.MethodGet, "/metrics", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session JWT: %d; want 401", resp.StatusCode)
	}
	c.token = token
	if got := scrape(t, c); len(got) == 0 {
		t.Error("no samples with the token")
	}
}
