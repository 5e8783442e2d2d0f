package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/vcd"
)

var versions = []struct {
	name string
	v    byte
}{{"3.1.1", mqtt.Version311}, {"5.0", mqtt.Version5}}

// TestConnect_Authentication checks every row of VCD-COMPAT §6.2's failure
// table, and the forms that succeed, for both versions.
func TestConnect_Authentication(t *testing.T) {
	h := mustRunBroker(t)
	h.auth.set("tok-soon", vcd.Principal{Kind: vcd.PrincipalUser, UserID: idCarol, UserName: "carol", OrgID: orgOther, OrgName: "other",
		Level: vcd.LevelUser, ExpiresAt: time.Now().Add(-time.Second)})
	tests := []struct {
		name       string
		cp         *mqtt.Connect
		want311    mqtt.ReasonCode
		want5      mqtt.ReasonCode
		only5      bool
		only311    bool
		modifyFunc func(*mqtt.Connect)
	}{
		{name: "FormB/EmptyUsername", cp: connectPacket("c1", "", "tok-alice")},
		{name: "FormB/UsernameAnyCase", cp: connectPacket("c2", "ALICE@Acme", "tok-alice")},
		{name: "FormC/ServiceAccount", cp: connectPacket("c3", "feed", "feed-secret")},
		{name: "FormC/ExtensionTriplet", cp: connectPacket("c4", "acme/backup/1.0.0", "ext-secret")},
		{name: "NoCredentials", cp: connectPacket("c5", "", ""), want311: 0x05, want5: 0x87},
		{name: "UsernameWithoutPassword", cp: connectPacket("c6", "alice@acme", ""), want311: 0x05, want5: 0x87},
		{name: "BadPassword", cp: connectPacket("c7", "", "nope"), want311: 0x05, want5: 0x86},
		{name: "BadPasswordWithUsername", cp: connectPacket("c8", "alice@acme", "nope"), want311: 0x05, want5: 0x86},
		{name: "UsernameOtherUser", cp: connectPacket("c9", "bob@acme", "tok-alice"), want311: 0x05, want5: 0x86},
		{name: "UsernameOtherOrg", cp: connectPacket("c10", "alice@other", "tok-alice"), want311: 0x05, want5: 0x86},
		{name: "ExpiredToken", cp: connectPacket("c11", "", "tok-soon"), want311: 0x05, want5: 0x86},
		{name: "UnknownServiceAccount", cp: connectPacket("c12", "nobody", "x"), want311: 0x05, want5: 0x86},
		{name: "BadServiceSecret", cp: connectPacket("c13", "feed", "x"), want311: 0x05, want5: 0x86},
		{name: "MQTT_3_1_3_8_EmptyIDNoCleanSession", cp: &mqtt.Connect{UsernameFlag: true, PasswordFlag: true, Password: []byte("tok-alice")}, want311: 0x02, only311: true},
		{name: "ClientIDTooLong", cp: connectPacket(strings.Repeat("x", 129), "", "tok-alice"), want311: 0x02, want5: 0x85},
		{name: "ClientID128Bytes", cp: connectPacket(strings.Repeat("y", 128), "", "tok-alice")},
		{name: "CleanSession0Accepted", cp: &mqtt.Connect{ClientID: "c14", UsernameFlag: true, PasswordFlag: true, Password: []byte("tok-alice")}},
		{name: "WillOfInteractiveUser", cp: func() *mqtt.Connect {
			cp := connectPacket("c15", "", "tok-alice")
			cp.Will = &mqtt.Will{Topic: "publish/" + orgAcme + "/" + idAlice, Payload: []byte("x")}
			return cp
		}(), want311: 0x05, want5: 0x87},
		{name: "AuthenticationMethod", cp: func() *mqtt.Connect {
			cp := connectPacket("c16", "", "tok-alice")
			cp.Props = &mqtt.Properties{AuthenticationMethod: "SCRAM-SHA-1"}
			return cp
		}(), want5: 0x8C, only5: true},
	}
	for _, v := range versions {
		for _, tc := range tests {
			if (tc.only5 && v.v != mqtt.Version5) || (tc.only311 && v.v != mqtt.Version311) {
				continue
			}
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				c := h.dial(t, v.v)
				ack := c.connect(tc.cp)
				want := tc.want311
				if v.v == mqtt.Version5 {
					want = tc.want5
				}
				if ack.ReasonCode != want {
					t.Fatalf("CONNACK %#x; want %#x", byte(ack.ReasonCode), byte(want))
				}
				if ack.SessionPresent {
					t.Errorf("session present = 1; want 0")
				}
				if want != 0 {
					if d := c.expectClosed(); d != nil {
						t.Errorf("DISCONNECT %+v after refused CONNACK", d)
					}
					return
				}
				c.send(&mqtt.Pingreq{})
				readAs[*mqtt.Pingresp](c)
			})
		}
	}
	if n := h.auth.touches.Load(); n == 0 {
		t.Errorf("Authenticator.Touch never called")
	}
}

