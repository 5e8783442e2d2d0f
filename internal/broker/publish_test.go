package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// validEnvelope stands in for the notify package's envelope check.
func validEnvelope(dst []byte, _ string, payload []byte) ([]byte, error) {
	if len(payload) == 0 || payload[0] != '{' {
		return dst, errors.New("not an envelope")
	}
	return append(append(dst, `{"canonical":true,`...), payload[1:]...), nil
}

// TestPublish_ReasonStringAsAsked: a refused PUBLISH's PUBACK carries no Reason
// String for a client that set Request Problem Information to 0 [MQTT-3.1.2-29], nor
// for one whose Maximum Packet Size leaves no room for it [MQTT-3.4.2-2].
func TestPublish_ReasonStringAsAsked(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.ValidateNotification = validEnvelope })
	for _, tc := range []struct {
		name  string
		props *mqtt.Properties
		want  bool
	}{
		{"default", nil, true},
		{"problem information 1", &mqtt.Properties{RequestProblemInformation: new(true)}, true},
		{"problem information 0", &mqtt.Properties{RequestProblemInformation: new(false)}, false},
		{"maximum packet size 16", &mqtt.Properties{MaximumPacketSize: new(uint32(16))}, false},
	} {
		c := h.dial(t, mqtt.Version5)
		cp := connectPacket("reasons", "feed", "feed-secret")
		cp.ProtocolVersion, cp.Props = mqtt.Version5, tc.props
		if ack := c.connect(cp); ack.ReasonCode != 0 {
			t.Fatalf("%s: CONNACK %#x", tc.name, byte(ack.ReasonCode))
		}
		c.send(&mqtt.Publish{QoS: 1, PacketID: 5, Topic: topic.Publish(orgAcme, idAlice), Payload: []byte("nope")})
		ack := readAs[*mqtt.Puback](c)
		if ack.ReasonCode != mqtt.ReasonPayloadFormatInvalid || (ack.Props != nil && ack.Props.ReasonString != "") != tc.want {
			t.Errorf("%s: PUBACK %+v (properties %+v); want 0x99, Reason String %v", tc.name, ack, ack.Props, tc.want)
		}
		c.send(&mqtt.Disconnect{})
		c.expectClosed()
	}
}

