package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// HistorySubjectPrefix starts every subject of the history stream:
// history.<org id>.<user id> ("_" for an id that is empty or not a subject token).
const HistorySubjectPrefix = "history."

// streamHistory is the audit history stream; doc.go describes it.
const streamHistory = "HISTORY"

// hdrAudit carries an audit record's index fields (encodeAudit), so that the index
// loads from headers alone.
const hdrAudit = "Herald-Audit"

// The first byte of an encoded hdrAudit value (encodeAudit): auditVersion for a
// record alone in its message, auditVersionSized for one of several.
const (
	auditVersion      = 1
	auditVersionSized = 2
)

// maxAuditText bounds each text field of an AuditRecord.
const maxAuditText = 4096

// AuditRecord is one audit-trail record (VCD-COMPAT §10.1): the fields the query index
// keeps, and Data, the caller's rendering of the whole record, opaque to the store.
// Ids are bare UUIDs except OrgID and UserID, which may be any text.
type AuditRecord struct {
	ID               string    // the notification's eventId, a UUID: one record per id
	Time             time.Time // kept to the millisecond
	OrgID            string
	OrgName          string
	UserID           string
	UserName         string
	EventType        string
	Success          bool
	EntityID         string // a UUID or empty
	EntityName       string
	TaskID           string // a UUID or empty
	ServiceNamespace string
	External         bool
	Data             []byte
}

// ensureHistory creates the HISTORY stream or updates its configuration.
//
// A single node creates it with asynchronous persistence: JetStream acknowledges a
// record before writing it to its file, and writes a batch at a time instead of one
// write per record (about 4 % of herald's CPU at 5,000 events/s). A crash of the
// process can then lose the last few milliseconds of records, always a tail, and the
// audit trail still loses nothing: every record is projected from the notification
// log, and the projector resumes after the highest log sequence the stored records
// name. A cluster keeps the default (a node's projector would not re-project what
// another node's crash lost), and so do a node set to sync every write (whose promise
// covers a power loss, where what a crash leaves unwritten need not be a tail) and a
// stream that exists already, since JetStream cannot change the mode of a stream.
func (db *DB) ensureHistory(ctx context.Context) error {
	persist := jetstream.DefaultPersistMode
	switch s, err := db.js.Stream(ctx, streamHistory); {
	case err == nil:
		persist = s.CachedInfo().Config.PersistMode
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return unavailable("stream "+streamHistory, err)
	case db.srv != nil && db.cfg.Cluster.Name == "" && db.cfg.Replicas == 1 && !db.cfg.SyncAlways:
		persist = jetstream.AsyncPersistMode
	}
	s, err := db.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        streamHistory,
		Description: "herald audit history",
		Subjects:    []string{HistorySubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    db.cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      db.cfg.HistoryMaxAge,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Discard:     jetstream.DiscardOld,
		Duplicates:  min(db.cfg.LogDedupWindow, db.cfg.HistoryMaxAge),
		AllowDirect: true,
		PersistMode: persist,
	})
	if err != nil {
		return unavailable("stream "+streamHistory, err)
	}
	db.history.stream = s
	return nil
}

// AppendAudit stores rec in the history stream once JetStream acknowledges it. The
// record's ID de-duplicates: a record whose ID (and time) this node's index already
// holds, or, in a cluster, whose ID was appended within Config.LogDedupWindow, is not
// stored again, and AppendAudit reports dup true with the original sequence. (A
// single node's index holds every record it appended: after an append whose outcome
// is unknown, the next one first reads the stream's tail into it, and is refused as
// vcd.CodeUnavailable while it cannot.) The record is in QueryAudit when AppendAudit
// returns on a single node, and on every node of a cluster when its index follower
// delivers it (milliseconds). An ID that is not a
// UUID, an EntityID or TaskID that is neither empty nor a UUID, a zero Time or an
// over-long field is vcd.CodeInvalid; failing to reach JetStream is
// vcd.CodeUnavailable.
func (db *DB) AppendAudit(ctx context.Context, rec AuditRecord) (seq uint64, dup bool, err error) {
	return db.storeAudit(ctx, &rec, 0, "")
}

