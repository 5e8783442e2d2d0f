package mqtt_test

import (
	"bytes"
	"testing"

	"github.com/heraldmq/herald/internal/mqtt"
)

// A typical VCD notification: a topic like publish/{org}/{user} and a JSON
// envelope of about 1 KiB.
var (
	benchTopic   = "publish/6f9e2a3c-58b8-4b23-9c55-1a2b3c4d5e6f/1d2c3b4a-0000-4bcd-8e7f-123456789abc"
	benchPayload = bytes.Repeat([]byte(`{"type":"EVENT"}`), 64)
)

func benchDecode(b *testing.B, version byte, p mqtt.Packet) {
	enc, err := p.Append(nil, version)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := mqtt.Decode(enc, version); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppend(b *testing.B, version byte, p mqtt.Packet) {
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.Append(buf[:0], version); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func benchPublish() *mqtt.Publish {
	return &mqtt.Publish{QoS: 1, PacketID: 42, Topic: benchTopic, Payload: benchPayload}
}

func benchConnect(version byte) *mqtt.Connect {
	c := &mqtt.Connect{ProtocolVersion: version, CleanStart: true, KeepAlive: 60, ClientID: "PythonMQTT",
		UsernameFlag: true, Username: "alice@acme", PasswordFlag: true, Password: bytes.Repeat([]byte("j"), 800)}
	if version == mqtt.Version5 {
		c.Props = &mqtt.Properties{SessionExpiryInterval: new(uint32(3600)), ReceiveMaximum: new(uint16(100))}
	}
	return c
}

func benchSubscribe() *mqtt.Subscribe {
	return &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{
		{Filter: "publish/6f9e2a3c-58b8-4b23-9c55-1a2b3c4d5e6f/+", QoS: 1},
		{Filter: "metrics/6f9e2a3c-58b8-4b23-9c55-1a2b3c4d5e6f/#", QoS: 0}}}
}

func BenchmarkDecodePublish311(b *testing.B) { benchDecode(b, mqtt.Version311, benchPublish()) }

func BenchmarkDecodePublish5(b *testing.B) {
	p := benchPublish()
	p.Props = &mqtt.Properties{MessageExpiryInterval: new(uint32(300)), ContentType: "application/json"}
	benchDecode(b, mqtt.Version5, p)
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		b.Run(map[byte]string{4: "3.1.1", 5: "5.0"}[v], func(b *testing.B) {
			props, err := (&mqtt.Properties{MessageExpiryInterval: new(uint32(300))}).Encode(nil)
			if err != nil {
				b.Fatal(err)
			}
			subIDs := []uint32{7}
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			var id uint16
			for b.Loop() {
				id++
				if id == 0 {
					id = 1
				}
				h := mqtt.PublishHeader{QoS: 1, PacketID: id, SubscriptionIDs: subIDs}
				if buf, err = mqtt.AppendPublish(buf[:0], v, h, benchTopic, props, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkPublishAppend5(b *testing.B) {
	p := benchPublish()
	p.Props = &mqtt.Properties{MessageExpiryInterval: new(uint32(300)), SubscriptionIdentifiers: []uint32{7}}
	benchAppend(b, mqtt.Version5, p)
}

func BenchmarkDecodeConnect311(b *testing.B) {
	benchDecode(b, mqtt.Version311, benchConnect(mqtt.Version311))
}
func BenchmarkDecodeConnect5(b *testing.B) {
	benchDecode(b, mqtt.Version5, benchConnect(mqtt.Version5))
}
func BenchmarkAppendConnect5(b *testing.B) {
	benchAppend(b, mqtt.Version5, benchConnect(mqtt.Version5))
}
func BenchmarkDecodeSubscribe(b *testing.B) { benchDecode(b, mqtt.Version311, benchSubscribe()) }
func BenchmarkAppendSubscribe(b *testing.B) { benchAppend(b, mqtt.Version5, benchSubscribe()) }

// BenchmarkReader measures a stream of PUBLISH packets through a Reader.
func BenchmarkReader(b *testing.B) {
	one, _ := benchPublish().Append(nil, mqtt.Version311)
	stream := bytes.Repeat(one, 64)
	src := bytes.NewReader(stream)
	r := mqtt.NewReader(src, 0)
	r.SetVersion(mqtt.Version311)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%64 == 0 {
			src.Reset(stream)
		}
		if _, err := r.ReadPacket(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendPublishBurst appends a burst of 64 PUBLISH packets into one
// buffer that starts empty, as a writer drains a busy subscriber's queue into a
// fresh pooled buffer.
func BenchmarkAppendPublishBurst(b *testing.B) {
	b.ReportAllocs()
	h := mqtt.PublishHeader{}
	var err error
	for b.Loop() {
		var buf []byte
		for range 64 {
			if buf, err = mqtt.AppendPublish(buf, mqtt.Version311, h, benchTopic, nil, benchPayload); err != nil {
				b.Fatal(err)
			}
		}
	}
}
