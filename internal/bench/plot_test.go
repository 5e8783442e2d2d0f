package bench

import (
	"bytes"
	"image/png"
	"testing"
)

func TestWritePlot(t *testing.T) {
	results := []Result{
		{Scenario: "fanout", Target: "herald", QoS: 0, SentRate: 1000, DeliveriesPerSec: 3000, P99: 2},
		{Scenario: "fanout", Target: "herald", QoS: 0, SentRate: 5000, DeliveriesPerSec: 15000, P99: 4},
		{Scenario: "fanout", Target: "mosquitto", QoS: 0, SentRate: 1000, DeliveriesPerSec: 3000, P99: 20},
		{Scenario: "idle", Target: "herald", Conn: 10},                         // not plotted
		{Scenario: "fanout", Target: "mosquitto", QoS: 1, SentRate: 0, P99: 1}, // no load: skipped
	}
	ss := fanoutSeries(results)
	if len(ss) != 2 || ss[0].label != "HERALD QOS0" || len(ss[0].points) != 2 || ss[1].label != "MOSQUITTO QOS0" {
		t.Fatalf("series = %+v", ss)
	}
	var buf bytes.Buffer
	if err := writePlot(&buf, ss); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Errorf("size = %v; want %dx%d", b, plotW, plotH)
	}
	// Something of the first series' colour was drawn.
	want := seriesColor(0)
	found := false
	for y := 0; y < plotH && !found; y++ {
		for x := 0; x < plotW; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no pixel of the first series' colour")
	}
}
