package mqtt_test

import (
	"bytes"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/mqtt"
)

// These tests check the codec against independent implementations, the
// packet codecs of the Eclipse Paho clients that VCD users run: paho.golang
// for 5.0 and paho.mqtt.golang for 3.1.1. Each packet is encoded by one side
// and decoded by the other.

func TestInterop_Paho5ToHerald(t *testing.T) {
	tests := []struct {
		name string
		in   paho5.Packet
		want mqtt.Packet
	}{
		{"connect", &paho5.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "node", KeepAlive: 60,
			CleanStart: true, UsernameFlag: true, Username: "alice@acme", PasswordFlag: true, Password: []byte("jwt"),
			Properties: &paho5.Properties{SessionExpiryInterval: new(uint32(3600)),
				User: []paho5.User{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
			WillFlag: true, WillQOS: 2, WillTopic: "w", WillMessage: []byte("gone"),
			WillProperties: &paho5.Properties{WillDelayInterval: new(uint32(5))}},
			&mqtt.Connect{ProtocolVersion: 5, ClientID: "node", KeepAlive: 60, CleanStart: true,
				UsernameFlag: true, Username: "alice@acme", PasswordFlag: true, Password: []byte("jwt"),
				Props: &mqtt.Properties{SessionExpiryInterval: new(uint32(3600)),
					UserProperties: []mqtt.UserProperty{{"a", "1"}, {"a", "2"}}},
				Will: &mqtt.Will{QoS: 2, Topic: "w", Payload: []byte("gone"),
					Props: &mqtt.Properties{WillDelayInterval: new(uint32(5))}}}},
		{"publish", &paho5.Publish{QoS: 1, PacketID: 9, Topic: "publish/o/u", Payload: []byte("{}"),
			Properties: &paho5.Properties{MessageExpiry: new(uint32(60)), ContentType: "application/json"}},
			&mqtt.Publish{QoS: 1, PacketID: 9, Topic: "publish/o/u", Payload: []byte("{}"),
				Props: &mqtt.Properties{MessageExpiryInterval: new(uint32(60)), ContentType: "application/json"}}},
		{"subscribe", &paho5.Subscribe{PacketID: 3, Properties: &paho5.Properties{SubscriptionIdentifier: new(200)},
			Subscriptions: []paho5.SubOptions{{Topic: "publish/o/+", QoS: 2, NoLocal: true, RetainHandling: 1}}},
			&mqtt.Subscribe{PacketID: 3, Props: &mqtt.Properties{SubscriptionIdentifiers: []uint32{200}},
				Subscriptions: []mqtt.Subscription{{Filter: "publish/o/+", QoS: 2, NoLocal: true, RetainHandling: 1}}}},
		{"unsubscribe", &paho5.Unsubscribe{PacketID: 4, Topics: []string{"a", "b"}},
			&mqtt.Unsubscribe{PacketID: 4, Filters: []string{"a", "b"}}},
		{"puback", &paho5.Puback{PacketID: 5, ReasonCode: 0x10, Properties: &paho5.Properties{}},
			&mqtt.Puback{PacketID: 5, ReasonCode: mqtt.ReasonNoMatchingSubscribers}},
		{"disconnect", &paho5.Disconnect{ReasonCode: 0x04, Properties: &paho5.Properties{}},
			&mqtt.Disconnect{ReasonCode: mqtt.ReasonDisconnectWithWillMessage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := tc.in.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			got, n, err := mqtt.Decode(buf.Bytes(), mqtt.Version5)
			if err != nil || n != buf.Len() {
				t.Fatalf("Decode(%x) = %d bytes, %v", buf.Bytes(), n, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInterop_HeraldToPaho5(t *testing.T) {
	connack := &mqtt.Connack{SessionPresent: true, Props: &mqtt.Properties{
		AssignedClientIdentifier: "auto-1", ReceiveMaximum: new(uint16(100)), MaximumPacketSize: new(uint32(1 << 20)),
		TopicAliasMaximum: new(uint16(0)), RetainAvailable: new(true), SharedSubscriptionAvailable: new(false)}}
	b, err := connack.Append(nil, mqtt.Version5)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := paho5.ReadPacket(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("paho ReadPacket(%x): %v", b, err)
	}
	ca := cp.Content.(*paho5.Connack)
	p := ca.Properties
	if !ca.SessionPresent || ca.ReasonCode != 0 || p.AssignedClientID != "auto-1" || *p.ReceiveMaximum != 100 ||
		*p.MaximumPacketSize != 1<<20 || *p.TopicAliasMaximum != 0 || *p.RetainAvailable != 1 || *p.SharedSubAvailable != 0 {
		t.Errorf("paho decoded %s", ca)
	}

	props, _ := (&mqtt.Properties{UserProperties: []mqtt.UserProperty{{"k", "v"}}}).Encode(nil)
	h := mqtt.PublishHeader{QoS: 2, Dup: true, PacketID: 77, SubscriptionIDs: []uint32{3}}
	b, err = mqtt.AppendPublish(nil, mqtt.Version5, h, "publish/o/u", props, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err = paho5.ReadPacket(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("paho ReadPacket(%x): %v", b, err)
	}
	pub := cp.Content.(*paho5.Publish)
	if pub.QoS != 2 || !pub.Duplicate || pub.PacketID != 77 || pub.Topic != "publish/o/u" ||
		string(pub.Payload) != "payload" || *pub.Properties.SubscriptionIdentifier != 3 ||
		len(pub.Properties.User) != 1 || pub.Properties.User[0] != (paho5.User{Key: "k", Value: "v"}) {
		t.Errorf("paho decoded %s", pub)
	}

	suback := &mqtt.Suback{PacketID: 8, ReasonCodes: []mqtt.ReasonCode{1, mqtt.ReasonNotAuthorized}}
	b, _ = suback.Append(nil, mqtt.Version5)
	if cp, err = paho5.ReadPacket(bytes.NewReader(b)); err != nil {
		t.Fatalf("paho ReadPacket(%x): %v", b, err)
	}
	if sa := cp.Content.(*paho5.Suback); sa.PacketID != 8 || !bytes.Equal(sa.Reasons, []byte{1, 0x87}) {
		t.Errorf("paho decoded %s", sa)
	}
}

func TestInterop_Paho311(t *testing.T) {
	// paho.mqtt.golang encodes a 3.1.1 CONNECT as the Python and Node
	// clients do; herald decodes it.
	c := paho3.NewControlPacket(paho3.Connect).(*paho3.ConnectPacket)
	c.ProtocolName, c.ProtocolVersion = "MQTT", 4
	c.CleanSession, c.Keepalive, c.ClientIdentifier = true, 60, "PythonMQTT"
	c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, "", true, []byte("jwt")
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, _, err := mqtt.Decode(buf.Bytes(), 0)
	if err != nil {
		t.Fatalf("Decode(%x): %v", buf.Bytes(), err)
	}
	want := &mqtt.Connect{ProtocolVersion: 4, CleanStart: true, KeepAlive: 60, ClientID: "PythonMQTT",
		UsernameFlag: true, PasswordFlag: true, Password: []byte("jwt")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("connect mismatch (-want +got):\n%s", diff)
	}

	// herald encodes a 3.1.1 PUBLISH and SUBACK; paho decodes them.
	b, err := mqtt.AppendPublish(nil, mqtt.Version311, mqtt.PublishHeader{QoS: 1, Retain: true, PacketID: 5},
		"publish/o/u", []byte("ignored in 3.1.1"), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = (&mqtt.Suback{PacketID: 6, ReasonCodes: []mqtt.ReasonCode{0, mqtt.ReasonNotAuthorized}}).Append(b, mqtt.Version311)
	r := bytes.NewReader(b)
	cp, err := paho3.ReadPacket(r)
	if err != nil {
		t.Fatal(err)
	}
	if p := cp.(*paho3.PublishPacket); p.Qos != 1 || !p.Retain || p.MessageID != 5 || p.TopicName != "publish/o/u" ||
		string(p.Payload) != "hello" {
		t.Errorf("paho decoded %s", p)
	}
	if cp, err = paho3.ReadPacket(r); err != nil {
		t.Fatal(err)
	}
	if s := cp.(*paho3.SubackPacket); s.MessageID != 6 || !bytes.Equal(s.ReturnCodes, []byte{0, 0x80}) {
		t.Errorf("paho decoded %s", s)
	}
}