// TestPublish_Inbound checks VCD-COMPAT §7.3's table for client PUBLISH.
func TestPublish_Inbound(t *testing.T) {
	aliceTopic := topic.Publish(orgAcme, idAlice)
	tests := []struct {
		name    string
		account string // "" logs in as alice (interactive user)
		topic   string
		payload string
		want5   mqtt.ReasonCode // for QoS 1 and 2; 3.1.1 closes on any failure
		stored  bool
	}{
		{name: "InteractiveUser", topic: aliceTopic, payload: "{}", want5: mqtt.ReasonNotAuthorized},
		{name: "ServiceOutsideGrants", account: "acme/backup/1.0.0", topic: extIn, payload: "x", want5: mqtt.ReasonNotAuthorized},
		{name: "ServiceNotProducer", account: "acme/backup/1.0.0", topic: aliceTopic, payload: "{}", want5: mqtt.ReasonNotAuthorized},
		{name: "ProducerMalformedTopic", account: "feed", topic: "publish/" + orgAcme + "/ALICE", payload: "{}", want5: mqtt.ReasonTopicNameInvalid},
		{name: "ProducerURNTopic", account: "feed", topic: "publish/urn:vcloud:org:" + orgAcme + "/" + idAlice, payload: "{}", want5: mqtt.ReasonTopicNameInvalid},
		{name: "ProducerInvalidEnvelope", account: "feed", topic: aliceTopic, payload: "nope", want5: mqtt.ReasonPayloadFormatInvalid},
		{name: "ProducerAllowed", account: "feed", topic: aliceTopic, payload: `{"a":1}`, stored: true},
		{name: "ExtensionAllowed", account: "acme/backup/1.0.0", topic: extOut, payload: "opaque", stored: true},
	}
	for _, v := range versions {
		for _, qos := range []byte{0, 1, 2} {
			for _, tc := range tests {
				t.Run(v.name+"/"+tc.name+"/QoS"+string('0'+qos), func(t *testing.T) {
					h := mustRunBroker(t, func(c *broker.Config) { c.ValidateNotification = validEnvelope })
					var c *client
					if tc.account == "" {
						c = h.login(t, v.v, "tok-alice", "pub")
					} else {
						c = h.service(t, v.v, tc.account, map[string]string{"feed": "feed-secret", "acme/backup/1.0.0": "ext-secret"}[tc.account], "pub")
					}
					p := &mqtt.Publish{QoS: qos, Topic: tc.topic, Payload: []byte(tc.payload)}
					if qos > 0 {
						p.PacketID = 42
					}
					c.send(p)
					refused := !tc.stored
					switch {
					case refused && v.v == mqtt.Version311:
						if d := c.expectClosed(); d != nil {
							t.Errorf("got %+v", d)
						}
					case qos == 0:
						// Nothing comes back; a PINGREQ round trip shows the connection is open.
						c.send(&mqtt.Pingreq{})
						readAs[*mqtt.Pingresp](c)
						if refused && h.b.Stats().Drops.InboundDenied != 1 {
							t.Errorf("InboundDenied = %d; want 1", h.b.Stats().Drops.InboundDenied)
						}
					case qos == 1:
						ack := readAs[*mqtt.Puback](c)
						if ack.PacketID != 42 || ack.ReasonCode != tc.want5 {
							t.Errorf("PUBACK %+v; want id 42 reason %#x", ack, byte(tc.want5))
						}
						if hasReason := ack.Props != nil && ack.Props.ReasonString != ""; hasReason != refused {
							t.Errorf("PUBACK properties %+v; want a Reason String only on a refusal", ack.Props)
						}
					case qos == 2:
						rec := readAs[*mqtt.Pubrec](c)
						if rec.PacketID != 42 || rec.ReasonCode != tc.want5 {
							t.Errorf("PUBREC %+v; want id 42 reason %#x", rec, byte(tc.want5))
						}
						if hasReason := rec.Props != nil && rec.Props.ReasonString != ""; hasReason != refused {
							t.Errorf("PUBREC properties %+v; want a Reason String only on a refusal", rec.Props)
						}
						if !refused {
							c.send(&mqtt.Pubrel{PacketID: 42})
							if comp := readAs[*mqtt.Pubcomp](c); comp.PacketID != 42 || comp.ReasonCode != 0 {
								t.Errorf("PUBCOMP %+v", comp)
							}
						}
					}
					wantStored := 0
					if tc.stored {
						wantStored = 1
					}
					if n := h.log.count(); n != wantStored {
						t.Fatalf("log holds %d messages; want %d", n, wantStored)
					}
					if tc.stored && tc.topic == aliceTopic {
						if got := string(h.log.last().Payload); got != `{"canonical":true,"a":1}` {
							t.Errorf("stored %q; want the canonical envelope", got)
						}
					}
				})
			}
		}
	}
}

// TestPublish_ProducerDelivered: a producer's message is acknowledged once
// stored and then delivered; RETAIN=1 on a notification topic is ignored.
func TestPublish_ProducerDelivered(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			aliceTopic := topic.Publish(orgAcme, idAlice)
			alice := h.login(t, v.v, "tok-alice", "sub")
			alice.subscribe(2, aliceTopic)
			feed := h.service(t, v.v, "feed", "feed-secret", "feed")
			feed.send(&mqtt.Publish{QoS: 1, PacketID: 9, Retain: true, Topic: aliceTopic, Payload: []byte(`{"x":1}`)})
			if ack := readAs[*mqtt.Puback](feed); ack.PacketID != 9 || ack.ReasonCode != 0 {
				t.Fatalf("PUBACK %+v", ack)
			}
			p := alice.expectPublish(aliceTopic)
			if p.Retain || string(p.Payload) != `{"x":1}` {
				t.Errorf("delivered %+v; want RETAIN=0 and the payload", p)
			}
			if s := h.b.Stats(); s.MessagesIn != 1 {
				t.Errorf("MessagesIn = %d; want 1", s.MessagesIn)
			}
		})
	}
}

