package api_test

import (
	"context"
	"testing"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// BenchmarkNewAuditRecord converts one EVENT envelope of the size herald raises
// (about 800 bytes) and one EXTERNAL_EVENT, against the seeded directory, as the
// server's history projector does for each notification of the log.
func BenchmarkNewAuditRecord(b *testing.B) {
	env := mustServe(b)
	ev, err := notify.Event(notify.EventInfo{ID: "b0000000-0000-4000-8000-000000000001",
		Type: notify.EventTypePrefix + "vm/modify", Time: auditAt(9, 30), Success: true, OrgID: acmeID, UserID: aliceID,
		EntityType: vcd.KindVM, EntityID: auditVMID, EntityName: "web-frontend-production-042 (reconfigured: 4 vCPU, 16 GB)",
		TaskID: auditTask})
	if err != nil {
		b.Fatal(err)
	}
	events := auditEvents(b)
	for _, bc := range []struct {
		name     string
		envelope []byte
	}{{"Event", ev.Envelope}, {"ExternalEvent", events[5].Envelope}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.envelope)))
			for b.Loop() {
				if _, ok := api.NewAuditRecord(context.Background(), env.store, cellURN, bc.envelope); !ok {
					b.Fatal("no record")
				}
			}
		})
	}
}
