package broker

import (
	"bytes"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// Message is one stored notification, as the log's live feed hands it to
// Deliver.
type Message struct {
	Seq     uint64 // position in the log
	Topic   string // a valid MQTT topic name
	Payload []byte // shared by every subscriber; must not be changed afterwards
	Time    time.Time
}

// message is a Message as the sessions' queues share it: one per Deliver
// call, never copied per subscriber.
type message struct {
	seq     uint64
	topic   string
	payload []byte
	props   []byte   // pre-encoded MQTT 5.0 properties shared by all copies (none yet)
	from    *session // the local session that published it, if known (No Local)
	retain  bool     // published with RETAIN=1, if known (Retain As Published)
	stored  int64    // when the log stored it (Unix ns) for Observer.Delivered; 0 for replayed messages
}

// subscription is one filter of one session; the index maps filters to it.
// Its fields do not change once it is in the index: a SUBSCRIBE that changes
// the filter's QoS or options replaces the subscription.
type subscription struct {
	s       *session
	filter  string
	qos     byte
	noLocal bool   // 5.0: not delivered the session's own messages [MQTT-3.8.3-3]
	rap     bool   // 5.0: Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13]
	id      uint32 // 5.0 Subscription Identifier, 0 for none
	rh      byte   // 5.0 Retain Handling, kept for a persistent session's record
}

// entry is one message waiting in a session's outbound queue. It holds the
// first two subscription identifiers inline, so that the common fan-out
// allocates nothing per subscriber; more ids spill into extra.
type entry struct {
	m      *message
	extra  *[]uint32 // every identifier, when there are more than two
	ids    [2]uint32 // the identifiers to send, ids[:nids]
	nids   uint8
	qos    byte // delivery QoS: min(2, granted)
	retain bool // the RETAIN flag to send
}

// subIDs returns the subscription identifiers of e in scratch (or extra).
func (e *entry) subIDs(scratch []uint32) []uint32 {
	if e.extra != nil {
		return *e.extra
	}
	return append(scratch[:0], e.ids[:e.nids]...)
}

// maxOrigins bounds Broker.origins; older records are dropped first.
const maxOrigins = 4096

// origin records a message a local connection is storing in the log. The
// log's feed hands Deliver only a topic and a payload, so Deliver recognises
// a connection's own messages (No Local) and the RETAIN flag they were
// published with (Retain As Published) by these records: by sequence once
// Append has returned it, else, while Append is in flight, by topic and
// payload. A record goes when Deliver matches it, when Append fails, once
// the feed has passed its sequence, or when its session ends. Messages
// published through another node carry neither fact: they are delivered
// with RETAIN=0 and are never taken for the session's own.
type origin struct {
	s       *session
	topic   string
	payload []byte // compared only while seq is 0 (the publisher's buffer is then intact)
	retain  bool
	seq     uint64 // 0 while Append is in flight
	matched bool   // Deliver matched it while Append was in flight
}

// addOrigin records o before its Append.
func (b *Broker) addOrigin(o *origin) {
	b.originMu.Lock()
	defer b.originMu.Unlock()
	if len(b.origins) >= maxOrigins {
		n := copy(b.origins, b.origins[1:])
		b.origins[n] = nil
		b.origins = b.origins[:n]
	}
	b.origins = append(b.origins, o)
	b.nOrigins.Store(int32(len(b.origins)))
}

// originStored completes o after its Append: it keeps the sequence for
// Deliver, or removes the record if Deliver already matched it or the append
// failed (ok false).
func (b *Broker) originStored(o *origin, seq uint64, ok bool) {
	b.originMu.Lock()
	defer b.originMu.Unlock()
	o.payload = nil
	if ok && !o.matched && seq != 0 {
		o.seq = seq
		return
	}
	b.removeOrigins(func(x *origin) bool { return x == o })
}

// removeOrigins drops the records for which drop is true. Lock held on entry.
func (b *Broker) removeOrigins(drop func(*origin) bool) {
	kept := b.origins[:0]
	for _, x := range b.origins {
		if !drop(x) {
			kept = append(kept, x)
		}
	}
	clear(b.origins[len(kept):])
	b.origins = kept
	b.nOrigins.Store(int32(len(kept)))
}

// takeOrigin finds the record of m, if a local connection published it, and
// drops it along with those the feed has passed. Called by Deliver only; it
// takes no lock when there are no records and never allocates.
func (b *Broker) takeOrigin(m *Message) (from *session, retain bool) {
	if b.nOrigins.Load() == 0 {
		return nil, false
	}
	b.originMu.Lock()
	defer b.originMu.Unlock()
	var found *origin
	b.removeOrigins(func(o *origin) bool {
		switch {
		case found == nil && m.Seq != 0 && o.seq == m.Seq:
			found = o
			return true
		case found == nil && o.seq == 0 && !o.matched && o.topic == m.Topic && bytes.Equal(o.payload, m.Payload):
			found = o
			o.matched = true // originStored removes it
			return false
		}
		return o.seq != 0 && o.seq < m.Seq // passed
	})
	if found == nil {
		return nil, false
	}
	return found.s, found.retain
}

// flight is an outbound QoS 1 or 2 message awaiting acknowledgement.
type flight struct {
	id    uint16
	qos   byte
	state flightState
	m     *message // kept for the DUP resend of a resumed persistent session
	seq   uint64   // the log message (0 for a retained one), for the ack floor
}

type flightState byte

const (
	awaitPuback  flightState = iota // QoS 1 sent
	awaitPubrec                     // QoS 2 sent
	awaitPubcomp                    // PUBREL sent
)

// session is the state MQTT keeps per client id: subscriptions (owned by the
// connection's reader goroutine), the outbound queue and the in-flight window
// (guarded by mu). A session object lives as long as its connection; a
// persistent session also has a cursor into the log (p, persist.go) that is
// saved as a SessionRecord and refills pending from the Backlog on
// resumption.
type session struct {
	b *Broker

	// subs is owned by the connection's reader goroutine.
	subs map[string]*subscription

	wake func() // tells the connection's writer there is work (conn.kick); nil for detached sessions

	// nNoLocal counts the No Local subscriptions in subs; reader only.
	nNoLocal int

	// Deliver's scratch state, guarded by Broker.deliverMu: the message being
	// routed and what this session's matching subscriptions make of it.
	dmsg    *message
	dids    [2]uint32 // the first identifiers
	dn      uint8     // identifiers seen; past len(dids) they are in dmore
	dqos    byte      // highest QoS
	dok     bool      // a matching subscription takes the message
	dretain bool      // RETAIN to send
	dmore   []uint32  // every identifier, when more than two match

	mu          sync.Mutex
	closed      bool     // no more deliveries are queued
	pending     []entry  // outbound queue; pending[head:] waits
	head        int      //
	ctrl        []byte   // encoded acknowledgements queued by the reader
	inflight    []flight // outbound QoS 1 and 2 awaiting acknowledgement, in send order
	flightBuf   []flight // the array inflight lies in (pushFlight)
	maxInflight int
	nextID      uint16
	overflowing bool     // a QoS ≥ 1 drop was logged and the queue has not drained since
	idScratch   []uint32 // drain's subscription identifiers, reused

	// p is the cursor of a persistent session (persist.go), nil for a clean
	// one. Set before the session's subscriptions enter the index.
	p *persistState
}

func newSession(b *Broker, maxInflight int) *session {
	return &session{
		b:           b,
		subs:        make(map[string]*subscription),
		maxInflight: maxInflight,
	}
}

// signal wakes the writer without blocking.
func (s *session) signal() {
	if s.wake != nil {
		s.wake()
	}
}

// enqueue queues e for delivery. It wakes the writer, never blocks on the
// network and makes no allocation once pending has grown to its working size.
func (s *session) enqueue(e entry) {
	s.mu.Lock()
	ok := s.pushLocked(e)
	s.mu.Unlock()
	if !ok {
		// Once per overflow episode, so that a stuck client cannot flood the log.
		s.b.logger.Warn("session queue full, dropping messages", "qos", e.qos, logKeyTopic, e.m.topic)
	}
	s.signal()
}

// pushLocked appends e to the queue, or drops and counts it when the queue is
// full (see the overflow policy in the package documentation). It reports
// false when the drop should be logged. Lock held on entry.
func (s *session) pushLocked(e entry) (ok bool) {
	if s.closed {
		return true
	}
	if s.p != nil && e.qos > 0 && e.m.seq != 0 {
		s.pushLogged(e) // never dropped: the log is the buffer
		return true
	}
	if len(s.pending)-s.head >= s.b.cfg.MaxQueue {
		if e.qos == 0 {
			s.b.stats.dropQoS0.Add(1)
			return true
		}
		s.b.stats.dropQoS1.Add(1)
		logIt := !s.overflowing
		s.overflowing = true
		return !logIt
	}
	s.pending = append(s.pending, e)
	return true
}

// queueCtrl appends an encoded acknowledgement for the writer, followed by
// entries (for a SUBACK, the retained messages the subscriptions receive):
// both under one lock, so that no delivery queued meanwhile can overtake them.
func (s *session) queueCtrl(p mqtt.Packet, version byte, entries ...entry) {
	logIt := false
	s.mu.Lock()
	if b, err := p.Append(s.ctrl, version); err == nil {
		s.ctrl = b
	}
	for _, e := range entries {
		logIt = !s.pushLocked(e) || logIt
	}
	s.mu.Unlock()
	if logIt {
		s.b.logger.Warn("session queue full, dropping messages", "qos", 1)
	}
	s.signal()
}

// takeCtrl appends the queued acknowledgements to buf and forgets them.
func (s *session) takeCtrl(buf []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf = append(buf, s.ctrl...)
	s.ctrl = s.ctrl[:0]
	return buf
}

// drain appends to buf what the writer should send now: queued
// acknowledgements, then queued messages in order while the in-flight window
// has room. It stops after about maxBatch bytes and reports whether more is
// ready. maxOut is the client's Maximum Packet Size (0: none).
func (s *session) drain(buf []byte, version byte, maxOut int) (out []byte, published int, more bool) {
	const maxBatch = 256 << 10
	s.mu.Lock()
	defer s.mu.Unlock()
	buf = append(buf, s.ctrl...)
	s.ctrl = s.ctrl[:0]
	if cap(s.ctrl) > 64<<10 {
		s.ctrl = nil // a burst of acknowledgements does not pin memory
	}
	obs, now := s.b.cfg.Observer, int64(0)
	for s.head < len(s.pending) {
		if len(buf) >= maxBatch {
			more = true
			break
		}
		e := &s.pending[s.head]
		h := mqtt.PublishHeader{QoS: e.qos, Retain: e.retain}
		if version == mqtt.Version5 && (e.nids > 0 || e.extra != nil) {
			// [MQTT-3.3.4-3], [MQTT-3.3.4-4]: the ids of every matching subscription.
			s.idScratch = e.subIDs(s.idScratch)
			h.SubscriptionIDs = s.idScratch
		}
		if maxOut > 0 {
			h.PacketID = 1 // the size does not depend on the id's value
			if mqtt.PublishSize(version, h, e.m.topic, e.m.props, e.m.payload) > maxOut {
				// [MQTT-3.1.2-25]
				s.b.stats.dropTooLarge.Add(1)
				if s.p != nil && e.qos > 0 {
					s.p.ackSeq(e.m.seq)
				}
				s.pending[s.head] = entry{}
				s.head++
				continue
			}
		}
		if e.qos > 0 {
			if len(s.inflight) >= s.maxInflight {
				break // resumes when an acknowledgement frees a slot
			}
			h.PacketID = s.allocID()
			st := awaitPuback
			if e.qos == 2 {
				st = awaitPubrec
			}
			s.pushFlight(flight{id: h.PacketID, qos: e.qos, state: st, m: e.m, seq: e.m.seq})
		}
		b, err := mqtt.AppendPublish(buf, version, h, e.m.topic, e.m.props, e.m.payload)
		if err == nil {
			buf = b
			published++
			if obs != nil && e.m.stored != 0 {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				obs.Delivered(time.Duration(now - e.m.stored))
			}
		} else if e.qos > 0 {
			s.dropFlight(len(s.inflight) - 1)
			if s.p != nil {
				s.p.ackSeq(e.m.seq)
			}
		}
		s.pending[s.head] = entry{} // drop the reference to the message
		s.head++
	}
	switch {
	case s.head == len(s.pending):
		s.pending = s.pending[:0]
		s.head = 0
		s.overflowing = false
	case s.head > 0 && s.head >= len(s.pending)/2:
		n := copy(s.pending, s.pending[s.head:])
		clear(s.pending[n:])
		s.pending = s.pending[:n]
		s.head = 0
	}
	if s.p != nil && len(s.pending)-s.head < s.b.cfg.MaxQueue {
		poke(s.p.room) // a replay waiting for room may go on
	}
	return buf, published, more
}

// pushFlight appends f to the in-flight window. Acknowledgements mostly come in
// send order and take the window's front without moving the rest (dropFlight), so
// the window creeps along its array; when it reaches the array's end with room
// left at the front, it moves back to the front instead of growing: no copy per
// acknowledgement and no allocation in a steady flow, whatever MaxInflight.
// Lock held on entry.
func (s *session) pushFlight(f flight) {
	if n := len(s.inflight); n == cap(s.inflight) && n < cap(s.flightBuf) {
		base := s.flightBuf[:cap(s.flightBuf)]
		copy(base, s.inflight)
		clear(base[n:]) // stale copies would keep their messages alive
		s.inflight = base[:n]
	}
	if len(s.inflight) == cap(s.inflight) {
		s.inflight = append(s.inflight, f) // a larger array
		s.flightBuf = s.inflight[:0]
		return
	}
	s.inflight = append(s.inflight, f)
}

// dropFlight removes the window's i-th message. Lock held on entry.
func (s *session) dropFlight(i int) {
	if i == 0 {
		s.inflight[0] = flight{}
		s.inflight = s.inflight[1:]
		if len(s.inflight) == 0 {
			s.inflight = s.flightBuf[:0] // empty: start again at the front
		}
		return
	}
	n := copy(s.inflight[i:], s.inflight[i+1:])
	s.inflight[i+n] = flight{}
	s.inflight = s.inflight[:i+n]
}

// allocID returns a packet identifier not in flight. Lock held on entry; the
// in-flight window is smaller than 65535, so one is free.
func (s *session) allocID() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		free := true
		for i := range s.inflight {
			if s.inflight[i].id == s.nextID {
				free = false
				break
			}
		}
		if free {
			return s.nextID
		}
	}
}