// TestPublish_QoS2Duplicate: a QoS 2 PUBLISH resent before PUBREL is stored once
// [MQTT-4.3.3-9].
func TestPublish_QoS2Duplicate(t *testing.T) {
	h := mustRunBroker(t)
	feed := h.service(t, mqtt.Version311, "feed", "feed-secret", "feed")
	for range 2 {
		feed.send(&mqtt.Publish{QoS: 2, PacketID: 5, Topic: extIn, Payload: []byte("once")})
		readAs[*mqtt.Pubrec](feed)
	}
	feed.send(&mqtt.Pubrel{PacketID: 5})
	readAs[*mqtt.Pubcomp](feed)
	if n := h.log.count(); n != 1 {
		t.Errorf("stored %d times; want once", n)
	}
}

// TestPublish_ReceiveMaximum: a 5.0 client that has more QoS 2 PUBLISHes
// unreleased than the Receive Maximum announced gets DISCONNECT 0x93
// [MQTT-3.3.4-9]; the bound is ReceiveMaximum, not the outbound window.
func TestPublish_ReceiveMaximum(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.ReceiveMaximum = 2; c.MaxInflight = 10 })
	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	for id := uint16(1); id <= 2; id++ {
		feed.send(&mqtt.Publish{QoS: 2, PacketID: id, Topic: extIn, Payload: []byte("x")})
		readAs[*mqtt.Pubrec](feed)
	}
	feed.send(&mqtt.Publish{QoS: 2, PacketID: 3, Topic: extIn, Payload: []byte("x")})
	feed.expectDisconnect(mqtt.ReasonReceiveMaximumExceeded)
}

// TestPublish_RetainElsewhere: without a RetainedStore retained messages are
// not available; a 5.0 client is told so (0x9A).
func TestPublish_RetainElsewhere(t *testing.T) {
	h := mustRunBroker(t)
	feed := h.service(t, mqtt.Version5, "feed", "feed-secret", "feed")
	feed.send(&mqtt.Publish{Retain: true, Topic: extIn, Payload: []byte("r")})
	feed.expectDisconnect(mqtt.ReasonRetainNotSupported)
}

// TestQoS1_Outbound delivers at the granted QoS with a fresh packet id, DUP=0,
// and frees the id on PUBACK.
func TestQoS1_Outbound(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			ext := h.service(t, v.v, "acme/backup/1.0.0", "ext-secret", "extMQTT")
			if codes := ext.subscribe(1, extIn); codes[0] != mqtt.ReasonGrantedQoS1 {
				t.Fatalf("SUBACK %#x", codes)
			}
			h.appendMsg(t, extIn, "one")
			h.appendMsg(t, extIn, "two")
			p1 := ext.expectPublish(extIn)
			p2 := ext.expectPublish(extIn)
			for _, p := range []*mqtt.Publish{p1, p2} {
				if p.QoS != 1 || p.Dup || p.PacketID == 0 {
					t.Errorf("PUBLISH %+v; want QoS 1, DUP 0, a packet id", p)
				}
			}
			if p1.PacketID == p2.PacketID {
				t.Errorf("both messages in flight with packet id %d", p1.PacketID)
			}
			if string(p1.Payload) != "one" || string(p2.Payload) != "two" {
				t.Errorf("order %q, %q", p1.Payload, p2.Payload)
			}
			ext.send(&mqtt.Puback{PacketID: p1.PacketID})
			ext.send(&mqtt.Puback{PacketID: p2.PacketID})
			ext.send(&mqtt.Pingreq{})
			readAs[*mqtt.Pingresp](ext)
		})
	}
}

