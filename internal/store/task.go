package store

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// bucketTasks holds producer tasks (VCD-COMPAT §8.4) by task id, as TaskRecord.
const bucketTasks = "herald_tasks"

// TaskRecord is a stored task. The store keeps the task itself opaque (Data, encoded by
// its owner, the api package) and knows only what it needs to list and route tasks:
// the ids, the status, and when the task started and expires.
type TaskRecord struct {
	ID     string `json:"id"`     // bare UUID
	OrgID  string `json:"orgId"`  // bare UUID of the task's organization
	UserID string `json:"userId"` // bare UUID of the task's user
	Status string `json:"status"`
	// Created is the task's startTime; Expires its expiryTime. A zero Expires never
	// expires.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Data is the task as its owner encodes it; the store never reads it.
	Data []byte `json:"data"`
}

// Expired reports whether r has expired at now.
func (r *TaskRecord) Expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

func (r TaskRecord) clone() TaskRecord {
	r.Data = bytes.Clone(r.Data)
	return r
}

// initTasks creates the task cache; initTables calls it.
func (db *DB) initTasks(kvs map[string]jetstream.KeyValue) {
	db.tasks = newTable[TaskRecord]("task", kvs[bucketTasks], db.logger)
	db.tasks.clone = TaskRecord.clone
}

// CreateTask stores a new task and returns it. An empty ID is replaced by a new UUID
// and a zero Created by the current time. It returns vcd.CodeDuplicate if the id
// exists, vcd.CodeInvalid for ids that are not valid keys. It does not check that the
// org or the user exists.
func (db *DB) CreateTask(ctx context.Context, r TaskRecord) (TaskRecord, error) {
	if r.ID == "" {
		r.ID = vcd.NewUUID()
	}
	if !validID(r.ID) {
		return TaskRecord{}, invalidID("task", r.ID)
	}
	if !validID(r.OrgID) {
		return TaskRecord{}, invalidID("org", r.OrgID)
	}
	if !validID(r.UserID) {
		return TaskRecord{}, invalidID("user", r.UserID)
	}
	if r.Created.IsZero() {
		r.Created = db.now().UTC()
	}
	r = r.clone()
	if err := db.tasks.create(ctx, r.ID, r); err != nil {
		if err == errExists {
			return TaskRecord{}, vcd.Errorf(vcd.CodeDuplicate, "task %s already exists", r.ID)
		}
		return TaskRecord{}, err
	}
	return r.clone(), nil
}

// Task returns the task with the given id, expired or not, or a vcd.CodeNotFound
// error. A task written on another node is read from JetStream when the cache does
// not hold it yet.
func (db *DB) Task(ctx context.Context, id string) (TaskRecord, error) {
	return db.tasks.byID(ctx, id, "task")
}

// UpdateTask applies fn to a copy of the current task and writes it with
// compare-and-set, retrying fn after a concurrent change (vcd.CodeConflict when that
// keeps failing). An error from fn aborts the update and is returned unchanged. fn may
// change everything but the ID, the OrgID and Created.
func (db *DB) UpdateTask(ctx context.Context, id string, fn func(*TaskRecord) error) (TaskRecord, error) {
	if !validID(id) {
		return TaskRecord{}, notFound("task", id)
	}
	return db.tasks.update(ctx, id, fn, func(old, new *TaskRecord) error {
		if new.ID != old.ID || new.OrgID != old.OrgID || !new.Created.Equal(old.Created) {
			return vcd.Errorf(vcd.CodeInvalid, "task id, org and creation time are immutable")
		}
		return nil
	})
}

// DeleteTask deletes the task. An unknown id is vcd.CodeNotFound.
func (db *DB) DeleteTask(ctx context.Context, id string) error {
	if !validID(id) {
		return notFound("task", id)
	}
	_, err := db.tasks.delete(ctx, id)
	return err
}

// Tasks lists the unexpired tasks of one org, or of every org when orgID is empty,
// newest first (by Created, then by id, descending).
func (db *DB) Tasks(ctx context.Context, orgID string) ([]TaskRecord, error) {
	now := db.now()
	out := db.tasks.list(func(r *TaskRecord) bool {
		return (orgID == "" || r.OrgID == orgID) && !r.Expired(now)
	})
	slices.SortFunc(out, func(a, b TaskRecord) int {
		return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

// PurgeExpiredTasks deletes the tasks that expired before cutoff and returns how many
// it deleted. A task deleted meanwhile by another node is not an error.
func (db *DB) PurgeExpiredTasks(ctx context.Context, cutoff time.Time) (int, error) {
	expired := db.tasks.list(func(r *TaskRecord) bool {
		return !r.Expires.IsZero() && r.Expires.Before(cutoff)
	})
	return deleteEach(ctx, expired, func(r TaskRecord) string { return r.ID }, db.DeleteTask)
}