// ack handles PUBACK, PUBREC (with its reason) and PUBCOMP for packet id.
// It returns false if no matching message was in flight.
func (s *session) ack(t mqtt.Type, id uint16, reason mqtt.ReasonCode) (found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.inflight {
		f := &s.inflight[i]
		if f.id != id {
			continue
		}
		switch {
		case t == mqtt.TypePuback && f.state == awaitPuback,
			t == mqtt.TypePubcomp && f.state == awaitPubcomp,
			t == mqtt.TypePubrec && f.state == awaitPubrec && reason.IsError(): // an error PUBREC ends the flow (5.0 §4.3.3)
			if s.p != nil {
				s.p.ackSeq(f.seq)
			}
			s.dropFlight(i)
			if s.head < len(s.pending) {
				s.signal()
			}
			return true
		case t == mqtt.TypePubrec && f.state == awaitPubrec:
			f.state = awaitPubcomp
			f.m = nil
			return true
		}
		return false
	}
	return false
}

// close stops further deliveries and releases the queue.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	clear(s.pending)
	s.pending = nil
	s.head = 0
	s.inflight, s.flightBuf = nil, nil
	s.mu.Unlock()
}

// Deliver routes one stored message to every session with a matching
// subscription, at each subscription's granted QoS (messages are stored as
// QoS 2). It is called by one goroutine, the node's live feed, in log order;
// concurrent calls are serialised. It never blocks on a client: each session
// has a bounded queue (see the overflow policy in the package documentation)
// drained by its connection's writer. The payload is shared, never copied per
// subscriber, and must not be modified after the call.
func (b *Broker) Deliver(m Message) {
	b.stats.messagesRouted.Add(1)
	msg := &message{seq: m.Seq, topic: m.Topic, payload: m.Payload}
	if b.cfg.Observer != nil && !m.Time.IsZero() {
		msg.stored = m.Time.UnixNano()
	}
	b.deliverMu.Lock()
	defer b.deliverMu.Unlock()
	msg.from, msg.retain = b.takeOrigin(&m)
	b.matches = b.index.AppendMatches(b.matches[:0], m.Topic)
	// A session matched by several of its filters gets one copy, at the
	// highest of their QoS [MQTT-3.3.5-1], with the identifiers of all of
	// them [MQTT-3.3.4-3]: first combine the subscriptions per session, then
	// queue once per session.
	for _, sub := range b.matches {
		s := sub.s
		if s.dmsg != msg {
			s.dmsg, s.dn, s.dqos, s.dok, s.dretain = msg, 0, 0, false, false
		}
		if sub.noLocal && msg.from == s {
			continue // [MQTT-3.8.3-3]
		}
		s.dok = true
		s.dqos = max(s.dqos, sub.qos)
		// Live messages go out with RETAIN=0 unless Retain As Published
		// [MQTT-3.3.1-12], [MQTT-3.3.1-13].
		s.dretain = s.dretain || (sub.rap && msg.retain)
		if sub.id != 0 {
			s.addID(sub.id)
		}
	}
	for i, sub := range b.matches {
		if s := sub.s; s.dmsg == msg {
			if s.dok {
				e := entry{m: msg, qos: s.dqos, retain: s.dretain, ids: s.dids, nids: min(s.dn, 2)}
				if s.dn > 2 {
					// More than two identifiers: the only per-subscriber allocation.
					ids := append([]uint32(nil), s.dmore...)
					e.extra = &ids
				}
				s.enqueue(e)
			}
			s.dmsg = nil
		}
		b.matches[i] = nil
	}
	b.fed.Store(m.Seq) // after queueing: see beforeSubscribe
}

// addID adds a matching subscription's identifier to the delivery being
// built. Broker.deliverMu held on entry.
func (s *session) addID(id uint32) {
	switch {
	case s.dn < 2:
		s.dids[s.dn] = id
	case s.dn == 2:
		s.dmore = append(s.dmore[:0], s.dids[0], s.dids[1], id)
	default:
		s.dmore = append(s.dmore, id)
	}
	if s.dn < 255 {
		s.dn++
	}
}
