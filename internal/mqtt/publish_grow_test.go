package mqtt_test

import (
	"testing"

	"github.com/heraldmq/herald/internal/mqtt"
)

// TestAppendPublish_GrowsGeometrically: appending a burst of packets into one
// buffer allocates a logarithmic number of times, not once per packet (each
// exactly-sized reallocation copied the whole buffer again: quadratic).
func TestAppendPublish_GrowsGeometrically(t *testing.T) {
	payload := make([]byte, 800)
	const n = 256
	allocs := testing.AllocsPerRun(20, func() {
		var buf []byte
		var err error
		for range n {
			if buf, err = mqtt.AppendPublish(buf, mqtt.Version311, mqtt.PublishHeader{}, "publish/org/user", nil, payload); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs > 10 { // log2(256) + 1 = 9
		t.Errorf("%v allocations for %d packets appended into one buffer; want at most 10", allocs, n)
	}
	// The first packet into an empty buffer is still allocated exactly.
	b, err := mqtt.AppendPublish(nil, mqtt.Version311, mqtt.PublishHeader{}, "t", nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	if cap(b) != len(b) {
		t.Errorf("first packet: cap %d, len %d; want an exact allocation", cap(b), len(b))
	}
}