// TestQoS2_Outbound runs PUBLISH, PUBREC, PUBREL, PUBCOMP for a QoS 2
// subscription (VCD-COMPAT §12.3 step 4).
func TestQoS2_Outbound(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			ext := h.service(t, v.v, "acme/backup/1.0.0", "ext-secret", "extMQTT")
			if codes := ext.subscribe(2, extIn); codes[0] != mqtt.ReasonGrantedQoS2 {
				t.Fatalf("SUBACK %#x", codes)
			}
			h.appendMsg(t, extIn, "payload unchanged")
			p := ext.expectPublish(extIn)
			if p.QoS != 2 || p.Dup || p.PacketID == 0 || string(p.Payload) != "payload unchanged" {
				t.Fatalf("PUBLISH %+v", p)
			}
			ext.send(&mqtt.Pubrec{PacketID: p.PacketID})
			if rel := readAs[*mqtt.Pubrel](ext); rel.PacketID != p.PacketID || rel.ReasonCode != 0 {
				t.Fatalf("PUBREL %+v", rel)
			}
			ext.send(&mqtt.Pubcomp{PacketID: p.PacketID})
			// A PUBREC for an id not in flight gets PUBREL 0x92 on 5.0.
			ext.send(&mqtt.Pubrec{PacketID: p.PacketID})
			rel := readAs[*mqtt.Pubrel](ext)
			if v.v == mqtt.Version5 && rel.ReasonCode != mqtt.ReasonPacketIdentifierNotFound {
				t.Errorf("PUBREL %+v; want 0x92", rel)
			}
		})
	}
}

// TestQoS_Downgrade delivers at min(2, granted): a QoS 0 subscription gets QoS 0.
func TestQoS_Downgrade(t *testing.T) {
	h := mustRunBroker(t)
	ext := h.service(t, mqtt.Version311, "acme/backup/1.0.0", "ext-secret", "extMQTT")
	ext.subscribe(0, extIn)
	h.appendMsg(t, extIn, "x")
	if p := ext.expectPublish(extIn); p.QoS != 0 || p.PacketID != 0 {
		t.Errorf("PUBLISH %+v; want QoS 0", p)
	}
}

// TestQoS_ReceiveMaximum keeps at most the client's Receive Maximum in flight.
func TestQoS_ReceiveMaximum(t *testing.T) {
	h := mustRunBroker(t)
	c := h.dial(t, mqtt.Version5)
	cp := connectPacket("rm", "acme/backup/1.0.0", "ext-secret")
	two := uint16(2)
	cp.Props = &mqtt.Properties{ReceiveMaximum: &two}
	if ack := c.connect(cp); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	c.subscribe(1, extIn)
	for _, s := range []string{"1", "2", "3", "4"} {
		h.appendMsg(t, extIn, s)
	}
	p1 := c.expectPublish(extIn)
	c.expectPublish(extIn)
	// The third waits for an acknowledgement: a PINGRESP comes first.
	c.send(&mqtt.Pingreq{})
	readAs[*mqtt.Pingresp](c)
	c.send(&mqtt.Puback{PacketID: p1.PacketID})
	if p := c.expectPublish(extIn); string(p.Payload) != "3" {
		t.Errorf("got %q; want message 3", p.Payload)
	}
}

// TestQoS_MaximumPacketSize skips messages larger than a 5.0 client accepts.
func TestQoS_MaximumPacketSize(t *testing.T) {
	h := mustRunBroker(t)
	c := h.dial(t, mqtt.Version5)
	cp := connectPacket("mps", "acme/backup/1.0.0", "ext-secret")
	limit := uint32(100)
	cp.Props = &mqtt.Properties{MaximumPacketSize: &limit}
	if ack := c.connect(cp); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	c.subscribe(0, extIn)
	h.appendMsg(t, extIn, string(make([]byte, 200)))
	h.appendMsg(t, extIn, "small")
	if p := c.expectPublish(extIn); string(p.Payload) != "small" {
		t.Errorf("got %d bytes; want the small message", len(p.Payload))
	}
	if n := h.b.Stats().Drops.TooLarge; n != 1 {
		t.Errorf("Drops.TooLarge = %d; want 1", n)
	}
}

// TestWill stores a service account's will when its connection ends without
// DISCONNECT, and discards it on a normal DISCONNECT [MQTT-3.1.2-8], [MQTT-3.1.2-10].
func TestWill(t *testing.T) {
	for _, tc := range []struct {
		name       string
		disconnect bool
		stored     int
	}{{"Abnormal", false, 1}, {"Normal", true, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustRunBroker(t)
			c := h.dial(t, mqtt.Version311)
			cp := connectPacket("will", "feed", "feed-secret")
			cp.Will = &mqtt.Will{Topic: extIn, Payload: []byte("gone")}
			if ack := c.connect(cp); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
			}
			if tc.disconnect {
				c.send(&mqtt.Disconnect{})
			}
			_ = c.nc.Close()
			eventually(t, "connection gone", func() bool { return h.b.Stats().Connections == 0 })
			if n := h.log.count(); n != tc.stored {
				t.Fatalf("log holds %d messages; want %d", n, tc.stored)
			}
			if tc.stored == 1 {
				if m := h.log.last(); m.Topic != extIn || string(m.Payload) != "gone" {
					t.Errorf("stored %+v; want the will", m)
				}
			}
		})
	}
}

