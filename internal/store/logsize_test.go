package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/heraldmq/herald/internal/store"
)

// TestPerf_LogBytesPerMessage reports the notification log's size per stored message
// (docs/PERFORMANCE.md, "Offline clients"). Set HERALD_PERF=1 to run it.
func TestPerf_LogBytesPerMessage(t *testing.T) {
	if os.Getenv("HERALD_PERF") == "" {
		t.Skip("set HERALD_PERF=1 to measure")
	}
	db := MustOpen(t)
	const n, batch = 100000, 1000
	// An EVENT envelope about a user is about 1,100 bytes (see the server's tests).
	payload := bytes.Repeat([]byte("x"), 1100)
	subject := store.NotifySubjectPrefix + "publish.ca0efc24-9c43-48a8-987e-843bb19450a8.54b7e6c6-db27-4048-a31a-01dded24c6a8"
	for i := 0; i < n; i += batch {
		recs := make([]store.Record, batch)
		for j := range recs {
			recs[j] = store.Record{Subject: subject, ID: fmt.Sprint("m-", i+j), Payload: payload}
		}
		if _, err := db.AppendBatch(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	info, err := db.LogInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	per := float64(info.Bytes) / float64(info.Messages)
	t.Logf("%d messages, %d bytes: %.0f bytes per message (payload %d, subject %d, overhead %.0f)",
		info.Messages, info.Bytes, per, len(payload), len(subject), per-float64(len(payload)+len(subject)))
}
