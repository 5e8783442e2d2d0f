package mqtt_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/mqtt"
)

// fixture is a canonical encoding of a packet: decoding hex gives pkt and
// encoding pkt gives hex.
type fixture struct {
	name    string
	version byte
	hex     string
	pkt     mqtt.Packet
}

// fixtures covers every packet type in both versions. The two CONNECTs use
// the variable header examples of MQTT 3.1.1 §3.1.2.10 (Figure 3.6) and MQTT
// 5.0 §3.1.2.12 (Figure 3-6): protocol name "MQTT", flags 0xCE (user name,
// password, will QoS 1, will, clean), keep alive 10 and, in 5.0, a Session
// Expiry Interval of 10.
var fixtures = []fixture{
	{"connect 3.1.1 spec example", 4,
		"10 1c | 0004 4d515454 04 ce 000a | 0002 6331 | 0001 77 | 0003 627965 | 0001 75 | 0001 70",
		&mqtt.Connect{ProtocolVersion: 4, CleanStart: true, KeepAlive: 10, ClientID: "c1",
			Will:         &mqtt.Will{QoS: 1, Topic: "w", Payload: []byte("bye")},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}},
	{"connect 5.0 spec example", 5,
		"10 23 | 0004 4d515454 05 ce 000a 05 11 0000000a | 0002 6331 | 00 | 0001 77 | 0003 627965 | 0001 75 | 0001 70",
		&mqtt.Connect{ProtocolVersion: 5, CleanStart: true, KeepAlive: 10, ClientID: "c1",
			Props:        &mqtt.Properties{SessionExpiryInterval: new(uint32(10))},
			Will:         &mqtt.Will{QoS: 1, Topic: "w", Payload: []byte("bye")},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}},
	{"connect 3.1.1 minimal", 4, "10 0e | 0004 4d515454 04 00 003c | 0002 6964",
		&mqtt.Connect{ProtocolVersion: 4, KeepAlive: 60, ClientID: "id"}},
	{"connect 3.1.1 empty client id and empty username", 4, "10 0e | 0004 4d515454 04 82 0065 | 0000 | 0000",
		&mqtt.Connect{ProtocolVersion: 4, CleanStart: true, KeepAlive: 101, UsernameFlag: true}},
	{"connect 5.0 password only, will properties, user properties in order", 5,
		"10 30 | 0004 4d515454 05 6c 0000 | 11 | 21 0064 | 26 0001 6b 0001 31 | 26 0001 6b 0001 32 | 0000 |" +
			" 07 | 01 01 | 18 0000001e | 0001 74 | 0000 | 0003 6a7774",
		&mqtt.Connect{ProtocolVersion: 5,
			Props: &mqtt.Properties{ReceiveMaximum: new(uint16(100)),
				UserProperties: []mqtt.UserProperty{{"k", "1"}, {"k", "2"}}},
			Will: &mqtt.Will{QoS: 1, Retain: true, Topic: "t",
				Props: &mqtt.Properties{PayloadFormatIndicator: new(byte(1)), WillDelayInterval: new(uint32(30))}},
			PasswordFlag: true, Password: []byte("jwt")}},
	{"connack 3.1.1 session present", 4, "20 02 01 00",
		&mqtt.Connack{SessionPresent: true}},
	{"connack 3.1.1 not authorized", 4, "20 02 00 05",
		&mqtt.Connack{ReasonCode: mqtt.ConnRefusedNotAuthorized}},
	{"connack 3.1.1 unacceptable protocol version", 4, "20 02 00 01",
		&mqtt.Connack{ReasonCode: mqtt.ConnRefusedProtocolVersion}},
	{"connack 5.0 with limits", 5, "20 0e | 00 00 | 0b | 12 0002 6964 | 21 0064 | 22 000a",
		&mqtt.Connack{Props: &mqtt.Properties{AssignedClientIdentifier: "id",
			ReceiveMaximum: new(uint16(100)), TopicAliasMaximum: new(uint16(10))}}},
	{"connack 5.0 not authorized", 5, "20 03 00 87 00",
		&mqtt.Connack{ReasonCode: mqtt.ReasonNotAuthorized}},
	{"connack 5.0 capabilities", 5, "20 12 | 01 00 | 0f | 11 00015180 | 24 01 | 25 00 | 28 01 | 29 00 | 2a 00",
		&mqtt.Connack{SessionPresent: true, Props: &mqtt.Properties{SessionExpiryInterval: new(uint32(86400)),
			MaximumQoS: new(byte(1)), RetainAvailable: new(false), WildcardSubscriptionAvailable: new(true),
			SubscriptionIdentifierAvailable: new(false), SharedSubscriptionAvailable: new(false)}}},
	{"publish 3.1.1 QoS 0", 4, "30 07 | 0003 612f62 | 6869",
		&mqtt.Publish{Topic: "a/b", Payload: []byte("hi")}},
	{"publish 3.1.1 QoS 1 dup retain", 4, "3b 09 | 0003 612f62 | 000a | 6869",
		&mqtt.Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 10, Payload: []byte("hi")}},
	{"publish 3.1.1 empty payload", 4, "35 07 | 0003 612f62 | ffff",
		&mqtt.Publish{QoS: 2, Retain: true, Topic: "a/b", PacketID: 0xffff}},
	{"publish 5.0 QoS 0", 5, "30 08 | 0003 612f62 | 00 | 6869",
		&mqtt.Publish{Topic: "a/b", Payload: []byte("hi")}},
	{"publish 5.0 QoS 2 expiry and subscription identifiers", 5,
		"34 14 | 0003 612f62 | 0007 | 0a | 02 0000003c | 0b 05 | 0b 8001 | 6869",
		&mqtt.Publish{QoS: 2, Topic: "a/b", PacketID: 7, Payload: []byte("hi"),
			Props: &mqtt.Properties{MessageExpiryInterval: new(uint32(60)), SubscriptionIdentifiers: []uint32{5, 128}}}},
	{"publish 5.0 request response", 5,
		"32 25 | 0000 | 0001 | 1e | 01 01 | 03 0004 6a736f6e | 08 0003 722f31 | 09 0002 abcd | 23 0003 | 26 0001 61 0001 62 | 7b7d",
		&mqtt.Publish{QoS: 1, PacketID: 1, Payload: []byte("{}"), Props: &mqtt.Properties{
			PayloadFormatIndicator: new(byte(1)), ContentType: "json", ResponseTopic: "r/1",
			CorrelationData: []byte{0xab, 0xcd}, TopicAlias: new(uint16(3)),
			UserProperties: []mqtt.UserProperty{{"a", "b"}}}}},
	{"puback 3.1.1", 4, "40 02 0001", &mqtt.Puback{PacketID: 1}},
	{"pubrec 3.1.1", 4, "50 02 0002", &mqtt.Pubrec{PacketID: 2}},
	{"pubrel 3.1.1", 4, "62 02 0003", &mqtt.Pubrel{PacketID: 3}},
	{"pubcomp 3.1.1", 4, "70 02 0004", &mqtt.Pubcomp{PacketID: 4}},
	{"puback 5.0 success short form", 5, "40 02 0001", &mqtt.Puback{PacketID: 1}},
	{"puback 5.0 no matching subscribers", 5, "40 03 0001 10",
		&mqtt.Puback{PacketID: 1, ReasonCode: mqtt.ReasonNoMatchingSubscribers}},
	{"puback 5.0 reason string", 5, "40 08 0001 87 04 1f 0001 78",
		&mqtt.Puback{PacketID: 1, ReasonCode: mqtt.ReasonNotAuthorized, Props: &mqtt.Properties{ReasonString: "x"}}},
	{"pubrec 5.0 quota exceeded", 5, "50 03 0002 97", &mqtt.Pubrec{PacketID: 2, ReasonCode: mqtt.ReasonQuotaExceeded}},
	{"pubrel 5.0 packet identifier not found", 5, "62 03 0003 92",
		&mqtt.Pubrel{PacketID: 3, ReasonCode: mqtt.ReasonPacketIdentifierNotFound}},
	{"pubcomp 5.0 user property", 5, "70 0b 0004 00 07 26 0001 6b 0001 76",
		&mqtt.Pubcomp{PacketID: 4, Props: &mqtt.Properties{UserProperties: []mqtt.UserProperty{{"k", "v"}}}}},
	{"subscribe 3.1.1 two filters", 4, "82 0c | 000a | 0003 612f62 01 | 0001 23 02",
		&mqtt.Subscribe{PacketID: 10, Subscriptions: []mqtt.Subscription{{Filter: "a/b", QoS: 1}, {Filter: "#", QoS: 2}}}},
	{"subscribe 5.0 options and identifier", 5, "82 0b | 000a | 02 0b 07 | 0003 612f62 2d",
		&mqtt.Subscribe{PacketID: 10, Props: &mqtt.Properties{SubscriptionIdentifiers: []uint32{7}},
			Subscriptions: []mqtt.Subscription{{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}},
	{"suback 3.1.1 spec example", 4, "90 06 | 000a | 00 01 02 80",
		&mqtt.Suback{PacketID: 10, ReasonCodes: []mqtt.ReasonCode{0, 1, 2, mqtt.SubackFailure}}},
	{"suback 5.0", 5, "90 06 | 000a | 00 | 01 87 9e",
		&mqtt.Suback{PacketID: 10, ReasonCodes: []mqtt.ReasonCode{mqtt.ReasonGrantedQoS1, mqtt.ReasonNotAuthorized,
			mqtt.ReasonSharedSubscriptionsNotSupported}}},
	{"unsubscribe 3.1.1", 4, "a2 07 | 000b | 0003 612f62",
		&mqtt.Unsubscribe{PacketID: 11, Filters: []string{"a/b"}}},
	{"unsubscribe 5.0", 5, "a2 0b | 000b | 00 | 0003 612f62 | 0001 23",
		&mqtt.Unsubscribe{PacketID: 11, Filters: []string{"a/b", "#"}}},
	{"unsuback 3.1.1", 4, "b0 02 000b", &mqtt.Unsuback{PacketID: 11}},
	{"unsuback 5.0", 5, "b0 05 000b 00 00 11",
		&mqtt.Unsuback{PacketID: 11, ReasonCodes: []mqtt.ReasonCode{mqtt.ReasonSuccess, mqtt.ReasonNoSubscriptionExisted}}},
	{"pingreq 3.1.1", 4, "c0 00", &mqtt.Pingreq{}},
	{"pingresp 3.1.1", 4, "d0 00", &mqtt.Pingresp{}},
	{"pingreq 5.0", 5, "c0 00", &mqtt.Pingreq{}},
	{"pingresp 5.0", 5, "d0 00", &mqtt.Pingresp{}},
	{"disconnect 3.1.1", 4, "e0 00", &mqtt.Disconnect{}},
	{"disconnect 5.0 normal", 5, "e0 00", &mqtt.Disconnect{}},
	{"disconnect 5.0 session taken over", 5, "e0 01 8e", &mqtt.Disconnect{ReasonCode: mqtt.ReasonSessionTakenOver}},
	{"disconnect 5.0 maximum connect time with reason string", 5, "e0 08 a0 06 1f 0003 657870",
		&mqtt.Disconnect{ReasonCode: mqtt.ReasonMaximumConnectTime, Props: &mqtt.Properties{ReasonString: "exp"}}},
	{"disconnect 5.0 session expiry", 5, "e0 07 00 05 11 00000000",
		&mqtt.Disconnect{Props: &mqtt.Properties{SessionExpiryInterval: new(uint32(0))}}},
	{"auth 5.0 success", 5, "f0 00", &mqtt.Auth{}},
	{"auth 5.0 continue", 5, "f0 0b 18 09 | 15 0001 6d | 16 0002 0102",
		&mqtt.Auth{ReasonCode: mqtt.ReasonContinueAuthentication,
			Props: &mqtt.Properties{AuthenticationMethod: "m", AuthenticationData: []byte{1, 2}}}},
}

func TestDecode_Fixtures(t *testing.T) {
	for _, tc := range fixtures {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			got, n, err := mqtt.Decode(b, tc.version)
			if err != nil {
				t.Fatalf("Decode(%x, %d) error: %v", b, tc.version, err)
			}
			if n != len(b) {
				t.Errorf("Decode used %d bytes; want %d", n, len(b))
			}
			if diff := cmp.Diff(tc.pkt, got); diff != "" {
				t.Errorf("Decode(%x, %d) mismatch (-want +got):\n%s", b, tc.version, diff)
			}
		})
	}
}

