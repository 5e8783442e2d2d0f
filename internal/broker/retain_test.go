package broker_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// subscribeWith sends one SUBSCRIBE with the given subscriptions and
// Subscription Identifier (0: none) and returns the SUBACK codes.
func (c *client) subscribeWith(id uint32, subs ...mqtt.Subscription) []mqtt.ReasonCode {
	c.tb.Helper()
	sp := &mqtt.Subscribe{PacketID: packetID(), Subscriptions: subs}
	if id != 0 {
		sp.Props = &mqtt.Properties{SubscriptionIdentifiers: []uint32{id}}
	}
	c.send(sp)
	ack := readAs[*mqtt.Suback](c)
	if ack.PacketID != sp.PacketID {
		c.tb.Fatalf("SUBACK packet id %d; want %d", ack.PacketID, sp.PacketID)
	}
	for i, rc := range ack.ReasonCodes {
		if rc.IsError() {
			c.tb.Fatalf("SUBACK code %#x for %q", byte(rc), subs[i].Filter)
		}
	}
	return ack.ReasonCodes
}

// publishAcked publishes at QoS 1 and returns the PUBACK reason code.
func (c *client) publishAcked(p *mqtt.Publish) mqtt.ReasonCode {
	c.tb.Helper()
	p.QoS, p.PacketID = 1, packetID()
	c.send(p)
	ack := readAs[*mqtt.Puback](c)
	if ack.PacketID != p.PacketID {
		c.tb.Fatalf("PUBACK packet id %d; want %d", ack.PacketID, p.PacketID)
	}
	return ack.ReasonCode
}

// expectNext reads the next PUBLISH on t, acknowledging QoS 1, and checks its
// payload and RETAIN flag.
func (c *client) expectNext(t, payload string, retain bool) *mqtt.Publish {
	c.tb.Helper()
	p := c.expectPublish(t)
	if string(p.Payload) != payload || p.Retain != retain {
		c.tb.Fatalf("PUBLISH %q RETAIN=%v; want %q RETAIN=%v", p.Payload, p.Retain, payload, retain)
	}
	if p.QoS == 1 {
		c.send(&mqtt.Puback{PacketID: p.PacketID})
	}
	return p
}

// TestRetain_MQTT_3_3_1_5 runs MQTT's retained-message rules on a topic outside
// the notification space (VCD-COMPAT §6.4): RETAIN=1 replaces the retained
// message [MQTT-3.3.1-5] and is stored before the PUBACK; a new subscription
// gets it with RETAIN=1 [MQTT-3.3.1-9] while live delivery has RETAIN=0
// [MQTT-3.3.1-12]; RETAIN=0 leaves it alone [MQTT-3.3.1-8]; an empty payload
// clears it [MQTT-3.3.1-6], [MQTT-3.3.1-7].
func TestRetain_MQTT_3_3_1_5(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			rs := newFakeRetained()
			h := mustRunBroker(t, withRetained(rs))
			live := h.service(t, v.v, "acme/backup/1.0.0", "ext-secret", "live")
			live.subscribe(1, extIn)
			feed := h.service(t, v.v, "feed", "feed-secret", "feed")

			if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("r1")}); rc != 0 {
				t.Fatalf("PUBACK %#x", byte(rc))
			}
			// The PUBACK came after the retained message was stored.
			if m, ok := rs.get(extIn); !ok || string(m.Payload) != "r1" || m.QoS != 1 {
				t.Fatalf("retained %+v, %v; want r1 at QoS 1", m, ok)
			}
			live.expectNext(extIn, "r1", false)

			if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("r2")}); rc != 0 {
				t.Fatalf("PUBACK %#x", byte(rc))
			}
			live.expectNext(extIn, "r2", false)
			if rc := feed.publishAcked(&mqtt.Publish{Topic: extIn, Payload: []byte("not retained")}); rc != 0 {
				t.Fatalf("PUBACK %#x", byte(rc))
			}
			live.expectNext(extIn, "not retained", false)

			late := h.service(t, v.v, "acme/backup/1.0.0", "ext-secret", "late")
			if codes := late.subscribe(2, extIn); codes[0] != mqtt.ReasonGrantedQoS2 {
				t.Fatalf("SUBACK %#x", codes)
			}
			// Delivered at min(QoS published, QoS granted) = 1.
			if p := late.expectNext(extIn, "r2", true); p.QoS != 1 {
				t.Errorf("retained message at QoS %d; want 1", p.QoS)
			}

			if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn}); rc != 0 {
				t.Fatalf("PUBACK %#x", byte(rc))
			}
			if m, ok := rs.get(extIn); ok {
				t.Fatalf("retained %+v after an empty retained PUBLISH; want none", m)
			}
			// The empty message is still delivered as a normal one.
			late.expectNext(extIn, "", false)
			cleared := h.service(t, v.v, "acme/backup/1.0.0", "ext-secret", "cleared")
			cleared.subscribe(0, extIn)
			h.appendMsg(t, extIn, "marker")
			cleared.expectNext(extIn, "marker", false) // and nothing retained before it
		})
	}
}

