package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// retainedMap returns db.Retained() by key.
func retainedMap(db *store.DB) map[string]store.RetainedMessage {
	out := make(map[string]store.RetainedMessage)
	for _, m := range db.Retained() {
		out[m.Key] = m
	}
	return out
}

func TestRetained(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir }
	db := MustOpen(t, cfg)
	if got := db.Retained(); len(got) != 0 {
		t.Fatalf("Retained on a new store = %v; want none", got)
	}
	start := time.Now()
	for _, r := range []struct {
		key     string
		payload string
		qos     byte
	}{
		{"ext.a=2Fb.status", "one", 1},
		{"ext.c", "two", 0},
		{"ext.d", "three", 2},
		{"ext.c", "two again", 1}, // replaces
	} {
		if err := db.SetRetained(ctx, r.key, []byte(r.payload), r.qos); err != nil {
			t.Fatalf("SetRetained(%q): %v", r.key, err)
		}
	}
	if err := db.SetRetained(ctx, "ext.d", nil, 0); err != nil {
		t.Fatalf("SetRetained delete: %v", err)
	}
	// Deleting what is not there is fine.
	if err := db.SetRetained(ctx, "ext.never", nil, 0); err != nil {
		t.Fatalf("SetRetained delete of a missing key: %v", err)
	}

	check := func(db *store.DB, when string) {
		t.Helper()
		list := db.Retained()
		if len(list) != 2 || list[0].Key != "ext.a=2Fb.status" || list[1].Key != "ext.c" {
			t.Fatalf("Retained %s = %+v; want ext.a=2Fb.status and ext.c in order", when, list)
		}
		a, c := list[0], list[1]
		if string(a.Payload) != "one" || a.QoS != 1 || string(c.Payload) != "two again" || c.QoS != 1 {
			t.Errorf("Retained %s = %+v", when, list)
		}
		if a.Time.Before(start.Add(-time.Second)) || a.Time.After(time.Now()) {
			t.Errorf("retained time %s = %v; want about %v", when, a.Time, start)
		}
	}
	// Read-your-writes: no wait on this node.
	check(db, "after writes")
	_ = db.Close()
	db = MustOpen(t, cfg)
	check(db, "after restart")

	t.Run("Invalid", func(t *testing.T) {
		for _, key := range []string{"", "a..b", ".a", "a b", "a.*", "a.>", "a%b"} {
			err := db.SetRetained(ctx, key, []byte("x"), 0)
			wantCode(t, "SetRetained("+key+")", err, vcd.CodeInvalid)
		}
		wantCode(t, "SetRetained qos 3", db.SetRetained(ctx, "ok", []byte("x"), 3), vcd.CodeInvalid)
	})
	t.Run("Closed", func(t *testing.T) {
		db := MustOpen(t)
		_ = db.Close()
		wantCode(t, "SetRetained after Close", db.SetRetained(ctx, "k", []byte("x"), 0), vcd.CodeUnavailable)
		wantCode(t, "SetRetained delete after Close", db.SetRetained(ctx, "k", nil, 0), vcd.CodeUnavailable)
	})
}

// TestRetained_Nodes checks that retained messages set on one node reach another.
func TestRetained_Nodes(t *testing.T) {
	ctx := context.Background()
	url, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	if err := a.SetRetained(ctx, "ext.t", []byte("v1"), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retained message on the other node", func() bool {
		m, ok := retainedMap(b)["ext.t"]
		return ok && string(m.Payload) == "v1" && m.QoS == 1
	})
	if err := b.SetRetained(ctx, "ext.t", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replacement on the first node", func() bool {
		m, ok := retainedMap(a)["ext.t"]
		return ok && string(m.Payload) == "v2"
	})
	if err := a.SetRetained(ctx, "ext.t", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := retainedMap(a)["ext.t"]; ok {
		t.Error("deleted retained message still listed on the deleting node")
	}
	waitFor(t, "the delete on the other node", func() bool {
		_, ok := retainedMap(b)["ext.t"]
		return !ok
	})
	// A node opened later has the current state when Open returns.
	if err := b.SetRetained(ctx, "ext.u", []byte("u"), 2); err != nil {
		t.Fatal(err)
	}
	c := MustOpen(t, func(cfg *store.Config) { cfg.NATSURL = url; cfg.DataDir = "" })
	if got := c.Retained(); len(got) != 1 || got[0].Key != "ext.u" || string(got[0].Payload) != "u" || got[0].QoS != 2 {
		t.Errorf("Retained on a new node = %+v; want ext.u only", got)
	}
}
