package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeSessions is a SessionStore in memory with compare-and-set revisions.
type fakeSessions struct {
	mu  sync.Mutex
	m   map[string]broker.SessionRecord
	rev uint64
}

func (f *fakeSessions) Load(_ context.Context, pid, cid string, _ bool) (broker.SessionRecord, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.m[pid+"|"+cid]
	return r, ok, nil
}

func (f *fakeSessions) Save(_ context.Context, r broker.SessionRecord) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := r.PrincipalID + "|" + r.ClientID
	if f.m[k].Revision != r.Revision {
		return 0, errors.New("revision conflict")
	}
	f.rev++
	r.Revision = f.rev
	f.m[k] = r
	return f.rev, nil
}

func (f *fakeSessions) Delete(_ context.Context, pid, cid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, pid+"|"+cid)
	return nil
}

// get returns the one stored record whose client id is cid.
func (f *fakeSessions) get(cid string) (broker.SessionRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.m {
		if r.ClientID == cid {
			return r, true
		}
	}
	return broker.SessionRecord{}, false
}

// fakeBacklog reads the harness's fakeLog; messages before first are "lost
// to retention".
type fakeBacklog struct {
	log   *fakeLog
	mu    sync.Mutex
	first uint64
}

func (b *fakeBacklog) setFirst(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.first = seq
}

func (b *fakeBacklog) Bounds(context.Context) (broker.LogBounds, error) {
	b.mu.Lock()
	first := max(b.first, 1)
	b.mu.Unlock()
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	return broker.LogBounds{First: first, Last: b.log.seq, Epoch: fmt.Sprint("epoch-", b.log.resets)}, nil
}

func (b *fakeBacklog) Message(ctx context.Context, seq uint64) (broker.Message, error) {
	lb, _ := b.Bounds(ctx)
	if seq < lb.First || seq > lb.Last {
		return broker.Message{}, errors.New("no such message")
	}
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	return b.log.msgs[seq-1], nil
}

func (b *fakeBacklog) Replay(ctx context.Context, filters []string, after uint64, fn func(broker.Message) error) (uint64, error) {
	lb, _ := b.Bounds(ctx)
	first := lb.First
	b.log.mu.Lock()
	last := b.log.seq
	var out []broker.Message
	for _, m := range b.log.msgs {
		if m.Seq <= after || m.Seq < first {
			continue
		}
		for _, f := range filters {
			if topic.Match(f, m.Topic) {
				out = append(out, m)
				break
			}
		}
	}
	b.log.mu.Unlock()
	for _, m := range out {
		if err := fn(m); err != nil {
			return m.Seq - 1, err
		}
	}
	return last, nil
}

// persistentHarness is a broker with persistent sessions over fakes.
type persistentHarness struct {
	*harness
	sessions *fakeSessions
	backlog  *fakeBacklog
}

func mustRunPersistent(tb testing.TB, opts ...func(*broker.Config)) *persistentHarness {
	tb.Helper()
	ph := &persistentHarness{sessions: &fakeSessions{m: map[string]broker.SessionRecord{}}, backlog: &fakeBacklog{}}
	opts = append(opts, func(c *broker.Config) { c.Sessions, c.Backlog = ph.sessions, ph.backlog })
	ph.harness = mustRunBroker(tb, opts...)
	ph.backlog.log = ph.log
	return ph
}

var aliceTopic = topic.Publish(orgAcme, idAlice)

// connectPersistent connects alice (or another token) with a persistent
// session and returns the client and the CONNACK.
func (h *harness) connectPersistent(tb testing.TB, version byte, token, clientID string) (*client, *mqtt.Connack) {
	tb.Helper()
	c := h.dial(tb, version)
	cp := connectPacket(clientID, "", token)
	cp.ProtocolVersion = version
	cp.CleanStart = false
	if version == mqtt.Version5 {
		cp.Props = &mqtt.Properties{SessionExpiryInterval: new(uint32(3600))}
	}
	ack := c.connect(cp)
	if ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK %#x; want 0", byte(ack.ReasonCode))
	}
	return c, ack
}

// disconnect sends DISCONNECT and waits until the session is saved as
// disconnected.
func (ph *persistentHarness) disconnect(tb testing.TB, c *client, clientID string) {
	tb.Helper()
	c.send(&mqtt.Disconnect{})
	c.expectClosed()
	eventually(tb, "session saved", func() bool {
		r, ok := ph.sessions.get(clientID)
		return ok && !r.DisconnectedAt.IsZero()
	})
}

