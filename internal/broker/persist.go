package broker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
)

// SessionRecord is the stored state of a persistent session (VCD-COMPAT §6.6):
// a cursor into the log, never a copy of its messages (ARCHITECTURE.md,
// decision 3).
type SessionRecord struct {
	PrincipalID    string // the principal's kind and id, see principalKey.String
	ClientID       string
	Subscriptions  []SessionSubscription
	AckFloor       uint64          // every matching log message with seq ≤ AckFloor is delivered and acknowledged
	LogEpoch       string          // the LogBounds.Epoch of the log AckFloor and Inflight count in; "" if unknown
	Inflight       []SessionFlight // sent, not yet acknowledged, in the order sent
	ExpiryInterval time.Duration   // how long the record outlives a disconnect
	DisconnectedAt time.Time       // zero while a connection holds the session
	Updated        time.Time       // last save
	Node           string          // the node that saved it last
	Revision       uint64          // the store's revision, for compare-and-set; 0 for a new record
}

// Expired reports whether the record has outlived its expiry at now. A
// record still held by a connection expires ExpiryInterval after its last
// save (connections save at least every ExpiryInterval/4), which only a node
// that died while serving it leaves behind.
func (r *SessionRecord) Expired(now time.Time) bool {
	from := r.DisconnectedAt
	if from.IsZero() {
		from = r.Updated
	}
	return !from.IsZero() && now.Sub(from) > r.ExpiryInterval
}

// SessionSubscription is one stored filter with its MQTT options.
type SessionSubscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubID             uint32
}

// SessionFlight is an outbound QoS 1 or 2 message awaiting acknowledgement.
type SessionFlight struct {
	PacketID uint16
	Seq      uint64 // the log message
	QoS      byte
	Released bool // QoS 2: PUBREC received and PUBREL sent; awaiting PUBCOMP
}

// SessionStore keeps persistent sessions durably, by (principal, client id).
type SessionStore interface {
	// Load returns the record, or ok false if there is none. With checked, ok false
	// also covers a record another node saved just before the call; without it,
	// such a record may be missed for a moment (clean sessions, which keep nothing,
	// need not pay for the check).
	Load(ctx context.Context, principalID, clientID string, checked bool) (rec SessionRecord, ok bool, err error)
	// Save writes rec if rec.Revision is still the stored one (0: no record
	// may exist) and returns the new revision; a conflict is an error.
	Save(ctx context.Context, rec SessionRecord) (rev uint64, err error)
	// Delete removes the record; a missing one is not an error.
	Delete(ctx context.Context, principalID, clientID string) error
}

// Backlog reads the durable log for persistent sessions.
type Backlog interface {
	// Replay calls fn, in log order, for every stored message after `after`
	// whose topic matches one of the MQTT filters, up to the log's last
	// sequence at the time of the call, and returns that sequence. An error
	// from fn stops it and is returned.
	Replay(ctx context.Context, filters []string, after uint64, fn func(Message) error) (last uint64, err error)
	// Message returns the stored message seq; an error if it is gone.
	Message(ctx context.Context, seq uint64) (Message, error)
	// Bounds describes the log as it is now.
	Bounds(ctx context.Context) (LogBounds, error)
}

// LogBounds describes the durable log.
type LogBounds struct {
	First uint64 // the oldest stored message's sequence; Last+1 when the log is empty
	Last  uint64 // the newest message ever stored
	// Epoch tells the log from an earlier one that was deleted and created again,
	// whose sequences started over too; "" if the Backlog cannot tell.
	Epoch string
}

// reset reports whether the log was deleted and created again since rec was saved:
// its epoch changed, or it holds fewer messages than the session has read (all a
// record saved without an epoch can tell: a new log that has grown past its floor
// then goes unnoticed).
func (lb LogBounds) reset(rec *SessionRecord) bool {
	return rec.AckFloor > lb.Last || rec.LogEpoch != "" && lb.Epoch != "" && rec.LogEpoch != lb.Epoch
}

