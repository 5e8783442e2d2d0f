package mqtt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/mqtt"
)

// TestAppend_Invalid checks that packets the decoder would refuse are not
// encoded, and that dst comes back unchanged.
func TestAppend_Invalid(t *testing.T) {
	long := strings.Repeat("x", mqtt.MaxStringLength+1)
	tests := []struct {
		name    string
		version byte
		pkt     mqtt.Packet
	}{
		{"connect unknown version", 3, &mqtt.Connect{ClientID: "c"}},
		{"connect will QoS 3", 4, &mqtt.Connect{Will: &mqtt.Will{QoS: 3, Topic: "t"}}},
		{"connect 3.1.1 password without user name", 4, &mqtt.Connect{PasswordFlag: true}},
		{"connect client id too long", 4, &mqtt.Connect{ClientID: long}},
		{"connect 5.0 property not allowed", 5, &mqtt.Connect{Props: &mqtt.Properties{TopicAlias: new(uint16(1))}}},
		{"connect 5.0 will property not allowed", 5, &mqtt.Connect{Will: &mqtt.Will{Topic: "t",
			Props: &mqtt.Properties{SessionExpiryInterval: new(uint32(1))}}}},
		{"connack 3.1.1 with a 5.0 code", 4, &mqtt.Connack{ReasonCode: mqtt.ReasonNotAuthorized}},
		{"connack 5.0 with a 3.1.1 code", 5, &mqtt.Connack{ReasonCode: mqtt.ConnRefusedNotAuthorized}},
		{"connack session present with refusal", 5, &mqtt.Connack{SessionPresent: true, ReasonCode: mqtt.ReasonBanned}},
		{"publish QoS 3", 4, &mqtt.Publish{QoS: 3, PacketID: 1, Topic: "t"}},
		{"publish QoS 1 packet id 0", 4, &mqtt.Publish{QoS: 1, Topic: "t"}},
		{"publish topic too long", 4, &mqtt.Publish{Topic: long}},
		{"publish 5.0 subscription identifier 0", 5, &mqtt.Publish{Topic: "t",
			Props: &mqtt.Properties{SubscriptionIdentifiers: []uint32{0}}}},
		{"publish 5.0 property not allowed", 5, &mqtt.Publish{Topic: "t", Props: &mqtt.Properties{ReasonString: "r"}}},
		{"publish 5.0 content type too long", 5, &mqtt.Publish{Topic: "t", Props: &mqtt.Properties{ContentType: long}}},
		{"puback packet id 0", 4, &mqtt.Puback{}},
		{"pubrel 5.0 reason not allowed", 5, &mqtt.Pubrel{PacketID: 1, ReasonCode: mqtt.ReasonNotAuthorized}},
		{"subscribe no filters", 4, &mqtt.Subscribe{PacketID: 1}},
		{"subscribe retain handling 3", 5, &mqtt.Subscribe{PacketID: 1,
			Subscriptions: []mqtt.Subscription{{Filter: "a", RetainHandling: 3}}}},
		{"subscribe two identifiers", 5, &mqtt.Subscribe{PacketID: 1, Props: &mqtt.Properties{SubscriptionIdentifiers: []uint32{1, 2}},
			Subscriptions: []mqtt.Subscription{{Filter: "a"}}}},
		{"suback no codes", 4, &mqtt.Suback{PacketID: 1}},
		{"suback 3.1.1 code 0x10", 4, &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{0x10}}},
		{"unsubscribe no filters", 5, &mqtt.Unsubscribe{PacketID: 1}},
		{"unsuback 5.0 no codes", 5, &mqtt.Unsuback{PacketID: 1}},
		{"disconnect 5.0 reason not allowed", 5, &mqtt.Disconnect{ReasonCode: mqtt.ReasonGrantedQoS1}},
		{"auth in 3.1.1", 4, &mqtt.Auth{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := tc.pkt.Append(dst, tc.version)
			var ee *mqtt.EncodeError
			if !errors.As(err, &ee) || ee.Type != tc.pkt.Type() {
				t.Errorf("Append error = %v; want an *EncodeError for %v", err, tc.pkt.Type())
			}
			if string(got) != "keep" {
				t.Errorf("Append returned %q; want dst unchanged", got)
			}
		})
	}
}