// appendN stores n notifications on t, payloads "m<i>".
func (h *harness) appendN(tb testing.TB, t string, n int) {
	tb.Helper()
	for i := range n {
		if _, err := h.log.Append(context.Background(), t, fmt.Sprint("n-", h.log.count()), fmt.Appendf(nil, "m%d", i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// receiveN reads n QoS ≥ 1 PUBLISH packets, acknowledging each, and checks
// payloads "m<from>"… in order.
func (c *client) receiveN(tb testing.TB, n, from int) {
	tb.Helper()
	for i := range n {
		p := readAs[*mqtt.Publish](c)
		if want := fmt.Sprintf("m%d", from+i); string(p.Payload) != want {
			tb.Fatalf("message %d: payload %q (dup %v); want %q", i, p.Payload, p.Dup, want)
		}
		c.send(&mqtt.Puback{PacketID: p.PacketID})
	}
}

// expectNothing checks that the next packet is the PINGRESP to a PINGREQ.
func (c *client) expectNothing(tb testing.TB) {
	tb.Helper()
	c.send(&mqtt.Pingreq{})
	readAs[*mqtt.Pingresp](c)
}

// TestPersistent_Backlog: a QoS 1 session gets every message stored while it
// was away, in order, once, then live traffic (VCD-COMPAT §6.6).
func TestPersistent_Backlog(t *testing.T) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			h := mustRunPersistent(t)
			c, ack := h.connectPersistent(t, v, "tok-alice", "pc")
			if ack.SessionPresent {
				t.Error("first CONNACK session present 1; want 0")
			}
			c.subscribe(1, aliceTopic)
			h.disconnect(t, c, "pc")
			const n = 3000 // three times the default queue
			h.appendN(t, aliceTopic, n)
			c, ack = h.connectPersistent(t, v, "tok-alice", "pc")
			if !ack.SessionPresent {
				t.Error("resumed CONNACK session present 0; want 1")
			}
			c.receiveN(t, n, 0)
			h.appendN(t, aliceTopic, 1) // live, after the backlog: "m0" again
			c.receiveN(t, 1, 0)
			c.expectNothing(t)
			if s := h.b.Stats(); s.SessionsResumed != 1 || s.Drops.QueueFullQoS1 != 0 {
				t.Errorf("Stats = %+v; want 1 resumed, no drops", s)
			}
			eventually(t, "ack floor saved", func() bool {
				r, _ := h.sessions.get("pc")
				return r.AckFloor == n+1 && len(r.Inflight) == 0
			})
		})
	}
}

// TestPersistent_SessionPresent: clean sessions discard a stored session
// [MQTT-3.1.2-4], [MQTT-3.1.2-6]; persistent ones find it [MQTT-3.2.2-2].
func TestPersistent_SessionPresent(t *testing.T) {
	h := mustRunPersistent(t)
	steps := []struct {
		name        string
		clean       bool
		wantPresent bool
	}{
		{"new persistent", false, false},
		{"resumed", false, true},
		{"clean start discards", true, false},
		{"persistent after clean", false, false},
		{"resumed again", false, true},
	}
	for _, st := range steps {
		c := h.dial(t, mqtt.Version311)
		cp := connectPacket("sp", "", "tok-alice")
		cp.CleanStart = st.clean
		ack := c.connect(cp)
		if ack.ReasonCode != 0 || ack.SessionPresent != st.wantPresent {
			t.Fatalf("%s: CONNACK %#x present %v; want 0 present %v", st.name, byte(ack.ReasonCode), ack.SessionPresent, st.wantPresent)
		}
		c.send(&mqtt.Disconnect{})
		c.expectClosed()
		eventually(t, "session saved", func() bool {
			r, ok := h.sessions.get("sp")
			return st.clean && !ok || ok && !r.DisconnectedAt.IsZero()
		})
	}
}

