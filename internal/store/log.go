package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/heraldmq/herald/internal/vcd"
)

// NotifySubjectPrefix starts every subject of the notification log. Callers append
// under NotifySubjectPrefix + an escaped MQTT topic (notify.publish.<org>.<user>) and
// replay with filters built the same way.
const NotifySubjectPrefix = "notify."

// streamNotify is the notification log's stream; doc.go describes it.
const streamNotify = "NOTIFY"

// Tuning of the consumers that read the log.
const (
	// feedBatch is how many messages a consumer asks for at once; a new pull goes out
	// when half have arrived, so delivery never waits for a round trip under load.
	feedBatch = 1024
	// followExpiry and followHeartbeat are the pull expiry and idle heartbeat of
	// the consumers that follow a stream for as long as the node runs (the live
	// feed, the audit index): a consumer that stops delivering (placed on a replica
	// that lost its stream, or lost in an election while a cluster starts) is
	// noticed after two missed heartbeats and recreated from the last sequence
	// seen. The library's defaults (30 s and 15 s) left an audit index 30 s behind
	// the other nodes' in a cluster's first seconds.
	followExpiry    = 10 * time.Second
	followHeartbeat = 2 * time.Second
	// replayIdle is how long Replay waits for the next message before asking the
	// server whether any is still pending (one can vanish to retention in between).
	replayIdle = time.Second
	// replayAttempts bounds how often Replay recreates a failed consumer.
	replayAttempts = 3
)

// Message is one notification read from the log.
type Message struct {
	Seq     uint64    // stream sequence, unique and increasing
	Subject string    // NATS subject it was appended under
	Payload []byte    // the caller may keep it; the store does not reuse it
	Time    time.Time // when the log stored it
	Origin  string    // where it came from, as the appender said (AppendFrom); usually empty
}

// LogInfo describes the notification log. When empty, First is Last + 1. A cursor
// after with after+1 < First has lost the messages between to retention.
type LogInfo struct {
	First    uint64 // sequence of the oldest stored message
	Last     uint64 // sequence of the newest message ever stored
	Messages uint64 // number of stored messages
	Bytes    uint64 // their size on disk
	// Epoch tells this log from an earlier one that was deleted and created again,
	// whose sequences counted from 1 too: its creation time, or the epoch of the log
	// Migrate copied it from (metaLogEpoch), which kept its sequences. Cursors into
	// the log (persistent sessions, the history projector) keep it beside their
	// sequences.
	Epoch string
}

// metaLogEpoch names, in the notification log's stream metadata, an Epoch other
// than the log's creation time: Migrate writes its source's there.
const metaLogEpoch = "herald_log_epoch"

// logEpoch returns the Epoch of the log that info describes.
func logEpoch(info *jetstream.StreamInfo) string {
	if e := info.Config.Metadata[metaLogEpoch]; e != "" {
		return e
	}
	return info.Created.UTC().Format(time.RFC3339Nano)
}

// ensureLog creates the NOTIFY stream or updates its configuration, so that a change
// of Replicas or the retention limits applies to an existing store.
func (db *DB) ensureLog(ctx context.Context) error {
	cfg := jetstream.StreamConfig{
		Name:        streamNotify,
		Description: "herald notification log",
		Subjects:    []string{NotifySubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    db.cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      db.cfg.LogMaxAge,
		MaxBytes:    db.cfg.LogMaxBytes,
		MaxMsgs:     -1,
		Discard:     jetstream.DiscardOld,
		Duplicates:  db.cfg.LogDedupWindow,
		AllowDirect: true,
	}
	// An update replaces the whole configuration: keep a migrated log's epoch.
	s, err := db.js.Stream(ctx, streamNotify)
	switch {
	case err == nil:
		if e := s.CachedInfo().Config.Metadata[metaLogEpoch]; e != "" {
			cfg.Metadata = map[string]string{metaLogEpoch: e}
		}
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return unavailable("stream "+streamNotify, err)
	}
	if _, err := db.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return unavailable("stream "+streamNotify, err)
	}
	return nil
}

