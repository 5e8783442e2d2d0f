package store_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// testLogger logs to io.Discard unless HERALD_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// MustOpen opens a DB with an embedded server on a fresh data dir and closes it when the
// test ends. opts adjust the config (for example to set DataDir or NATSURL).
func MustOpen(tb testing.TB, opts ...func(*store.Config)) *store.DB {
	tb.Helper()
	cfg := store.Config{DataDir: tb.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	db, err := store.Open(context.Background(), cfg, testLogger())
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// MustRunNATS starts a standalone NATS server with JetStream on a random loopback port,
// standing in for an operator-run cluster that several herald nodes share, and returns
// its client URL.
func MustRunNATS(tb testing.TB) string {
	tb.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(),
		NoSigs: true, NoLog: true,
	})
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

// jetStreamAt returns a JetStream client of its own on the NATS server at url, for
// tests that act as another node or an operator: writing into buckets and streams
// behind the DB's back. It is closed when the test ends.
func jetStreamAt(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// MustOpenNodes opens n DBs connected to one shared NATS server, as n herald nodes of a
// cluster would be.
func MustOpenNodes(tb testing.TB, n int) (url string, dbs []*store.DB) {
	tb.Helper()
	url = MustRunNATS(tb)
	for range n {
		dbs = append(dbs, MustOpen(tb, func(c *store.Config) { c.NATSURL = url; c.DataDir = "" }))
	}
	return url, dbs
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// wantCode fails the test unless err has the given vcd code.
func wantCode(tb testing.TB, what string, err error, want vcd.Code) {
	tb.Helper()
	if got := vcd.CodeOf(err); got != want || err == nil {
		tb.Fatalf("%s: error %v (code %s); want code %s", what, err, got, want)
	}
}

// mustCreateOrg creates an org named name and returns it.
func mustCreateOrg(tb testing.TB, db *store.DB, name string) vcd.Org {
	tb.Helper()
	o, err := db.CreateOrg(context.Background(), vcd.Org{Name: name, Enabled: true})
	if err != nil {
		tb.Fatalf("CreateOrg(%q): %v", name, err)
	}
	return o
}

// mustCreateUser creates a user named name in org and returns it.
func mustCreateUser(tb testing.TB, db *store.DB, orgID, name string) vcd.User {
	tb.Helper()
	u, err := db.CreateUser(context.Background(), vcd.User{OrgID: orgID, Name: name, Role: vcd.RoleVAppUser, Enabled: true})
	if err != nil {
		tb.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}