// TestPersistent_InflightResend: unacknowledged messages come back first,
// with DUP=1 and their packet ids, then the rest without duplicates
// [MQTT-4.4.0-1].
func TestPersistent_InflightResend(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version311, "tok-alice", "inf")
	c.subscribe(1, aliceTopic)
	h.appendN(t, aliceTopic, 3)
	var ids []uint16
	for range 3 {
		ids = append(ids, readAs[*mqtt.Publish](c).PacketID)
	}
	c.send(&mqtt.Puback{PacketID: ids[0]})
	c.expectNothing(t) // the PUBACK is processed
	_ = c.nc.Close()   // no DISCONNECT: a lost connection
	eventually(t, "session saved", func() bool {
		r, ok := h.sessions.get("inf")
		return ok && !r.DisconnectedAt.IsZero()
	})
	h.appendN(t, aliceTopic, 1)
	c, ack := h.connectPersistent(t, mqtt.Version311, "tok-alice", "inf")
	if !ack.SessionPresent {
		t.Fatal("session present 0")
	}
	for i, want := range []string{"m1", "m2"} {
		p := readAs[*mqtt.Publish](c)
		if !p.Dup || p.PacketID != ids[i+1] || string(p.Payload) != want {
			t.Fatalf("resend %d: dup %v id %d payload %q; want dup id %d %q", i, p.Dup, p.PacketID, p.Payload, ids[i+1], want)
		}
		c.send(&mqtt.Puback{PacketID: p.PacketID})
	}
	p := readAs[*mqtt.Publish](c) // the backlog: only the message stored while away
	if p.Dup || string(p.Payload) != "m0" {
		t.Fatalf("backlog: dup %v payload %q; want m0", p.Dup, p.Payload)
	}
	c.send(&mqtt.Puback{PacketID: p.PacketID})
	c.expectNothing(t)
}

// TestPersistent_ReleasedResend: a QoS 2 message whose PUBREC arrived gets
// PUBREL again, with its packet id.
func TestPersistent_ReleasedResend(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version5, "tok-alice", "q2")
	c.subscribe(2, aliceTopic)
	h.appendN(t, aliceTopic, 1)
	p := readAs[*mqtt.Publish](c)
	c.send(&mqtt.Pubrec{PacketID: p.PacketID})
	if rel := readAs[*mqtt.Pubrel](c); rel.PacketID != p.PacketID {
		t.Fatalf("PUBREL id %d; want %d", rel.PacketID, p.PacketID)
	}
	_ = c.nc.Close()
	eventually(t, "session saved", func() bool {
		r, ok := h.sessions.get("q2")
		return ok && !r.DisconnectedAt.IsZero()
	})
	c, _ = h.connectPersistent(t, mqtt.Version5, "tok-alice", "q2")
	if rel := readAs[*mqtt.Pubrel](c); rel.PacketID != p.PacketID {
		t.Fatalf("resent PUBREL id %d; want %d", rel.PacketID, p.PacketID)
	}
	c.send(&mqtt.Pubcomp{PacketID: p.PacketID})
	c.expectNothing(t)
}

// TestPersistent_QoS0NoBacklog: QoS 0 subscriptions keep their filter but get
// no backlog.
func TestPersistent_QoS0NoBacklog(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version311, "tok-alice", "q0")
	c.subscribe(0, aliceTopic)
	h.disconnect(t, c, "q0")
	h.appendN(t, aliceTopic, 5)
	c, _ = h.connectPersistent(t, mqtt.Version311, "tok-alice", "q0")
	c.expectNothing(t)
	h.appendN(t, aliceTopic, 1) // the subscription is back: live QoS 0
	if p := readAs[*mqtt.Publish](c); p.QoS != 0 || string(p.Payload) != "m0" {
		t.Fatalf("live PUBLISH qos %d %q; want qos 0 m0", p.QoS, p.Payload)
	}
}

// TestPersistent_RightsRechecked: a user whose role was lowered while offline
// gets nothing more for filters it may no longer use (VCD-COMPAT §6.6).
func TestPersistent_RightsRechecked(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version311, "tok-bob", "rights")
	orgFilter := "publish/" + orgAcme + "/#"
	if codes := c.subscribe(1, orgFilter); codes[0] != 1 {
		t.Fatalf("SUBACK %#x; want 1", codes)
	}
	h.disconnect(t, c, "rights")
	h.appendN(t, aliceTopic, 3)
	p := principals()["tok-bob"]
	p.Level = vcd.LevelUser
	h.auth.set("tok-bob", p)
	c, ack := h.connectPersistent(t, mqtt.Version311, "tok-bob", "rights")
	if !ack.SessionPresent {
		t.Error("session present 0; want 1")
	}
	c.expectNothing(t)
	h.appendN(t, aliceTopic, 1)
	c.expectNothing(t)
	eventually(t, "filter dropped from the record", func() bool {
		r, _ := h.sessions.get("rights")
		return len(r.Subscriptions) == 0
	})
}

