package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
)

// failingSessions is fakeSessions whose Save fails, while fail is set, for
// records whose subscriptions differ from the stored ones, as a store that
// lost its quorum would fail them. The saves that only move the ack floor or
// mark the session disconnected still succeed, so that the test does not
// depend on when the session loop saves.
type failingSessions struct {
	*fakeSessions
	fail atomic.Bool
}

func (f *failingSessions) Save(ctx context.Context, r broker.SessionRecord) (uint64, error) {
	if f.fail.Load() {
		f.mu.Lock()
		old := f.m[r.PrincipalID+"|"+r.ClientID]
		f.mu.Unlock()
		if !slices.Equal(old.Subscriptions, r.Subscriptions) {
			return 0, errors.New("no quorum")
		}
	}
	return f.fakeSessions.Save(ctx, r)
}

// storedFilters returns the stored record's subscriptions of cid as
// "filter@qos", sorted.
func storedFilters(tb testing.TB, f *fakeSessions, cid string) []string {
	tb.Helper()
	r, ok := f.get(cid)
	if !ok {
		tb.Fatalf("no stored session %q", cid)
	}
	var out []string
	for _, s := range r.Subscriptions {
		out = append(out, fmt.Sprintf("%s@%d", s.Filter, s.QoS))
	}
	slices.Sort(out)
	return out
}

// unsubscribe sends UNSUBSCRIBE and returns the UNSUBACK.
func (c *client) unsubscribe(filters ...string) *mqtt.Unsuback {
	c.tb.Helper()
	up := &mqtt.Unsubscribe{PacketID: packetID(), Filters: filters}
	c.send(up)
	ack := readAs[*mqtt.Unsuback](c)
	if ack.PacketID != up.PacketID {
		c.tb.Fatalf("UNSUBACK packet id %d; want %d", ack.PacketID, up.PacketID)
	}
	return ack
}

// TestPersistent_SubackAfterSave: the moment a persistent session's client
// reads its SUBACK or UNSUBACK, the stored record already holds the change,
// so a node dying right after cannot resume the session elsewhere without
// it. The store is read directly, with no waiting: the periodic save
// (saveInterval, 1 s) cannot be what stored it.
func TestPersistent_SubackAfterSave(t *testing.T) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			h := mustRunPersistent(t)
			cid := fmt.Sprint("suback-", v)
			c, _ := h.connectPersistent(t, v, "tok-bob", cid)
			if got := storedFilters(t, h.sessions, cid); len(got) != 0 {
				t.Fatalf("stored %v before any SUBSCRIBE; want none", got)
			}
			orgFilter := "publish/" + orgAcme + "/#"
			if codes := c.subscribe(1, orgFilter, aliceTopic); !slices.Equal(codes, []mqtt.ReasonCode{1, 1}) {
				t.Fatalf("SUBACK %v; want [1 1]", codes)
			}
			want := []string{orgFilter + "@1", aliceTopic + "@1"}
			slices.Sort(want)
			if got := storedFilters(t, h.sessions, cid); !slices.Equal(got, want) {
				t.Fatalf("after SUBACK stored %v; want %v", got, want)
			}
			// A repeated filter replaces the subscription, durably too.
			if codes := c.subscribe(2, aliceTopic); !slices.Equal(codes, []mqtt.ReasonCode{2}) {
				t.Fatalf("SUBACK %v; want [2]", codes)
			}
			want = []string{orgFilter + "@1", aliceTopic + "@2"}
			slices.Sort(want)
			if got := storedFilters(t, h.sessions, cid); !slices.Equal(got, want) {
				t.Fatalf("after second SUBACK stored %v; want %v", got, want)
			}
			c.unsubscribe(orgFilter)
			if got := storedFilters(t, h.sessions, cid); !slices.Equal(got, []string{aliceTopic + "@2"}) {
				t.Fatalf("after UNSUBACK stored %v; want [%s@2]", got, aliceTopic)
			}
			// The subscription the record holds is the one that delivers.
			h.appendN(t, aliceTopic, 1)
			if p := c.expectPublish(aliceTopic); p.QoS != 2 {
				t.Fatalf("PUBLISH qos %d; want 2", p.QoS)
			}
		})
	}
}

