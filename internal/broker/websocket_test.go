package broker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// mustRunWS starts a broker and returns the ws:// URL of its /messaging/mqtt.
func mustRunWS(tb testing.TB, opts ...func(*broker.Config)) (*harness, string) {
	tb.Helper()
	h := mustRunBroker(tb, opts...)
	return h, h.wsURL
}

// dialWS opens a WebSocket with the given subprotocols and headers. It returns
// the HTTP response and, on a 101, the connection.
func dialWS(tb testing.TB, url string, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: header})
	if err != nil {
		if resp == nil {
			tb.Fatalf("dial: %v", err)
		}
		return nil, resp
	}
	tb.Cleanup(func() { _ = wc.CloseNow() })
	return wc, resp
}

// wsClient wraps a WebSocket as a raw MQTT client.
func wsClient(tb testing.TB, wc *websocket.Conn, version byte) *client {
	return newClient(tb, websocket.NetConn(context.Background(), wc, websocket.MessageBinary), version)
}

// TestWebSocket_Subprotocols applies VCD-COMPAT §6.1's Sec-WebSocket-Protocol
// rules.
func TestWebSocket_Subprotocols(t *testing.T) {
	_, url := mustRunWS(t)
	tests := []struct {
		name   string
		offer  []string
		status int
		proto  string
	}{
		{"MQTT", []string{"mqtt"}, http.StatusSwitchingProtocols, "mqtt"},
		{"Both", []string{"mqttv3.1", "mqtt"}, http.StatusSwitchingProtocols, "mqtt"},
		{"OnlyMQTT31", []string{"mqttv3.1"}, http.StatusSwitchingProtocols, "mqttv3.1"},
		{"None", nil, http.StatusSwitchingProtocols, ""},
		{"Other", []string{"wamp"}, http.StatusBadRequest, ""},
		{"OtherList", []string{"wamp", "mqttv5"}, http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc, resp := dialWS(t, url, nil, tc.offer...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.status)
			}
			if wc == nil {
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), "subprotocol") {
					t.Errorf("body %q does not explain the refusal", body)
				}
				return
			}
			if got := wc.Subprotocol(); got != tc.proto {
				t.Errorf("subprotocol %q; want %q", got, tc.proto)
			}
		})
	}
	t.Run("OnlyMQTT31/Level3Connect", func(t *testing.T) {
		wc, _ := dialWS(t, url, nil, "mqttv3.1")
		c := wsClient(t, wc, mqtt.Version311)
		c.sendRaw([]byte{0x10, 16, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 2, 'p', 'y'})
		if ack := readAs[*mqtt.Connack](c); ack.ReasonCode != 0x01 {
			t.Errorf("CONNACK %#x; want 0x01", byte(ack.ReasonCode))
		}
	})
}

// TestWebSocket_Bearer: a present Authorization header must be a valid Bearer
// JWT, or the upgrade gets 401 through Config.WriteHTTPError (form A).
func TestWebSocket_Bearer(t *testing.T) {
	var (
		mu      sync.Mutex
		written []vcd.Code
	)
	_, url := mustRunWS(t, func(c *broker.Config) {
		c.WriteHTTPError = func(w http.ResponseWriter, _ *http.Request, err error) {
			mu.Lock()
			written = append(written, vcd.CodeOf(err))
			mu.Unlock()
			http.Error(w, `{"minorErrorCode":"x"}`, http.StatusUnauthorized)
		}
	})
	tests := []struct {
		name   string
		header string
		ok     bool
	}{
		{"Bearer", "Bearer tok-bob", true},
		{"LowercaseScheme", "bearer tok-bob", true},
		{"BadToken", "Bearer nope", false},
		{"ExpiredToken", "Bearer tok-old", false},
		{"NotBearer", "Basic YWxpY2U6cHc=", false},
		{"EmptyToken", "Bearer ", false},
		{"Empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			written = nil
			mu.Unlock()
			wc, resp := dialWS(t, url, http.Header{"Authorization": {tc.header}}, "mqtt")
			if !tc.ok {
				if resp.StatusCode != http.StatusUnauthorized || wc != nil {
					t.Fatalf("status %d; want 401", resp.StatusCode)
				}
				mu.Lock()
				if len(written) != 1 || written[0] != vcd.CodeUnauthorized {
					t.Errorf("WriteHTTPError got %v; want one unauthorized error", written)
				}
				mu.Unlock()
				return
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d; want 101", resp.StatusCode)
			}
			// Form A: CONNECT credentials are ignored, even wrong ones.
			c := wsClient(t, wc, mqtt.Version311)
			if ack := c.connect(connectPacket("PythonMQTT", "", "")); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x; want 0", byte(ack.ReasonCode))
			}
			if codes := c.subscribe(0, "publish/"+orgAcme+"/*"); codes[0] != 0 {
				t.Errorf("SUBACK %#x; want 0 for the org admin", codes)
			}
		})
	}
	// The same with wrong CONNECT credentials.
	wc, _ := dialWS(t, url, http.Header{"Authorization": {"Bearer tok-bob"}}, "mqtt")
	c := wsClient(t, wc, mqtt.Version5)
	if ack := c.connect(connectPacket("x", "someone@else", "garbage")); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x; want 0", byte(ack.ReasonCode))
	}
}