// TestPersistent_RetentionLoss: messages gone from the log are counted,
// reported in the 5.0 CONNACK, and the rest delivered.
func TestPersistent_RetentionLoss(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version5, "tok-alice", "ret")
	c.subscribe(1, aliceTopic)
	h.disconnect(t, c, "ret")
	h.appendN(t, aliceTopic, 10)
	h.backlog.setFirst(h.log.last().Seq - 3) // the first 6 of them are gone
	c, ack := h.connectPersistent(t, mqtt.Version5, "tok-alice", "ret")
	if ack.Props == nil || ack.Props.ReasonString == "" {
		t.Error("CONNACK has no Reason String")
	}
	c.receiveN(t, 4, 6)
	c.expectNothing(t)
	if n := h.b.Stats().SessionsLost; n != 6 {
		t.Errorf("SessionsLost = %d; want 6", n)
	}
}

// TestPersistent_LogReset: after the log is deleted and created again, a clean
// session takes the new log's messages live; a connected persistent session is
// closed (DISCONNECT 0x98 on 5.0), as its cursor counts in the old log's sequences;
// it and one that was away resume from the new log's first message.
func TestPersistent_LogReset(t *testing.T) {
	h := mustRunPersistent(t)
	clean := h.login(t, mqtt.Version5, "tok-alice", "clean")
	clean.subscribe(1, aliceTopic)
	var ps [2]*client
	for i, id := range []string{"on", "off"} {
		ps[i], _ = h.connectPersistent(t, mqtt.Version5, "tok-alice", id)
		ps[i].subscribe(1, aliceTopic)
	}
	h.appendN(t, aliceTopic, 5)
	for _, c := range []*client{clean, ps[0], ps[1]} {
		c.receiveN(t, 5, 0)
	}
	eventually(t, "ack floor saved", func() bool {
		r, _ := h.sessions.get("off")
		return r.AckFloor == 5
	})
	h.disconnect(t, ps[1], "off")

	h.log.reset()
	h.appendN(t, aliceTopic, 2) // "m0" and "m1" again, at sequences 1 and 2
	clean.receiveN(t, 2, 0)
	ps[0].expectDisconnect(mqtt.ReasonAdministrativeAction)
	for _, id := range []string{"on", "off"} {
		c, ack := h.connectPersistent(t, mqtt.Version5, "tok-alice", id)
		if !ack.SessionPresent || ack.Props == nil || ack.Props.ReasonString == "" {
			t.Errorf("%s: CONNACK %+v; want session present and a Reason String", id, ack)
		}
		c.receiveN(t, 2, 0)
		c.expectNothing(t)
	}
	clean.expectNothing(t)
}

// TestPersistent_LogResetWhileAway: a session that was away while the log was
// deleted and created again, and the new log grew past its ack floor, still
// resumes from the new log's first message: its record names the log's epoch.
func TestPersistent_LogResetWhileAway(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version5, "tok-alice", "away")
	c.subscribe(1, aliceTopic)
	h.appendN(t, aliceTopic, 3)
	c.receiveN(t, 3, 0)
	eventually(t, "ack floor saved", func() bool {
		r, _ := h.sessions.get("away")
		return r.AckFloor == 3
	})
	h.disconnect(t, c, "away")

	h.log.reset()
	h.appendN(t, aliceTopic, 7) // sequences 1 to 7: past the old floor
	c, ack := h.connectPersistent(t, mqtt.Version5, "tok-alice", "away")
	if !ack.SessionPresent || ack.Props == nil || ack.Props.ReasonString == "" {
		t.Errorf("CONNACK %+v; want session present and a Reason String", ack)
	}
	c.receiveN(t, 7, 0)
	c.expectNothing(t)
}

