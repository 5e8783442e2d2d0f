//go:build unix

package store_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// benchCell is the cell URN the benchmark's records carry.
const benchCell = "urn:vcloud:cell:6a0c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"

// cpuTime returns the CPU time (user and system) this process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// appendBenchEvents appends n EVENT notifications of the kind herald raises (a VM
// modified inside a task, about 800 bytes of envelope) to the log under
// notify.publish.<org>.<user>, with a TASK notification after every fourth, which
// has no audit record. It returns the envelopes by sequence.
func appendBenchEvents(tb testing.TB, db *store.DB, org vcd.Org, user vcd.User, n int) map[uint64][]byte {
	tb.Helper()
	subject := store.NotifySubjectPrefix + "publish." + org.ID + "." + user.ID
	var batch []store.Record
	bySeq := make(map[uint64][]byte, n+n/4)
	flush := func() {
		out, err := db.AppendBatch(context.Background(), batch)
		if err != nil {
			tb.Fatal(err)
		}
		for i, a := range out {
			if a.Dup {
				tb.Fatalf("record %s is a duplicate", batch[i].ID)
			}
			bySeq[a.Seq] = batch[i].Payload
		}
		batch = batch[:0]
	}
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range n {
		ev, err := notify.Event(notify.EventInfo{
			ID:   fmt.Sprintf("b0000000-0000-4000-8000-%012d", i),
			Type: notify.EventTypePrefix + "vm/modify", Time: at.Add(time.Duration(i) * time.Millisecond),
			Success: i%7 != 0, OrgID: org.ID, UserID: user.ID, EntityType: vcd.KindVM,
			EntityID:   fmt.Sprintf("c0000000-0000-4000-8000-%012d", i%500),
			EntityName: fmt.Sprintf("web-frontend-production-%03d (reconfigured: 4 vCPU, 16 GB)", i%500),
			TaskID:     fmt.Sprintf("d0000000-0000-4000-8000-%012d", i),
		})
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, store.Record{Subject: subject, ID: ev.ID, Payload: ev.Envelope})
		if i%4 == 3 {
			batch = append(batch, store.Record{Subject: subject, ID: fmt.Sprintf("task-%d", i),
				Payload: []byte(`{"type":"TASK","headers":{"notification.type":"com/vmware/vcloud/event/task/update"},"payload":"{}"}`)})
		}
		if len(batch) >= 1000 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return bySeq
}

// BenchmarkProjectHistory appends b.N EVENT notifications (and b.N/4 TASK ones) to
// the log, then times ProjectHistory projecting them all until the index holds b.N
// records: the whole path of the server's projector, from the durable consumer to the
// appended history record and its acknowledgement (plus this node's index follower,
// which shares the process; HERALD_BENCH_CPUPROFILE=<file> profiles just that part
// into <file>.Audit and <file>.Store). cpu-ns/rec is the process's CPU time per record, the
// figure that matters on a busy node; ns/rec is the wall time. Audit converts with
// api.NewAuditRecord as the server does; Store with a precomputed record, to
// separate the store's share. Run with a fixed count, for example
//
//	go test ./internal/store -run '^$' -bench ProjectHistory -benchtime 20000x
func BenchmarkProjectHistory(b *testing.B) {
	for _, mode := range []string{"Audit", "Store"} {
		b.Run(mode, func(b *testing.B) {
			db := MustOpen(b)
			ctx := context.Background()
			org := mustCreateOrg(b, db, "Acme")
			user := mustCreateUser(b, db, org.ID, "alice")
			bySeq := appendBenchEvents(b, db, org, user, b.N)
			fn := func(dst []byte, m store.Message) ([]byte, store.AuditRecord, bool) {
				dst, r, ok := api.AppendAuditRecord(ctx, dst, db, benchCell, m.Payload, notify.Origin{})
				return dst, store.AuditRecord(r), ok
			}
			if mode == "Store" {
				type result struct {
					rec store.AuditRecord
					ok  bool
				}
				recs := make(map[uint64]result, len(bySeq))
				for seq, env := range bySeq {
					r, ok := api.NewAuditRecord(ctx, db, benchCell, env)
					recs[seq] = result{store.AuditRecord(r), ok}
				}
				fn = store.Appending(func(m store.Message) (store.AuditRecord, bool) {
					r := recs[m.Seq]
					return r.rec, r.ok
				})
			}
			b.ReportAllocs()
			if path := os.Getenv("HERALD_BENCH_CPUPROFILE"); path != "" && b.N > 1 {
				// A profile of the timed part only, without the set-up's appends.
				f, err := os.Create(path + "." + mode)
				if err != nil {
					b.Fatal(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
			runtimeCPU := cpuTime(b)
			b.ResetTimer()
			start := time.Now()
			pctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- db.ProjectHistory(pctx, fn) }()
			waitAuditLong(b, db, b.N)
			b.StopTimer()
			elapsed := time.Since(start)
			cpu := cpuTime(b) - runtimeCPU
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/rec")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/rec")
		})
	}
}

// waitAuditLong waits until the index holds n records, polling every millisecond, for
// up to two minutes (a benchmark's b.N can be large).
func waitAuditLong(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		p, err := db.QueryAudit(context.Background(), store.AuditQuery{PageSize: 1})
		if err == nil && p.Total >= n {
			if p.Total > n {
				tb.Fatalf("index holds %d records; want %d", p.Total, n)
			}
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %d audit records (have %d, %v)", n, p.Total, err)
		}
		<-tick.C
	}
}
