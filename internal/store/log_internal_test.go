package store

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestValidSubject(t *testing.T) {
	tests := []struct {
		s         string
		wildcards bool
		want      bool
	}{
		{"notify.publish.org.user", false, true},
		{"notify.publish.a=2Eb.user", false, true},
		{"notify.publish.*.user", false, false},
		{"notify.publish.*.user", true, true},
		{"notify.>", false, false},
		{"notify.>", true, true},
		{"notify.>.x", true, false},
		{"notify.a*b", true, false},
		{"notify..a", false, false},
		{"notify.a.", false, false},
		{".notify", false, false},
		{"", false, false},
		{"notify.a b", false, false},
		{"notify.a\tb", false, false},
		{"notify.a\x7fb", false, false},
	}
	for _, tc := range tests {
		if got := validSubject(tc.s, tc.wildcards); got != tc.want {
			t.Errorf("validSubject(%q, %v) = %v; want %v", tc.s, tc.wildcards, got, tc.want)
		}
	}
}

func TestSubsetOf(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"n.a.b", "n.a.b", true},
		{"n.a.b", "n.a.*", true},
		{"n.a.*", "n.a.b", false},
		{"n.a.b", "n.>", true},
		{"n.>", "n.a.>", false},
		{"n.a.>", "n.>", true},
		{"n.a.>", "n.*.>", true},
		{"n.a", "n.a.>", false},
		{"n.a.b.c", "n.a.*", false},
		{"n.a", "n.a.b", false},
		{"n.*.b", "n.a.*", false},
		{"n.*", "n.*", true},
		{"n.>", "n.*", false},
	}
	for _, tc := range tests {
		if got := subsetOf(tc.a, tc.b); got != tc.want {
			t.Errorf("subsetOf(%q, %q) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestReduceFilters(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"n.a.b"}, []string{"n.a.b"}},
		{[]string{"n.a.b", "n.a.b"}, []string{"n.a.b"}},
		{[]string{"n.a.b", "n.a.*", "n.>"}, []string{"n.>"}},
		{[]string{"n.a.*", "n.*.b", "n.a.b"}, []string{"n.*.b", "n.a.*"}},
		{[]string{"n.x.>", "n.y", "n.x.z"}, []string{"n.x.>", "n.y"}},
	}
	for _, tc := range tests {
		if got := reduceFilters(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("reduceFilters(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestOpen_SyncPolicy checks that the sync settings reach the embedded server's
// JetStream, which every file store it creates reads them from.
func TestOpen_SyncPolicy(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantAlways   bool
		wantInterval time.Duration
	}{
		{"Default", Config{}, false, 2 * time.Minute},
		{"Interval", Config{SyncInterval: 5 * time.Second}, false, 5 * time.Second},
		{"Always", Config{SyncAlways: true}, true, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			db, err := Open(context.Background(), tc.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			js := db.srv.JetStreamConfig()
			if js == nil || js.SyncAlways != tc.wantAlways || js.SyncInterval != tc.wantInterval {
				t.Errorf("JetStream config = %+v; want sync always %v, interval %v", js, tc.wantAlways, tc.wantInterval)
			}
		})
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		in      string
		seq     uint64
		dup, ok bool
	}{
		{`{"stream":"NOTIFY","seq":1}`, 1, false, true},
		{`{"stream":"NOTIFY","seq":18446744073709551615}`, 1<<64 - 1, false, true},
		{`{"stream":"NOTIFY","seq":42,"duplicate": true}`, 42, true, true},
		{`{"stream":"NOTIFY","seq":42,"duplicate":true}`, 42, true, true},
		{`{"stream":"NOTIFY","domain":"hub","seq":42}`, 0, false, false},
		{`{"stream":"OTHER","seq":42}`, 0, false, false},
		{`{"stream":"NOTIFY","seq":18446744073709551616}`, 0, false, false},
		{`{"stream":"NOTIFY","seq":}`, 0, false, false},
		{`{"stream":"NOTIFY","seq":4x}`, 0, false, false},
		{`{"error":{"code":503,"err_code":10008,"description":"jetstream unavailable"}}`, 0, false, false},
		{``, 0, false, false},
	}
	for _, tc := range tests {
		seq, dup, ok := parseAck([]byte(tc.in))
		if seq != tc.seq || dup != tc.dup || ok != tc.ok {
			t.Errorf("parseAck(%s) = %d, %v, %v; want %d, %v, %v", tc.in, seq, dup, ok, tc.seq, tc.dup, tc.ok)
		}
	}
}

// TestParseAck_Server checks that what the server really answers takes the fast path.
func TestParseAck_Server(t *testing.T) {
	db, err := Open(context.Background(), Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, wantDup := range []bool{false, true} {
		m := &nats.Msg{Subject: "notify.a", Header: nats.Header{"Nats-Msg-Id": []string{"x"}}}
		resp, err := db.nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if seq, dup, ok := parseAck(resp.Data); !ok || seq != 1 || dup != wantDup {
			t.Errorf("publish %d: parseAck(%s) = %d, %v, %v; want 1, %v, true", i, resp.Data, seq, dup, ok, wantDup)
		}
	}
}

// TestLogInfo_Epoch: the log's epoch stays what it was across a restart and an
// update of the log's configuration, and changes when the log is deleted and
// created again.
func TestLogInfo_Epoch(t *testing.T) {
	ctx := context.Background()
	cfg := Config{DataDir: t.TempDir()}
	epoch := func(db *DB) string {
		t.Helper()
		info, err := db.LogInfo(ctx)
		if err != nil || info.Epoch == "" {
			t.Fatalf("LogInfo = %+v, %v; want an epoch", info, err)
		}
		return info.Epoch
	}
	db, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mustAppendInternal(t, db, "1")
	first := epoch(db)
	_ = db.Close()
	cfg.LogMaxAge = time.Hour // an update of the log's configuration
	if db, err = Open(ctx, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if got := epoch(db); got != first {
		t.Errorf("epoch after a restart = %q; want %q", got, first)
	}
	if err := db.js.DeleteStream(ctx, streamNotify); err != nil {
		t.Fatal(err)
	}
	if err := db.ensureLog(ctx); err != nil {
		t.Fatal(err)
	}
	if got := epoch(db); got == first {
		t.Errorf("epoch of the log created again = %q, the old one's", got)
	}
}

// TestFeed_LogReset recreates the notification log under a running Feed: the new
// log's sequences start over below the last one delivered, and the feed delivers
// them instead of waiting for them to pass the old ones (which would leave every
// live subscriber without notifications until then).
func TestFeed_LogReset(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openInternal(t)
	got := make(chan Message, 16)
	done := make(chan error, 1)
	go func() { done <- db.Feed(ctx, 1, func(m Message) { got <- m }) }()
	defer func() { cancel(); <-done }()
	next := func(want string) {
		t.Helper()
		select {
		case m := <-got:
			if string(m.Payload) != want {
				t.Fatalf("feed delivered %q (seq %d); want %q", m.Payload, m.Seq, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("feed delivered nothing within 15s; want %q", want)
		}
	}
	for i := 1; i <= 5; i++ {
		mustAppendInternal(t, db, strconv.Itoa(i))
		next(strconv.Itoa(i))
	}
	if err := db.js.DeleteStream(ctx, streamNotify); err != nil {
		t.Fatal(err)
	}
	if err := db.ensureLog(ctx); err != nil {
		t.Fatal(err)
	}
	if seq := mustAppendInternal(t, db, "new 1"); seq != 1 {
		t.Fatalf("first append to the new log = %d; want 1", seq)
	}
	next("new 1")
	mustAppendInternal(t, db, "new 2")
	next("new 2")
}

// mustAppendInternal appends payload to the log under a fresh id and returns its
// sequence.
func mustAppendInternal(t *testing.T, db *DB, payload string) uint64 {
	t.Helper()
	seq, _, err := db.Append(context.Background(), "notify.publish.o.u", "id-"+payload, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestAppend_NoID: appends without an id are each stored, and a single node stores
// them without Nats-Msg-Id (no duplicate window entry); anywhere else the message
// gets a random one.
func TestAppend_NoID(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	a, dupA, errA := db.Append(ctx, "notify.publish.o.u", "", []byte("same"))
	wait, err := db.AppendAsync("notify.publish.o.u", "", []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, dupB, errB := wait(ctx)
	if errA != nil || errB != nil || dupA || dupB || a == b {
		t.Fatalf("two appends without id = (%d, %v, %v), (%d, %v, %v); want two stored", a, dupA, errA, b, dupB, errB)
	}
	log, err := db.js.Stream(ctx, streamNotify)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{a, b} {
		m, err := log.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
			t.Errorf("message %d on a single node has Nats-Msg-Id %q; want none", seq, id)
		}
	}
	if id := db.logMsg("notify.publish.o.u", "given", nil).Header.Get(jetstream.MsgIDHeader); id != "given" {
		t.Errorf("Nats-Msg-Id of an append with an id = %q; want it", id)
	}
	other := &DB{} // no embedded server of its own: a cluster's node or an external NATS
	m1, m2 := other.logMsg("notify.publish.o.u", "", nil), other.logMsg("notify.publish.o.u", "", nil)
	if id1, id2 := m1.Header.Get(jetstream.MsgIDHeader), m2.Header.Get(jetstream.MsgIDHeader); id1 == "" || id1 == id2 {
		t.Errorf("Nats-Msg-Id without a single node: %q and %q; want two random ids", id1, id2)
	}
}