// TestRetain_NotificationsNeverRetained: RETAIN=1 on publish/… is ignored
// (VCD-COMPAT §6.4), even with a RetainedStore.
func TestRetain_NotificationsNeverRetained(t *testing.T) {
	rs := newFakeRetained()
	h := mustRunBroker(t, withRetained(rs))
	aliceTopic := topic.Publish(orgAcme, idAlice)
	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: aliceTopic, Payload: []byte(`{"x":1}`)}); rc != 0 {
		t.Fatalf("PUBACK %#x", byte(rc))
	}
	if got := rs.Retained(); len(got) != 0 {
		t.Errorf("retained %+v; want nothing", got)
	}
	alice := h.login(t, mqtt.Version5, "tok-alice", "alice")
	alice.subscribeWith(0, mqtt.Subscription{Filter: aliceTopic, RetainAsPublished: true})
	h.appendMsg(t, aliceTopic, `{"n":1}`)
	alice.expectNext(aliceTopic, `{"n":1}`, false)
}

// TestRetain_StoredBeforeAck: when the retained message cannot be stored the
// PUBLISH is not acknowledged as successful, and not appended.
func TestRetain_StoredBeforeAck(t *testing.T) {
	rs := newFakeRetained()
	rs.setErr(errors.New("store down"))
	h := mustRunBroker(t, withRetained(rs))
	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("r")}); rc != mqtt.ReasonUnspecifiedError {
		t.Errorf("PUBACK %#x; want 0x80", byte(rc))
	}
	if n := h.log.count(); n != 0 {
		t.Errorf("log holds %d messages; want 0", n)
	}
}

// TestRetain_MQTT_3_3_1_9_RetainHandling: Retain Handling 0 sends retained
// messages at every subscribe [MQTT-3.3.1-9], 1 only when the subscription is
// new [MQTT-3.3.1-10], 2 never [MQTT-3.3.1-11].
func TestRetain_MQTT_3_3_1_9_RetainHandling(t *testing.T) {
	tests := []struct {
		rh          byte
		first, next bool // retained message sent at the first and second SUBSCRIBE
	}{{0, true, true}, {1, true, false}, {2, false, false}}
	for _, tc := range tests {
		t.Run("RH"+string('0'+tc.rh), func(t *testing.T) {
			rs := newFakeRetained()
			h := mustRunBroker(t, withRetained(rs))
			feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
			if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("kept")}); rc != 0 {
				t.Fatalf("PUBACK %#x", byte(rc))
			}
			c := h.service(t, mqtt.Version5, "acme/backup/1.0.0", "ext-secret", "ext")
			for i, want := range []bool{tc.first, tc.next} {
				c.subscribeWith(0, mqtt.Subscription{Filter: extIn, RetainHandling: tc.rh})
				// A live message after the SUBSCRIBE is queued after any retained one.
				marker := "marker" + string(rune('0'+i))
				h.appendMsg(t, extIn, marker)
				if want {
					c.expectNext(extIn, "kept", true)
				}
				c.expectNext(extIn, marker, false)
			}
		})
	}
}

