package store

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// TestReserve_Stale simulates a node that crashed between reserving a name and writing
// the entity: the name is refused while the reservation is young and taken over once it
// is stale.
func TestReserve_Stale(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ghost := vcd.NewUUID()
	if _, err := db.names.Create(ctx, orgNameKey("Acme"), []byte(ghost)); err != nil {
		t.Fatal(err)
	}
	_, err = db.CreateOrg(ctx, vcd.Org{Name: "acme"})
	if vcd.CodeOf(err) != vcd.CodeDuplicate {
		t.Fatalf("CreateOrg over a young reservation: %v; want duplicate", err)
	}

	db.now = func() time.Time { return time.Now().Add(2 * staleReservation) }
	o, err := db.CreateOrg(ctx, vcd.Org{Name: "acme"})
	if err != nil {
		t.Fatalf("CreateOrg over a stale reservation: %v", err)
	}
	// A stale reservation whose entity exists is a real duplicate.
	_, err = db.CreateOrg(ctx, vcd.Org{Name: "ACME"})
	if vcd.CodeOf(err) != vcd.CodeDuplicate {
		t.Fatalf("CreateOrg over an old, live name: %v; want duplicate", err)
	}
	if got, _ := db.OrgByName(ctx, "Acme"); got.ID != o.ID {
		t.Errorf("OrgByName = %q; want %q", got.ID, o.ID)
	}
}

func TestNameKeys(t *testing.T) {
	tests := []struct{ a, b string }{
		{orgNameKey("Acme"), orgNameKey("aCME")},
		{userNameKey("o1", "Bob Smith@x.y"), userNameKey("o1", "bob smith@X.Y")},
	}
	for _, tc := range tests {
		if tc.a != tc.b {
			t.Errorf("keys %q and %q differ; names differ only in case", tc.a, tc.b)
		}
		if !validKVKey(tc.a) {
			t.Errorf("%q is not a valid KV key", tc.a)
		}
	}
	if orgNameKey("a") == orgNameKey("b") || userNameKey("o1", "a") == userNameKey("o2", "a") {
		t.Error("distinct names share a key")
	}
}

// validKVKey mirrors the KV key rule of nats.go: [-/_=.a-zA-Z0-9]+, no leading or
// trailing dot.
func validKVKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(validID(string(c)) || c == '.' || c == '/') {
			return false
		}
	}
	return true
}
