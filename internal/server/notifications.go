package server

import (
	"context"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/store"
)

// logNotifier stores the API's notifications (events, external events, tasks) in the
// notification log before the API answers; the log's id de-duplication makes a
// retried request notify once.
type logNotifier struct {
	db *store.DB
	m  *instruments
}

func (l logNotifier) Notify(ctx context.Context, n notify.Notification) error {
	start := time.Now()
	_, _, err := l.db.AppendFrom(ctx, subjectOf(n.Topic), n.ID, n.Origin, n.Envelope)
	if err == nil {
		l.m.appended(start)
	}
	return err
}

// taskStore adapts the store's task records to the API's, which have the same
// fields: each side declares its own type, as adapters do not import each other.
type taskStore struct{ db *store.DB }

func (s taskStore) CreateTask(ctx context.Context, r api.TaskRecord) (api.TaskRecord, error) {
	x, err := s.db.CreateTask(ctx, store.TaskRecord(r))
	return api.TaskRecord(x), err
}

func (s taskStore) Task(ctx context.Context, id string) (api.TaskRecord, error) {
	x, err := s.db.Task(ctx, id)
	return api.TaskRecord(x), err
}

func (s taskStore) UpdateTask(ctx context.Context, id string, fn func(*api.TaskRecord) error) (api.TaskRecord, error) {
	x, err := s.db.UpdateTask(ctx, id, func(r *store.TaskRecord) error { return fn((*api.TaskRecord)(r)) })
	return api.TaskRecord(x), err
}

func (s taskStore) DeleteTask(ctx context.Context, id string) error { return s.db.DeleteTask(ctx, id) }

func (s taskStore) Tasks(ctx context.Context, orgID string) ([]api.TaskRecord, error) {
	xs, err := s.db.Tasks(ctx, orgID)
	out := make([]api.TaskRecord, len(xs))
	for i, x := range xs {
		out[i] = api.TaskRecord(x)
	}
	return out, err
}

// auditTrail adapts the store's audit index to the API's query interface.
type auditTrail struct{ db *store.DB }

func (a auditTrail) QueryAudit(ctx context.Context, q api.AuditQuery) (api.AuditPage, error) {
	sq := store.AuditQuery{OrgID: q.OrgID, UserID: q.UserID, From: q.From, To: q.To, EventType: q.EventType,
		Asc: q.Asc, Page: q.Page, PageSize: q.PageSize, MaxSeq: q.MaxSeq}
	if q.Match != nil {
		sq.Match = func(e *store.AuditEntry) bool { return q.Match(e) }
	}
	p, err := a.db.QueryAudit(ctx, sq)
	if err != nil {
		return api.AuditPage{}, err
	}
	out := api.AuditPage{Total: p.Total, MaxSeq: p.MaxSeq, Records: make([][]byte, len(p.Records))}
	for i, r := range p.Records {
		out.Records[i] = r.Data
	}
	return out, nil
}

// runHistory projects every event notification of the log into the audit history,
// until ctx ends. The projector takes the notifications the live feed (runFeed)
// delivers and reads what it missed from the log; every node projects them all, each
// record is written once (its id de-duplicates), and a restart resumes after the last
// notification projected.
func (s *Server) runHistory(ctx context.Context, cellURN string) {
	err := s.db.ProjectHistory(ctx, func(dst []byte, m store.Message) ([]byte, store.AuditRecord, bool) {
		dst, r, ok := api.AppendAuditRecord(ctx, dst, s.db, cellURN, m.Payload, notify.ParseOrigin(m.Origin))
		return dst, store.AuditRecord(r), ok
	})
	if err != nil && ctx.Err() == nil {
		s.logger.Error("audit history projector stopped", "err", err)
	}
}
