package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// detached returns a session with no connection, subscribed to filters at
// qos, for tests and benchmarks of the fan-out path.
func detached(tb testing.TB, b *Broker, qos byte, filters ...string) *session {
	tb.Helper()
	s := newSession(b, b.cfg.MaxInflight)
	s.wake = nil // signal is then a no-op
	for _, f := range filters {
		sub := &subscription{s: s, filter: f, qos: qos}
		if err := b.index.Add(f, sub); err != nil {
			tb.Fatal(err)
		}
		s.subs[f] = sub
	}
	return s
}

func testBroker(cfg Config) *Broker {
	return New(cfg, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// decodeAll splits a writer buffer into packets.
func decodeAll(tb testing.TB, buf []byte, version byte) []mqtt.Packet {
	tb.Helper()
	var out []mqtt.Packet
	for len(buf) > 0 {
		p, n, err := mqtt.Decode(buf, version)
		if err != nil {
			tb.Fatalf("decode: %v", err)
		}
		out = append(out, p)
		buf = buf[n:]
	}
	return out
}

// TestSession_Overflow checks the overflow policy: a full queue drops QoS 0
// and (clean session) QoS ≥ 1 deliveries and counts them by reason.
func TestSession_Overflow(t *testing.T) {
	b := testBroker(Config{MaxQueue: 2})
	detached(t, b, 0, "a/+")
	detached(t, b, 1, "a/b")
	for i := range 3 {
		b.Deliver(Message{Seq: uint64(i + 1), Topic: "a/b", Payload: []byte("x")})
	}
	d := b.Stats().Drops
	if d.QueueFullQoS0 != 1 || d.QueueFullQoS1 != 1 {
		t.Errorf("Drops = %+v; want one of each", d)
	}
}

// TestSession_DrainCoalesces: everything pending leaves in one buffer, in
// order, QoS 1 and 2 bounded by the in-flight window, acknowledgements first.
func TestSession_DrainCoalesces(t *testing.T) {
	b := testBroker(Config{MaxInflight: 2})
	s := detached(t, b, 1, "t/#")
	s.queueCtrl(&mqtt.Pingresp{}, mqtt.Version5)
	for i := range 4 {
		b.Deliver(Message{Seq: uint64(i + 1), Topic: "t/x", Payload: []byte{byte('0' + i)}})
	}
	buf, n, more := s.drain(nil, mqtt.Version5, 0)
	pkts := decodeAll(t, buf, mqtt.Version5)
	if n != 2 || more || len(pkts) != 3 {
		t.Fatalf("drained %d publishes, %d packets, more=%v; want 2, 3, false", n, len(pkts), more)
	}
	if _, ok := pkts[0].(*mqtt.Pingresp); !ok {
		t.Errorf("first packet %T; want the PINGRESP", pkts[0])
	}
	p1, p2 := pkts[1].(*mqtt.Publish), pkts[2].(*mqtt.Publish)
	if string(p1.Payload) != "0" || string(p2.Payload) != "1" || p1.PacketID == p2.PacketID {
		t.Errorf("publishes %+v, %+v", p1, p2)
	}
	if !s.ack(mqtt.TypePuback, p1.PacketID, 0) {
		t.Fatal("PUBACK not matched")
	}
	buf, n, _ = s.drain(buf[:0], mqtt.Version5, 0)
	if pkts := decodeAll(t, buf, mqtt.Version5); n != 1 || string(pkts[0].(*mqtt.Publish).Payload) != "2" {
		t.Errorf("after one PUBACK drained %d: %+v; want message 2", n, pkts)
	}
}

// TestSession_InflightWindow: the in-flight window keeps its bound and its
// packet ids apart whatever order the acknowledgements come in, delivers every
// message once and in order, holds no message it no longer has in flight, and in
// a steady flow of in-order acknowledgements allocates nothing.
func TestSession_InflightWindow(t *testing.T) {
	const window, total = 8, 300
	b := testBroker(Config{MaxInflight: window, MaxQueue: 1 << 16})
	s := detached(t, b, 1, "t/#")
	for i := range total {
		b.Deliver(Message{Seq: uint64(i + 1), Topic: "t/x", Payload: []byte(strconv.Itoa(i))})
	}
	var buf []byte
	want, acked := 0, 0
	check := func() {
		t.Helper()
		var pkts []mqtt.Packet
		buf, _, _ = s.drain(buf[:0], mqtt.Version311, 0)
		pkts = decodeAll(t, buf, mqtt.Version311)
		for _, p := range pkts {
			if got := string(p.(*mqtt.Publish).Payload); got != strconv.Itoa(want) {
				t.Fatalf("delivered %q; want %d", got, want)
			}
			want++
		}
		if len(s.inflight) > window {
			t.Fatalf("%d in flight; window %d", len(s.inflight), window)
		}
		ids := map[uint16]bool{}
		for _, f := range s.inflight {
			if ids[f.id] {
				t.Fatalf("packet id %d in flight twice", f.id)
			}
			ids[f.id] = true
		}
		held := 0
		for _, f := range s.flightBuf[:cap(s.flightBuf)] {
			if f.m != nil {
				held++
			}
		}
		if held != len(s.inflight) {
			t.Fatalf("the window's array holds %d messages; %d in flight", held, len(s.inflight))
		}
	}
	for round := 0; acked < total; round++ {
		check()
		// The oldest, the newest, one in the middle, two at once: every order.
		n := len(s.inflight)
		var idx []int
		switch round % 4 {
		case 0:
			idx = []int{0}
		case 1:
			idx = []int{n - 1}
		case 2:
			idx = []int{n / 2}
		case 3:
			idx = []int{0, 0}
		}
		for _, i := range idx {
			if i >= len(s.inflight) {
				continue
			}
			if !s.ack(mqtt.TypePuback, s.inflight[i].id, 0) {
				t.Fatalf("round %d: PUBACK of a message in flight not matched", round)
			}
			acked++
		}
	}
	check()
	if want != total || len(s.inflight) != 0 {
		t.Fatalf("delivered %d of %d, %d still in flight", want, total, len(s.inflight))
	}

	for i := range 2000 {
		b.Deliver(Message{Seq: uint64(total + i + 1), Topic: "t/x", Payload: []byte("x")})
	}
	buf, _, _ = s.drain(buf[:0], mqtt.Version311, 0)
	// A hundred acknowledgements and deliveries per run: the window moves
	// through its array, and a window that grew its array now and then would
	// show here.
	allocs := testing.AllocsPerRun(10, func() {
		for range 100 {
			s.ack(mqtt.TypePuback, s.inflight[0].id, 0)
			buf, _, _ = s.drain(buf[:0], mqtt.Version311, 0)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per 100 acknowledgements and deliveries; want 0", allocs)
	}
}

// TestDeliver_NoAllocsPerSubscriber: routing one message to many sessions
// allocates only the shared message.
func TestDeliver_NoAllocsPerSubscriber(t *testing.T) {
	b := testBroker(Config{MaxQueue: 1 << 20})
	var sessions []*session
	for range 1000 {
		sessions = append(sessions, detached(t, b, 1, "publish/org/+"))
	}
	m := Message{Seq: 1, Topic: "publish/org/user", Payload: []byte("{}")}
	// Warm up: grow the queues and the match slice to their working size.
	for range 200 {
		b.Deliver(m)
	}
	resetQueues(sessions)
	allocs := testing.AllocsPerRun(100, func() { b.Deliver(m) })
	if allocs > 1 {
		t.Errorf("Deliver to 1000 sessions: %v allocations; want at most 1 (the shared message)", allocs)
	}
	if got := len(sessions[999].pending); got != 101 {
		t.Errorf("last session holds %d messages; want 101", got)
	}
}

// resetQueues empties the detached sessions' queues between iterations.
func resetQueues(ss []*session) {
	for _, s := range ss {
		s.mu.Lock()
		clear(s.pending)
		s.pending = s.pending[:0]
		s.head = 0
		s.mu.Unlock()
	}
}

// BenchmarkDeliverFanOut routes one message to 10k sessions.
func BenchmarkDeliverFanOut(b *testing.B) {
	br := testBroker(Config{})
	ss := make([]*session, 10000)
	for i := range ss {
		ss[i] = detached(b, br, 0, "publish/org/+")
	}
	m := Message{Seq: 1, Topic: "publish/org/user", Payload: make([]byte, 512)}
	br.Deliver(m) // grow the queues and the match slice once
	resetQueues(ss)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.Deliver(m)
		b.StopTimer()
		resetQueues(ss)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ss)), "ns/delivery")
}

// BenchmarkDeliver100kSubscriptions routes messages through an index of 100k
// subscriptions (1000 orgs × 100 users, each on its own topic).
func BenchmarkDeliver100kSubscriptions(b *testing.B) {
	br := testBroker(Config{})
	var ss []*session
	topics := make([]string, 0, 100000)
	for o := range 1000 {
		for u := range 100 {
			t := fmt.Sprintf("publish/org%04d/user%03d", o, u)
			topics = append(topics, t)
			ss = append(ss, detached(b, br, 0, t))
		}
	}
	payload := []byte("{}")
	for _, t := range topics {
		br.Deliver(Message{Topic: t, Payload: payload}) // grow every queue once
	}
	resetQueues(ss)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.Deliver(Message{Seq: uint64(i), Topic: topics[i%len(topics)], Payload: payload})
		if i%1000 == 999 {
			b.StopTimer()
			resetQueues(ss)
			b.StartTimer()
		}
	}
}

