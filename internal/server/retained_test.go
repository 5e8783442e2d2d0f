package server_test

import (
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestEndToEnd_RetainedSurvivesRestart: a service account's retained message on
// a topic outside publish/ and metrics/ is stored through the store, reaches a
// later subscriber with RETAIN=1 [MQTT-3.3.1-9], and is still there after a
// restart with the same data directory (VCD-COMPAT §6.4).
func TestEndToEnd_RetainedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MQTT.Addr = "127.0.0.1:0"
	s := MustRunServer(t, cfg)
	admin := newClient(t, s)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	sa := admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"relay","enabled":true,"producer":false,"subscribe":["relay/#"],"publish":["relay/#"]}`, http.StatusCreated)
	secret := sa["secret"].(string)
	connect := func(id string) *mqttClient { // to the current s
		return mustConnectMQTT(t, s, "ssl://"+s.MQTTAddr(), id, func(o *paho.ClientOptions) {
			o.SetUsername("relay").SetPassword(secret)
		})
	}
	pub := connect("pub")
	if tok := pub.Publish("relay/state", 1, true, "up"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	expectRetained := func(c *mqttClient) {
		t.Helper()
		c.subscribe(t, "relay/#")
		if m := c.next(t); m.Topic() != "relay/state" || string(m.Payload()) != "up" || !m.Retained() {
			t.Fatalf("got %q %q retained=%v; want the retained relay/state", m.Topic(), m.Payload(), m.Retained())
		}
	}
	expectRetained(connect("sub"))

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg2 := testConfig(dir)
	cfg2.MQTT.Addr = "127.0.0.1:0"
	s = MustRunServer(t, cfg2)
	expectRetained(connect("after-restart"))
}
