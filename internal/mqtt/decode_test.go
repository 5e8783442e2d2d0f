package mqtt_test

import (
	"errors"
	"io"
	"testing"

	"github.com/heraldmq/herald/internal/mqtt"
)

// TestDecode_Invalid pins the reason code reported for each kind of invalid
// packet.
func TestDecode_Invalid(t *testing.T) {
	const (
		malformed = mqtt.ReasonMalformedPacket
		protocol  = mqtt.ReasonProtocolError
	)
	tests := []struct {
		name    string
		version byte
		hex     string
		want    mqtt.ReasonCode
	}{
		{"reserved type 0", 4, "00 00", malformed},
		{"auth in 3.1.1", 4, "f0 00", malformed},
		{"pubrel flags 0000", 4, "60 02 0001", malformed},
		{"puback flags 0010", 4, "42 02 0001", malformed},
		{"subscribe flags 0000", 4, "80 06 0001 0001 23 00", malformed},
		{"unsubscribe flags 0000", 4, "a0 05 0001 0001 23", malformed},
		{"pingreq flags", 4, "c1 00", malformed},
		{"remaining length of five bytes", 4, "30 ffffffff7f", malformed},
		{"remaining length not minimal", 4, "c0 8000", malformed},
		{"publish QoS 3", 4, "36 07 0003 612f62 0001", malformed},
		{"publish DUP with QoS 0", 4, "38 05 0003 612f62", protocol},
		{"publish packet id 0", 4, "32 07 0003 612f62 0000", protocol},
		{"publish topic ill-formed UTF-8", 4, "30 04 0002 c328", malformed},
		{"publish topic with U+0000", 4, "30 04 0002 6100", malformed},
		{"publish topic with a surrogate", 4, "30 05 0003 eda080", malformed},
		{"publish topic longer than packet", 4, "30 03 0005 6162", malformed},
		{"publish 5.0 without property length", 5, "30 05 0003 612f62", malformed},
		{"publish 5.0 property length beyond packet", 5, "30 07 0003 612f62 05 01", malformed},
		{"publish 5.0 duplicate message expiry", 5, "30 10 0003 612f62 0a 02 00000001 02 00000002", protocol},
		{"publish 5.0 session expiry not allowed", 5, "30 0b 0003 612f62 05 11 00000001", malformed},
		{"publish 5.0 unknown property", 5, "30 08 0003 612f62 02 7f 00", malformed},
		{"publish 5.0 topic alias 0", 5, "30 09 0003 612f62 03 23 0000", protocol},
		{"publish 5.0 subscription identifier 0", 5, "30 08 0003 612f62 02 0b 00", protocol},
		{"publish 5.0 payload format 2", 5, "30 08 0003 612f62 02 01 02", protocol},
		{"publish 5.0 user property bad UTF-8", 5, "30 0d 0003 612f62 07 26 0001 ff 0001 61", malformed},
		{"puback id 0", 4, "40 02 0000", protocol},
		{"puback 3.1.1 with reason code", 4, "40 03 0001 00", malformed},
		{"puback 5.0 reason not allowed", 5, "40 03 0001 8e", malformed},
		{"pubrel 5.0 reason not allowed", 5, "62 03 0001 10", malformed},
		{"subscribe without filters", 4, "82 02 0001", protocol},
		{"subscribe 5.0 without filters", 5, "82 03 0001 00", protocol},
		{"subscribe packet id 0", 4, "82 06 0000 0001 23 00", protocol},
		{"subscribe 3.1.1 reserved option bits", 4, "82 06 0001 0001 23 04", malformed},
		{"subscribe QoS 3", 4, "82 06 0001 0001 23 03", malformed},
		{"subscribe 5.0 reserved option bits", 5, "82 07 0001 00 0001 23 40", malformed},
		{"subscribe 5.0 retain handling 3", 5, "82 07 0001 00 0001 23 30", protocol},
		{"subscribe 5.0 two subscription identifiers", 5, "82 0b 0001 04 0b 01 0b 02 0001 23 00", protocol},
		{"subscribe missing options byte", 4, "82 05 0001 0001 23", malformed},
		{"unsubscribe without filters", 4, "a2 02 0001", protocol},
		{"suback 3.1.1 code 0x87", 4, "90 03 0001 87", malformed},
		{"unsuback 3.1.1 with codes", 4, "b0 03 0001 00", malformed},
		{"pingreq with body", 4, "c0 01 00", malformed},
		{"disconnect 3.1.1 with body", 4, "e0 01 00", malformed},
		{"disconnect 5.0 reason not allowed", 5, "e0 01 01", malformed},
		{"auth 5.0 reason not allowed", 5, "f0 01 87", malformed},
		{"auth 5.0 data without method", 5, "f0 06 18 04 16 0001 01", protocol},
		{"connack reserved flags", 4, "20 02 02 00", malformed},
		{"connack 3.1.1 unknown return code", 4, "20 02 00 06", malformed},
		{"connack session present with refusal", 4, "20 02 01 05", protocol},
		{"connack 5.0 receive maximum 0", 5, "20 06 00 00 03 21 0000", protocol},
		{"connack 5.0 maximum packet size 0", 5, "20 08 00 00 05 27 00000000", protocol},
		{"connack 5.0 retain available 2", 5, "20 05 00 00 02 25 02", protocol},
		{"connect reserved flag", 4, "10 0c 0004 4d515454 04 01 003c 0000", malformed},
		{"connect will QoS without will", 4, "10 0c 0004 4d515454 04 08 003c 0000", malformed},
		{"connect will retain without will", 4, "10 0c 0004 4d515454 04 20 003c 0000", malformed},
		{"connect will QoS 3", 4, "10 11 0004 4d515454 04 1c 003c 0000 0001 74 0000", malformed},
		{"connect 3.1.1 password without user name", 4, "10 0e 0004 4d515454 04 40 003c 0000 0000", malformed},
		{"connect protocol name wrong", 4, "10 0c 0004 4d515458 04 00 003c 0000", protocol},
		{"connect bytes after payload", 4, "10 0d 0004 4d515454 04 00 003c 0000 00", malformed},
		{"connect client id ill-formed", 4, "10 0d 0004 4d515454 04 00 003c 0001 80", malformed},
		{"connect 5.0 will property not allowed", 5, "10 15 0004 4d515454 05 04 003c 00 0000 02 23 0001 0001 74 0000", malformed},
		{"connect 5.0 request problem information 2", 5, "10 0f 0004 4d515454 05 00 003c 02 17 02 0000", protocol},
		{"packet before connect", 0, "c0 00", protocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			p, _, err := mqtt.Decode(b, tc.version)
			var pe *mqtt.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Decode(%x, %d) = %v, %v; want a *ProtocolError", b, tc.version, p, err)
			}
			if pe.Reason != tc.want {
				t.Errorf("Decode(%x, %d) reason = %v (%v); want %v", b, tc.version, pe.Reason, err, tc.want)
			}
			if p != nil {
				t.Errorf("Decode(%x, %d) packet = %#v; want nil", b, tc.version, p)
			}
		})
	}
}

