package broker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// recordingObserver keeps what the broker reports through Config.Observer.
type recordingObserver struct {
	mu        sync.Mutex
	delivered []time.Duration
	replayed  []int
}

func (o *recordingObserver) Delivered(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered = append(o.delivered, d)
}

func (o *recordingObserver) Replayed(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replayed = append(o.replayed, n)
}

func (o *recordingObserver) deliveries() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.delivered...)
}

// group returns the counts of one transport and authentication form.
func group(s broker.Stats, transport, auth string) broker.ConnGroup {
	for _, g := range s.Groups {
		if g.Transport == transport && g.Auth == auth {
			return g
		}
	}
	return broker.ConnGroup{}
}

// TestStats_GroupsAndObserver: established connections are counted by
// transport and authentication form, refusals are counted, and every live
// delivery is reported to the Observer with its store-to-socket latency.
func TestStats_GroupsAndObserver(t *testing.T) {
	obs := &recordingObserver{}
	h := mustRunBroker(t, func(c *broker.Config) { c.Observer = obs })
	transport := "tcp"
	if overWebSocket() {
		transport = "websocket"
	}
	aliceTopic := topic.Publish(orgAcme, idAlice)
	alice := h.login(t, mqtt.Version5, "tok-alice", "sub")
	alice.subscribe(1, aliceTopic)
	feed := h.service(t, mqtt.Version311, "feed", "feed-secret", "feed")

	refused := h.dial(t, mqtt.Version311)
	if ack := refused.connect(connectPacket("x", "", "no-such-token")); ack.ReasonCode == 0 {
		t.Fatal("a bad token was accepted")
	}

	s := h.b.Stats()
	if len(s.Groups) != 6 {
		t.Fatalf("%d groups; want 6 (2 transports × 3 forms)", len(s.Groups))
	}
	if g := group(s, transport, "jwt_password"); g.Open != 1 || g.Total != 1 {
		t.Errorf("%s/jwt_password = %+v; want 1 open, 1 total", transport, g)
	}
	if g := group(s, transport, "service_account"); g.Open != 1 || g.Total != 1 {
		t.Errorf("%s/service_account = %+v; want 1 open, 1 total", transport, g)
	}
	if g := group(s, transport, "bearer"); g.Open != 0 || g.Total != 0 {
		t.Errorf("%s/bearer = %+v; want none", transport, g)
	}
	if s.ConnectsRefused != 1 {
		t.Errorf("ConnectsRefused = %d; want 1", s.ConnectsRefused)
	}

	for i := range 3 {
		id := uint16(10 + i)
		feed.send(&mqtt.Publish{QoS: 1, PacketID: id, Topic: aliceTopic, Payload: []byte(`{"n":1}`)})
		if ack := readAs[*mqtt.Puback](feed); ack.PacketID != id {
			t.Fatalf("PUBACK %+v", ack)
		}
		p := alice.expectPublish(aliceTopic)
		alice.send(&mqtt.Puback{PacketID: p.PacketID})
	}
	eventually(t, "three deliveries observed", func() bool { return len(obs.deliveries()) == 3 })
	for _, d := range obs.deliveries() {
		if d < 0 || d > waitFor {
			t.Errorf("observed latency %v; want between 0 and %v", d, waitFor)
		}
	}

	_ = feed.nc.Close()
	eventually(t, "service account connection closed", func() bool {
		return group(h.b.Stats(), transport, "service_account").Open == 0
	})
	if g := group(h.b.Stats(), transport, "service_account"); g.Total != 1 {
		t.Errorf("service_account total = %d after close; want 1", g.Total)
	}
}
