package broker

import (
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
	props   []byte // pre-encoded MQTT 5.0 properties shared by all copies (none yet)
}

// subscription is one filter of one session; the index maps filters to it.
// Its fields do not change once it is in the index: a SUBSCRIBE that changes
// the QoS of a filter replaces the subscription.
type subscription struct {
	s      *session
	filter string
	qos    byte
}

// entry is one message waiting in a session's outbound queue.
type entry struct {
	m   *message
	qos byte // delivery QoS: min(2, granted)
}

// flight is an outbound QoS 1 or 2 message awaiting acknowledgement.
type flight struct {
	id    uint16
	qos   byte
	state flightState
	m     *message // kept for the DUP resend of a resumed persistent session
}

type flightState byte

const (
	awaitPuback  flightState = iota // QoS 1 sent
	awaitPubrec                     // QoS 2 sent
	awaitPubcomp                    // PUBREL sent
)

// session is the state MQTT keeps per client id: subscriptions (owned by the
// connection's reader goroutine), the outbound queue and the in-flight window
// (guarded by mu). Only clean sessions exist so far, so a session lives
// exactly as long as its connection; a persistent session will replace the
// queue with a cursor into the log (ack floor plus in-flight ids) that refills
// pending from Log on resumption, and keep subs across connections.
type session struct {
	b *Broker

	// subs is owned by the connection's reader goroutine.
	subs map[string]*subscription

	wake chan struct{} // capacity 1: tells the writer there is work; nil for detached sessions

	// Deliver's scratch state, guarded by Broker.deliverMu: the message being
	// routed and the highest QoS of this session's matching subscriptions.
	dmsg *message
	dqos byte

	mu          sync.Mutex
	closed      bool     // no more deliveries are queued
	pending     []entry  // outbound queue; pending[head:] waits
	head        int      //
	ctrl        []byte   // encoded acknowledgements queued by the reader
	inflight    []flight // outbound QoS 1 and 2 awaiting acknowledgement
	maxInflight int
	nextID      uint16
	overflowing bool // a QoS ≥ 1 drop was logged and the queue has not drained since
}

func newSession(b *Broker, maxInflight int) *session {
	return &session{
		b:           b,
		subs:        make(map[string]*subscription),
		wake:        make(chan struct{}, 1),
		maxInflight: maxInflight,
	}
}

// signal wakes the writer without blocking.
func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueue queues m for delivery at qos. It wakes the writer, never blocks on
// the network and makes no allocation once pending has grown to its working
// size.
func (s *session) enqueue(m *message, qos byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.pending)-s.head >= s.b.cfg.MaxQueue {
		logIt := false
		if qos == 0 {
			s.b.stats.dropQoS0.Add(1)
		} else {
			s.b.stats.dropQoS1.Add(1)
			logIt = !s.overflowing
			s.overflowing = true
		}
		s.mu.Unlock()
		if logIt {
			// Once per overflow episode, so that a stuck client cannot flood the log.
			s.b.logger.Warn("session queue full, dropping messages", "qos", qos, logKeyTopic, m.topic)
		}
		return
	}
	s.pending = append(s.pending, entry{m: m, qos: qos})
	s.mu.Unlock()
	s.signal()
}

// queueCtrl appends an encoded acknowledgement for the writer.
func (s *session) queueCtrl(p mqtt.Packet, version byte) {
	s.mu.Lock()
	if b, err := p.Append(s.ctrl, version); err == nil {
		s.ctrl = b
	}
	s.mu.Unlock()
	s.signal()
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
	for s.head < len(s.pending) {
		if len(buf) >= maxBatch {
			more = true
			break
		}
		e := s.pending[s.head]
		h := mqtt.PublishHeader{QoS: e.qos}
		if maxOut > 0 {
			h.PacketID = 1 // the size does not depend on the id's value
			if mqtt.PublishSize(version, h, e.m.topic, e.m.props, e.m.payload) > maxOut {
				s.b.stats.dropTooLarge.Add(1)
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
			s.inflight = append(s.inflight, flight{id: h.PacketID, qos: e.qos, state: st, m: e.m})
		}
		b, err := mqtt.AppendPublish(buf, version, h, e.m.topic, e.m.props, e.m.payload)
		if err == nil {
			buf = b
			published++
		} else if e.qos > 0 {
			s.inflight = s.inflight[:len(s.inflight)-1]
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
	return buf, published, more
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
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
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
	s.inflight = nil
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
	b.deliverMu.Lock()
	defer b.deliverMu.Unlock()
	b.matches = b.index.AppendMatches(b.matches[:0], m.Topic)
	// A session matched by several of its filters gets one copy, at the
	// highest of their QoS [MQTT-3.3.5-1]: first find that QoS per session,
	// then queue once per session.
	for _, sub := range b.matches {
		if s := sub.s; s.dmsg != msg {
			s.dmsg, s.dqos = msg, sub.qos
		} else if sub.qos > s.dqos {
			s.dqos = sub.qos
		}
	}
	for i, sub := range b.matches {
		if s := sub.s; s.dmsg == msg {
			// Notifications are never delivered retained (VCD-COMPAT §6.4).
			s.enqueue(msg, s.dqos)
			s.dmsg = nil
		}
		b.matches[i] = nil
	}
}
