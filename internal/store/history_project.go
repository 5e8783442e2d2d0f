package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// Batching and pacing of ProjectHistory.
const (
	// historyBatch bounds the notifications the projector converts and appends
	// together.
	historyBatch = 256
	// historyLinger is how long the projector waits, after the first notification of
	// a batch, for more to join it before appending. Under load it makes batches of
	// tens of records instead of one; it delays a record's appearance in the audit
	// trail by at most this much.
	historyLinger = 5 * time.Millisecond
	// historyTap is how many notifications the live feed hands the projector ahead
	// of it; more are left to a replay from the log.
	historyTap = 4096
	// historyPoll is how often an idle projector asks the log whether it missed
	// anything: notifications the tap dropped, or all of them when no Feed runs.
	// (A gap in what the tap delivers is noticed at once.)
	historyPoll = 250 * time.Millisecond
)

// consumerHistory is the durable consumer of NOTIFY that ProjectHistory used before
// it read the live feed: its acknowledgement floor is where a store written by
// such a version resumes, and it is deleted then.
const consumerHistory = "herald_history"

// hdrLogSeq names, on each history message of projected records, the sequence of the
// notification its (last) record was projected from: the index keeps the highest of
// each log (auditIndex.projected), which is where ProjectHistory resumes after a
// restart.
const hdrLogSeq = "Herald-Log-Seq"

// hdrLogEpoch names, beside hdrLogSeq, the epoch (LogInfo.Epoch) of the log that
// sequence is of: a log deleted and created again counts from 1 again, and the
// index keeps the highest sequence per epoch (auditIndex.projected).
const hdrLogEpoch = "Herald-Log-Epoch"

// AuditFunc converts a notification into its audit record for ProjectHistory, or
// reports false if it has none. It writes the record's Data at the end of dst and
// returns dst extended, with rec.Data its last part (api.AppendAuditRecord): the
// records of a batch then lie back to back in one buffer, which the history message
// that stores them uses as its body without copying, and which the projector reuses
// from batch to batch.
type AuditFunc func(dst []byte, m Message) (_ []byte, rec AuditRecord, ok bool)

// ProjectHistory appends an audit record to the history stream for every event
// notification of the log, until ctx is done. fn converts a notification; false means
// it has no audit record (a TASK or METRICS message, or one fn cannot read). fn runs
// on the caller's goroutine.
//
// The projector has no consumer of its own: it takes the notifications this node's
// Feed delivers (a bounded hand-off, never slowing the feed) and reads from the log,
// with a short-lived consumer, only what it has not seen: at start, the
// notifications after the last one projected (the highest Herald-Log-Seq the history
// names for the log's epoch, Herald-Log-Epoch; all of them if it names only earlier
// logs, which were deleted and created again meanwhile), and later any the hand-off
// dropped or, when no Feed runs, everything (it asks the log every 250ms while
// idle), and the log from the start when it was deleted and created again (the
// hand-off then delivers sequences the projector has passed, which make it look).
// It works in batches of what has arrived
// (up to 256 notifications, waiting up to 5ms after the first): it converts them
// and appends their records pipelined, and moves on only when every append is
// acknowledged, so none is lost; a failed batch is projected again. Every node
// projects every notification: a record another node (or this one, before a crash)
// stored already is stored once, because AppendAudit de-duplicates by ID. A record
// AppendAudit refuses as invalid is logged and skipped. ProjectHistory returns nil
// when ctx is done, or a vcd.CodeUnavailable error when the DB is closed.
//
// A notification costs the projector no consumer delivery and no acknowledgement of
// its own, which were a tenth of herald's CPU per notification and, sharing the
// NATS connection and the stream's locks with the live path, a large part of the
// live notifications' tail latency (issue 7).
func (db *DB) ProjectHistory(ctx context.Context, fn AuditFunc) error {
	if db.nc.IsClosed() {
		return unavailable("project history", fmt.Errorf("connection closed"))
	}
	tap := make(chan Message, historyTap)
	db.history.tap.Store(&tap)
	defer db.history.tap.CompareAndSwap(&tap, nil)
	p := &projector{db: db, fn: fn}
	for attempt := 1; ; attempt++ {
		before := p.next
		err := p.run(ctx, tap)
		if ctx.Err() != nil {
			return nil
		}
		if db.nc.IsClosed() {
			return unavailable("project history", err)
		}
		if p.next != before {
			attempt = 1
		}
		db.logger.Warn("history projector restarting", "from", p.next, "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)); err != nil {
			return nil
		}
	}
}