// TestAppend_311DropsProperties checks that 5.0-only fields are left out of
// 3.1.1 encodings and that a 3.1.1 SUBACK reports any failure as 0x80.
func TestAppend_311DropsProperties(t *testing.T) {
	props := &mqtt.Properties{ReasonString: "no", UserProperties: []mqtt.UserProperty{{"k", "v"}}}
	tests := []struct {
		name string
		pkt  mqtt.Packet
		hex  string
	}{
		{"puback", &mqtt.Puback{PacketID: 1, ReasonCode: mqtt.ReasonNotAuthorized, Props: props}, "40 02 0001"},
		{"suback", &mqtt.Suback{PacketID: 1, Props: props,
			ReasonCodes: []mqtt.ReasonCode{mqtt.ReasonGrantedQoS2, mqtt.ReasonSharedSubscriptionsNotSupported}}, "90 04 0001 02 80"},
		{"unsuback", &mqtt.Unsuback{PacketID: 1, Props: props, ReasonCodes: []mqtt.ReasonCode{0x11}}, "b0 02 0001"},
		{"disconnect", &mqtt.Disconnect{ReasonCode: mqtt.ReasonSessionTakenOver, Props: props}, "e0 00"},
		{"subscribe", &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{
			{Filter: "#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}, "82 06 0001 0001 23 01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.pkt.Append(nil, mqtt.Version311)
			if want := mustHex(t, tc.hex); err != nil || !bytes.Equal(got, want) {
				t.Errorf("Append(3.1.1) = %x, %v; want %x", got, err, want)
			}
		})
	}
}

// TestAppendPublish_MatchesPublishAppend checks the fan-out path against the
// general encoder, PublishSize against both, and that it does not allocate.
func TestAppendPublish_MatchesPublishAppend(t *testing.T) {
	shared := &mqtt.Properties{MessageExpiryInterval: new(uint32(300)), ContentType: "application/json",
		UserProperties: []mqtt.UserProperty{{"k", "v"}}}
	props, err := shared.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("p"), 300)
	tests := []struct {
		name string
		h    mqtt.PublishHeader
	}{
		{"QoS 0", mqtt.PublishHeader{}},
		{"QoS 1 retain", mqtt.PublishHeader{QoS: 1, Retain: true, PacketID: 1}},
		{"QoS 2 dup two subscription identifiers", mqtt.PublishHeader{QoS: 2, Dup: true, PacketID: 65535,
			SubscriptionIDs: []uint32{1, mqtt.MaxRemainingLength}}},
	}
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := &mqtt.Publish{Dup: tc.h.Dup, QoS: tc.h.QoS, Retain: tc.h.Retain, PacketID: tc.h.PacketID,
					Topic: "publish/org/user", Payload: payload}
				if v == mqtt.Version5 {
					p.Props = shared.Clone()
					p.Props.SubscriptionIdentifiers = tc.h.SubscriptionIDs
				}
				want, err := p.Append(nil, v)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 0, mqtt.PublishSize(v, tc.h, p.Topic, props, payload))
				got, err := mqtt.AppendPublish(buf, v, tc.h, p.Topic, props, payload)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("AppendPublish = %x, %v;\nwant %x", got, err, want)
				}
				if len(got) != cap(buf) {
					t.Errorf("PublishSize = %d; packet is %d bytes", cap(buf), len(got))
				}
				back, _, err := mqtt.Decode(got, v)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(mqtt.Packet(p), back); diff != "" {
					t.Errorf("decoded mismatch (-want +got):\n%s", diff)
				}
				allocs := testing.AllocsPerRun(100, func() {
					_, _ = mqtt.AppendPublish(buf[:0], v, tc.h, p.Topic, props, payload)
				})
				if allocs != 0 {
					t.Errorf("AppendPublish allocated %v times per call; want 0", allocs)
				}
			})
		}
	}
}

// TestAppend_NoAllocs checks that encoding into a buffer with room does not
// allocate, for the packets the broker sends most.
func TestAppend_NoAllocs(t *testing.T) {
	pkts := []mqtt.Packet{
		&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("x"),
			Props: &mqtt.Properties{MessageExpiryInterval: new(uint32(1)), SubscriptionIdentifiers: []uint32{1}}},
		&mqtt.Puback{PacketID: 1}, &mqtt.Pubrec{PacketID: 1}, &mqtt.Pubrel{PacketID: 1}, &mqtt.Pubcomp{PacketID: 1},
		&mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{1}}, &mqtt.Pingresp{},
		&mqtt.Connack{Props: &mqtt.Properties{ReceiveMaximum: new(uint16(100))}},
		&mqtt.Disconnect{ReasonCode: mqtt.ReasonSessionTakenOver, Props: &mqtt.Properties{ReasonString: "bye"}},
	}
	buf := make([]byte, 0, 1024)
	for _, p := range pkts {
		allocs := testing.AllocsPerRun(100, func() { _, _ = p.Append(buf[:0], mqtt.Version5) })
		if allocs != 0 {
			t.Errorf("%v Append allocated %v times; want 0", p.Type(), allocs)
		}
	}
}