func TestDecode_UnsupportedProtocolVersion(t *testing.T) {
	tests := []struct {
		name  string
		hex   string
		level byte
	}{
		// An MQTT 3.1 CONNECT as sent by clients offering "mqttv3.1".
		{"MQIsdp level 3", "10 10 0006 4d5149736470 03 02 003c 0002 6964", 3},
		{"MQTT level 6", "10 0c 0004 4d515454 06 02 003c 0000", 6},
		{"MQTT level 3", "10 0c 0004 4d515454 03 02 003c 0000", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := mqtt.Decode(mustHex(t, tc.hex), 0)
			if !errors.Is(err, mqtt.ErrUnsupportedProtocolVersion) {
				t.Fatalf("Decode error = %v; want ErrUnsupportedProtocolVersion", err)
			}
			if mqtt.ReasonOf(err) != mqtt.ReasonUnsupportedProtocolVersion {
				t.Errorf("ReasonOf(%v) = %v; want unsupported protocol version", err, mqtt.ReasonOf(err))
			}
			c, ok := p.(*mqtt.Connect)
			if !ok || c.ProtocolVersion != tc.level {
				t.Errorf("Decode packet = %#v; want *Connect with ProtocolVersion %d", p, tc.level)
			}
		})
	}
}

func TestDecode_Incomplete(t *testing.T) {
	for _, tc := range fixtures {
		b := mustHex(t, tc.hex)
		for i := range len(b) {
			if p, n, err := mqtt.Decode(b[:i], tc.version); err != io.ErrUnexpectedEOF {
				t.Errorf("%s: Decode(first %d bytes) = %v, %d, %v; want io.ErrUnexpectedEOF", tc.name, i, p, n, err)
			}
		}
	}
}