// projectFrom returns the first log sequence ProjectHistory has to look at, and the
// log's epoch: after the highest one of this log the history names (from 1 if it
// names only earlier logs), or, for a history written before records named theirs,
// after the acknowledgement floor of the durable consumer of those versions, which it
// then deletes (a node of such a version still running recreates it and projects
// again from the start; de-duplication keeps each record once).
func (db *DB) projectFrom(ctx context.Context) (from uint64, epoch string, err error) {
	info, err := db.LogInfo(ctx)
	if err != nil {
		return 0, "", err
	}
	from = db.history.ix.projected(info.Epoch) + 1
	cons, err := db.js.Consumer(ctx, streamNotify, consumerHistory)
	if err != nil {
		return from, info.Epoch, nil // none: a new store, or one that no longer has it
	}
	from = max(from, cons.CachedInfo().AckFloor.Stream+1)
	if err := db.js.DeleteConsumer(ctx, streamNotify, consumerHistory); err != nil {
		db.logger.Warn("deleting the former history consumer", "err", err)
	}
	return from, info.Epoch, nil
}

// tapFeed hands m to a running projector without waiting: a full hand-off drops it,
// and the projector reads it from the log later.
func (db *DB) tapFeed(m Message) {
	db.history.fed.Store(m.Seq)
	if tap := db.history.tap.Load(); tap != nil {
		select {
		case *tap <- m:
		default:
			db.history.dropped.Store(true)
		}
	}
}

// missed reports whether an idle projector has to look in the log: when no Feed
// hands it notifications, or the hand-off dropped some since the last call. Otherwise
// every notification reaches it through the hand-off, and asking the log would only
// replay ones still on their way.
func (h *history) missed() bool {
	return h.dropped.Swap(false) || h.fed.Load() == 0
}

// projector is the state of ProjectHistory: next is the first log sequence not yet
// projected (everything before it has its record stored, or has none); 0 until
// run has found it (projectFrom).
type projector struct {
	db   *DB
	fn   AuditFunc
	next uint64
	// The batch being collected: its records, the log sequence of each, and the
	// last sequence it covers. The records' Data lie in arena (AuditFunc).
	arena   []byte
	recs    []AuditRecord
	logSeqs []uint64
	upTo    uint64
	// passed: the tap handed over a notification before next since the last poll.
	passed bool
	// epoch is the log's (LogInfo.Epoch) when the projector last looked: another
	// one means the log was created again.
	epoch string
}

// maxArena bounds the buffer a projector keeps for its batches' records: a batch of
// historyBatch records of about 1 KB needs a quarter of it.
const maxArena = 1 << 20

// projectFilters select the log's notifications that may have audit records.
var projectFilters = []string{NotifySubjectPrefix + "publish.>"}

// run projects from the tap and the log until ctx is done or an append fails.
func (p *projector) run(ctx context.Context, tap <-chan Message) error {
	if p.next == 0 {
		var err error
		if p.next, p.epoch, err = p.db.projectFrom(ctx); err != nil {
			return err
		}
	}
	// Whatever was appended while no projector ran, or since the last failure.
	if err := p.catchUp(ctx); err != nil {
		return err
	}
	poll := time.NewTicker(historyPoll)
	defer poll.Stop()
	linger := time.NewTimer(0)
	<-linger.C
	busy := false // the tap delivered since the last poll
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			// Only when idle: under load the tap's messages would look missed. But
			// the tap handed over one already passed: the log may have been reset.
			if p.passed || !busy && p.db.history.missed() {
				p.passed = false
				if err := p.catchUp(ctx); err != nil {
					return err
				}
			}
			busy = false
			continue
		case m := <-tap:
			busy = true
			if err := p.take(ctx, m); err != nil {
				return err
			}
		}
		// A batch has begun: gather what arrives within historyLinger.
		linger.Reset(historyLinger)
	gather:
		for len(p.recs) < historyBatch {
			select {
			case m := <-tap:
				if err := p.take(ctx, m); err != nil {
					linger.Stop()
					return err
				}
			case <-linger.C:
				break gather
			case <-ctx.Done():
				linger.Stop()
				return nil
			}
		}
		linger.Stop()
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
}

