package server_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// TestPerf_Cluster measures, on three cell-mode nodes of this machine, the produce
// rate (a producer on node 1 publishing QoS 1 EVENT notifications, 200 in flight,
// until its last PUBACK) and the cross-node fan-out (from the first publish to the
// last of the messages at subscribers spread over the three nodes) with replicas 3
// against replicas 1 (docs/PERFORMANCE.md, "Cluster"). Set HERALD_PERF=1 to run it.
func TestPerf_Cluster(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("set HERALD_PERF=1 to measure")
	}
	const n, perNode = 10000, 10
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			cfgs := cellConfigs(t, 3)
			for i := range cfgs {
				cfgs[i].Store.Replicas = replicas
			}
			c := newTestCluster(t, cfgs)
			filter := topic.Publish(c.org, c.alice)
			done := make(chan time.Time, 3*perNode)
			for i := range 3 {
				tok := c.login(t, i)
				for k := range perNode {
					r := c.dial(t, i, mqtt.Version311)
					r.connect(tok, fmt.Sprintf("perf-%d-%d", i, k), true)
					r.subscribe(0, filter)
					go func() { // exits when n messages are in or the connection ends
						got := 0
						_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
						for got < n {
							p, err := r.r.ReadPacket()
							if err != nil {
								return
							}
							if _, ok := p.(*mqtt.Publish); ok {
								got++
							}
						}
						done <- time.Now()
					}()
				}
			}
			start := time.Now()
			c.publish(t, 0, n)
			produced := time.Since(start)
			var last time.Time
			for range 3 * perNode {
				select {
				case at := <-done:
					last = at
				case <-time.After(2 * time.Minute):
					// QoS 0 subscribers lose messages by design when their queue
					// overflows (broker package documentation): a machine too busy
					// to drain them fails the measurement, not the cluster.
					t.Fatal("a subscriber did not get every message within 2 minutes (QoS 0 queue overflow?)")
				}
			}
			fan := last.Sub(start)
			t.Logf("replicas %d: produced %d in %v = %.0f messages/s; %d subscribers (%d per node) got all %d in %v = %.0f deliveries/s",
				replicas, n, produced.Round(time.Millisecond), float64(n)/produced.Seconds(), 3*perNode, perNode, n,
				fan.Round(time.Millisecond), float64(n*3*perNode)/fan.Seconds())
		})
	}
}