// TestDeliver_SubscriptionIdentifiersBounded: with two identifiers per
// session (the inline case) Deliver still allocates only the shared message
// [MQTT-3.3.4-4]; each further identifier past two costs a bounded spill.
func TestDeliver_SubscriptionIdentifiersBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		filters   []string
		maxAllocs float64
	}{
		{"TwoIDs", []string{"publish/org/+", "publish/org/user"}, 1},
		// One spilled slice (header and backing array) per session.
		{"ThreeIDs", []string{"publish/org/+", "publish/org/user", "publish/#"}, 1 + 2*100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBroker(Config{MaxQueue: 1 << 20})
			var sessions []*session
			for range 100 {
				s := newSession(b, b.cfg.MaxInflight)
				s.wake = nil
				for i, f := range tc.filters {
					sub := &subscription{s: s, filter: f, qos: 1, id: uint32(i + 1)}
					if err := b.index.Add(f, sub); err != nil {
						t.Fatal(err)
					}
					s.subs[f] = sub
				}
				sessions = append(sessions, s)
			}
			m := Message{Seq: 1, Topic: "publish/org/user", Payload: []byte("{}")}
			for range 200 {
				b.Deliver(m)
			}
			resetQueues(sessions)
			allocs := testing.AllocsPerRun(100, func() { b.Deliver(m) })
			if allocs > tc.maxAllocs {
				t.Errorf("Deliver to 100 sessions with %d identifiers each: %v allocations; want at most %v", len(tc.filters), allocs, tc.maxAllocs)
			}
			buf, n, _ := sessions[0].drain(nil, mqtt.Version5, 0)
			p, ok := decodeAll(t, buf, mqtt.Version5)[0].(*mqtt.Publish)
			if n == 0 || !ok || p.Props == nil || len(p.Props.SubscriptionIdentifiers) != len(tc.filters) {
				t.Fatalf("drained %d: %+v; want a PUBLISH with %d identifiers", n, p, len(tc.filters))
			}
		})
	}
}