// take adds a notification from the tap to the batch. One after a gap (dropped by the
// tap, or delivered before the projector started) first has the gap read from the log.
func (p *projector) take(ctx context.Context, m Message) error {
	if m.Seq < p.next || m.Seq <= p.upTo {
		// Projected already: one the tap held while a catch-up read it, or one of
		// a log that was reset, which the next poll's catch-up finds.
		p.passed = p.passed || m.Seq < p.next
		return nil
	}
	if m.Seq > max(p.next, p.upTo+1) {
		if err := p.catchUp(ctx); err != nil {
			return err
		}
		if m.Seq <= p.upTo || m.Seq < p.next {
			return nil
		}
	}
	p.add(m)
	return nil
}

// add converts m into the batch.
func (p *projector) add(m Message) {
	p.upTo = m.Seq
	if !strings.HasPrefix(m.Subject, projectFilters[0][:len(projectFilters[0])-1]) {
		return
	}
	arena, rec, ok := p.fn(p.arena, m)
	p.arena = arena
	if ok {
		p.recs = append(p.recs, rec)
		p.logSeqs = append(p.logSeqs, m.Seq)
	}
}

// catchUp appends the batch, then projects every notification the log holds from
// p.next on, up to its last at the time of the call.
func (p *projector) catchUp(ctx context.Context) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	info, err := p.db.LogInfo(ctx)
	if err != nil {
		return err
	}
	if p.epoch != "" && info.Epoch != p.epoch {
		p.restart(info.Last)
	}
	p.epoch = info.Epoch
	last, err := p.replay(ctx, info.Last)
	if err != nil {
		return err
	}
	if last+1 < p.next {
		// The log is behind what was projected: it was reset too.
		p.restart(last)
		if last, err = p.replay(ctx, last); err != nil {
			return err
		}
	}
	p.upTo = max(p.upTo, last)
	return p.flush(ctx)
}

// restart makes the projector start over from the log's first notification: the
// log was reset (deleted and created again), and its sequences start over.
func (p *projector) restart(last uint64) {
	p.db.logger.Warn("notification log reset beneath the history projector", "last", last, "projected", p.next-1)
	p.next, p.upTo = 1, 0
}

// replay projects the log's notifications from p.next on, up to upTo (the log's last
// sequence when the caller asked), and returns the last it covered.
func (p *projector) replay(ctx context.Context, upTo uint64) (last uint64, err error) {
	var flushErr error
	last, err = p.db.replayTo(ctx, projectFilters, p.next-1, upTo, func(m Message) error {
		p.add(m)
		if len(p.recs) >= historyBatch {
			flushErr = p.flush(ctx)
			return flushErr
		}
		return nil
	})
	if flushErr != nil {
		return last, flushErr
	}
	return last, err
}

// flush appends the batch's records and waits for every one to be stored; only then
// does p.next move past the notifications it covers. A record too large for the
// stream is stored alone, so that only it is skipped.
func (p *projector) flush(ctx context.Context) error {
	if len(p.recs) > 0 {
		db := p.db
		err := db.appendAudits(ctx, p.recs, p.logSeqs, p.epoch, func(i int, err error) {
			db.logger.Warn("audit record refused", "seq", p.logSeqs[i], "err", err)
		})
		if err != nil {
			// An append whose outcome was not awaited may still be resent from
			// the arena's bytes (JetStream's client retries): they stay as they
			// are, and the next records go to a new arena.
			p.arena = nil
		}
		if err != nil && vcd.CodeOf(err) != vcd.CodeInvalid {
			return err
		}
		if err != nil {
			for i := range p.recs {
				_, _, err := db.storeAudit(ctx, &p.recs[i], p.logSeqs[i], p.epoch)
				if err != nil && vcd.CodeOf(err) != vcd.CodeInvalid {
					return err
				}
				if err != nil {
					db.logger.Warn("audit record refused", "seq", p.logSeqs[i], "err", err)
				}
			}
		}
		p.recs, p.logSeqs = p.recs[:0], p.logSeqs[:0]
		p.arena = p.arena[:0]
		if cap(p.arena) > maxArena {
			p.arena = nil // after a batch of unusually large records
		}
	}
	p.next = max(p.next, p.upTo+1)
	return nil
}

// publishAudit stores one audit message, bounded by the store's timeout.
func (db *DB) publishAudit(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	ack, err := db.js.PublishMsg(ctx, m)
	if err != nil {
		return nil, appendError(err)
	}
	return ack, nil
}
