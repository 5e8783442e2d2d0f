package store_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// TestMQTTSession_CRUD: sessions are keyed by (principal, client id), written
// with compare-and-set, listed, deleted and purged when expired.
func TestMQTTSession_CRUD(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	s := store.MQTTSession{
		PrincipalID: "1:4b2d6f8a", ClientID: "client with spaces/ünïcode",
		Subscriptions:  []store.MQTTSubscription{{Filter: "publish/a/b", QoS: 1, SubID: 7}},
		AckFloor:       42,
		LogEpoch:       "2026-11-29T01:08:40.435714946Z",
		Inflight:       []store.MQTTFlight{{PacketID: 3, Seq: 43, QoS: 2, Released: true}},
		ExpiryInterval: time.Hour,
		Updated:        now,
	}
	_, err := db.MQTTSession(ctx, s.PrincipalID, s.ClientID, false)
	wantCode(t, "get missing", err, vcd.CodeNotFound)
	rev, err := db.PutMQTTSession(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.PutMQTTSession(ctx, s) // revision 0 again: it exists
	wantCode(t, "create twice", err, vcd.CodeConflict)
	got, err := db.MQTTSession(ctx, s.PrincipalID, s.ClientID, false)
	if err != nil {
		t.Fatal(err)
	}
	s.Revision = rev
	if !reflect.DeepEqual(got, s) {
		t.Errorf("MQTTSession = %+v; want %+v", got, s)
	}
	// Same client id, another principal: another session.
	if _, err := db.MQTTSession(ctx, "1:other", s.ClientID, false); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("other principal: err %v; want not found", err)
	}
	s.AckFloor = 50
	rev2, err := db.PutMQTTSession(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.PutMQTTSession(ctx, s) // stale revision
	wantCode(t, "stale update", err, vcd.CodeConflict)

	s.Revision = rev2
	s.DisconnectedAt = now.Add(-2 * time.Hour)
	if _, err := db.PutMQTTSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	live := store.MQTTSession{PrincipalID: "1:x", ClientID: "live", ExpiryInterval: time.Hour, Updated: now}
	if _, err := db.PutMQTTSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if all, err := db.MQTTSessions(ctx); err != nil || len(all) != 2 {
		t.Fatalf("MQTTSessions = %d, %v; want 2", len(all), err)
	}
	if n, err := db.PurgeExpiredMQTTSessions(ctx, now); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredMQTTSessions = %d, %v; want 1", n, err)
	}
	if _, err := db.MQTTSession(ctx, live.PrincipalID, live.ClientID, false); err != nil {
		t.Errorf("live session purged: %v", err)
	}
	if err := db.DeleteMQTTSession(ctx, live.PrincipalID, live.ClientID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteMQTTSession(ctx, live.PrincipalID, live.ClientID); err != nil {
		t.Errorf("delete missing: %v", err)
	}
	if all, _ := db.MQTTSessions(ctx); len(all) != 0 {
		t.Errorf("MQTTSessions after delete = %+v; want none", all)
	}
}

// TestMessage_DirectGet reads single log messages by sequence.
// TestMQTTSession_FullWindow: a session with config.MaxInflightLimit messages in
// flight, each with the largest values, and a hundred subscriptions (the broker's
// default bound) of long filters, fits in one stored value.
func TestMQTTSession_FullWindow(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	s := store.MQTTSession{PrincipalID: "1:4b2d6f8a", ClientID: strings.Repeat("c", 128),
		AckFloor: math.MaxUint64, Updated: time.Now().UTC()}
	for i := range 100 {
		s.Subscriptions = append(s.Subscriptions, store.MQTTSubscription{
			Filter: fmt.Sprintf("publish/%s/%d", strings.Repeat("o", 1000), i), QoS: 2, SubID: 268435455})
	}
	for i := range config.MaxInflightLimit {
		s.Inflight = append(s.Inflight, store.MQTTFlight{PacketID: uint16(65535 - i), Seq: math.MaxUint64 - uint64(i), QoS: 2, Released: true})
	}
	if _, err := db.PutMQTTSession(ctx, s); err != nil {
		t.Fatalf("a session with %d messages in flight: %v", config.MaxInflightLimit, err)
	}
	got, err := db.MQTTSession(ctx, s.PrincipalID, s.ClientID, false)
	if err != nil || len(got.Inflight) != config.MaxInflightLimit || len(got.Subscriptions) != 100 {
		t.Fatalf("read back %d in flight, %d subscriptions, %v", len(got.Inflight), len(got.Subscriptions), err)
	}
}

func TestMessage_DirectGet(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	seq := mustAppend(t, db, subjectOf(1), "a", []byte("hello"))
	m, err := db.Message(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != seq || m.Subject != subjectOf(1) || string(m.Payload) != "hello" || m.Time.IsZero() {
		t.Errorf("Message = %+v", m)
	}
	_, err = db.Message(ctx, seq+10)
	wantCode(t, "missing", err, vcd.CodeNotFound)
}

// TestMQTTSession_OtherNode: a session saved through one node is found through
// another (its key index learns it from the watch), and one deleted there is gone.
func TestMQTTSession_OtherNode(t *testing.T) {
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	ctx := context.Background()
	s := store.MQTTSession{PrincipalID: "1:p", ClientID: "c", ExpiryInterval: time.Hour, Updated: time.Now().UTC()}
	if _, err := b.MQTTSession(ctx, s.PrincipalID, s.ClientID, false); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Fatalf("before the save: err %v; want not found", err)
	}
	if _, err := a.PutMQTTSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session through the other node", func() bool {
		_, err := b.MQTTSession(ctx, s.PrincipalID, s.ClientID, false)
		return err == nil
	})
	if err := b.DeleteMQTTSession(ctx, s.PrincipalID, s.ClientID); err != nil {
		t.Fatal(err)
	}
	// The deleting node knows at once; the other learns it from the watch.
	if _, err := b.MQTTSession(ctx, s.PrincipalID, s.ClientID, false); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Errorf("after the delete, same node: err %v; want not found", err)
	}
	waitFor(t, "the delete through the first node", func() bool {
		_, err := a.MQTTSession(ctx, s.PrincipalID, s.ClientID, false)
		return vcd.CodeOf(err) == vcd.CodeNotFound
	})
}

// TestMQTTSession_CheckedRightAfterOtherNode: a checked lookup finds a session another
// node saved a moment before, before this node's watch may have delivered it (a
// client that disconnects from one node and resumes through another at once); a
// checked lookup of a session nobody saved still answers not found.
func TestMQTTSession_CheckedRightAfterOtherNode(t *testing.T) {
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	ctx := context.Background()
	for i := range 30 {
		s := store.MQTTSession{PrincipalID: "1:p", ClientID: fmt.Sprintf("c-%d", i), ExpiryInterval: time.Hour,
			Updated: time.Now().UTC()}
		if _, err := a.PutMQTTSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := b.MQTTSession(ctx, s.PrincipalID, s.ClientID, true)
		if err != nil || got.ClientID != s.ClientID {
			t.Fatalf("save %d: checked lookup right after the other node's save = %+v, %v", i, got, err)
		}
	}
	if _, err := b.MQTTSession(ctx, "1:p", "never-saved", true); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Fatalf("checked lookup of an unknown session: %v; want not found", err)
	}
}