// String encodes a principal for SessionRecord.PrincipalID.
func (k principalKey) String() string { return strconv.Itoa(int(k.kind)) + ":" + k.id }

// Persistent session tuning.
const (
	saveInterval = time.Second      // the ack floor is saved at most this often
	takeoverWait = 15 * time.Second // a resuming connection waits this long for the old one's save
	retryBackoff = 500 * time.Millisecond
)

// tracked is a QoS ≥ 1 log message queued or in flight on a persistent session.
type tracked struct {
	seq   uint64
	acked bool
}

// persistState is the cursor of a persistent session: which log messages the
// session has queued (readTo), which of them are not yet acknowledged
// (track), and the hand-over between replaying the log and live delivery.
// Fields other than subs are guarded by session.mu.
type persistState struct {
	readTo   uint64    // every matching log message ≤ readTo is queued, delivered or skipped
	epoch    string    // the log's LogBounds.Epoch when the session opened
	track    []tracked // track[th:] sorted by seq; the acknowledged prefix is dropped
	th       int
	catching bool    // the log is being replayed: live QoS ≥ 1 deliveries wait in held
	held     []entry // live deliveries during a replay, at most MaxQueue
	heldLost bool    // held overflowed: another replay follows
	skip     map[uint64]struct{}
	dirty    bool // changed since the last save

	room chan struct{} // capacity 1: the queue has room again
	kick chan struct{} // capacity 1: the session loop has work
	// save, capacity 1, is held while the record is written (lockSave): the
	// session loop's saves and the reader's (commitSubs) take turns, so
	// conn.rev and conn.lastSave have one writer at a time and a periodic
	// save never stores subscriptions older than the reader's.
	save chan struct{}

	subs atomic.Pointer[[]*subscription] // snapshot of session.subs for the session loop
}

