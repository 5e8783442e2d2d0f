package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldmq/herald/internal/freeport"
)

// TestOpen_EmbeddedConnection checks how herald reaches its embedded server: by
// default on a loopback port that refuses a client without this process's password;
// with InProcess through pipes, with no port at all. Both serve the store.
func TestOpen_EmbeddedConnection(t *testing.T) {
	ctx := context.Background()
	for _, inProcess := range []bool{false, true} {
		db, err := Open(ctx, Config{DataDir: t.TempDir(), InProcess: inProcess}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if _, _, err := db.Append(ctx, "notify.publish.o.u", "ev-1", []byte("x")); err != nil {
			t.Fatalf("InProcess %v: append: %v", inProcess, err)
		}
		addr := db.srv.Addr()
		if inProcess {
			if addr != nil {
				t.Fatalf("InProcess: the embedded server listens on %v", addr)
			}
			continue
		}
		if addr == nil {
			t.Fatal("the embedded server has no client port")
		}
		if host := db.srv.ClientURL(); host != "nats://"+addr.String() || addr.String()[:10] != "127.0.0.1:" {
			t.Fatalf("client port %v (%s); want one on 127.0.0.1", addr, host)
		}
		for _, opts := range [][]nats.Option{nil, {nats.UserInfo("herald", "guess")}} {
			if nc, err := nats.Connect(db.srv.ClientURL(), append(opts, nats.NoReconnect())...); err == nil {
				nc.Close()
				t.Fatal("a client without the process's password connected to the embedded server")
			}
		}
		if db.nc.ConnectedUrl() != db.srv.ClientURL() {
			t.Fatalf("herald's connection is to %q; want the loopback port %q", db.nc.ConnectedUrl(), db.srv.ClientURL())
		}
	}
}

// TestOpen_ClusterConnectionStaysHome: in cell mode each node's connection is to its
// own embedded server alone. The peers' client ports are loopback ports of other
// machines (or, in tests, of other processes) that refuse this node's password, so
// a connection that learned them from the cluster's gossip would, on any reconnect,
// try ports that are not its server's (and which, on this machine, may be another
// herald's: a walkthrough test's log once showed its embedded server refusing
// another test's node every 50 ms).
func TestOpen_ClusterConnectionStaysHome(t *testing.T) {
	ctx := context.Background()
	routes := make([]string, 2)
	for i := range routes {
		addr, err := freeport.Addr("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = addr
	}
	dbs := make([]*DB, len(routes))
	errs := make([]error, len(routes))
	var wg sync.WaitGroup
	for i := range routes {
		wg.Add(1)
		go func() { // exits when Open returns: each waits for the other's quorum
			defer wg.Done()
			cfg := Config{DataDir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i+1), StartTimeout: time.Minute,
				Cluster: ClusterConfig{Name: "home", Addr: routes[i], Routes: routes}}
			dbs[i], errs[i] = Open(ctx, cfg, slog.New(slog.DiscardHandler))
		}()
	}
	wg.Wait()
	for i, db := range dbs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { _ = db.Close() })
	}
	for i, db := range dbs {
		// The servers know each other's client URLs (what they would gossip) ...
		other := dbs[1-i].srv.ClientURL()
		for _, nc := range []*nats.Conn{db.nc, db.live} {
			// ... and a round trip makes sure any INFO the server sent this
			// connection before it has been read.
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := nc.DiscoveredServers(); len(got) != 0 {
				t.Fatalf("node %d's connection learned %v (node %d is %s); want only its own server", i+1, got, 2-i, other)
			}
			if got := nc.Servers(); len(got) != 1 || got[0] != db.srv.ClientURL() {
				t.Fatalf("node %d's connection would reconnect to %v; want only %s", i+1, got, db.srv.ClientURL())
			}
		}
	}
}