func TestAppend_Fixtures(t *testing.T) {
	for _, tc := range fixtures {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			prefix := []byte("prefix")
			got, err := tc.pkt.Append(prefix, tc.version)
			if err != nil {
				t.Fatalf("Append error: %v", err)
			}
			if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
				t.Errorf("Append(%q, %d) =\n%x; want\n%x after the prefix", prefix, tc.version, got, want)
			}
		})
	}
}

// TestRoundTrip_AllPacketsEveryVersion checks that the fixtures of each
// version encoded back to back decode in sequence to the same packets.
func TestRoundTrip_AllPacketsEveryVersion(t *testing.T) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		var stream []byte
		var want []mqtt.Packet
		for _, tc := range fixtures {
			if tc.version != v {
				continue
			}
			var err error
			if stream, err = tc.pkt.Append(stream, v); err != nil {
				t.Fatalf("%s: Append error: %v", tc.name, err)
			}
			want = append(want, tc.pkt)
		}
		for off := 0; off < len(stream); {
			p, n, err := mqtt.Decode(stream[off:], v)
			if err != nil {
				t.Fatalf("version %d: Decode at %d: %v", v, off, err)
			}
			if diff := cmp.Diff(want[0], p); diff != "" {
				t.Errorf("version %d: packet mismatch (-want +got):\n%s", v, diff)
			}
			want, off = want[1:], off+n
		}
		if len(want) != 0 {
			t.Errorf("version %d: %d packets not decoded", v, len(want))
		}
	}
}

func TestPublish_Clone(t *testing.T) {
	b := mustHex(t, "34 14 | 0003 612f62 | 0007 | 0a | 02 0000003c | 0b 05 | 0b 8001 | 6869")
	p, _, err := mqtt.Decode(b, mqtt.Version5)
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*mqtt.Publish)
	c := pub.Clone()
	for i := range b {
		b[i] = 0
	}
	if string(pub.Payload) != "\x00\x00" {
		t.Errorf("decoded payload = %q; want it to alias the input", pub.Payload)
	}
	if string(c.Payload) != "hi" || *c.Props.MessageExpiryInterval != 60 {
		t.Errorf("Clone = %+v; want an independent copy", c)
	}
}