// TestOrigin_MatchesOwnMessages: Deliver recognises a local connection's own
// message by topic and payload while Append is in flight, and by sequence
// after it returned; records the feed has passed are dropped.
func TestOrigin_MatchesOwnMessages(t *testing.T) {
	b := testBroker(Config{})
	s := newSession(b, 10)
	// In flight: matched by content, removed when Append returns.
	o1 := &origin{s: s, topic: "relay/a", payload: []byte("x"), retain: true}
	b.addOrigin(o1)
	if from, retain := b.takeOrigin(&Message{Seq: 5, Topic: "relay/a", Payload: []byte("y")}); from != nil || retain {
		t.Errorf("other payload taken for own")
	}
	if from, retain := b.takeOrigin(&Message{Seq: 6, Topic: "relay/a", Payload: []byte("x")}); from != s || !retain {
		t.Errorf("own message in flight not recognised")
	}
	b.originStored(o1, 6, true)
	// Stored first: matched by sequence; content no longer matters.
	o2 := &origin{s: s, topic: "relay/a", payload: []byte("z")}
	b.addOrigin(o2)
	b.originStored(o2, 9, true)
	o3 := &origin{s: s, topic: "relay/b", payload: []byte("w")}
	b.addOrigin(o3)
	b.originStored(o3, 8, true) // never delivered here: no matching subscription
	if from, _ := b.takeOrigin(&Message{Seq: 9, Topic: "relay/a", Payload: []byte("z")}); from != s {
		t.Errorf("own stored message not recognised")
	}
	if n := b.nOrigins.Load(); n != 0 {
		t.Errorf("%d origin records left; want 0 (matched or passed)", n)
	}
}

