package mqtt_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/heraldmq/herald/internal/mqtt"
)

// A server reads a CONNECT, which sets the Reader's version, then the
// packets that follow.
func ExampleReader() {
	var stream []byte
	stream, _ = (&mqtt.Connect{CleanStart: true, KeepAlive: 60, ClientID: "PythonMQTT"}).Append(stream, mqtt.Version311)
	stream, _ = (&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "publish/acme/+", QoS: 1}}}).Append(stream, mqtt.Version311)
	stream, _ = (&mqtt.Pingreq{}).Append(stream, mqtt.Version311)

	r := mqtt.NewReader(bytes.NewReader(stream), mqtt.DefaultMaxPacketSize)
	for {
		p, err := r.ReadPacket()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(p.Type(), "version", r.Version())
	}
	// Output:
	// CONNECT version 4
	// SUBSCRIBE version 4
	// PINGREQ version 4
	// EOF
}

// An MQTT 3.1 client is answered with a 3.1.1 CONNACK 0x01.
func ExampleErrUnsupportedProtocolVersion() {
	mqisdp := []byte{0x10, 0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 2, 'i', 'd'}
	r := mqtt.NewReader(bytes.NewReader(mqisdp), 0)
	p, err := r.ReadPacket()
	if errors.Is(err, mqtt.ErrUnsupportedProtocolVersion) {
		fmt.Println("level", p.(*mqtt.Connect).ProtocolVersion)
		reply, _ := (&mqtt.Connack{ReasonCode: mqtt.ConnRefusedProtocolVersion}).Append(nil, mqtt.Version311)
		fmt.Printf("% x\n", reply)
	}
	// Output:
	// level 3
	// 20 02 00 01
}

// One message is encoded for each subscriber into a reused buffer: only the
// header differs.
func ExampleAppendPublish() {
	topic, payload := "publish/acme/alice", []byte(`{"type":"EVENT"}`)
	props, _ := (&mqtt.Properties{ContentType: "application/json"}).Encode(nil)
	subscribers := []struct {
		version byte
		qos     byte
		id      uint16
	}{{mqtt.Version311, 0, 0}, {mqtt.Version5, 1, 17}}

	var buf []byte
	for _, s := range subscribers {
		h := mqtt.PublishHeader{QoS: s.qos, PacketID: s.id}
		buf, _ = mqtt.AppendPublish(buf[:0], s.version, h, topic, props, payload)
		fmt.Println(len(buf), "bytes")
	}
	// Output:
	// 38 bytes
	// 60 bytes
}

// ReasonOf gives the reason code to send before closing on a bad packet.
func ExampleReasonOf() {
	_, _, err := mqtt.Decode([]byte{0x36, 0x05, 0, 3, 'a', '/', 'b'}, mqtt.Version5)
	fmt.Println(err)
	fmt.Printf("%#x\n", byte(mqtt.ReasonOf(err)))
	// Output:
	// mqtt: publish QoS 3 (malformed packet)
	// 0x81
}