func newPersistState() *persistState {
	p := &persistState{room: make(chan struct{}, 1), kick: make(chan struct{}, 1), save: make(chan struct{}, 1)}
	p.subs.Store(new([]*subscription))
	return p
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pushLogged queues a live QoS ≥ 1 delivery of a log message on a persistent
// session: it skips what a replay already queued, holds it while a replay
// runs, and switches to replaying from the log instead of dropping when the
// queue is full. Lock held on entry.
func (s *session) pushLogged(e entry) {
	p := s.p
	switch {
	case e.m.seq <= p.readTo:
	case p.catching:
		if len(p.held) < s.b.cfg.MaxQueue {
			p.held = append(p.held, e)
		} else {
			clear(p.held)
			p.held, p.heldLost = p.held[:0], true
		}
	case len(s.pending)-s.head >= s.b.cfg.MaxQueue:
		// Behind: the log is the buffer; the session loop re-reads it.
		s.b.stats.sessionBehind.Add(1)
		p.catching = true
		poke(p.kick)
	default:
		s.appendTracked(e)
	}
}

// appendTracked queues e and tracks its sequence. Lock held on entry.
func (s *session) appendTracked(e entry) {
	p := s.p
	s.pending = append(s.pending, e)
	p.readTo = max(p.readTo, e.m.seq)
	p.insertTrack(e.m.seq)
}

func (p *persistState) insertTrack(seq uint64) {
	i := len(p.track)
	for i > p.th && p.track[i-1].seq > seq {
		i--
	}
	p.track = slices.Insert(p.track, i, tracked{seq: seq})
	p.dirty = true
}

// outstanding reports whether a tracked message awaits acknowledgement.
func (p *persistState) outstanding() bool { return p.th < len(p.track) }

// ackSeq records that the log message seq is acknowledged (or will never be
// sent). Lock held on entry.
func (p *persistState) ackSeq(seq uint64) {
	if seq == 0 {
		return
	}
	i, ok := slices.BinarySearchFunc(p.track[p.th:], seq, func(t tracked, s uint64) int {
		switch {
		case t.seq < s:
			return -1
		case t.seq > s:
			return 1
		}
		return 0
	})
	if !ok {
		return
	}
	p.track[p.th+i].acked = true
	for p.th < len(p.track) && p.track[p.th].acked {
		p.th++
	}
	switch {
	case p.th == len(p.track):
		p.track, p.th = p.track[:0], 0
	case p.th > len(p.track)/2:
		n := copy(p.track, p.track[p.th:])
		p.track, p.th = p.track[:n], 0
	}
	p.dirty = true
}

// floor returns the ack floor. Lock held on entry.
func (p *persistState) floor() uint64 {
	if p.outstanding() {
		return p.track[p.th].seq - 1
	}
	return p.readTo
}

// persistent reports whether the connection holds a persistent session.
func (c *conn) persistent() bool { return c.s != nil && c.s.p != nil }

// openSession runs after register: it waits for a connection it took over to
// save its session, then deletes the stored session on a clean start
// [MQTT-3.1.2-4], [MQTT-3.1.2-6] and, for a persistent session, resumes the
// stored one or creates one. It returns session present, a note for the 5.0
// CONNACK's Reason String, and a refusal code (0 on success).
func (c *conn) openSession(cp *mqtt.Connect) (present bool, note string, code mqtt.ReasonCode) {
	b := c.b
	st, bl := b.cfg.Sessions, b.cfg.Backlog
	if st == nil || bl == nil {
		c.prev = nil
		return false, "", 0
	}
	if c.prev != nil {
		t := time.NewTimer(takeoverWait)
		select {
		case <-c.prev.saved:
		case <-t.C:
			c.logger.Warn("taken-over connection did not save its session in time")
		case <-c.ctx.Done():
		}
		t.Stop()
		c.prev = nil
	}
	unavailable := c.code(mqtt.ReasonServerUnavailable, mqtt.ConnRefusedServerUnavailable)
	pid, cid := c.key.principal.String(), c.key.clientID
	// Bounded by the timeout alone, not derived from c.ctx: a child of c.ctx
	// leaves a registration map in it for the connection's whole life (some
	// 450 bytes on each of tens of thousands of idle connections, issue 7),
	// and a close request during the handshake closes nc anyway.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), b.cfg.WriteTimeout)
	defer cancel()
	// A connection that keeps a session must not miss one saved through another
	// node a moment ago: it would start over and its save would then conflict.
	checked := c.expiry > 0
	rec, ok, err := st.Load(ctx, pid, cid, checked)
	if err == nil && ok && c.releaseRemote(&rec) {
		rec, ok, err = st.Load(ctx, pid, cid, checked) // as the other node saved it (cluster.go)
	}
	if err != nil {
		c.logger.Error("load session", logKeyErr, err)
		return false, "", unavailable
	}
	if ok && (cp.CleanStart || c.expiry <= 0 || rec.Expired(b.cfg.Now())) {
		if err := st.Delete(ctx, pid, cid); err != nil {
			c.logger.Error("delete session", logKeyErr, err)
			return false, "", unavailable
		}
		rec, ok = SessionRecord{}, false
	}
	if c.expiry <= 0 {
		return false, "", 0 // a clean session
	}
	lb, err := bl.Bounds(ctx)
	if err != nil {
		c.logger.Error("read log bounds", logKeyErr, err)
		return false, "", unavailable
	}
	s := c.s
	first := lb.First
	p := newPersistState()
	p.epoch = lb.Epoch
	if !ok {
		rec = SessionRecord{PrincipalID: pid, ClientID: cid, AckFloor: lb.Last}
	}
	c.rev = rec.Revision
	if ok && lb.reset(&rec) {
		// The log was deleted and created again, and its sequences started over
		// (Broker.LogReset). The session resumes from the new log's first message;
		// its in-flight messages name sequences of the old log, and are dropped.
		c.logger.Warn("persistent session resumes from the start of a reset log", "ack_floor", rec.AckFloor, "last", lb.Last)
		note = "the notification log was reset; the session resumes from its first message"
		rec.AckFloor, rec.Inflight = max(first, 1)-1, nil
	}
	p.readTo = rec.AckFloor
	if ok && first > rec.AckFloor+1 {
		// Lost to the log's retention (VCD-COMPAT §6.6).
		lost := first - 1 - rec.AckFloor
		b.stats.sessionLost.Add(int64(lost))
		c.logger.Warn("persistent session lost messages to retention", "lost", lost, "ack_floor", rec.AckFloor, "first", first)
		note = strconv.FormatUint(lost, 10) + " messages were lost to the log's retention"
		p.readTo = first - 1
	}
	s.mu.Lock()
	s.p = p
	p.catching = ok // a resumed session replays its backlog before live traffic
	s.mu.Unlock()
	if ok {
		c.restoreSubs(rec.Subscriptions)
		c.resendInflight(ctx, rec.Inflight, first)
		b.stats.sessionsResumed.Add(1)
	}
	if _, err := c.saveSession(ctx, false); err != nil {
		c.logger.Error("save session", logKeyErr, err)
		return false, "", unavailable
	}
	return ok, note, 0
}

// restoreSubs puts the stored subscriptions back, each re-checked against the
// principal's current rights (VCD-COMPAT §6.6): those no longer allowed are
// dropped and logged.
func (c *conn) restoreSubs(subs []SessionSubscription) {
	pr := c.principal.Load()
	for _, ss := range subs {
		switch topic.CanSubscribe(*pr, ss.Filter) {
		case topic.Denied, topic.Malformed:
			c.logger.Warn("stored subscription no longer allowed, dropped", logKeyFilter, ss.Filter)
			continue
		}
		_, _ = c.subscribe(mqtt.Subscription{Filter: ss.Filter, QoS: ss.QoS, NoLocal: ss.NoLocal,
			RetainAsPublished: ss.RetainAsPublished, RetainHandling: ss.RetainHandling}, ss.SubID)
	}
	c.subsChanged()
}

// resendInflight queues the stored in-flight messages for the writer, first
// and in their order [MQTT-4.4.0-1]: PUBLISH with DUP=1 and the same packet
// id, or PUBREL for a released QoS 2 message. Messages gone from the log are
// counted as lost.
func (c *conn) resendInflight(ctx context.Context, fl []SessionFlight, first uint64) {
	s, p := c.s, c.s.p
	var lost uint64
	skip := func(seq uint64) {
		if p.skip == nil {
			p.skip = make(map[uint64]struct{})
		}
		p.skip[seq] = struct{}{}
	}
	for _, f := range fl {
		if f.Released {
			s.mu.Lock()
			s.pushFlight(flight{id: f.PacketID, qos: 2, state: awaitPubcomp, seq: f.Seq})
			s.nextID = max(s.nextID, f.PacketID)
			if b, err := (&mqtt.Pubrel{PacketID: f.PacketID}).Append(s.ctrl, c.version); err == nil {
				s.ctrl = b
			}
			p.insertTrack(f.Seq)
			skip(f.Seq)
			s.mu.Unlock()
			continue
		}
		var m Message
		var err error
		if f.Seq >= first {
			m, err = c.b.cfg.Backlog.Message(ctx, f.Seq)
		}
		if f.Seq < first || err != nil {
			lost++
			continue
		}
		msg := &message{seq: m.Seq, topic: m.Topic, payload: m.Payload}
		st := awaitPuback
		if f.QoS == 2 {
			st = awaitPubrec
		}
		s.mu.Lock()
		b, err := mqtt.AppendPublish(s.ctrl, c.version, mqtt.PublishHeader{Dup: true, QoS: f.QoS, PacketID: f.PacketID}, msg.topic, nil, msg.payload)
		if err == nil {
			s.ctrl = b
			s.pushFlight(flight{id: f.PacketID, qos: f.QoS, state: st, m: msg, seq: f.Seq})
			s.nextID = max(s.nextID, f.PacketID)
			p.insertTrack(f.Seq)
			skip(f.Seq)
		}
		s.mu.Unlock()
	}
	if lost > 0 {
		c.b.stats.sessionLost.Add(int64(lost))
		c.logger.Warn("in-flight messages lost to retention", "lost", lost)
	}
}

// subsChanged refreshes the session loop's snapshot of the subscriptions and
// asks it to save them. Reader goroutine only.
func (c *conn) subsChanged() {
	if !c.persistent() {
		return
	}
	p := c.s.p
	subs := sortedSubs(c.s.subs)
	p.subs.Store(&subs)
	c.s.mu.Lock()
	p.dirty = true
	c.s.mu.Unlock()
	poke(p.kick)
}

// sortedSubs returns the subscriptions of m in filter order.
func sortedSubs(m map[string]*subscription) []*subscription {
	subs := make([]*subscription, 0, len(m))
	for _, sub := range m {
		subs = append(subs, sub)
	}
	slices.SortFunc(subs, func(a, b *subscription) int { return strings.Compare(a.filter, b.filter) })
	return subs
}

// commitSubs carries out plan, changes to the session's subscriptions from
// one SUBSCRIBE or UNSUBSCRIBE, by calling apply. For a persistent session it
// first saves the record as plan leaves it, with compare-and-set and bounded
// by WriteTimeout, so that a SUBACK or UNSUBACK is never sent for a change a
// resumption on another node would not find (a node may die the moment
// after); it reports false, and applies nothing, when that save fails.
// Reader goroutine only: it blocks this connection's reader, not others.
func (c *conn) commitSubs(plan []subChange, apply func()) bool {
	if !c.persistent() || len(plan) == 0 {
		apply()
		return true
	}
	p := c.s.p
	ctx, cancel := context.WithTimeout(c.ctx, c.b.cfg.WriteTimeout)
	defer cancel()
	if err := p.lockSave(ctx); err != nil {
		c.logger.Warn("save session before acknowledging (un)subscribe", logKeyErr, err)
		return false
	}
	defer p.unlockSave()
	next := maps.Clone(c.s.subs)
	for _, ch := range plan {
		if ch.ns != nil {
			next[ch.f] = ch.ns
		} else {
			delete(next, ch.f)
		}
	}
	if _, err := c.saveRecord(ctx, false, sortedSubs(next)); err != nil {
		c.logger.Warn("save session before acknowledging (un)subscribe", logKeyErr, err)
		return false
	}
	apply()
	// The session loop's snapshot, stored before the save lock is released:
	// already saved, so not marked dirty.
	subs := sortedSubs(c.s.subs)
	p.subs.Store(&subs)
	poke(p.kick)
	return true
}

// lockSave takes the session's save turn, waiting no longer than ctx.
func (p *persistState) lockSave(ctx context.Context) error {
	select {
	case p.save <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *persistState) unlockSave() { <-p.save }

// beforeSubscribe moves the cursor of a persistent session with no message
// outstanding up to the live feed before a new filter enters the index, so
// that a later resumption does not replay messages older than the
// subscription. Reader goroutine only.
func (c *conn) beforeSubscribe() {
	if !c.persistent() {
		return
	}
	s := c.s
	s.mu.Lock()
	if !s.p.catching && !s.p.outstanding() {
		s.p.readTo = max(s.p.readTo, c.b.fed.Load())
	}
	s.mu.Unlock()
}

// saveSession writes the session's record with compare-and-set. final marks
// it disconnected. It reports whether anything was written.
func (c *conn) saveSession(ctx context.Context, final bool) (bool, error) {
	p := c.s.p
	if err := p.lockSave(ctx); err != nil {
		return false, err
	}
	defer p.unlockSave()
	return c.saveRecord(ctx, final, *p.subs.Load())
}

// saveRecord is saveSession with the subscriptions subs; the save turn is
// held (lockSave).
func (c *conn) saveRecord(ctx context.Context, final bool, subs []*subscription) (bool, error) {
	s, p := c.s, c.s.p
	rec := SessionRecord{
		PrincipalID:    c.key.principal.String(),
		ClientID:       c.key.clientID,
		LogEpoch:       p.epoch,
		ExpiryInterval: c.expiry,
		Node:           c.b.cfg.Node,
		Updated:        c.b.cfg.Now(),
		Revision:       c.rev,
	}
	if final {
		rec.DisconnectedAt = rec.Updated
	}
	for _, sub := range subs {
		rec.Subscriptions = append(rec.Subscriptions, SessionSubscription{Filter: sub.filter, QoS: sub.qos,
			NoLocal: sub.noLocal, RetainAsPublished: sub.rap, RetainHandling: sub.rh, SubID: sub.id})
	}
	s.mu.Lock()
	if !p.catching && !p.outstanding() {
		// Nothing outstanding: every matching message up to the feed's position was queued.
		p.readTo = max(p.readTo, c.b.fed.Load())
	}
	rec.AckFloor = p.floor()
	for _, f := range s.inflight {
		if f.seq != 0 {
			rec.Inflight = append(rec.Inflight, SessionFlight{PacketID: f.id, Seq: f.seq, QoS: f.qos, Released: f.state == awaitPubcomp})
		}
	}
	p.dirty = false
	s.mu.Unlock()
	rev, err := c.b.cfg.Sessions.Save(ctx, rec)
	if err != nil {
		s.mu.Lock()
		p.dirty = true
		s.mu.Unlock()
		return false, err
	}
	c.rev = rev
	c.lastSave.Store(time.Now().UnixNano())
	return true, nil
}

// sessionLoop is a persistent session's goroutine: it replays the log when
// the session resumes or falls behind, and saves the session at most every
// saveInterval when it changed (and at least every ExpiryInterval/4). It
// exits when the connection's context is done; serve waits for it.
func (c *conn) sessionLoop() {
	defer close(c.loopDone)
	p := c.s.p
	t := time.NewTicker(saveInterval)
	defer t.Stop()
	for {
		c.s.mu.Lock()
		catching := p.catching
		c.s.mu.Unlock()
		if catching && !c.catchUp() {
			return
		}
		select {
		case <-c.ctx.Done():
			return
		case <-p.kick:
		case <-t.C:
			c.s.mu.Lock()
			dirty := p.dirty
			c.s.mu.Unlock()
			if dirty || time.Since(time.Unix(0, c.lastSave.Load())) > c.expiry/4 {
				ctx, cancel := context.WithTimeout(c.ctx, c.b.cfg.WriteTimeout)
				if _, err := c.saveSession(ctx, false); err != nil && c.ctx.Err() == nil {
					c.logger.Warn("save session", logKeyErr, err)
				}
				cancel()
			}
		}
	}
}

var errSessionClosed = errors.New("session closed")

// catchUp replays the log after the cursor into the queue, then hands over to
// live delivery: held live deliveries the replay covered are dropped, the rest
// queued after it. It reports false when the connection is closing.
func (c *conn) catchUp() bool {
	s, p := c.s, c.s.p
	for {
		var filters []string
		for _, sub := range *p.subs.Load() {
			if sub.qos > 0 { // QoS 0 subscriptions get no backlog
				filters = append(filters, sub.filter)
			}
		}
		s.mu.Lock()
		after := p.readTo
		s.mu.Unlock()
		c.replayed = 0
		last, err := c.b.cfg.Backlog.Replay(c.ctx, filters, after, c.replayOne)
		if obs := c.b.cfg.Observer; obs != nil && err == nil {
			obs.Replayed(c.replayed)
		}
		if c.ctx.Err() != nil {
			return false
		}
		if err != nil {
			c.logger.Warn("replay session backlog", logKeyErr, err)
			t := time.NewTimer(retryBackoff)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
			continue
		}
		s.mu.Lock()
		p.readTo = max(p.readTo, last)
		p.skip = nil
		if p.heldLost {
			p.heldLost = false
			s.mu.Unlock()
			continue
		}
		for _, e := range p.held {
			if e.m.seq > p.readTo {
				s.appendTracked(e)
			}
		}
		clear(p.held)
		p.held = p.held[:0]
		p.catching = false
		p.dirty = true
		s.mu.Unlock()
		s.signal()
		return true
	}
}

// replayOne queues one replayed message, waiting for room in the queue.
func (c *conn) replayOne(m Message) error {
	s, p := c.s, c.s.p
	e := entry{m: &message{seq: m.Seq, topic: m.Topic, payload: m.Payload}}
	ok := false
	for _, sub := range *p.subs.Load() {
		if sub.qos == 0 || !topic.Match(sub.filter, m.Topic) {
			continue
		}
		ok = true
		e.qos = max(e.qos, sub.qos)
		if sub.id != 0 && e.nids < 2 {
			e.ids[e.nids] = sub.id
			e.nids++
		}
	}
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return errSessionClosed
		case !ok || m.Seq <= p.readTo:
			p.readTo = max(p.readTo, m.Seq)
			s.mu.Unlock()
			return nil
		case p.skip != nil && hasKey(p.skip, m.Seq):
			delete(p.skip, m.Seq) // resent from the in-flight window
			p.readTo = m.Seq
			s.mu.Unlock()
			return nil
		case len(s.pending)-s.head < s.b.cfg.MaxQueue:
			s.appendTracked(e)
			s.mu.Unlock()
			s.signal()
			c.replayed++
			c.b.stats.messagesReplayed.Add(1)
			if time.Since(time.Unix(0, c.lastSave.Load())) >= saveInterval {
				// A long replay saves the floor the acknowledgements advanced.
				ctx, cancel := context.WithTimeout(c.ctx, c.b.cfg.WriteTimeout)
				if _, err := c.saveSession(ctx, false); err != nil && c.ctx.Err() == nil {
					c.logger.Warn("save session", logKeyErr, err)
				}
				cancel()
			}
			return nil
		}
		s.mu.Unlock()
		select {
		case <-p.room:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

func hasKey(m map[uint64]struct{}, k uint64) bool {
	_, ok := m[k]
	return ok
}

// closeSession saves a persistent session as disconnected, or deletes it when
// a 5.0 DISCONNECT set its expiry to 0. Called by cleanup once the writer and
// the session loop are done.
func (c *conn) closeSession() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.b.cfg.WriteTimeout)
	defer cancel()
	if c.closeExpiry != nil {
		c.expiry = *c.closeExpiry // the session loop is done
	}
	if c.expiry <= 0 {
		if err := c.b.cfg.Sessions.Delete(ctx, c.key.principal.String(), c.key.clientID); err != nil {
			c.logger.Error("delete session", logKeyErr, err)
		}
		return
	}
	if _, err := c.saveSession(ctx, true); err != nil {
		c.logger.Error("save session at disconnect", logKeyErr, err)
	}
}

// sessionExpiry returns how long the session of cp outlives the connection
// (0 for a clean session) and whether a 5.0 request was lowered to
// Config.SessionRetention (VCD-COMPAT §6.6).
func (c *conn) sessionExpiry(cp *mqtt.Connect) (time.Duration, bool) {
	if c.b.cfg.Sessions == nil || c.b.cfg.Backlog == nil {
		return 0, false
	}
	ret := c.b.cfg.SessionRetention
	if c.version != mqtt.Version5 {
		if cp.CleanStart {
			return 0, false
		}
		return ret, false
	}
	if cp.Props == nil || cp.Props.SessionExpiryInterval == nil || *cp.Props.SessionExpiryInterval == 0 {
		return 0, false
	}
	d := time.Duration(*cp.Props.SessionExpiryInterval) * time.Second
	if d > ret {
		return ret, true
	}
	return d, false
}
