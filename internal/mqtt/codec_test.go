package mqtt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/heraldmq/herald/internal/mqtt"
)

// The Remaining Length examples of MQTT 3.1.1 §2.2.3 Table 2.4 and MQTT 5.0
// §1.5.5 Table 1-1: the boundaries of each encoded size.
var remainingLengthFixtures = []struct {
	name string
	n    int
	hex  string
}{
	{"zero", 0, "00"},
	{"one byte max", 127, "7f"},
	{"two bytes min", 128, "8001"},
	{"two bytes max", 16383, "ff7f"},
	{"three bytes min", 16384, "808001"},
	{"three bytes max", 2097151, "ffff7f"},
	{"four bytes min", 2097152, "80808001"},
	{"four bytes max", 268435455, "ffffff7f"},
	{"321 from the 3.1.1 text", 321, "c102"},
}

func TestRemainingLength(t *testing.T) {
	for _, tc := range remainingLengthFixtures {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			got, ok := mqtt.AppendRemainingLength(nil, tc.n)
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("AppendRemainingLength(%d) = %x, %v; want %x, true", tc.n, got, ok, want)
			}
			v, n, err := mqtt.ParseRemainingLength(append(want, 0xaa))
			if err != nil || v != tc.n || n != len(want) {
				t.Errorf("ParseRemainingLength(%x) = %d, %d, %v; want %d, %d, nil", want, v, n, err, tc.n, len(want))
			}
			// Every strict prefix is incomplete, not an error.
			for i := range len(want) {
				if v, n, err := mqtt.ParseRemainingLength(want[:i]); n != 0 || err != nil {
					t.Errorf("ParseRemainingLength(%x) = %d, %d, %v; want incomplete", want[:i], v, n, err)
				}
			}
		})
	}
}

func TestRemainingLength_Invalid(t *testing.T) {
	tests := []struct {
		name string
		hex  string
	}{
		{"five bytes", "ffffffff7f"},
		{"four continuation bytes", "80808080"},
		{"padded zero", "8000"},
		{"padded 127", "ff00"},
		{"padded three bytes", "ff8000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := mqtt.ParseRemainingLength(mustHex(t, tc.hex))
			var pe *mqtt.ProtocolError
			if !errors.As(err, &pe) || pe.Reason != mqtt.ReasonMalformedPacket {
				t.Errorf("ParseRemainingLength(%s) error = %v; want malformed packet", tc.hex, err)
			}
		})
	}
	for _, n := range []int{-1, mqtt.MaxRemainingLength + 1} {
		if b, ok := mqtt.AppendRemainingLength(nil, n); ok || len(b) != 0 {
			t.Errorf("AppendRemainingLength(%d) = %x, %v; want nothing, false", n, b, ok)
		}
	}
}

func TestReasonCode_String(t *testing.T) {
	tests := []struct {
		rc   mqtt.ReasonCode
		want string
	}{
		{mqtt.ReasonNotAuthorized, "not authorized"},
		{mqtt.ReasonPacketTooLarge, "packet too large"},
		{mqtt.ReasonSuccess, "success"},
		{0x7f, "reason 0x7f"},
	}
	for _, tc := range tests {
		if got := tc.rc.String(); got != tc.want {
			t.Errorf("ReasonCode(%#x).String() = %q; want %q", byte(tc.rc), got, tc.want)
		}
	}
}