// TestRetain_MQTT_3_3_1_12_RetainAsPublished: a live message keeps its RETAIN
// flag only for subscriptions with Retain As Published [MQTT-3.3.1-12],
// [MQTT-3.3.1-13].
func TestRetain_MQTT_3_3_1_12_RetainAsPublished(t *testing.T) {
	rs := newFakeRetained()
	h := mustRunBroker(t, withRetained(rs))
	rap := h.service(t, mqtt.Version5, "acme/backup/1.0.0", "ext-secret", "rap")
	rap.subscribeWith(0, mqtt.Subscription{Filter: extIn, RetainAsPublished: true})
	plain := h.service(t, mqtt.Version5, "acme/backup/1.0.0", "ext-secret", "plain")
	plain.subscribeWith(0, mqtt.Subscription{Filter: extIn})
	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	for _, retain := range []bool{true, false} {
		if rc := feed.publishAcked(&mqtt.Publish{Retain: retain, Topic: extIn, Payload: []byte("m")}); rc != 0 {
			t.Fatalf("PUBACK %#x", byte(rc))
		}
		rap.expectNext(extIn, "m", retain)
		plain.expectNext(extIn, "m", false)
	}
}

// TestRetain_Will: a will with Will Retain is retained when published; without
// a RetainedStore a 5.0 CONNECT with Will Retain gets CONNACK 0x9A.
func TestRetain_Will(t *testing.T) {
	rs := newFakeRetained()
	h := mustRunBroker(t, withRetained(rs))
	c := h.dial(t, mqtt.Version5)
	cp := connectPacket("will", "feed", "feed-secret")
	cp.Will = &mqtt.Will{Topic: extIn, Payload: []byte("gone"), Retain: true, QoS: 1}
	if ack := c.connect(cp); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	_ = c.nc.Close()
	eventually(t, "the will retained", func() bool { _, ok := rs.get(extIn); return ok })

	h2 := mustRunBroker(t)
	c2 := h2.dial(t, mqtt.Version5)
	if ack := c2.connect(cp); ack.ReasonCode != mqtt.ReasonRetainNotSupported {
		t.Errorf("CONNACK %#x; want 0x9A", byte(ack.ReasonCode))
	}
}

// TestConnect_RetainAvailable: a broker with a RetainedStore announces Retain
// Available 1 and Subscription Identifier Available 1.
func TestConnect_RetainAvailable(t *testing.T) {
	h := mustRunBroker(t, withRetained(newFakeRetained()))
	c := h.dial(t, mqtt.Version5)
	ack := c.connect(connectPacket("x", "feed", "feed-secret"))
	if ack.ReasonCode != 0 || ack.Props == nil {
		t.Fatalf("CONNACK %+v", ack)
	}
	if deref(ack.Props.RetainAvailable) != true || deref(ack.Props.SubscriptionIdentifierAvailable) != true {
		t.Errorf("Retain Available %v, Subscription Identifier Available %v; want both true",
			deref(ack.Props.RetainAvailable), deref(ack.Props.SubscriptionIdentifierAvailable))
	}
}

