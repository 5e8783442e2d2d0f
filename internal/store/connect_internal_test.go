package store

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
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
