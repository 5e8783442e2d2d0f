package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/topic"
)

// TestCluster_MigrateSingleNode is ISSUE 8 item 4: a single node's data dir, with an
// offline persistent session and its backlog, moves into a new three-node cell with
// Migrate while nodes 2 and 3 already run serve (they wait for the copy). The
// cluster continues it: the token issued by the single node still works, the
// session resumes on node 2 with its whole backlog in order and then live traffic,
// the password logs in on node 3, and the audit trail holds the old records.
func TestCluster_MigrateSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers; skipped with -short")
	}
	f := newPersistFixture(t)
	tok := f.token(t)
	filter := topic.Publish(f.org, f.alice)
	c := f.dialRaw(t, mqtt.Version311)
	c.connect(tok, "mover", false)
	c.subscribe(1, filter)
	c.disconnect()
	backlog := f.publish(t, 300)
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}

	cfgs := cellConfigs(t, 3)
	type result struct {
		st  store.MigrateStats
		err error
	}
	migrated := make(chan result, 1)
	go func() { // exits when Migrate returns
		st, err := server.Migrate(context.Background(), cfgs[0], f.dir, "herald", testLogger())
		migrated <- result{st, err}
	}()
	start := time.Now()
	rest := MustRunNodes(t, cfgs[1:]) // they wait in Open until the copy is complete
	r := <-migrated
	if r.err != nil {
		t.Fatalf("migrate: %v", r.err)
	}
	t.Logf("migrated in %v: %+v", time.Since(start), r.st)
	if r.st.Notifications < len(backlog) || r.st.Keys == 0 || r.st.AuditRecords == 0 || r.st.TargetReplicas != 3 {
		t.Errorf("migrate stats %+v; want at least %d notifications, keys, audit records, replicas 3", r.st, len(backlog))
	}
	nodes := append(MustRunNodes(t, cfgs[:1]), rest...)
	cl := &testCluster{nodes: nodes, org: f.org, alice: f.alice, secret: f.secret}

	// The token the single node issued, on node 2: the session and its backlog.
	r2 := cl.dial(t, 1, mqtt.Version311)
	if ack := r2.connect(tok, "mover", false); !ack.SessionPresent {
		t.Fatal("migrated session: session present 0")
	}
	r2.receiveIDs(backlog)
	live := cl.publish(t, 0, 3) // appended after the migrated sequences
	r2.receiveIDs(live)
	r2.expectNothing()
	r2.disconnect()

	// The password, on node 3; the single node's audit records, on node 1.
	cl.login(t, 2)
	admin := newClient(t, nodes[0])
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login after migration = %d", code)
	}
	resp, b := admin.do(http.MethodGet, "/cloudapi/1.0.0/auditTrail?pageSize=128", jsonAccept, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit trail = %d %s", resp.StatusCode, b)
	}
	var page struct{ ResultTotal int }
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	if n := page.ResultTotal; n < r.st.AuditRecords {
		t.Errorf("audit trail after migration has %d records; want at least the %d migrated", n, r.st.AuditRecords)
	}
}
