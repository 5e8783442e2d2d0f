package api_test

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/vcd"
)

// fakeAudit is an in-memory api.AuditTrail with the store's contract: records ordered
// by (time, sequence), newest first unless Asc, visibility, inclusive time bounds,
// EventType and Match, MaxSeq, 1-based pages.
type fakeAudit struct {
	mu   sync.Mutex
	recs []api.AuditRecord // sequence i+1 is recs[i]
}

func (f *fakeAudit) add(r api.AuditRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, r)
}

func (f *fakeAudit) QueryAudit(ctx context.Context, q api.AuditQuery) (api.AuditPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if q.PageSize < 1 {
		return api.AuditPage{}, vcd.Errorf(vcd.CodeInvalid, "page size must be at least 1")
	}
	maxSeq := uint64(len(f.recs))
	if q.MaxSeq != 0 && q.MaxSeq < maxSeq {
		maxSeq = q.MaxSeq
	}
	type seqRec struct {
		seq uint64
		r   *api.AuditRecord
	}
	var hits []seqRec
	for i := range f.recs[:maxSeq] {
		r := &f.recs[i]
		switch {
		case q.OrgID != "" && r.OrgID != q.OrgID, q.UserID != "" && r.UserID != q.UserID,
			!q.From.IsZero() && r.Time.Before(q.From.Truncate(time.Millisecond)),
			!q.To.IsZero() && r.Time.After(q.To),
			q.EventType != nil && !q.EventType(r.EventType),
			q.Match != nil && !q.Match(fakeEntry{r}):
			continue
		}
		hits = append(hits, seqRec{uint64(i + 1), r})
	}
	slices.SortFunc(hits, func(a, b seqRec) int {
		c := cmp.Or(a.r.Time.Compare(b.r.Time), cmp.Compare(a.seq, b.seq))
		if !q.Asc {
			c = -c
		}
		return c
	})
	page := api.AuditPage{Total: len(hits), MaxSeq: maxSeq}
	for i := (max(q.Page, 1) - 1) * q.PageSize; i < len(hits) && len(page.Records) < q.PageSize; i++ {
		page.Records = append(page.Records, hits[i].r.Data)
	}
	return page, nil
}

// fakeEntry is an api.AuditEntry over a record.
type fakeEntry struct{ r *api.AuditRecord }

func (e fakeEntry) ID() string               { return e.r.ID }
func (e fakeEntry) Time() time.Time          { return e.r.Time }
func (e fakeEntry) OrgID() string            { return e.r.OrgID }
func (e fakeEntry) OrgName() string          { return e.r.OrgName }
func (e fakeEntry) UserID() string           { return e.r.UserID }
func (e fakeEntry) UserName() string         { return e.r.UserName }
func (e fakeEntry) EventType() string        { return e.r.EventType }
func (e fakeEntry) Success() bool            { return e.r.Success }
func (e fakeEntry) External() bool           { return e.r.External }
func (e fakeEntry) EntityID() string         { return e.r.EntityID }
func (e fakeEntry) EntityName() string       { return e.r.EntityName }
func (e fakeEntry) TaskID() string           { return e.r.TaskID }
func (e fakeEntry) ServiceNamespace() string { return e.r.ServiceNamespace }
