package store

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// TestMigrate_KeepsSequences: Migrate copies the directory and the notification log
// into an external NATS server with the log's sequences unchanged, also when
// retention had moved the source's first sequence, and the log's epoch, and refuses
// to run twice.
func TestMigrate_KeepsSequences(t *testing.T) {
	ctx := context.Background()
	srcCfg := Config{DataDir: t.TempDir()}
	src, err := Open(ctx, srcCfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	org, err := src.CreateOrg(ctx, vcd.Org{Name: "acme", DisplayName: "Acme", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, _, err := src.Append(ctx, "notify.publish.o.u", fmt.Sprintf("id-%d", i), fmt.Appendf(nil, "message %d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// As retention would: the first four messages are gone, the log starts at 5.
	s, err := src.js.Stream(ctx, streamNotify)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(5)); err != nil {
		t.Fatal(err)
	}
	srcInfo, err := src.LogInfo(ctx)
	if err != nil || srcInfo.Epoch == "" {
		t.Fatalf("source LogInfo = %+v, %v; want an epoch", srcInfo, err)
	}
	// The audit history: three records in one message (a single node's batch), one alone.
	recs := []AuditRecord{numberedRecord(1), numberedRecord(2), numberedRecord(3)}
	if err := src.appendAudits(ctx, recs, []uint64{1, 2, 3}, srcInfo.Epoch, func(i int, err error) { t.Errorf("record %d refused: %v", i, err) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.AppendAudit(ctx, numberedRecord(4)); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	to := Config{NATSURL: ns.ClientURL(), ServerName: "n1"}
	st, err := Migrate(ctx, srcCfg, to, nil)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if st.FirstSeq != 5 || st.Notifications != 6 || st.Keys == 0 || st.SiteID == "" || st.AuditRecords != 4 {
		t.Errorf("Migrate = %+v; want first sequence 5, 6 notifications, keys, a site and 4 audit records", st)
	}
	if _, err := Migrate(ctx, srcCfg, to, nil); vcd.CodeOf(err) != vcd.CodeConflict {
		t.Errorf("second Migrate = %v; want a conflict", err)
	}

	dst, err := Open(ctx, to, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if site, _ := dst.Site(ctx); site.ID != st.SiteID {
		t.Errorf("site %q; want the source's %q", site.ID, st.SiteID)
	}
	if got, err := dst.Org(ctx, org.ID); err != nil || got.Name != "acme" {
		t.Errorf("Org = %+v, %v; want acme", got, err)
	}
	info, err := dst.LogInfo(ctx)
	// The same sequences, so the same epoch: persistent sessions resume in the copy
	// (and Open's update of the log's configuration kept it).
	if err != nil || info.First != 5 || info.Last != 10 || info.Epoch != srcInfo.Epoch {
		t.Fatalf("LogInfo = %+v, %v; want first 5, last 10, epoch %q", info, err, srcInfo.Epoch)
	}
	var got []string
	if _, err := dst.Replay(ctx, []string{"notify.>"}, 6, func(m Message) error {
		got = append(got, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[7:message 7 8:message 8 9:message 9 10:message 10]"; fmt.Sprint(got) != want {
		t.Errorf("replay after 6 = %v; want %s", got, want)
	}
	// The target's index reads both layouts (it follows the stream: not a single node).
	waitAuditTotal(t, dst, 4)
	p, err := dst.QueryAudit(ctx, AuditQuery{PageSize: 10, Asc: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range p.Records {
		if want := numberedRecord(i + 1).ID; r.ID != want || string(r.Data) != "x" {
			t.Errorf("record %d after migration: %s with %q; want %s with \"x\"", i, r.ID, r.Data, want)
		}
	}
}
