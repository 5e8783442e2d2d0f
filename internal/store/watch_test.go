package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// TestCache_ExternalWrite writes straight into the KV buckets, as another node or an
// operator would, and expects the cache and its indexes to follow.
func TestCache_ExternalWrite(t *testing.T) {
	ctx := context.Background()
	url, dbs := MustOpenNodes(t, 1)
	db := dbs[0]
	js := jetStreamAt(t, url)
	users, err := js.KeyValue(ctx, "herald_users")
	if err != nil {
		t.Fatal(err)
	}
	u := vcd.User{ID: vcd.NewUUID(), OrgID: vcd.NewUUID(), Name: "Eve", Role: vcd.RoleVAppUser}
	put := func(u vcd.User) {
		data, _ := json.Marshal(u)
		if _, err := users.Put(ctx, u.ID, data); err != nil {
			t.Fatal(err)
		}
	}

	put(u)
	waitFor(t, "the user by name", func() bool {
		got, err := db.UserByName(ctx, u.OrgID, "eve")
		return err == nil && got.ID == u.ID
	})

	u.Enabled = true
	put(u)
	waitFor(t, "the update", func() bool {
		got, err := db.User(ctx, u.ID)
		return err == nil && got.Enabled
	})

	// An update through the DB starts from the externally written value.
	got, err := db.UpdateUser(ctx, u.ID, func(u *vcd.User) error { u.Email = "e@x"; return nil })
	if err != nil || !got.Enabled || got.Email != "e@x" {
		t.Fatalf("UpdateUser = %+v, %v", got, err)
	}

	if err := users.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delete", func() bool {
		_, err1 := db.User(ctx, u.ID)
		_, err2 := db.UserByName(ctx, u.OrgID, "eve")
		return vcd.CodeOf(err1) == vcd.CodeNotFound && vcd.CodeOf(err2) == vcd.CodeNotFound
	})

	// A value that is not ours is ignored, and the watcher keeps going.
	if _, err := users.Put(ctx, "junk", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	put(vcd.User{ID: "after-junk", OrgID: u.OrgID, Name: "later"})
	waitFor(t, "a user written after junk", func() bool {
		_, err := db.User(ctx, "after-junk")
		return err == nil
	})
}

// TestWatch checks that changes made on one node reach Watch on another, including a
// session revocation (which the broker will use to close MQTT connections).
func TestWatch(t *testing.T) {
	ctx := context.Background()
	_, dbs := MustOpenNodes(t, 2)
	a, b := dbs[0], dbs[1]
	changes := make(chan store.Change, 64)
	stop := b.Watch(func(c store.Change) { changes <- c })
	defer stop()

	next := func(want store.Change) {
		t.Helper()
		timeout := time.After(time.Second)
		for {
			select {
			case c := <-changes:
				if c == want {
					return
				}
			case <-timeout:
				t.Fatalf("no change %+v within 1s", want)
			}
		}
	}

	org := mustCreateOrg(t, a, "Acme")
	next(store.Change{Kind: store.ChangeOrg, ID: org.ID})
	user := mustCreateUser(t, a, org.ID, "alice")
	next(store.Change{Kind: store.ChangeUser, ID: user.ID})
	s := newSession(user.ID, time.Now())
	if err := a.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeSession, ID: s.ID})
	if err := a.RevokeSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeSession, ID: s.ID})
	if got, _ := b.Session(ctx, s.ID); !got.Revoked {
		t.Error("session change delivered before the cache had it")
	}
	waitFor(t, "the revoked id on the other node", func() bool { return b.IsRevoked(s.JTI) })
	tok := vcd.APIToken{ID: vcd.NewUUID(), Name: "t"}
	if err := a.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeToken, ID: tok.ID})
	if err := a.AddSigningKey(ctx, vcd.SigningKey{KID: "k"}); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeKey, ID: "k"})
	if err := a.DeleteUser(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeUser, ID: user.ID, Deleted: true})

	// Local writes are delivered too.
	if err := b.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	next(store.Change{Kind: store.ChangeSession, ID: s.ID, Deleted: true})

	// After stop, nothing more arrives; a sentinel watcher shows the change was
	// delivered to those still registered.
	stop()
	stop()
	seen := make(chan store.Change, 1)
	stop2 := b.Watch(func(c store.Change) {
		select {
		case seen <- c:
		default:
		}
	})
	defer stop2()
	mustCreateOrg(t, a, "Late")
	select {
	case <-seen:
	case <-time.After(time.Second):
		t.Fatal("sentinel watcher got nothing")
	}
	select {
	case c := <-changes:
		t.Errorf("change %+v delivered after stop", c)
	default:
	}
}

