package broker_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// TestSubscribe_ACL checks the SUBACK code of each filter per role
// (VCD-COMPAT §7.2, §7.3): every filter of one SUBSCRIBE gets its own code and
// the connection stays open.
func TestSubscribe_ACL(t *testing.T) {
	const (
		ok     = mqtt.ReasonGrantedQoS1
		denied = mqtt.ReasonNotAuthorized
		bad    = mqtt.ReasonTopicFilterInvalid
		shared = mqtt.ReasonSharedSubscriptionsNotSupported
	)
	self := topic.Publish(orgAcme, idAlice)
	tests := []struct {
		token  string
		filter string
		want   mqtt.ReasonCode
	}{
		{"tok-alice", self, ok},
		{"tok-alice", "publish/" + orgAcme + "/*", denied},
		{"tok-alice", "publish/" + orgAcme + "/+", denied},
		{"tok-alice", "publish/#", denied},
		{"tok-alice", topic.Publish(orgAcme, idBob), denied},
		{"tok-alice", topic.Publish(orgOther, idCarol), denied},
		{"tok-alice", "metrics/#", denied},
		{"tok-alice", "#", denied},
		{"tok-alice", "publish/#/x", bad},
		{"tok-alice", "$share/g/" + self, shared},
		{"tok-bob", "publish/" + orgAcme + "/*", ok},
		{"tok-bob", "publish/" + orgAcme + "/+", ok},
		{"tok-bob", "publish/" + orgAcme + "/#", ok},
		{"tok-bob", self, ok},
		{"tok-bob", "publish/#", denied},
		{"tok-bob", "publish/" + orgOther + "/+", denied},
		{"tok-bob", "metrics/" + orgAcme + "/+", denied},
		{"tok-bob", "publish/urn:vcloud:org:" + orgAcme + "/*", denied},
		{"tok-admin", "publish/#", ok},
		{"tok-admin", "publish/*/*", ok},
		{"tok-admin", "publish/+/+", ok},
		{"tok-admin", "metrics/#", ok},
		{"tok-admin", topic.Metrics(orgAcme, vApp), ok},
		{"tok-admin", "publish/urn:vcloud:org:" + orgAcme + "/*", ok}, // granted, never matches, logged
		{"tok-admin", "#", denied},
		{"tok-admin", "+/" + orgAcme + "/+", denied},
		{"tok-admin", extIn, denied},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			clients := map[string]*client{}
			for _, tok := range []string{"tok-alice", "tok-bob", "tok-admin"} {
				clients[tok] = h.login(t, v.v, tok, "acl")
			}
			for _, tc := range tests {
				codes := clients[tc.token].subscribe(1, tc.filter)
				want := tc.want
				if v.v == mqtt.Version311 && want.IsError() {
					want = mqtt.SubackFailure
				}
				if len(codes) != 1 || codes[0] != want {
					t.Errorf("%s SUBSCRIBE %q = %#x; want %#x", tc.token, tc.filter, codes, byte(want))
				}
			}
			// Several filters in one SUBSCRIBE: each gets its own code.
			codes := clients["tok-alice"].subscribe(2, "publish/#", self, "metrics/#")
			want := []mqtt.ReasonCode{denied, mqtt.ReasonGrantedQoS2, denied}
			if v.v == mqtt.Version311 {
				want = []mqtt.ReasonCode{mqtt.SubackFailure, mqtt.ReasonGrantedQoS2, mqtt.SubackFailure}
			}
			if !reflect.DeepEqual(codes, want) {
				t.Errorf("mixed SUBACK = %#x; want %#x", codes, want)
			}
		})
	}
}

// TestSubscribe_Quota refuses filters beyond MaxSubscriptionsPerSession.
func TestSubscribe_Quota(t *testing.T) {
	h := mustRunBroker(t, func(c *broker.Config) { c.MaxSubscriptionsPerSession = 2 })
	c := h.login(t, mqtt.Version5, "tok-admin", "q")
	codes := c.subscribe(0, "publish/#", "metrics/#", "publish/+/+", "publish/#")
	want := []mqtt.ReasonCode{0, 0, mqtt.ReasonQuotaExceeded, 0}
	if !reflect.DeepEqual(codes, want) {
		t.Errorf("SUBACK = %#x; want %#x", codes, want)
	}
	if n := h.b.Stats().Subscriptions; n != 2 {
		t.Errorf("Subscriptions = %d; want 2", n)
	}
}