// TestPersistent_SubscribeSaveFails: when the record cannot be stored, the
// SUBACK refuses the filters with 0x80 and the session keeps its previous
// subscriptions; a 5.0 UNSUBACK says 0x80 and the subscription stays; a
// 3.1.1 UNSUBSCRIBE, whose UNSUBACK has no codes, closes the connection
// without one. Once the store is back, the same requests succeed.
func TestPersistent_SubscribeSaveFails(t *testing.T) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			st := &failingSessions{fakeSessions: &fakeSessions{m: map[string]broker.SessionRecord{}}}
			bl := &fakeBacklog{}
			h := &persistentHarness{sessions: st.fakeSessions, backlog: bl}
			h.harness = mustRunBroker(t, func(c *broker.Config) { c.Sessions, c.Backlog = st, bl })
			bl.log = h.log
			cid := fmt.Sprint("fails-", v)
			c, _ := h.connectPersistent(t, v, "tok-bob", cid)
			if codes := c.subscribe(1, aliceTopic); !slices.Equal(codes, []mqtt.ReasonCode{1}) {
				t.Fatalf("SUBACK %v; want [1]", codes)
			}

			st.fail.Store(true)
			orgFilter := "publish/" + orgAcme + "/#"
			// A new filter, a replacement and a refused one in one SUBSCRIBE.
			sp := &mqtt.Subscribe{PacketID: packetID(), Subscriptions: []mqtt.Subscription{
				{Filter: orgFilter, QoS: 1}, {Filter: aliceTopic, QoS: 0}, {Filter: "metrics/#", QoS: 1}}}
			c.send(sp)
			ack := readAs[*mqtt.Suback](c)
			want := []mqtt.ReasonCode{mqtt.ReasonUnspecifiedError, mqtt.ReasonUnspecifiedError, mqtt.ReasonNotAuthorized}
			if v != mqtt.Version5 {
				want = []mqtt.ReasonCode{0x80, 0x80, 0x80} // 3.1.1's Failure
			}
			if !slices.Equal(ack.ReasonCodes, want) {
				t.Fatalf("SUBACK while the store fails %#x; want %#x", ack.ReasonCodes, want)
			}
			if got := storedFilters(t, h.sessions, cid); !slices.Equal(got, []string{aliceTopic + "@1"}) {
				t.Fatalf("stored %v; want [%s@1]", got, aliceTopic)
			}
			// The session is as before: the QoS 1 subscription delivers, the
			// refused org filter does not (one PUBLISH, not two).
			other := "publish/" + orgAcme + "/" + idBob
			h.appendN(t, other, 1)
			h.appendN(t, aliceTopic, 1)
			p := c.expectPublish(aliceTopic)
			if p.QoS != 1 {
				t.Fatalf("PUBLISH qos %d; want 1 (the replacement was refused)", p.QoS)
			}
			c.send(&mqtt.Puback{PacketID: p.PacketID})
			c.expectNothing(t)

			if v == mqtt.Version5 {
				ua := c.unsubscribe(aliceTopic, orgFilter)
				if want := []mqtt.ReasonCode{mqtt.ReasonUnspecifiedError, mqtt.ReasonNoSubscriptionExisted}; !slices.Equal(ua.ReasonCodes, want) {
					t.Fatalf("UNSUBACK while the store fails %#x; want %#x", ua.ReasonCodes, want)
				}
				h.appendN(t, aliceTopic, 1)
				p := c.expectPublish(aliceTopic) // still subscribed
				c.send(&mqtt.Puback{PacketID: p.PacketID})
			} else {
				c.send(&mqtt.Unsubscribe{PacketID: packetID(), Filters: []string{aliceTopic}})
				c.expectClosed()
				eventually(t, "session saved as disconnected", func() bool {
					r, ok := h.sessions.get(cid)
					return ok && !r.DisconnectedAt.IsZero()
				})
				st.fail.Store(false)
				// The stored session kept the subscription it could not drop.
				c, _ = h.connectPersistent(t, v, "tok-bob", cid)
				h.appendN(t, aliceTopic, 1)
				c.expectPublish(aliceTopic)
			}

			st.fail.Store(false)
			if codes := c.subscribe(1, orgFilter); !slices.Equal(codes, []mqtt.ReasonCode{1}) {
				t.Fatalf("SUBACK with the store back %v; want [1]", codes)
			}
			want2 := []string{orgFilter + "@1", aliceTopic + "@1"}
			slices.Sort(want2)
			if got := storedFilters(t, h.sessions, cid); !slices.Equal(got, want2) {
				t.Fatalf("stored %v; want %v", got, want2)
			}
		})
	}
}