// TestConnect_MQTT_3_1_2_2_Level3 refuses MQTT 3.1 (MQIsdp) with CONNACK 0x01.
func TestConnect_MQTT_3_1_2_2_Level3(t *testing.T) {
	h := mustRunBroker(t)
	c := h.dial(t, mqtt.Version311)
	// CONNECT "MQIsdp" level 3, clean session, keepalive 60, client id "py".
	c.sendRaw([]byte{0x10, 16, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 2, 'p', 'y'})
	ack := readAs[*mqtt.Connack](c)
	if ack.ReasonCode != mqtt.ConnRefusedProtocolVersion {
		t.Fatalf("CONNACK %#x; want 0x01", byte(ack.ReasonCode))
	}
	c.expectClosed()
}

// TestConnect_MQTT_3_1_0_1_FirstPacketNotConnect closes a connection that
// starts with anything but CONNECT.
func TestConnect_MQTT_3_1_0_1_FirstPacketNotConnect(t *testing.T) {
	h := mustRunBroker(t)
	c := h.dial(t, mqtt.Version311)
	c.send(&mqtt.Pingreq{})
	if d := c.expectClosed(); d != nil {
		t.Errorf("got %+v", d)
	}
}

// TestConnect_Timeout closes a connection that sends no CONNECT in time.
func TestConnect_Timeout(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.ConnectTimeout = 100 * time.Millisecond })
	c := h.dial(t, mqtt.Version311)
	c.expectClosed()
}

// TestConnect_MQTT_3_1_0_2_SecondConnect is a protocol error.
func TestConnect_MQTT_3_1_0_2_SecondConnect(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			c := h.login(t, v.v, "tok-alice", "a")
			c.send(connectPacket("a", "", "tok-alice"))
			c.expectDisconnect(mqtt.ReasonProtocolError)
		})
	}
}

// TestConnect_MQTT_3_1_3_6_AssignedClientID assigns an id to an empty one and
// returns it in 5.0, with the CONNACK properties herald announces.
func TestConnect_MQTT_3_1_3_6_AssignedClientID(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.ReceiveMaximum = 50; c.MaxInflight = 70; c.MaxPacketBytes = 4096 })
	c := h.dial(t, mqtt.Version5)
	cp := connectPacket("", "", "tok-alice")
	se := uint32(3600)
	cp.Props = &mqtt.Properties{SessionExpiryInterval: &se}
	ack := c.connect(cp)
	if ack.ReasonCode != 0 || ack.Props == nil {
		t.Fatalf("CONNACK %+v", ack)
	}
	p := ack.Props
	if p.AssignedClientIdentifier == "" {
		t.Errorf("no Assigned Client Identifier")
	}
	check := func(name string, got, want any) {
		if got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
	check("Receive Maximum", deref(p.ReceiveMaximum), uint16(50))
	check("Maximum Packet Size", deref(p.MaximumPacketSize), uint32(4096))
	check("Topic Alias Maximum", deref(p.TopicAliasMaximum), uint16(0))
	check("Retain Available", deref(p.RetainAvailable), false)
	check("Wildcard Subscription Available", deref(p.WildcardSubscriptionAvailable), true)
	check("Subscription Identifier Available", deref(p.SubscriptionIdentifierAvailable), true)
	check("Shared Subscription Available", deref(p.SharedSubscriptionAvailable), false)
	check("Session Expiry Interval", deref(p.SessionExpiryInterval), uint32(0))

	// 3.1.1: an empty id with a clean session is accepted too.
	c3 := h.dial(t, mqtt.Version311)
	if ack := c3.connect(connectPacket("", "", "tok-alice")); ack.ReasonCode != 0 {
		t.Errorf("3.1.1 CONNACK %#x; want 0", byte(ack.ReasonCode))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestConnect_MQTT_3_1_4_2_Takeover: the same principal and client id takes
// over (0x8E on 5.0); another principal with the same id is not disturbed
// (VCD-COMPAT §6.5).
func TestConnect_MQTT_3_1_4_2_Takeover(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			first := h.login(t, v.v, "tok-alice", "PythonMQTT")
			other := h.login(t, v.v, "tok-carol", "PythonMQTT")
			second := h.login(t, v.v, "tok-alice", "PythonMQTT")
			first.expectDisconnect(mqtt.ReasonSessionTakenOver)
			for _, c := range []*client{other, second} {
				c.send(&mqtt.Pingreq{})
				readAs[*mqtt.Pingresp](c)
			}
			eventually(t, "two connections", func() bool { return h.b.Stats().Connections == 2 })
		})
	}
}

// TestConnect_MaxConnsPerPrincipal refuses the connection beyond the limit.
func TestConnect_MaxConnsPerPrincipal(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.MaxConnsPerPrincipal = 1 })
	h.login(t, mqtt.Version5, "tok-alice", "one")
	c := h.dial(t, mqtt.Version5)
	if ack := c.connect(connectPacket("two", "", "tok-alice")); ack.ReasonCode != mqtt.ReasonQuotaExceeded {
		t.Errorf("CONNACK %#x; want 0x97", byte(ack.ReasonCode))
	}
	h.login(t, mqtt.Version5, "tok-alice", "one") // a takeover is not a new connection
}