// storeAudit is AppendAudit for a record projected from the message logSeq (0: none)
// of the log of epoch (LogInfo.Epoch).
func (db *DB) storeAudit(ctx context.Context, rec *AuditRecord, logSeq uint64, epoch string) (seq uint64, dup bool, err error) {
	if err := db.canAppend(streamHistory, auditSize(rec)+appendOverhead); err != nil {
		return 0, false, err
	}
	h := &db.history
	if h.direct {
		h.writeMu.Lock()
		defer h.writeMu.Unlock()
		if err := db.resyncIfStale(ctx); err != nil {
			return 0, false, err
		}
	}
	m, seq, err := db.auditMsg(rec, logSeq, epoch)
	if err != nil || m == nil {
		return seq, err == nil, err
	}
	ack, err := db.publishAudit(ctx, m)
	if err != nil {
		if h.direct {
			db.markStale(ctx) // it may be stored all the same
		}
		return 0, false, err
	}
	if h.direct && !ack.Duplicate {
		db.indexAppended(makeRef(ack.Sequence, 0), rec, logSeq, epoch)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// auditMsg validates rec (lowercasing its UUIDs) and returns the message that stores
// it alone, or a nil message and the sequence of the record this node's index already
// holds under rec's ID and time.
func (db *DB) auditMsg(rec *AuditRecord, logSeq uint64, epoch string) (*nats.Msg, uint64, error) {
	if seq, known, err := db.knownAudit(rec); err != nil || known {
		return nil, seq, err
	}
	return db.recordMsg(rec, logSeq, epoch), 0, nil
}

// recordMsg returns the message that stores rec, validated, alone.
func (db *DB) recordMsg(rec *AuditRecord, logSeq uint64, epoch string) *nats.Msg {
	m := &nats.Msg{
		Subject: HistorySubjectPrefix + subjectToken(rec.OrgID) + "." + subjectToken(rec.UserID),
		Data:    rec.Data,
		Header:  nats.Header{hdrAudit: []string{encodeAudit(rec, -1)}},
	}
	if !db.history.direct {
		// Several nodes may append the same record at once; JetStream keeps the
		// first. A single node's index already answered, and an id in JetStream's
		// duplicate window costs about 100 bytes of memory for the window's length.
		m.Header[jetstream.MsgIDHeader] = []string{rec.ID}
	}
	setLogPos(m.Header, logSeq, epoch)
	return m
}

// setLogPos names, in a history message's headers, the log message seq (0: none) of
// the log of epoch that its (last) record was projected from.
func setLogPos(h nats.Header, seq uint64, epoch string) {
	if seq == 0 {
		return
	}
	h[hdrLogSeq] = []string{strconv.FormatUint(seq, 10)}
	if epoch != "" {
		h[hdrLogEpoch] = []string{epoch}
	}
}

// knownAudit validates rec (lowercasing its UUIDs) and reports whether this node's
// index holds a record with its ID and time already, and at which sequence.
func (db *DB) knownAudit(rec *AuditRecord) (seq uint64, known bool, err error) {
	if err := checkAudit(rec); err != nil {
		return 0, false, err
	}
	id, _ := parseUUID(rec.ID)
	seq, known = db.history.ix.has(id, rec.Time.UnixMilli())
	return seq, known, nil
}

// Bounds of a history message that holds several records (batchMsg): about a
// page's worth, so that reading one record of it for a filtered page stays cheap.
const (
	auditBatchRecords = 64
	auditBatchBytes   = 64 << 10
)

// batchMsg returns the message that stores recs[i] for each i of part (validated, at
// least two) together: one hdrAudit value per record, in part's order, each with the
// size of its Data, the Data one after the other as the body, and the highest of
// their logSeqs as hdrLogSeq, with epoch as hdrLogEpoch. The
// subject names the org and user the records share, "_" where they differ. Only a
// single node writes them: a record in a cluster needs a message of its own, whose
// Nats-Msg-Id de-duplicates it between nodes. The body is the records' Data itself
// when they lie back to back in one buffer (AuditFunc), a copy otherwise; scratch is
// a buffer for the header values, kept between calls.
func batchMsg(recs []AuditRecord, logSeqs []uint64, epoch string, part []int, scratch *[]byte) *nats.Msg {
	org, user := recs[part[0]].OrgID, recs[part[0]].UserID
	size, last, hdr := 0, uint64(0), 0
	for _, i := range part {
		r := &recs[i]
		if r.OrgID != org {
			org = ""
		}
		if r.UserID != user {
			user = ""
		}
		size += len(r.Data)
		hdr += auditSize(r) - len(r.Data)
		last = max(last, logSeqs[i])
	}
	// The header values, encoded into one buffer and kept as parts of one string:
	// one allocation for the message's values instead of three per record.
	var raw [512]byte
	enc := slices.Grow((*scratch)[:0], hdr)
	ends := make([]int, len(part))
	for k, i := range part {
		enc = appendAuditValue(enc, raw[:0], &recs[i], len(recs[i].Data))
		ends[k] = len(enc)
	}
	all := string(enc)
	*scratch = enc
	vals := make([]string, len(part))
	start := 0
	for k, end := range ends {
		vals[k], start = all[start:end], end
	}
	data := adjacent(recs, part, size)
	if data == nil {
		data = make([]byte, 0, size)
		for _, i := range part {
			data = append(data, recs[i].Data...)
		}
	}
	m := &nats.Msg{
		Subject: HistorySubjectPrefix + subjectToken(org) + "." + subjectToken(user),
		Data:    data,
		Header:  nats.Header{hdrAudit: vals},
	}
	setLogPos(m.Header, last, epoch)
	return m
}

// adjacent returns the Data of recs[i] for each i of part as one slice, size bytes
// long, when each lies right after the one before within one buffer; nil otherwise.
// Only the capacity of a slice is followed, never memory beyond it, so the result is
// a part of one allocation.
func adjacent(recs []AuditRecord, part []int, size int) []byte {
	all := recs[part[0]].Data
	for _, i := range part[1:] {
		d := recs[i].Data
		if len(d) == 0 {
			continue
		}
		if cap(all)-len(all) < len(d) {
			return nil
		}
		if next := all[:len(all)+1]; &next[len(all)] != &d[0] {
			return nil
		}
		all = all[:len(all)+len(d)]
	}
	if len(all) != size {
		return nil
	}
	return all[:size:size]
}

// auditSize is about what rec adds to a batch message: its Data and its hdrAudit
// value (its texts and ids in base64, 64 bytes for the rest).
func auditSize(rec *AuditRecord) int {
	n := len(rec.Data) + 64
	for _, s := range rec.texts() {
		n += len(s) * 4 / 3
	}
	return n + (len(rec.ID)+len(rec.EntityID)+len(rec.TaskID))*4/3
}

// texts returns rec's free-text fields, each bounded by maxAuditText.
func (rec *AuditRecord) texts() [7]string {
	return [...]string{rec.OrgID, rec.OrgName, rec.UserID, rec.UserName, rec.EventType, rec.EntityName, rec.ServiceNamespace}
}

// appendAudits stores recs like AppendAudit, pipelined: it publishes every record
// without waiting, then waits for all the acknowledgements, so that a batch costs one
// round trip instead of one per record. A single node, the history's only writer,
// also stores up to auditBatchRecords records in one message (batchMsg): JetStream's
// work per message (parsing, storing, acknowledging) was about a tenth of herald's CPU
// at 5,000 events/s with one message per record. A record AppendAudit would refuse as
// invalid is passed to refused (with its index) and skipped. Any other failure is
// returned (vcd.CodeUnavailable or, for a message too large, vcd.CodeInvalid): some
// records may then be stored, and appending them again is safe because ids
// de-duplicate. logSeqs holds the sequence each record was projected from in the
// log of epoch.
func (db *DB) appendAudits(ctx context.Context, recs []AuditRecord, logSeqs []uint64, epoch string, refused func(i int, err error)) error {
	if len(recs) == 0 {
		return nil
	}
	size := 0
	for i := range recs {
		size += auditSize(&recs[i]) + appendOverhead
	}
	if err := db.canAppend(streamHistory, size); err != nil {
		return err
	}
	h := &db.history
	if h.direct {
		h.writeMu.Lock()
		defer h.writeMu.Unlock()
		if err := db.resyncIfStale(ctx); err != nil {
			return err
		}
	}
	// The records to store, as indexes into recs.
	todo := make([]int, 0, len(recs))
	for i := range recs {
		if _, known, e := db.knownAudit(&recs[i]); e != nil {
			refused(i, e)
			continue
		} else if known {
			continue // already stored
		}
		if h.direct && h.inBatch(&recs[i]) {
			continue // earlier in this batch, which the index learns only from the acks
		}
		todo = append(todo, i)
	}
	if h.direct {
		clear(h.batch)
	}
	type sent struct {
		f    jetstream.PubAckFuture
		recs []int // indexes into recs, in slot order
	}
	futs := make([]sent, 0, len(todo))
	var err error
	for len(todo) > 0 && err == nil {
		n := 1
		if h.direct {
			for size := auditSize(&recs[todo[0]]); n < len(todo) && n < auditBatchRecords; n++ {
				if size += auditSize(&recs[todo[n]]); size > auditBatchBytes {
					break
				}
			}
		}
		part := todo[:n:n]
		todo = todo[n:]
		var m *nats.Msg
		if n == 1 {
			m = db.recordMsg(&recs[part[0]], logSeqs[part[0]], epoch)
		} else {
			m = batchMsg(recs, logSeqs, epoch, part, &h.enc)
		}
		f, e := db.js.PublishMsgAsync(m)
		if e != nil {
			err = appendError(e)
			break
		}
		futs = append(futs, sent{f, part})
	}
	// Every started append is waited for, also after a failure, so that the index
	// (on a single node) learns what was stored before it is brought up to date.
	wctx, cancel := context.WithTimeout(ctx, db.cfg.Timeout)
	defer cancel()
	failed := err != nil
	for _, s := range futs {
		select {
		case ack := <-s.f.Ok():
			// In order, and only until the first failure: one stored after a
			// record whose outcome is unknown would hide that record from the index.
			if h.direct && !failed && !ack.Duplicate {
				// One message's records: the log position is noted once, its highest.
				var last uint64
				for slot, i := range s.recs {
					db.history.ix.add(makeRef(ack.Sequence, slot), &recs[i])
					last = max(last, logSeqs[i])
				}
				db.history.ix.noteLogSeq(last, epoch)
			}
			continue
		case e := <-s.f.Err():
			if err == nil {
				err = appendError(e)
			}
		case <-wctx.Done():
			if err == nil {
				err = unavailable("append audit", wctx.Err())
			}
		}
		failed = true
	}
	if h.direct && failed {
		db.markStale(ctx)
	}
	return err
}

// checkAudit validates rec and lowercases its UUIDs.
func checkAudit(rec *AuditRecord) error {
	if _, ok := parseUUID(rec.ID); !ok {
		return vcd.Errorf(vcd.CodeInvalid, "audit record id %q is not a UUID", rec.ID)
	}
	rec.ID = strings.ToLower(rec.ID)
	for _, p := range []*string{&rec.EntityID, &rec.TaskID} {
		if *p == "" {
			continue
		}
		if _, ok := parseUUID(*p); !ok {
			return vcd.Errorf(vcd.CodeInvalid, "audit record entity or task id %q is not a UUID", *p)
		}
		*p = strings.ToLower(*p)
	}
	if rec.Time.IsZero() {
		return vcd.Errorf(vcd.CodeInvalid, "audit record time is required")
	}
	for _, s := range rec.texts() {
		if len(s) > maxAuditText {
			return vcd.Errorf(vcd.CodeInvalid, "audit record field longer than %d bytes", maxAuditText)
		}
	}
	return nil
}

// subjectToken returns s if it can be one token of a literal subject, else "_".
func subjectToken(s string) string {
	if s == "" || strings.ContainsAny(s, ".*> \t\r\n") || !validSubject(s, false) {
		return "_"
	}
	return s
}

// Flag bits of an encoded audit record.
const (
	auditSuccess  = 1 << 0
	auditExternal = 1 << 1
)

// auditEncoding is the base64 of hdrAudit values: the standard alphabet without
// padding, but '-' in place of 'N'. nats-server finds each header it reads from a
// stored message (Nats-Msg-Id, Nats-Expected-Stream, Nats-Batch-Id and some ten more)
// by searching the whole header block for the key, and a history batch message's block
// is mostly these values: with 'N', the first byte of every such key, at one character
// in 64, each search stopped at every one (the searches were 6 % of herald's CPU at
// saturation); without it they run through the block at memory speed, six times
// faster over a batch of 64 records. Values written with the standard alphabet, before
// this one, still decode (decodeAudit).
var auditEncoding = base64.NewEncoding("ABCDEFGHIJKLM-OPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/").
	WithPadding(base64.NoPadding)

// encodeAudit encodes rec's index fields as a hdrAudit value: base64 (auditEncoding)
// of the version, Unix milliseconds (varint), flags, then ID, OrgID, OrgName,
// UserID, UserName, EventType, EntityID, EntityName, TaskID, ServiceNamespace, each
// as a uvarint length and bytes. A record that shares its message with others
// (size ≥ 0, version auditVersionSized) ends with the size of its Data (uvarint); a
// record alone in its message (size < 0, auditVersion) has the message's body as Data.
func encodeAudit(rec *AuditRecord, size int) string {
	var raw [512]byte
	return string(appendAuditValue(nil, raw[:0], rec, size))
}

// appendAuditValue appends rec's hdrAudit value (encodeAudit) to dst, encoding its
// fields into scratch first (which it may grow), and returns dst.
func appendAuditValue(dst, scratch []byte, rec *AuditRecord, size int) []byte {
	fields := [...]string{rec.ID, rec.OrgID, rec.OrgName, rec.UserID, rec.UserName, rec.EventType,
		rec.EntityID, rec.EntityName, rec.TaskID, rec.ServiceNamespace}
	b := scratch[:0]
	if size < 0 {
		b = append(b, auditVersion)
	} else {
		b = append(b, auditVersionSized)
	}
	b = binary.AppendVarint(b, rec.Time.UnixMilli())
	var flags byte
	if rec.Success {
		flags |= auditSuccess
	}
	if rec.External {
		flags |= auditExternal
	}
	b = append(b, flags)
	for _, s := range fields {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if size >= 0 {
		b = binary.AppendUvarint(b, uint64(size))
	}
	return auditEncoding.AppendEncode(dst, b)
}

// errBadAudit reports an undecodable hdrAudit value.
var errBadAudit = errors.New("bad audit header")

// decodeAudit decodes a hdrAudit value into rec's index fields, and the size of its
// Data: -1 for a record alone in its message, whose Data is the whole body.
func decodeAudit(s string) (rec AuditRecord, size int, err error) {
	enc := auditEncoding
	if strings.IndexByte(s, 'N') >= 0 {
		// Written in the standard alphabet (a value with neither 'N' nor '-' reads
		// the same in both).
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != auditVersion && b[0] != auditVersionSized {
		return AuditRecord{}, 0, errBadAudit
	}
	sized := b[0] == auditVersionSized
	b = b[1:]
	ms, n := binary.Varint(b)
	if n <= 0 || n >= len(b) {
		return AuditRecord{}, 0, errBadAudit
	}
	flags := b[n]
	b = b[n+1:]
	var f [10]string
	for i := range f {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return AuditRecord{}, 0, errBadAudit
		}
		f[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	size = -1
	if sized {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxAuditData {
			return AuditRecord{}, 0, errBadAudit
		}
		size, b = int(l), b[n:]
	}
	if len(b) != 0 {
		return AuditRecord{}, 0, errBadAudit
	}
	return AuditRecord{ID: f[0], Time: time.UnixMilli(ms).UTC(), OrgID: f[1], OrgName: f[2], UserID: f[3],
		UserName: f[4], EventType: f[5], Success: flags&auditSuccess != 0, EntityID: f[6], EntityName: f[7],
		TaskID: f[8], ServiceNamespace: f[9], External: flags&auditExternal != 0}, size, nil
}

// maxAuditData bounds a record's size in a decoded hdrAudit value: more than any
// message JetStream accepts.
const maxAuditData = 1 << 30

// decodeAudits returns the records of a history message: one per hdrAudit value,
// with its Data cut from body (nil bodies, as a headers-only consumer delivers them,
// give records without Data).
func decodeAudits(vals []string, body []byte) ([]AuditRecord, error) {
	if len(vals) == 0 {
		return nil, errBadAudit
	}
	recs := make([]AuditRecord, len(vals))
	off := 0
	for i, v := range vals {
		rec, size, err := decodeAudit(v)
		switch {
		case err != nil:
			return nil, err
		case size < 0 && len(vals) > 1:
			return nil, errBadAudit // only a record alone has the whole body
		case size < 0:
			rec.Data = body
		case body != nil:
			if size > len(body)-off {
				return nil, errBadAudit
			}
			rec.Data = body[off : off+size : off+size]
			off += size
		}
		recs[i] = rec
	}
	if body != nil && len(vals) > 1 && off != len(body) {
		return nil, errBadAudit
	}
	return recs, nil
}
