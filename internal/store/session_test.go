package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

func newSession(userID string, created time.Time) vcd.Session {
	return vcd.Session{
		ID: vcd.NewUUID(), UserID: userID, OrgID: vcd.NewUUID(), JTI: vcd.NewUUID(),
		Created: created, Expires: created.Add(time.Hour), LastActive: created,
	}
}

func TestSession(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	user := vcd.NewUUID()

	s := newSession(user, t0)
	s.LegacyTokenHash = "0123abcd"
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}

	t.Run("Read", func(t *testing.T) {
		got, err := db.Session(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("Session (-want +got):\n%s", diff)
		}
		got, err = db.SessionByLegacyToken(ctx, "0123abcd")
		if err != nil || got.ID != s.ID {
			t.Errorf("SessionByLegacyToken = %q, %v; want %q", got.ID, err, s.ID)
		}
	})

	t.Run("ListByUserSortedByCreation", func(t *testing.T) {
		later := newSession(user, t0.Add(time.Minute))
		earlier := newSession(user, t0.Add(-time.Minute))
		for _, x := range []vcd.Session{later, earlier, newSession(vcd.NewUUID(), t0)} {
			if err := db.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		list, err := db.Sessions(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if diff := cmp.Diff([]string{earlier.ID, s.ID, later.ID}, ids); diff != "" {
			t.Errorf("Sessions(user) ids (-want +got):\n%s", diff)
		}
		if all, _ := db.Sessions(ctx, ""); len(all) != 4 {
			t.Errorf("Sessions(all) has %d sessions; want 4", len(all))
		}
	})

	t.Run("UpdateMovesLegacyIndex", func(t *testing.T) {
		_, err := db.UpdateSession(ctx, s.ID, func(s *vcd.Session) error {
			s.LegacyTokenHash = "ffff"
			s.LastActive = t0.Add(time.Minute)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.SessionByLegacyToken(ctx, "0123abcd")
		wantCode(t, "old legacy token", err, vcd.CodeNotFound)
		if got, err := db.SessionByLegacyToken(ctx, "ffff"); err != nil || !got.LastActive.Equal(t0.Add(time.Minute)) {
			t.Errorf("SessionByLegacyToken(new) = %+v, %v", got, err)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		if db.IsRevoked(s.JTI) {
			t.Fatal("IsRevoked before RevokeSession")
		}
		if err := db.RevokeSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if !db.IsRevoked(s.JTI) {
			t.Error("IsRevoked = false after RevokeSession")
		}
		if got, _ := db.Session(ctx, s.ID); !got.Revoked {
			t.Error("session not marked revoked")
		}
		if err := db.RevokeSession(ctx, s.ID); err != nil {
			t.Errorf("second RevokeSession: %v", err)
		}
		wantCode(t, "RevokeSession missing", db.RevokeSession(ctx, vcd.NewUUID()), vcd.CodeNotFound)
	})

	t.Run("Delete", func(t *testing.T) {
		if err := db.DeleteSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.Session(ctx, s.ID)
		wantCode(t, "Session after delete", err, vcd.CodeNotFound)
		_, err = db.SessionByLegacyToken(ctx, "ffff")
		wantCode(t, "SessionByLegacyToken after delete", err, vcd.CodeNotFound)
		wantCode(t, "DeleteSession again", db.DeleteSession(ctx, s.ID), vcd.CodeNotFound)
	})

	t.Run("Errors", func(t *testing.T) {
		wantCode(t, "CreateSession without id", db.CreateSession(ctx, vcd.Session{}), vcd.CodeInvalid)
		dup := newSession(user, t0)
		if err := db.CreateSession(ctx, dup); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "CreateSession duplicate id", db.CreateSession(ctx, dup), vcd.CodeDuplicate)
		_, err := db.SessionByLegacyToken(ctx, "")
		wantCode(t, "SessionByLegacyToken empty", err, vcd.CodeNotFound)
		_, err = db.UpdateSession(ctx, dup.ID, func(s *vcd.Session) error { s.ID = "x"; return nil })
		wantCode(t, "UpdateSession changing id", err, vcd.CodeInvalid)
	})
}

func TestPurgeExpiredSessions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var live []string
	for i, expires := range []time.Time{now.Add(-time.Hour), now, now.Add(time.Second), now.Add(-time.Second), {}} {
		s := newSession("u", now.Add(time.Duration(i)*time.Second))
		s.Expires = expires
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if expires.IsZero() || expires.After(now) {
			live = append(live, s.ID)
		}
	}
	n, err := db.PurgeExpiredSessions(ctx, now)
	if err != nil || n != 3 {
		t.Fatalf("PurgeExpiredSessions = %d, %v; want 3, nil", n, err)
	}
	left, _ := db.Sessions(ctx, "")
	var ids []string
	for _, s := range left {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff(live, ids); diff != "" {
		t.Errorf("sessions left (-want +got):\n%s", diff)
	}
	if n, err := db.PurgeExpiredSessions(ctx, now); n != 0 || err != nil {
		t.Errorf("second PurgeExpiredSessions = %d, %v; want 0, nil", n, err)
	}
}

// TestRevoked_Expires checks that a revoked JWT id is forgotten after RevokedTTL, on
// the node that revoked it too.
func TestRevoked_Expires(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, func(c *store.Config) { c.RevokedTTL = time.Second })
	s := newSession("u", time.Now())
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if !db.IsRevoked(s.JTI) {
		t.Fatal("IsRevoked = false right after RevokeSession")
	}
	waitFor(t, "the revoked id to expire", func() bool { return !db.IsRevoked(s.JTI) })
}