// TestKeepAlive_MQTT_3_1_2_24 closes a connection silent for 1.5 × keepalive
// (0x8D on 5.0) and keeps one that pings.
func TestKeepAlive_MQTT_3_1_2_24(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			h := mustRunBroker(t)
			c := h.dial(t, v.v)
			cp := connectPacket("ka", "", "tok-alice")
			cp.KeepAlive = 1
			if ack := c.connect(cp); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
			}
			start := time.Now()
			c.send(&mqtt.Pingreq{})
			readAs[*mqtt.Pingresp](c)
			c.expectDisconnect(mqtt.ReasonKeepAliveTimeout)
			if d := time.Since(start); d < 1400*time.Millisecond {
				t.Errorf("closed after %v; want about 1.5 s", d)
			}
		})
	}
}

// TestConnect_PacketTooLarge closes on a packet above MaxPacketBytes (0x95).
func TestConnect_PacketTooLarge(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t, func(c *broker.Config) { c.MaxPacketBytes = 1024 })
			c := h.service(t, v.v, "feed", "feed-secret", "big")
			c.send(&mqtt.Publish{Topic: extIn, Payload: make([]byte, 2048)})
			c.expectDisconnect(mqtt.ReasonPacketTooLarge)
		})
	}
}

// TestConnect_Malformed closes on a malformed packet (0x81 on 5.0).
func TestConnect_Malformed(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			c := h.login(t, v.v, "tok-alice", "m")
			// SUBSCRIBE with wrong fixed-header flags [MQTT-3.8.1-1].
			c.sendRaw([]byte{0x80, 6, 0, 1, 0, 1, 'a', 0})
			d := c.expectClosed()
			if v.v == mqtt.Version5 && (d == nil || !d.ReasonCode.IsError()) {
				t.Errorf("DISCONNECT %+v; want an error reason", d)
			}
			if v.v == mqtt.Version311 && d != nil {
				t.Errorf("3.1.1 got %+v", d)
			}
		})
	}
}

// TestConnect_TopicAlias: the server allows no topic aliases (0x94).
func TestConnect_TopicAlias(t *testing.T) {
	h := mustRunBroker(t)
	c := h.service(t, mqtt.Version5, "feed", "feed-secret", "alias")
	one := uint16(1)
	c.send(&mqtt.Publish{Topic: extIn, Props: &mqtt.Properties{TopicAlias: &one}, Payload: []byte("x")})
	c.expectDisconnect(mqtt.ReasonTopicAliasInvalid)
}

// TestRevocation closes connections of a revoked session, user, org or
// principal within a second, with 0x87 on 5.0 (VCD-COMPAT §6.7).
func TestRevocation(t *testing.T) {
	tests := []struct {
		name  string
		token string
		close func(b *broker.Broker) int
	}{
		{"CloseSessions", "tok-alice", func(b *broker.Broker) int { return b.CloseSessions(sessAlice) }},
		{"CloseUser", "tok-alice", func(b *broker.Broker) int { return b.CloseUser(idAlice) }},
		{"CloseOrg", "tok-bob", func(b *broker.Broker) int { return b.CloseOrg(orgAcme) }},
		{"ClosePrincipal", "tok-carol", func(b *broker.Broker) int { return b.ClosePrincipal(idCarol) }},
	}
	for _, v := range versions {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				h := mustRunBroker(t)
				c := h.login(t, v.v, tc.token, "r")
				bystander := h.login(t, v.v, "tok-admin", "r")
				start := time.Now()
				if n := tc.close(h.b); n != 1 {
					t.Errorf("closed %d connections; want 1", n)
				}
				c.expectDisconnect(mqtt.ReasonNotAuthorized)
				if d := time.Since(start); d > time.Second {
					t.Errorf("closed after %v; want within 1 s", d)
				}
				bystander.send(&mqtt.Pingreq{})
				readAs[*mqtt.Pingresp](bystander)
			})
		}
	}
}

// TestExpiry closes a connection when its token expires (0xA0 on 5.0).
func TestExpiry(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			h := mustRunBroker(t)
			p := principals()["tok-alice"]
			p.ExpiresAt = time.Now().Add(300 * time.Millisecond)
			h.auth.set("tok-short", p)
			c := h.login(t, v.v, "tok-short", "e")
			c.expectDisconnect(mqtt.ReasonMaximumConnectTime)
		})
	}
}

// TestClose sends 0x8B to every connection and waits for them.
func TestClose(t *testing.T) {
	h := mustRunBroker(t)
	c5 := h.login(t, mqtt.Version5, "tok-alice", "x")
	c3 := h.login(t, mqtt.Version311, "tok-bob", "x")
	raw := h.dial(t, mqtt.Version311) // not yet connected
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c5.expectDisconnect(mqtt.ReasonServerShuttingDown)
	c3.expectDisconnect(mqtt.ReasonServerShuttingDown)
	raw.expectClosed()
	if s := h.b.Stats(); s.Connections != 0 {
		t.Errorf("Connections = %d after Close", s.Connections)
	}
}