// TestSubscribe_MQTT_3_8_3_3_NoLocal: with No Local a connection's own
// messages are not delivered back to it [MQTT-3.8.3-3]; another connection of
// the same account, and a subscription without No Local, still get them.
func TestSubscribe_MQTT_3_8_3_3_NoLocal(t *testing.T) {
	for _, noLocal := range []bool{true, false} {
		t.Run(map[bool]string{true: "Set", false: "Unset"}[noLocal], func(t *testing.T) {
			h := mustRunBroker(t)
			pub := h.service(t, mqtt.Version5, "relay", "relay-secret", "pub")
			pub.subscribeWith(0, mqtt.Subscription{Filter: "relay/a", NoLocal: noLocal})
			other := h.service(t, mqtt.Version5, "relay", "relay-secret", "other")
			other.subscribeWith(0, mqtt.Subscription{Filter: "relay/a", NoLocal: true})
			for _, m := range []string{"one", "two"} {
				pub.send(&mqtt.Publish{Topic: "relay/a", Payload: []byte(m)})
				other.expectNext("relay/a", m, false)
			}
			// A message from elsewhere reaches pub either way, after its own if any.
			h.appendMsg(t, "relay/a", "from elsewhere")
			if !noLocal {
				pub.expectNext("relay/a", "one", false)
				pub.expectNext("relay/a", "two", false)
			}
			pub.expectNext("relay/a", "from elsewhere", false)
		})
	}
}

// TestPublish_MQTT_3_3_4_3_SubscriptionIdentifiers: a message matching several
// subscriptions of a session goes out once with the identifiers of all of
// them [MQTT-3.3.4-3], [MQTT-3.3.4-4], including more than two; a retained
// message carries its subscription's [MQTT-3.3.4-5]; 3.1.1 has none.
func TestPublish_MQTT_3_3_4_3_SubscriptionIdentifiers(t *testing.T) {
	rs := newFakeRetained()
	h := mustRunBroker(t, withRetained(rs))
	c := h.service(t, mqtt.Version5, "relay", "relay-secret", "ids")
	c.subscribeWith(7, mqtt.Subscription{Filter: "relay/a"})
	c.subscribeWith(9, mqtt.Subscription{Filter: "relay/+"})
	c.subscribeWith(0, mqtt.Subscription{Filter: "relay/#"})
	ids := func(p *mqtt.Publish) []uint32 {
		if p.Props == nil {
			return nil
		}
		got := slices.Clone(p.Props.SubscriptionIdentifiers)
		slices.Sort(got)
		return got
	}
	h.appendMsg(t, "relay/a", "two ids")
	if got := ids(c.expectNext("relay/a", "two ids", false)); !slices.Equal(got, []uint32{7, 9}) {
		t.Errorf("identifiers %v; want [7 9]", got)
	}
	h.appendMsg(t, "relay/b", "one id")
	if got := ids(c.expectNext("relay/b", "one id", false)); !slices.Equal(got, []uint32{9}) {
		t.Errorf("identifiers %v; want [9]", got)
	}
	c.subscribeWith(11, mqtt.Subscription{Filter: "relay/a/#"})
	h.appendMsg(t, "relay/a", "three ids")
	if got := ids(c.expectNext("relay/a", "three ids", false)); !slices.Equal(got, []uint32{7, 9, 11}) {
		t.Errorf("identifiers %v; want [7 9 11]", got)
	}

	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	if rc := feed.publishAcked(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("r")}); rc != 0 {
		t.Fatalf("PUBACK %#x", byte(rc))
	}
	ext := h.service(t, mqtt.Version5, "acme/backup/1.0.0", "ext-secret", "ext")
	ext.subscribeWith(5, mqtt.Subscription{Filter: extIn})
	if got := ids(ext.expectNext(extIn, "r", true)); !slices.Equal(got, []uint32{5}) {
		t.Errorf("retained message identifiers %v; want [5]", got)
	}
}

// TestPublish_MQTT_3_3_4_6_ClientSubscriptionIdentifier: a client's PUBLISH
// must not carry a Subscription Identifier; the broker treats it as a
// protocol error.
func TestPublish_MQTT_3_3_4_6_ClientSubscriptionIdentifier(t *testing.T) {
	h := mustRunBroker(t)
	c := h.service(t, mqtt.Version5, "relay", "relay-secret", "x")
	c.send(&mqtt.Publish{Topic: "relay/a", Payload: []byte("x"), Props: &mqtt.Properties{SubscriptionIdentifiers: []uint32{3}}})
	c.expectDisconnect(mqtt.ReasonProtocolError)
}

var _ broker.RetainedStore = (*fakeRetained)(nil)