// discardConn is a net.Conn that drops what is written to it.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkFanOutWrite is the whole per-subscriber path of one notification to
// 1,000 WebSocket subscribers: Deliver queues it, then each connection's writer
// drains its queue, encodes the PUBLISH into its write buffer and sends one
// WebSocket frame (header and payload in one writev, here into a discarding
// connection). The target is 0 allocations per subscriber.
func BenchmarkFanOutWrite(b *testing.B) {
	br := testBroker(Config{})
	const n = 1000
	ss := make([]*session, n)
	ws := make([]*wsConn, n)
	bufs := make([][]byte, n)
	for i := range ss {
		ss[i] = detached(b, br, 1, "publish/org/+")
		ws[i] = &wsConn{nc: discardConn{}}
	}
	m := Message{Seq: 1, Topic: "publish/org/user", Payload: make([]byte, 828)}
	round := func() {
		br.Deliver(m)
		for i, s := range ss {
			var k int
			bufs[i], k, _ = s.drain(bufs[i][:0], mqtt.Version311, 0)
			if k != 1 {
				b.Fatalf("drained %d messages; want 1", k)
			}
			if _, err := ws[i].Write(bufs[i]); err != nil {
				b.Fatal(err)
			}
			s.ack(mqtt.TypePuback, s.inflight[0].id, 0)
		}
	}
	round() // grow the queues and buffers once
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
	allocs := testing.AllocsPerRun(10, round)
	b.ReportMetric((allocs-1)/n, "allocs/subscriber") // one shared message per Deliver
}

// TestLogBounds_Reset: a session resumes from the start of the log when the log's
// epoch differs from the one its record was saved in, or, whatever the epochs say,
// when the log holds fewer messages than it has read; a record (or a backlog)
// without an epoch has only the second.
func TestLogBounds_Reset(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recEpoch  string
		floor     uint64
		logEpoch  string
		last      uint64
		wantReset bool
	}{
		{"same log", "e1", 5, "e1", 9, false},
		{"same log, nothing new", "e1", 9, "e1", 9, false},
		{"new log, shorter", "e1", 9, "e2", 2, true},
		{"new log, grown past the floor", "e1", 5, "e2", 9, true},
		{"same epoch, log behind the floor", "e1", 9, "e1", 2, true},
		{"record without epoch, grown past the floor", "", 5, "e2", 9, false},
		{"record without epoch, shorter", "", 9, "e2", 2, true},
		{"backlog without epoch", "e1", 5, "", 9, false},
	} {
		rec := SessionRecord{LogEpoch: tc.recEpoch, AckFloor: tc.floor}
		lb := LogBounds{First: 1, Last: tc.last, Epoch: tc.logEpoch}
		if got := lb.reset(&rec); got != tc.wantReset {
			t.Errorf("%s: reset = %v; want %v", tc.name, got, tc.wantReset)
		}
	}
}

// TestEverySecond: one line a second gets through, with the count of those held
// back before it.
func TestEverySecond(t *testing.T) {
	var e everySecond
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		at       time.Duration
		wantOK   bool
		wantHeld int64
	}{
		{0, true, 0},
		{10 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
		{5 * time.Second, false, 0},
	} {
		held, ok := e.allow(t0.Add(tc.at))
		if ok != tc.wantOK || held != tc.wantHeld {
			t.Errorf("at %v: allow = %d, %v; want %d, %v", tc.at, held, ok, tc.wantHeld, tc.wantOK)
		}
	}
}
