package broker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	packets5 "github.com/eclipse/paho.golang/packets"
	paho5 "github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// received collects (topic, payload) pairs from a real client's callback.
type received struct {
	topic, payload string
}

func expectReceived(t *testing.T, ch <-chan received, want received) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("received %+v; want %+v", got, want)
		}
	case <-time.After(waitFor):
		t.Fatalf("nothing received; want %+v", want)
	}
}

// pahoV3 connects paho.mqtt.golang over ws:// (3.1.1, clean session, keepalive
// 60) as VCD-COMPAT §12.1 and §12.2 describe.
func pahoV3(t *testing.T, url, clientID string, header http.Header, user, pass string) (paho3.Client, error) {
	t.Helper()
	opts := paho3.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetProtocolVersion(4).SetCleanSession(true).SetKeepAlive(60 * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(waitFor)
	if header != nil {
		opts.SetHTTPHeaders(header)
	}
	if user != "" || pass != "" {
		opts.SetUsername(user).SetPassword(pass)
	}
	c := paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		t.Fatal("paho connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(100) })
	}
	return c, tok.Error()
}

func pahoSubscribe(t *testing.T, c paho3.Client, filter string, ch chan<- received) byte {
	t.Helper()
	tok := c.Subscribe(filter, 0, func(_ paho3.Client, m paho3.Message) {
		ch <- received{m.Topic(), string(m.Payload())}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe %q: %v", filter, tok.Error())
	}
	st := tok.(*paho3.SubscribeToken)
	return st.Result()[filter]
}

// TestPahoV3_FormA: the Python-script flow, Bearer header on the upgrade and no
// CONNECT credentials; an org admin subscribed to publish/{org}/* receives his
// org's notifications and nothing else.
func TestPahoV3_FormA(t *testing.T) {
	h, url := mustRunWS(t)
	c, err := pahoV3(t, url, "PythonMQTT", http.Header{"Authorization": {"Bearer tok-bob"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan received, 10)
	if q := pahoSubscribe(t, c, "publish/"+orgAcme+"/*", ch); q != 0 {
		t.Fatalf("granted %#x; want 0", q)
	}
	// A tenant asking for publish/# gets 0x80 and stays connected (§12.1 step 7).
	if q := pahoSubscribe(t, c, "publish/#", ch); q != 0x80 {
		t.Errorf("publish/# granted %#x; want 0x80", q)
	}
	aliceTopic := topic.Publish(orgAcme, idAlice)
	h.appendMsg(t, topic.Publish(orgOther, idCarol), "not for bob")
	h.appendMsg(t, aliceTopic, `{"type":"EVENT"}`)
	expectReceived(t, ch, received{aliceTopic, `{"type":"EVENT"}`})

	// A second user connecting as PythonMQTT leaves the first alone (§6.5).
	c2, err := pahoV3(t, url, "PythonMQTT", http.Header{"Authorization": {"Bearer tok-alice"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_ = c2
	h.appendMsg(t, aliceTopic, "again")
	expectReceived(t, ch, received{aliceTopic, "again"})
	if !c.IsConnectionOpen() {
		t.Error("first client disconnected")
	}
}

// TestPahoV3_FormB: the Node-client flow, user@org and the JWT in CONNECT.
func TestPahoV3_FormB(t *testing.T) {
	h, url := mustRunWS(t)
	c, err := pahoV3(t, url, "js_mqtt_0a1b2c3d", nil, "alice@acme", "tok-alice")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan received, 10)
	self := topic.Publish(orgAcme, idAlice)
	pahoSubscribe(t, c, self, ch)
	h.appendMsg(t, topic.Publish(orgAcme, idBob), "bob's")
	h.appendMsg(t, self, "mine")
	expectReceived(t, ch, received{self, "mine"})

	for _, tc := range []struct{ name, user, pass string }{
		{"WrongPassword", "alice@acme", "nope"},
		{"OtherUsersToken", "alice@acme", "tok-bob"},
		{"ExpiredToken", "alice@acme", "tok-old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pahoV3(t, url, "js_mqtt_ffffffff", nil, tc.user, tc.pass); err == nil {
				t.Error("connected; want CONNACK 0x05")
			} else if err.Error() != packets.ErrorRefusedNotAuthorised.Error() {
				t.Errorf("error %v; want %v", err, packets.ErrorRefusedNotAuthorised)
			}
		})
	}
}

// TestPahoV5: paho.golang over a WebSocket, MQTT 5.0, as a sysadmin.
func TestPahoV5(t *testing.T) {
	h, url := mustRunWS(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan received, 10)
	c := paho5.NewClient(paho5.ClientConfig{
		// paho.golang writes a packet in several Write calls from more than one
		// goroutine; its documented remedy is this locking wrapper.
		Conn: packets5.NewThreadSafeConn(websocket.NetConn(context.Background(), wc, websocket.MessageBinary)),
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			ch <- received{pr.Packet.Topic, string(pr.Packet.Payload)}
			return true, nil
		}},
	})
	ack, err := c.Connect(ctx, &paho5.Connect{ClientID: "v5", CleanStart: true, KeepAlive: 60,
		UsernameFlag: true, Username: "administrator@system", PasswordFlag: true, Password: []byte("tok-admin")})
	if err != nil {
		t.Fatalf("connect: %v (%+v)", err, ack)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	sa, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{
		{Topic: "publish/*/*", QoS: 1}, {Topic: "metrics/#", QoS: 2}, {Topic: "#", QoS: 0},
	}})
	if err != nil && sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	if want := []byte{1, 2, byte(mqtt.ReasonNotAuthorized)}; string(sa.Reasons) != string(want) {
		t.Errorf("SUBACK %#x; want %#x", sa.Reasons, want)
	}
	m := topic.Metrics(orgAcme, vApp)
	p := topic.Publish(orgOther, idCarol)
	h.appendMsg(t, m, "metrics")
	h.appendMsg(t, p, "event")
	h.appendMsg(t, extIn, "not for sysadmins")
	expectReceived(t, ch, received{m, "metrics"})
	expectReceived(t, ch, received{p, "event"})
}