// TestPersistent_ExpiryCapped: a 5.0 Session Expiry Interval above the
// retention is lowered and reported; one below is kept and not echoed.
func TestPersistent_ExpiryCapped(t *testing.T) {
	h := mustRunPersistent(t, func(c *broker.Config) { c.SessionRetention = time.Hour })
	for _, tc := range []struct {
		ask  uint32
		want *uint32
	}{
		{0xFFFFFFFF, new(uint32(3600))},
		{7200, new(uint32(3600))},
		{60, nil},
	} {
		c := h.dial(t, mqtt.Version5)
		cp := connectPacket(fmt.Sprint("exp", tc.ask), "", "tok-alice")
		cp.ProtocolVersion = mqtt.Version5
		cp.CleanStart = false
		cp.Props = &mqtt.Properties{SessionExpiryInterval: new(tc.ask)}
		ack := c.connect(cp)
		got := ack.Props.SessionExpiryInterval
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("ask %d: CONNACK Session Expiry Interval %v; want %v", tc.ask, got, tc.want)
		}
		h.disconnect(t, c, cp.ClientID)
		r, _ := h.sessions.get(cp.ClientID)
		if want := min(time.Duration(tc.ask)*time.Second, time.Hour); r.ExpiryInterval != want {
			t.Errorf("ask %d: stored expiry %v; want %v", tc.ask, r.ExpiryInterval, want)
		}
	}
}

// TestPersistent_Takeover: the same client id resumes the session and closes
// the older connection [MQTT-3.1.4-2].
func TestPersistent_Takeover(t *testing.T) {
	h := mustRunPersistent(t)
	c1, _ := h.connectPersistent(t, mqtt.Version5, "tok-alice", "tk")
	c1.subscribe(1, aliceTopic)
	c2, ack := h.connectPersistent(t, mqtt.Version5, "tok-alice", "tk")
	c1.expectDisconnect(mqtt.ReasonSessionTakenOver)
	if !ack.SessionPresent {
		t.Fatal("takeover: session present 0; want 1")
	}
	h.appendN(t, aliceTopic, 2)
	c2.receiveN(t, 2, 0)
	c2.expectNothing(t)
}

// TestPersistent_BehindNeverDrops: a persistent session whose queue fills
// goes back to the log instead of dropping QoS 1 messages.
func TestPersistent_BehindNeverDrops(t *testing.T) {
	h := mustRunPersistent(t, func(c *broker.Config) { c.MaxQueue = 10; c.MaxInflight = 5 })
	c, _ := h.connectPersistent(t, mqtt.Version311, "tok-alice", "behind")
	c.subscribe(1, aliceTopic)
	const n = 500
	h.appendN(t, aliceTopic, n) // the client reads nothing meanwhile
	c.receiveN(t, n, 0)
	c.expectNothing(t)
	if s := h.b.Stats(); s.Drops.QueueFullQoS1 != 0 || s.SessionsBehind == 0 {
		t.Errorf("Stats = %+v; want no QoS 1 drops and SessionsBehind > 0", s)
	}
}

// TestPersistent_Unavailable: without a session store CleanSession=0 is a
// clean session, as before (VCD-COMPAT §6.6, REQUIRED part).
func TestPersistent_Unavailable(t *testing.T) {
	h := mustRunBroker(t)
	c, _ := h.connectPersistent(t, mqtt.Version311, "tok-alice", "none")
	c.subscribe(1, aliceTopic)
	c.send(&mqtt.Disconnect{})
	c.expectClosed()
	h.appendN(t, aliceTopic, 2)
	c, ack := h.connectPersistent(t, mqtt.Version311, "tok-alice", "none")
	if ack.SessionPresent {
		t.Error("session present 1 without a store")
	}
	c.expectNothing(t)
}

// TestPersistent_DisconnectExpiryZero: a 5.0 DISCONNECT with Session Expiry
// Interval 0 ends the session.
func TestPersistent_DisconnectExpiryZero(t *testing.T) {
	h := mustRunPersistent(t)
	c, _ := h.connectPersistent(t, mqtt.Version5, "tok-alice", "dz")
	c.subscribe(1, aliceTopic)
	c.send(&mqtt.Disconnect{Props: &mqtt.Properties{SessionExpiryInterval: new(uint32(0))}})
	c.expectClosed()
	eventually(t, "session deleted", func() bool {
		_, ok := h.sessions.get("dz")
		return !ok
	})
	if _, ack := h.connectPersistent(t, mqtt.Version5, "tok-alice", "dz"); ack.SessionPresent {
		t.Error("session present 1 after expiry 0")
	}
}