// TestWebSocket_TextFrame closes the connection with 1003.
func TestWebSocket_TextFrame(t *testing.T) {
	_, url := mustRunWS(t)
	wc, _ := dialWS(t, url, nil, "mqtt")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := wc.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, _, err := wc.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusUnsupportedData {
		t.Errorf("close status %v (%v); want 1003", got, err)
	}
}

// TestWebSocket_MQTT_6_0_0_2_Framing: one message may hold several packets and
// a packet may span messages.
func TestWebSocket_MQTT_6_0_0_2_Framing(t *testing.T) {
	h, url := mustRunWS(t)
	wc, _ := dialWS(t, url, nil, "mqtt")
	c := wsClient(t, wc, mqtt.Version311)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	self := topic.Publish(orgAcme, idAlice)
	var msg []byte
	for _, p := range []mqtt.Packet{
		connectPacket("frames", "alice@acme", "tok-alice"),
		&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: self}}},
		&mqtt.Pingreq{},
	} {
		var err error
		if msg, err = p.Append(msg, mqtt.Version311); err != nil {
			t.Fatal(err)
		}
	}
	if err := wc.Write(ctx, websocket.MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	if ack := readAs[*mqtt.Connack](c); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	readAs[*mqtt.Suback](c)
	readAs[*mqtt.Pingresp](c)

	// An UNSUBSCRIBE split into one message per byte.
	unsub, err := (&mqtt.Unsubscribe{PacketID: 2, Filters: []string{self}}).Append(nil, mqtt.Version311)
	if err != nil {
		t.Fatal(err)
	}
	for i := range unsub {
		if err := wc.Write(ctx, websocket.MessageBinary, unsub[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if ack := readAs[*mqtt.Unsuback](c); ack.PacketID != 2 {
		t.Errorf("UNSUBACK id %d; want 2", ack.PacketID)
	}
	eventually(t, "no subscriptions", func() bool { return h.b.Stats().Subscriptions == 0 })
}

// TestWebSocket_Closed refuses upgrades once the broker is closed.
func TestWebSocket_Closed(t *testing.T) {
	h, url := mustRunWS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, resp := dialWS(t, url, nil, "mqtt"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d; want 503", resp.StatusCode)
	}
}

// TestWebSocket_UpgradeCarriesHeaders checks that the headers a handler in
// front of the broker set (herald's request id, VCD-COMPAT §11.3) go out with
// the 101, and that none of them replaces one the upgrade itself needs.
func TestWebSocket_UpgradeCarriesHeaders(t *testing.T) {
	h := mustRunBroker(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Vmware-Vcloud-Request-Id", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
		w.Header().Set("Connection", "close")      // must not replace Upgrade
		w.Header().Set("Content-Type", "x/y")      // not for a 101
		w.Header().Set("X-Line", "a\r\nX-Evil: b") // newlines never reach the wire
		h.b.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	wc, resp := dialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/messaging/mqtt", nil, "mqtt")
	if wc == nil {
		t.Fatalf("status %d; want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Vmware-Vcloud-Request-Id"); got != "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9" {
		t.Errorf("request id in the 101 = %q", got)
	}
	if got := resp.Header.Values("Connection"); len(got) != 1 || got[0] != "Upgrade" {
		t.Errorf("Connection in the 101 = %q; want only Upgrade", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "" {
		t.Errorf("Content-Type %q in a 101", got)
	}
	if got := resp.Header.Get("X-Evil"); got != "" {
		t.Errorf("a header value's newline made a header of its own: X-Evil %q", got)
	}
	// The stream works as any other: a CONNECT without credentials is answered.
	c := wsClient(t, wc, mqtt.Version311)
	c.send(&mqtt.Connect{ProtocolVersion: mqtt.Version311, CleanStart: true, ClientID: "hdr"})
	if ack := readAs[*mqtt.Connack](c); ack.ReasonCode != mqtt.ConnRefusedNotAuthorized {
		t.Fatalf("CONNACK %#x; want 0x05 (no credentials)", byte(ack.ReasonCode))
	}
}
