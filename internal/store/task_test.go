package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

const (
	taskOrg  = "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"
	taskOrg2 = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
	taskUser = "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"
)

// mustCreateTask creates a task of org started at created and returns it.
func mustCreateTask(tb testing.TB, db *store.DB, org string, created time.Time) store.TaskRecord {
	tb.Helper()
	r, err := db.CreateTask(context.Background(), store.TaskRecord{OrgID: org, UserID: taskUser,
		Status: "queued", Created: created, Expires: created.Add(90 * 24 * time.Hour), Data: []byte(`{"v":1}`)})
	if err != nil {
		tb.Fatalf("CreateTask: %v", err)
	}
	return r
}

func TestTask(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	start := time.Now().UTC().Truncate(time.Millisecond)

	want := store.TaskRecord{ID: "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", OrgID: taskOrg, UserID: taskUser,
		Status: "queued", Created: start, Expires: start.Add(time.Hour), Data: []byte(`{"name":"task"}`)}
	got, err := db.CreateTask(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateTask (-want +got):\n%s", diff)
	}

	t.Run("Read", func(t *testing.T) {
		got, err := db.Task(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Task (-want +got):\n%s", diff)
		}
	})

	t.Run("CacheNotAliased", func(t *testing.T) {
		got, _ := db.Task(ctx, want.ID)
		got.Data[0] = 'X'
		again, _ := db.Task(ctx, want.ID)
		if string(again.Data) != string(want.Data) {
			t.Errorf("changing a returned task changed the cache: %q", again.Data)
		}
	})

	t.Run("ErrDuplicate", func(t *testing.T) {
		_, err := db.CreateTask(ctx, want)
		wantCode(t, "CreateTask duplicate", err, vcd.CodeDuplicate)
	})

	t.Run("ErrInvalidID", func(t *testing.T) {
		_, err := db.CreateTask(ctx, store.TaskRecord{ID: "a b", OrgID: taskOrg, UserID: taskUser})
		wantCode(t, "CreateTask bad id", err, vcd.CodeInvalid)
		_, err = db.CreateTask(ctx, store.TaskRecord{OrgID: "", UserID: taskUser})
		wantCode(t, "CreateTask no org", err, vcd.CodeInvalid)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.Task(ctx, "00000000-0000-4000-8000-000000000000")
		wantCode(t, "Task unknown", err, vcd.CodeNotFound)
		_, err = db.Task(ctx, "not a key")
		wantCode(t, "Task bad key", err, vcd.CodeNotFound)
		_, err = db.UpdateTask(ctx, "00000000-0000-4000-8000-000000000000", func(*store.TaskRecord) error { return nil })
		wantCode(t, "UpdateTask unknown", err, vcd.CodeNotFound)
		err = db.DeleteTask(ctx, "00000000-0000-4000-8000-000000000000")
		wantCode(t, "DeleteTask unknown", err, vcd.CodeNotFound)
	})

	t.Run("Update", func(t *testing.T) {
		got, err := db.UpdateTask(ctx, want.ID, func(r *store.TaskRecord) error {
			r.Status = "running"
			r.Data = []byte(`{"name":"task","progress":40}`)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "running" || string(got.Data) != `{"name":"task","progress":40}` {
			t.Errorf("UpdateTask = %+v", got)
		}
		again, _ := db.Task(ctx, want.ID)
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("Task after UpdateTask (-want +got):\n%s", diff)
		}
	})

	t.Run("UpdateAbortedByFn", func(t *testing.T) {
		errStop := errors.New("stop")
		_, err := db.UpdateTask(ctx, want.ID, func(r *store.TaskRecord) error {
			r.Status = "error"
			return errStop
		})
		if err != errStop {
			t.Fatalf("UpdateTask = %v; want fn's error unchanged", err)
		}
		if got, _ := db.Task(ctx, want.ID); got.Status != "running" {
			t.Errorf("status after aborted update = %q; want running", got.Status)
		}
	})

	t.Run("ErrImmutable", func(t *testing.T) {
		for name, fn := range map[string]func(*store.TaskRecord){
			"ID":      func(r *store.TaskRecord) { r.ID = "00000000-0000-4000-8000-000000000000" },
			"OrgID":   func(r *store.TaskRecord) { r.OrgID = taskOrg2 },
			"Created": func(r *store.TaskRecord) { r.Created = r.Created.Add(time.Second) },
		} {
			_, err := db.UpdateTask(ctx, want.ID, func(r *store.TaskRecord) error { fn(r); return nil })
			wantCode(t, "UpdateTask changing "+name, err, vcd.CodeInvalid)
		}
	})

	t.Run("ConcurrentUpdatesAllApply", func(t *testing.T) {
		r := mustCreateTask(t, db, taskOrg2, start)
		const n = 8
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := db.UpdateTask(ctx, r.ID, func(r *store.TaskRecord) error {
					r.Data = append(r.Data, '+')
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := db.Task(ctx, r.ID)
		if want := `{"v":1}++++++++`; string(got.Data) != want {
			t.Errorf("Data after %d concurrent appends = %q; want %q", n, got.Data, want)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		r := mustCreateTask(t, db, taskOrg2, start)
		if err := db.DeleteTask(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.Task(ctx, r.ID)
		wantCode(t, "Task after delete", err, vcd.CodeNotFound)
	})
}

// TestTasks_List pins the order (newest first) and the filters (org, unexpired).
func TestTasks_List(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	older := mustCreateTask(t, db, taskOrg, base.Add(-2*time.Hour))
	newest := mustCreateTask(t, db, taskOrg, base)
	middle := mustCreateTask(t, db, taskOrg2, base.Add(-time.Hour))
	expired, err := db.CreateTask(ctx, store.TaskRecord{OrgID: taskOrg, UserID: taskUser, Status: "success",
		Created: base.Add(-91 * 24 * time.Hour), Expires: base.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	ids := func(orgID string) []string {
		rs, err := db.Tasks(ctx, orgID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if diff := cmp.Diff([]string{newest.ID, older.ID}, ids(taskOrg)); diff != "" {
		t.Errorf("Tasks(org) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{newest.ID, middle.ID, older.ID}, ids("")); diff != "" {
		t.Errorf("Tasks(all) (-want +got):\n%s", diff)
	}
	// An expired task leaves the lists but can still be read by id.
	if _, err := db.Task(ctx, expired.ID); err != nil {
		t.Errorf("Task(expired) = %v; want it readable", err)
	}
}

// TestTasks_PurgeExpired: tasks that expired before the cutoff are deleted, the
// others stay.
func TestTasks_PurgeExpired(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	live := mustCreateTask(t, db, taskOrg, base)
	mk := func(expires time.Time) store.TaskRecord {
		r, err := db.CreateTask(ctx, store.TaskRecord{OrgID: taskOrg, UserID: taskUser, Status: "success",
			Created: expires.Add(-time.Hour), Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old, recent := mk(base.Add(-48*time.Hour)), mk(base.Add(-time.Hour))
	n, err := db.PurgeExpiredTasks(ctx, base.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpiredTasks = %d, %v; want 1 deleted", n, err)
	}
	if _, err := db.Task(ctx, old.ID); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("Task(purged) = %v; want not found", err)
	}
	for _, r := range []store.TaskRecord{live, recent} {
		if _, err := db.Task(ctx, r.ID); err != nil {
			t.Errorf("Task(%s) = %v; want kept", r.ID, err)
		}
	}
}

// TestTask_Restart closes the DB and opens its data dir again: tasks survive.
func TestTask_Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir }
	db := MustOpen(t, cfg)
	r := mustCreateTask(t, db, taskOrg, time.Now().UTC().Truncate(time.Millisecond))
	r, err := db.UpdateTask(ctx, r.ID, func(r *store.TaskRecord) error { r.Status = "success"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	db = MustOpen(t, cfg)
	got, err := db.Task(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("Task after restart (-want +got):\n%s", diff)
	}
	list, _ := db.Tasks(ctx, taskOrg)
	if len(list) != 1 || list[0].ID != r.ID {
		t.Errorf("Tasks after restart = %v; want [%s]", list, r.ID)
	}
}

// TestTask_OtherNode reads and updates on one node a task written on another.
func TestTask_OtherNode(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	r := mustCreateTask(t, dbs[0], taskOrg, time.Now().UTC().Truncate(time.Millisecond))
	if _, err := dbs[1].Task(ctx, r.ID); err != nil {
		t.Fatalf("Task on the other node: %v", err)
	}
	if _, err := dbs[1].UpdateTask(ctx, r.ID, func(r *store.TaskRecord) error { r.Status = "running"; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the update to reach the first node", func() bool {
		got, err := dbs[0].Task(ctx, r.ID)
		return err == nil && got.Status == "running"
	})
}