// appendMsg stores a notification as a producer would.
func (h *harness) appendMsg(t *testing.T, topic, payload string) {
	t.Helper()
	if _, err := h.log.Append(context.Background(), topic, fmt.Sprint("test-", h.log.count()), []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// TestDeliver_RightSessions delivers a stored message to exactly the sessions
// whose role allows it (VCD-COMPAT §7.2), once each.
func TestDeliver_RightSessions(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			alice := h.login(t, v.v, "tok-alice", "PythonMQTT")
			bob := h.login(t, v.v, "tok-bob", "PythonMQTT")
			admin := h.login(t, v.v, "tok-admin", "PythonMQTT")
			carol := h.login(t, v.v, "tok-carol", "PythonMQTT")
			aliceTopic := topic.Publish(orgAcme, idAlice)
			carolTopic := topic.Publish(orgOther, idCarol)
			metrics := topic.Metrics(orgAcme, vApp)
			alice.subscribe(0, aliceTopic)
			bob.subscribe(0, "publish/"+orgAcme+"/*")
			admin.subscribe(0, "publish/#", "publish/+/+", "metrics/#") // overlapping: one copy
			carol.subscribe(0, carolTopic)

			h.appendMsg(t, aliceTopic, `{"n":1}`)
			h.appendMsg(t, metrics, `{"n":2}`)
			h.appendMsg(t, carolTopic, `{"n":3}`)

			if p := alice.expectPublish(aliceTopic); string(p.Payload) != `{"n":1}` || p.QoS != 0 || p.Retain || p.Dup {
				t.Errorf("alice got %+v", p)
			}
			bob.expectPublish(aliceTopic)
			admin.expectPublish(aliceTopic)
			admin.expectPublish(metrics)
			admin.expectPublish(carolTopic)
			carol.expectPublish(carolTopic) // and not alice's, which came first

			// Sentinels show that nothing else was queued for alice and bob.
			h.appendMsg(t, aliceTopic, "sentinel")
			if p := alice.expectPublish(aliceTopic); string(p.Payload) != "sentinel" {
				t.Errorf("alice got %q; want the sentinel", p.Payload)
			}
			if p := bob.expectPublish(aliceTopic); string(p.Payload) != "sentinel" {
				t.Errorf("bob got %q; want the sentinel", p.Payload)
			}
			if p := admin.expectPublish(aliceTopic); string(p.Payload) != "sentinel" {
				t.Errorf("admin got %q; want the sentinel (one copy for overlapping filters)", p.Payload)
			}
			// The counter moves after the write returns, which may be after the read.
			eventually(t, "9 messages out", func() bool { return h.b.Stats().MessagesOut == 9 })
			if s := h.b.Stats(); s.MessagesRouted != 4 {
				t.Errorf("Stats = %+v; want 4 routed", s)
			}
		})
	}
}

// TestUnsubscribe removes a subscription by the string it was made with.
func TestUnsubscribe(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t)
			bob := h.login(t, v.v, "tok-bob", "u")
			star := "publish/" + orgAcme + "/*"
			self := topic.Publish(orgAcme, idBob)
			bob.subscribe(0, star, self)
			bob.send(&mqtt.Unsubscribe{PacketID: 7, Filters: []string{star, "publish/" + orgAcme + "/+"}})
			ack := readAs[*mqtt.Unsuback](bob)
			if ack.PacketID != 7 {
				t.Errorf("UNSUBACK id %d; want 7", ack.PacketID)
			}
			if v.v == mqtt.Version5 {
				want := []mqtt.ReasonCode{mqtt.ReasonSuccess, mqtt.ReasonNoSubscriptionExisted}
				if !reflect.DeepEqual(ack.ReasonCodes, want) {
					t.Errorf("UNSUBACK codes %#x; want %#x", ack.ReasonCodes, want)
				}
			}
			h.appendMsg(t, topic.Publish(orgAcme, idAlice), "gone")
			h.appendMsg(t, self, "mine")
			if p := bob.expectPublish(self); string(p.Payload) != "mine" {
				t.Errorf("got %q; want only the message on his own topic", p.Payload)
			}
		})
	}
}