// setLogEpoch gives the log the Epoch epoch (Migrate: its source's).
func (db *DB) setLogEpoch(ctx context.Context, epoch string) error {
	s, err := db.js.Stream(ctx, streamNotify)
	if err != nil {
		return unavailable("stream "+streamNotify, err)
	}
	cfg := s.CachedInfo().Config
	cfg.Metadata = map[string]string{metaLogEpoch: epoch}
	if _, err := db.js.UpdateStream(ctx, cfg); err != nil {
		return unavailable("stream "+streamNotify, err)
	}
	return nil
}

// Append stores payload under subject (NotifySubjectPrefix + …) and returns its
// sequence once JetStream has acknowledged it, so a success means the message is
// stored (on a quorum, in a cluster). id identifies the message for deduplication: an
// id appended before, within Config.LogDedupWindow, is not stored again, and Append
// returns the original sequence with dup true. An empty id is for a caller that never
// appends one message twice (the MQTT broker): a single embedded node then keeps no
// duplicate id for it (three heap objects and about 100 bytes each, for the window,
// and a header in the stored message and in every delivery of it), and a cluster
// gives it a random one, so that the client library's resending after a reconnect to
// another server stores it once. A subject outside the log is vcd.CodeInvalid, and
// so is a payload over the server's size limit; a failure to reach JetStream is
// vcd.CodeUnavailable.
func (db *DB) Append(ctx context.Context, subject, id string, payload []byte) (seq uint64, dup bool, err error) {
	return db.AppendFrom(ctx, subject, id, "", payload)
}