// TestSession_WrittenElsewhere reads sessions, users and orgs written straight
// into their KV buckets, as another node's are, right after each write: the
// cache's watcher may not have delivered them yet, and the reads must find
// them anyway (a token used on another node right after its login).
func TestSession_WrittenElsewhere(t *testing.T) {
	ctx := context.Background()
	url, dbs := MustOpenNodes(t, 1)
	db := dbs[0]
	js := jetStreamAt(t, url)
	for i := range 50 {
		s := vcd.Session{ID: vcd.NewUUID(), UserID: vcd.NewUUID(), OrgID: vcd.NewUUID(), JTI: vcd.NewUUID(),
			Created: time.Now().UTC()}
		putJSON(t, js, "herald_sessions", s.ID, s)
		got, err := db.Session(ctx, s.ID)
		if err != nil || got.JTI != s.JTI {
			t.Fatalf("write %d: Session right after another node's write = %+v, %v", i, got, err)
		}
	}
	if _, err := db.Session(ctx, vcd.NewUUID()); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Fatalf("unknown session: %v; want not found", err)
	}
	if _, err := db.Session(ctx, "not/an.id"); vcd.CodeOf(err) != vcd.CodeNotFound {
		t.Fatalf("invalid id: %v; want not found", err)
	}

	for i := range 20 {
		o := vcd.Org{ID: vcd.NewUUID(), Name: fmt.Sprintf("elsewhere-%d", i), Enabled: true}
		u := vcd.User{ID: vcd.NewUUID(), OrgID: o.ID, Name: "eve", Role: vcd.RoleVAppUser, Enabled: true}
		putJSON(t, js, "herald_orgs", o.ID, o)
		putJSON(t, js, "herald_users", u.ID, u)
		if got, err := db.Org(ctx, o.ID); err != nil || got.Name != o.Name {
			t.Fatalf("write %d: Org right after another node's write = %+v, %v", i, got, err)
		}
		if got, err := db.User(ctx, u.ID); err != nil || got.OrgID != o.ID {
			t.Fatalf("write %d: User right after another node's write = %+v, %v", i, got, err)
		}
	}
}