// TestPublish_Pipelined keeps a producer's QoS 1 publishes in flight together:
// none is acknowledged before it is stored, and the PUBACKs come in the order
// of the PUBLISHes [MQTT-4.6.0-2], a failed append answered with 0x80 on 5.0
// and by closing the connection on 3.1.1. The broker reuses a stored
// payload's buffer, never one in flight or one whose append failed.
func TestPublish_Pipelined(t *testing.T) {
	aliceTopic := topic.Publish(orgAcme, idAlice)
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t, func(c *broker.Config) { c.ValidateNotification = validEnvelope })
			h.log.mu.Lock()
			h.log.hold = true
			h.log.mu.Unlock()
			c := h.service(t, v.v, "feed", "feed-secret", "pub")
			for id := uint16(1); id <= 3; id++ {
				c.send(&mqtt.Publish{QoS: 1, PacketID: id, Topic: aliceTopic, Payload: fmt.Appendf(nil, `{"n":%d}`, id)})
			}
			eventually(t, "three appends in flight", func() bool { return h.log.holding() == 3 })
			// Nothing is stored yet, so nothing is acknowledged: the PINGRESP
			// queued after the PUBLISHes comes first.
			c.send(&mqtt.Pingreq{})
			readAs[*mqtt.Pingresp](c)
			failed := errors.New("store down")
			h.log.release(func(i int) error {
				if i == 1 {
					return failed
				}
				return nil
			})
			if v.v == mqtt.Version311 {
				ack := readAs[*mqtt.Puback](c)
				if ack.PacketID != 1 {
					t.Fatalf("PUBACK %+v; want id 1", ack)
				}
				c.expectClosed()
				return
			}
			for _, want := range []struct {
				id   uint16
				code mqtt.ReasonCode
			}{{1, mqtt.ReasonSuccess}, {2, mqtt.ReasonUnspecifiedError}, {3, mqtt.ReasonSuccess}} {
				ack := readAs[*mqtt.Puback](c)
				if ack.PacketID != want.id || ack.ReasonCode != want.code {
					t.Fatalf("PUBACK %+v; want id %d reason %#x", ack, want.id, byte(want.code))
				}
			}
			if n := h.log.count(); n != 2 {
				t.Errorf("stored %d messages; want 2", n)
			}
			if got := h.b.Stats().MessagesIn; got != 2 {
				t.Errorf("MessagesIn = %d; want 2", got)
			}
			// More publishes, stored at once, which reuse the buffers of the
			// stored ones.
			h.log.mu.Lock()
			h.log.hold = false
			h.log.mu.Unlock()
			for id := uint16(4); id <= 40; id++ {
				c.send(&mqtt.Publish{QoS: 1, PacketID: id, Topic: aliceTopic, Payload: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, id, strings.Repeat("x", int(id)))})
			}
			for id := uint16(4); id <= 40; id++ {
				if ack := readAs[*mqtt.Puback](c); ack.PacketID != id || ack.ReasonCode != mqtt.ReasonSuccess {
					t.Fatalf("PUBACK %+v; want id %d, success", ack, id)
				}
			}
			want := []string{`{"canonical":true,"n":1}`, `{"canonical":true,"n":3}`} // 2 failed
			for n := 4; n <= 40; n++ {
				want = append(want, fmt.Sprintf(`{"canonical":true,"n":%d,"pad":"%s"}`, n, strings.Repeat("x", n)))
			}
			h.log.mu.Lock()
			for i, m := range h.log.msgs {
				if i >= len(want) || string(m.Payload) != want[i] {
					t.Errorf("message %d stored %s; want %s", i, m.Payload, want[min(i, len(want)-1)])
				}
			}
			h.log.mu.Unlock()
			for _, bad := range h.log.changedPayloads() {
				t.Error(bad)
			}
		})
	}
}