// AppendFrom is Append with the message's origin (Message.Origin, an opaque text of
// the caller's: where the notification came from, for its audit record), stored in
// a header beside it; empty stores none.
func (db *DB) AppendFrom(ctx context.Context, subject, id, origin string, payload []byte) (seq uint64, dup bool, err error) {
	if err := checkAppend(subject); err != nil {
		return 0, false, err
	}
	if err := db.canAppend(streamNotify, len(subject)+len(payload)+len(origin)+appendOverhead); err != nil {
		return 0, false, err
	}
	m := db.logMsg(subject, id, payload)
	if origin != "" {
		if m.Header == nil {
			m.Header = nats.Header{}
		}
		m.Header[hdrOrigin] = []string{origin}
	}
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	// The common acknowledgement is parsed by hand: decoding it with encoding/json
	// cost about a tenth of the client's time per append. Anything unusual (an
	// error, no responders during a leader election) takes the library's path.
	resp, err := db.live.RequestMsgWithContext(ctx, m)
	if err == nil {
		if seq, dup, ok := parseAck(resp.Data); ok {
			return seq, dup, nil
		}
	}
	if err != nil && !errors.Is(err, nats.ErrNoResponders) {
		return 0, false, appendError(err)
	}
	// The library retries no responders and decodes errors. Republishing is safe:
	// the id deduplicates.
	ack, err := db.liveJS.PublishMsg(ctx, m)
	if err != nil {
		return 0, false, appendError(err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// parseAck parses the usual JetStream publish acknowledgement of the log,
// {"stream":"NOTIFY","seq":N} with an optional "duplicate":true, and reports false for
// anything else.
func parseAck(b []byte) (seq uint64, dup bool, ok bool) {
	const head = `{"stream":"` + streamNotify + `","seq":`
	if len(b) < len(head) || string(b[:len(head)]) != head {
		return 0, false, false
	}
	b = b[len(head):]
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if seq > (math.MaxUint64-d)/10 {
			return 0, false, false
		}
		seq = seq*10 + d
	}
	if i == 0 {
		return 0, false, false
	}
	switch string(b[i:]) {
	case "}":
		return seq, false, true
	case `,"duplicate": true}`, `,"duplicate":true}`:
		return seq, true, true
	}
	return 0, false, false
}

// AppendWait waits for the outcome of one AppendAsync: the sequence and duplicate flag
// that Append would have returned, once JetStream has acknowledged the message. A ctx
// without a deadline gets Config.Timeout. Call it once.
type AppendWait func(ctx context.Context) (seq uint64, dup bool, err error)

// AppendAsync starts an append like Append but does not wait for its
// acknowledgement: it returns once the message is handed to the NATS connection, and
// wait returns what Append would have. Appends started one after the other from one
// goroutine are stored in that order (one connection, one stream), so a producer
// can keep many in flight and still acknowledge them in order, each only after wait
// reported it stored. The store keeps payload until the append is done (it may
// resend it), so the caller must not change it afterwards. Errors as for Append; an
// invalid subject fails at once.
func (db *DB) AppendAsync(subject, id string, payload []byte) (AppendWait, error) {
	if err := checkAppend(subject); err != nil {
		return nil, err
	}
	if err := db.canAppend(streamNotify, len(subject)+len(payload)+appendOverhead); err != nil {
		return nil, err
	}
	f, err := db.liveJS.PublishMsgAsync(db.logMsg(subject, id, payload))
	if err != nil {
		return nil, appendError(err)
	}
	return func(ctx context.Context) (uint64, bool, error) { return db.awaitAppend(ctx, f) }, nil
}

// awaitAppend waits for the acknowledgement of an append started with f, bounded by
// ctx or, without a deadline, by Config.Timeout.
func (db *DB) awaitAppend(ctx context.Context, f jetstream.PubAckFuture) (seq uint64, dup bool, err error) {
	// A pipelining caller waits after sending more, when the acknowledgement is often
	// there already: then no deadline (a timer and a context) is needed.
	select {
	case ack := <-f.Ok():
		return ack.Sequence, ack.Duplicate, nil
	case err := <-f.Err():
		return 0, false, appendError(err)
	default:
	}
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	select {
	case ack := <-f.Ok():
		return ack.Sequence, ack.Duplicate, nil
	case err := <-f.Err():
		return 0, false, appendError(err)
	case <-ctx.Done():
		return 0, false, unavailable("append", ctx.Err())
	}
}

// Record is one message of AppendBatch.
type Record struct {
	Subject string
	ID      string
	Payload []byte
}

// Appended is the outcome of one Record of AppendBatch: its sequence, and whether its
// id was a duplicate (Seq is then the original message's).
type Appended struct {
	Seq uint64
	Dup bool
}

// appendWindow bounds the acknowledgements AppendBatch waits for at once.
const appendWindow = 256

// AppendBatch appends recs like Append, pipelined: it sends without waiting for each
// acknowledgement, keeps up to 256 in flight, and returns when every record is
// acknowledged, with results in the order of recs. An invalid record fails the whole
// batch before anything is sent. On another error, records before the failed one may
// be stored; appending the batch again is safe because ids deduplicate. A ctx
// without a deadline bounds each wait for an acknowledgement by Config.Timeout, not
// the whole batch, so that a large batch on a loaded machine fails only when
// JetStream stops answering.
func (db *DB) AppendBatch(ctx context.Context, recs []Record) ([]Appended, error) {
	for _, r := range recs {
		if err := checkAppend(r.Subject); err != nil {
			return nil, err
		}
	}
	size := 0
	for _, r := range recs {
		size += len(r.Subject) + len(r.Payload) + appendOverhead
	}
	if err := db.canAppend(streamNotify, size); err != nil {
		return nil, err
	}
	out := make([]Appended, len(recs))
	futs := make([]jetstream.PubAckFuture, len(recs))
	wait := func(i int) error {
		seq, dup, err := db.awaitAppend(ctx, futs[i])
		out[i] = Appended{Seq: seq, Dup: dup}
		return err
	}
	for i, r := range recs {
		if i >= appendWindow {
			if err := wait(i - appendWindow); err != nil {
				return out, err
			}
		}
		f, err := db.liveJS.PublishMsgAsync(db.logMsg(r.Subject, r.ID, r.Payload))
		if err != nil {
			return out, appendError(err)
		}
		futs[i] = f
	}
	for i := max(0, len(recs)-appendWindow); i < len(recs); i++ {
		if err := wait(i); err != nil {
			return out, err
		}
	}
	return out, nil
}

// checkAppend validates the arguments of an append.
func checkAppend(subject string) error {
	if !isNotifySubject(subject, false) {
		return vcd.Errorf(vcd.CodeInvalid, "subject %q is not in the notification log", subject)
	}
	return nil
}

// logMsg returns the message that appends payload under subject with de-duplication
// id id; for an empty id (Append), none on a single embedded node and a random one
// in a cluster.
func (db *DB) logMsg(subject, id string, payload []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: payload}
	if id == "" && !db.singleNode() {
		id = nuid.Next()
	}
	if id != "" {
		m.Header = nats.Header{jetstream.MsgIDHeader: []string{id}}
	}
	return m
}

// appendError classifies a publish failure: too large is the caller's fault, anything
// else means JetStream could not take the message now.
func appendError(err error) error {
	var apiErr *jetstream.APIError
	errors.As(err, &apiErr)
	switch {
	case errors.Is(err, nats.ErrMaxPayload) || apiErr != nil && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return vcd.Wrap(vcd.CodeInvalid, fmt.Errorf("append: %w", err), "The message is too large.")
	case apiErr != nil && (apiErr.ErrorCode == jsErrCodeInsufficientResources || apiErr.ErrorCode == jsErrCodeStorageExceeded):
		// Nothing was stored: the store's storage is full (store.maxStore, or
		// the disk); the log takes messages again once retention frees room.
		return vcd.Wrap(vcd.CodeUnavailable, fmt.Errorf("append: %w", err), "The notification log's storage is full.")
	}
	return unavailable("append", err)
}

// JetStream's errors for a store whose storage limit is reached (nats-server's
// JSInsufficientResourcesErr and JSStorageResourcesExceededErr).
const (
	jsErrCodeInsufficientResources jetstream.ErrorCode = 10023
	jsErrCodeStorageExceeded       jetstream.ErrorCode = 10047
)

// LogInfo returns the notification log's sequences and size. A failure to reach
// JetStream is vcd.CodeUnavailable.
func (db *DB) LogInfo(ctx context.Context) (LogInfo, error) {
	s, err := db.streamInfo(ctx, streamNotify)
	if err != nil {
		return LogInfo{}, unavailable("log info", err)
	}
	info := s.CachedInfo()
	st := info.State
	return LogInfo{First: st.FirstSeq, Last: st.LastSeq, Messages: st.Msgs, Bytes: st.Bytes, Epoch: logEpoch(info)}, nil
}

// Feed delivers every message of the log with sequence from or later, in order, each
// once, to fn, until ctx is done; from 0 means the messages appended after the call.
// Messages lost to retention before they were read are skipped. fn runs on the
// caller's goroutine, one message at a time; while it runs, the feed waits. Feed keeps
// one ordered consumer: when it fails (a lost consumer, a leader change, a restarted
// server), the feed logs a warning and resumes after the last message delivered.
// When the log is deleted and created again beneath it, so that its sequences start
// over, the feed notices within about a second (the log's Epoch changed) and
// starts over from the new log's first message; what it delivered of the new log
// meanwhile is delivered again.
// Feed returns nil when ctx is done, or a vcd.CodeUnavailable error when it cannot
// start or the DB is closed.
func (db *DB) Feed(ctx context.Context, from uint64, fn func(Message)) error {
	// A projector stops counting on this feed's hand-off when it ends (history.missed).
	defer db.history.fed.Store(0)
	info, err := db.LogInfo(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if from == 0 {
		from = info.Last + 1
	}
	next := from
	// The log's epoch, which tells it from a log created again (watchLogReset):
	// taken before the first message, so that no reset is missed.
	epoch := info.Epoch
	for attempt := 1; ; attempt++ {
		before := next
		err := db.feedOnce(ctx, &next, &epoch, fn)
		if ctx.Err() != nil {
			return nil
		}
		if db.live.IsClosed() {
			return unavailable("feed", err)
		}
		if errors.Is(err, errLogReset) {
			// Deleted and created again: its sequences start over, and so does the
			// feed, from the new log's first message.
			db.logger.Warn("notification log reset beneath the feed", "delivered", next-1)
			next, attempt = 1, 0
			continue
		}
		if next != before {
			attempt = 1 // progress since the last failure
		}
		db.logger.Warn("notification feed restarting", "from", next, "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)); err != nil {
			return nil
		}
	}
}

// feedOnce runs one ordered consumer from *next, advancing *next past each message it
// delivers, until the consumer fails or ctx is done.
func (db *DB) feedOnce(ctx context.Context, next *uint64, epoch *string, fn func(Message)) error {
	cons, err := db.liveJS.OrderedConsumer(ctx, streamNotify, jetstream.OrderedConsumerConfig{
		DeliverPolicy:    jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:      *next,
		MaxResetAttempts: orderedResetAttempts,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages(followOpts()...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	fctx, stop := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	defer func() { stop(nil); <-watched }()
	go func() {
		defer close(watched)
		db.watchLogReset(fctx, epoch, stop)
	}()
	defer stopOnDone(fctx, it)()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(context.Cause(fctx), errLogReset) {
				return errLogReset
			}
			return err
		}
		msg, _, err := message(m)
		if err != nil {
			return err
		}
		// The ordered consumer resumes after the last message it returned, so this
		// only guards the restart of a failed one.
		if msg.Seq < *next {
			continue
		}
		*next = msg.Seq + 1
		fn(msg)
		db.tapFeed(msg)
	}
}

// errLogReset means that the notification log was deleted and created again since
// a reader started: its sequences started over.
var errLogReset = errors.New("notification log reset")

// feedResetCheck is how often a feed asks whether the log was created again beneath
// it.
const feedResetCheck = time.Second

// watchLogReset stops a feed with errLogReset when the log's Epoch differs from
// *epoch, the one it had when the feed started, and sets *epoch to the new log's; it
// returns when ctx is done: the new log's sequences start over, and the feed's
// ordered consumer would wait for them to pass the old ones, delivering nothing
// until then. The epoch tells a new log from the old one whatever their sequences (a reset that went unnoticed would
// lose messages; one seen where there was none would deliver the whole log again).
func (db *DB) watchLogReset(ctx context.Context, epoch *string, stop context.CancelCauseFunc) {
	t := time.NewTicker(feedResetCheck)
	defer t.Stop()
	for {
		if info, err := db.LogInfo(ctx); err == nil && info.Epoch != *epoch {
			*epoch = info.Epoch
			stop(errLogReset)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Replay delivers to fn, in order, every stored message with a sequence after `after`
// whose subject matches one of the filters (NATS subject filters under
// NotifySubjectPrefix, wildcards allowed; a message matching several is delivered
// once), up to the log's last sequence at the time of the call, and returns that
// sequence: Feed(ctx, last+1, …) then continues without gap or duplicate (last is
// below after only if the log was reset beneath the cursor). With no filters it
// delivers nothing. If fn returns an error, Replay stops and returns it
// with the sequence before the message fn refused. Filters outside the log are
// vcd.CodeInvalid; failing to reach JetStream (or ctx ending) is vcd.CodeUnavailable,
// with last the sequence up to which delivery was complete.
func (db *DB) Replay(ctx context.Context, filters []string, after uint64, fn func(Message) error) (last uint64, err error) {
	for _, f := range filters {
		if !isNotifySubject(f, true) {
			return after, vcd.Errorf(vcd.CodeInvalid, "filter %q is not in the notification log", f)
		}
	}
	info, err := db.LogInfo(ctx)
	if err != nil {
		return after, err
	}
	return db.replayTo(ctx, filters, after, info.Last, fn)
}

// replayTo is Replay up to the log's last sequence given (from a LogInfo the caller
// asked for), with filters already checked.
func (db *DB) replayTo(ctx context.Context, filters []string, after, last uint64, fn func(Message) error) (uint64, error) {
	if len(filters) == 0 || last <= after {
		return last, nil
	}
	filters = reduceFilters(filters)
	next := after + 1
	for attempt := 1; ; attempt++ {
		before := next
		err := db.replayOnce(ctx, filters, &next, last, fn)
		if next != before {
			attempt = 1 // progress since the last failure
		}
		var ferr fnError
		switch {
		case err == nil:
			return last, nil
		case errors.As(err, &ferr):
			return ferr.seq - 1, ferr.err
		case ctx.Err() != nil || db.nc.IsClosed() || attempt >= replayAttempts:
			return next - 1, unavailable("replay", err)
		}
		db.logger.Warn("notification replay restarting", "from", next, "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, time.Duration(attempt)*100*time.Millisecond); err != nil {
			return next - 1, unavailable("replay", err)
		}
	}
}

// fnError carries the error of Replay's fn, and the sequence of the message refused.
type fnError struct {
	seq uint64
	err error
}

func (e fnError) Error() string { return e.err.Error() }

// replayOnce runs one consumer over filters from *next to last, advancing *next past
// each message fn accepted. It returns nil when every matching message up to last was
// delivered, fnError when fn refused one.
func (db *DB) replayOnce(ctx context.Context, filters []string, next *uint64, last uint64, fn func(Message) error) error {
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       *next,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubjects:    filters,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	}
	cons, err := db.createOnLeader(ctx, cfg) // cluster.go: a lagging replica would skip messages
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	defer func() {
		// Best effort: InactiveThreshold removes the consumer anyway.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.cfg.Timeout)
		_ = db.js.DeleteConsumer(dctx, streamNotify, cons.CachedInfo().Name)
		cancel()
	}()
	if cons.CachedInfo().NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(feedBatch))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer stopOnDone(ctx, it)()
	for {
		m, err := it.Next(jetstream.NextMaxWait(replayIdle))
		if errors.Is(err, nats.ErrTimeout) {
			// Nothing arrived for a while: done if the server has nothing pending and
			// nothing in flight to us.
			ci, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("consumer info: %w", err)
			}
			if ci.NumPending == 0 && ci.Delivered.Stream < *next {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		msg, pending, err := message(m)
		if err != nil {
			return err
		}
		switch {
		case msg.Seq < *next:
			continue
		case msg.Seq > last:
			return nil
		}
		if err := fn(msg); err != nil {
			return fnError{seq: msg.Seq, err: err}
		}
		*next = msg.Seq + 1
		// No matching message after this one existed when the server sent it.
		if msg.Seq == last || pending == 0 {
			return nil
		}
	}
}

// message converts a consumed JetStream message; pending is the number of messages
// the consumer had left to deliver after it.
func message(m jetstream.Msg) (msg Message, pending uint64, err error) {
	md, err := m.Metadata()
	if err != nil {
		return Message{}, 0, fmt.Errorf("message metadata: %w", err)
	}
	return Message{Seq: md.Sequence.Stream, Subject: m.Subject(), Payload: m.Data(), Time: md.Timestamp,
		Origin: originOf(m.Headers())}, md.NumPending, nil
}

// hdrOrigin carries a log message's origin (AppendFrom).
const hdrOrigin = "Herald-Origin"

// originOf returns the origin in a log message's headers: none for most messages,
// which have no headers at all.
func originOf(h nats.Header) string {
	if len(h) == 0 {
		return ""
	}
	return h.Get(hdrOrigin)
}

// orderedResetAttempts is how often an ordered consumer of the store tries to
// recreate its server-side consumer (after a gap or missed heartbeats) before its
// Next fails, and the store's own loop (Feed, followHistory) starts a new one from
// where it was, after a pause that ends with ctx. nats.go's default tries forever,
// holding the iterator's lock through every attempt (each up to 10 s, bound by no
// context) and the pauses between them (1 to 10 s): Stop then blocks until an
// attempt succeeds, so a node without a quorum took 10 s and more to shut down.
const orderedResetAttempts = 1

// stopOnDone stops it when ctx is done, which ends a blocked Next (one waiting for an
// ordered consumer to be recreated only when that attempt ends: orderedResetAttempts).
// Call the returned function when done with it: it stops it and waits for the
// callback, which has no other owner.
func stopOnDone(ctx context.Context, it jetstream.MessagesContext) func() {
	stopped := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		it.Stop()
		close(stopped)
	})
	return func() {
		if !stopAfter() {
			<-stopped
		}
		it.Stop()
	}
}

// sleepCtx waits d or until ctx is done, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// followOpts are the Messages options of the consumers that follow a stream (see
// followExpiry).
func followOpts() []jetstream.PullMessagesOpt {
	return []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(feedBatch),
		jetstream.PullExpiry(followExpiry), jetstream.PullHeartbeat(followHeartbeat)}
}