// TestIndexes_WrittenElsewhere looks entities up by name, secret and legacy token
// right after writing them straight into their buckets, as another node does: the
// watcher may not have delivered them yet, and the lookups must find them anyway (a
// user created through one node logs in through another at once; a legacy token used
// on another node right after its login). Lookups by id of tokens and accounts read
// through too. A lookup of something nobody wrote still misses, and without waiting
// for anything once the watcher is current.
func TestIndexes_WrittenElsewhere(t *testing.T) {
	ctx := context.Background()
	url, dbs := MustOpenNodes(t, 1)
	db := dbs[0]
	js := jetStreamAt(t, url)
	put := func(bucket, key string, v any) { t.Helper(); putJSON(t, js, bucket, key, v) }
	hash := func(i int, what string) string {
		return fmt.Sprintf("%x", sha256.Sum256([]byte(what+strconv.Itoa(i)+vcd.NewUUID())))
	}
	for i := range 30 {
		o := vcd.Org{ID: vcd.NewUUID(), Name: fmt.Sprintf("Elsewhere-%d", i), Enabled: true}
		put("herald_orgs", o.ID, o)
		if got, err := db.OrgByName(ctx, strings.ToLower(o.Name)); err != nil || got.ID != o.ID {
			t.Fatalf("write %d: OrgByName right after another node's write = %+v, %v", i, got, err)
		}

		u := vcd.User{ID: vcd.NewUUID(), OrgID: o.ID, Name: "Eve", Role: vcd.RoleVAppUser, Enabled: true}
		put("herald_users", u.ID, u)
		if got, err := db.UserByName(ctx, o.ID, "eve"); err != nil || got.ID != u.ID {
			t.Fatalf("write %d: UserByName right after another node's write = %+v, %v", i, got, err)
		}

		s := vcd.Session{ID: vcd.NewUUID(), UserID: u.ID, OrgID: o.ID, JTI: vcd.NewUUID(),
			LegacyTokenHash: hash(i, "legacy"), Created: time.Now().UTC()}
		put("herald_sessions", s.ID, s)
		if got, err := db.SessionByLegacyToken(ctx, s.LegacyTokenHash); err != nil || got.ID != s.ID {
			t.Fatalf("write %d: SessionByLegacyToken right after another node's write = %+v, %v", i, got, err)
		}

		tok := vcd.APIToken{ID: vcd.NewUUID(), Name: "t", Type: vcd.TokenRefresh, UserID: u.ID, OrgID: o.ID,
			SecretHash: hash(i, "token"), Created: time.Now().UTC()}
		put("herald_tokens", tok.ID, tok)
		if got, err := db.APITokenBySecret(ctx, tok.SecretHash); err != nil || got.ID != tok.ID {
			t.Fatalf("write %d: APITokenBySecret right after another node's write = %+v, %v", i, got, err)
		}
		tok2 := tok
		tok2.ID, tok2.SecretHash = vcd.NewUUID(), hash(i, "token2")
		put("herald_tokens", tok2.ID, tok2)
		if got, err := db.APIToken(ctx, tok2.ID); err != nil || got.SecretHash != tok2.SecretHash {
			t.Fatalf("write %d: APIToken right after another node's write = %+v, %v", i, got, err)
		}

		acct := vcd.ServiceAccount{ID: vcd.NewUUID(), Name: fmt.Sprintf("Svc-%d", i), Enabled: true,
			SecretHash: hash(i, "service"), Created: time.Now().UTC()}
		put("herald_service_accounts", acct.ID, acct)
		if got, err := db.ServiceAccountByName(ctx, strings.ToLower(acct.Name)); err != nil || got.ID != acct.ID {
			t.Fatalf("write %d: ServiceAccountByName right after another node's write = %+v, %v", i, got, err)
		}
		acct2 := acct
		acct2.ID, acct2.Name, acct2.SecretHash = vcd.NewUUID(), fmt.Sprintf("Svc2-%d", i), hash(i, "service2")
		put("herald_service_accounts", acct2.ID, acct2)
		if got, err := db.ServiceAccountBySecret(ctx, acct2.SecretHash); err != nil || got.ID != acct2.ID {
			t.Fatalf("write %d: ServiceAccountBySecret right after another node's write = %+v, %v", i, got, err)
		}
		acct3 := acct
		acct3.ID, acct3.Name, acct3.SecretHash = vcd.NewUUID(), fmt.Sprintf("Svc3-%d", i), hash(i, "service3")
		put("herald_service_accounts", acct3.ID, acct3)
		if got, err := db.ServiceAccount(ctx, acct3.ID); err != nil || got.Name != acct3.Name {
			t.Fatalf("write %d: ServiceAccount right after another node's write = %+v, %v", i, got, err)
		}
	}

	// Misses stay misses, answered once the watcher has caught up: well within the
	// catch-up's bound of seconds, which only a watcher that falls behind would use.
	start := time.Now()
	misses := []func() error{
		func() error { _, err := db.OrgByName(ctx, "nobody-wrote-this"); return err },
		func() error { _, err := db.UserByName(ctx, vcd.NewUUID(), "nobody"); return err },
		func() error { _, err := db.SessionByLegacyToken(ctx, hash(0, "unknown")); return err },
		func() error { _, err := db.APITokenBySecret(ctx, hash(0, "unknown")); return err },
		func() error { _, err := db.APIToken(ctx, vcd.NewUUID()); return err },
		func() error { _, err := db.ServiceAccountByName(ctx, "nobody"); return err },
		func() error { _, err := db.ServiceAccountBySecret(ctx, hash(0, "unknown")); return err },
		func() error { _, err := db.ServiceAccount(ctx, vcd.NewUUID()); return err },
		func() error { _, err := db.ServiceAccount(ctx, "not/an.id"); return err },
	}
	for i, miss := range misses {
		if err := miss(); vcd.CodeOf(err) != vcd.CodeNotFound {
			t.Errorf("miss %d: %v; want not found", i, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("%d misses took %v: a miss waited for the catch-up's bound", len(misses), took)
	}
}

// putJSON writes v as JSON under key straight into the KV bucket, as another node
// would.
func putJSON(tb testing.TB, js jetstream.JetStream, bucket, key string, v any) {
	tb.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := kv.Put(ctx, key, data); err != nil {
		tb.Fatal(err)
	}
}
