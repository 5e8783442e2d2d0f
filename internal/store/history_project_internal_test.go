package store

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestProjectFrom_FormerConsumer opens a store as an earlier version left it: the
// durable consumer herald_history with some notifications acknowledged and no record
// naming its log sequence. The projector resumes after the acknowledged ones and
// deletes the consumer.
func TestProjectFrom_FormerConsumer(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.projectFrom(ctx); got != 1 {
		t.Fatalf("projectFrom on a new store = %d; want 1", got)
	}
	var seqs []uint64
	for i := range 10 {
		seq, _, err := db.Append(ctx, "notify.publish.o.u", "ev-"+strconv.Itoa(i), []byte("event"))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	cons, err := db.js.CreateOrUpdateConsumer(ctx, streamNotify, jetstream.ConsumerConfig{
		Durable: consumerHistory, FilterSubject: NotifySubjectPrefix + "publish.>",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := db.projectFrom(ctx), seqs[3]+1; got != want {
		t.Fatalf("projectFrom after 4 acknowledged = %d; want %d", got, want)
	}
	if _, err := db.js.Consumer(ctx, streamNotify, consumerHistory); err == nil {
		t.Fatal("the former consumer is still there")
	}
	// Records naming their log sequence take over.
	db.history.ix.sawLogSeq("7")
	db.history.ix.sawLogSeq("5")
	db.history.ix.sawLogSeq("not a number")
	if got := db.projectFrom(ctx); got != 8 {
		t.Fatalf("projectFrom after a record of log sequence 7 = %d; want 8", got)
	}
}
