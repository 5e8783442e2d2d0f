package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// mustAppend appends payload under subject with id and returns its sequence.
func mustAppend(tb testing.TB, db *store.DB, subject, id string, payload []byte) uint64 {
	tb.Helper()
	seq, dup, err := db.Append(context.Background(), subject, id, payload)
	if err != nil || dup {
		tb.Fatalf("Append(%q, %q) = %d, %v, %v; want no error, not dup", subject, id, seq, dup, err)
	}
	return seq
}

// MustFeed runs db.Feed from from on a goroutine and returns the channel it delivers
// to. The feed stops, and the goroutine is waited for, when the test ends; stop ends
// it earlier and returns Feed's error.
func MustFeed(tb testing.TB, db *store.DB, from uint64) (msgs <-chan store.Message, stop func() error) {
	tb.Helper()
	ch := make(chan store.Message, 1<<16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Feed(ctx, from, func(m store.Message) { ch <- m }) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return ch, stop
}

// receive returns the next n messages of ch, failing after five seconds.
func receive(tb testing.TB, ch <-chan store.Message, n int) []store.Message {
	tb.Helper()
	out := make([]store.Message, 0, n)
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-timeout:
			tb.Fatalf("received %d of %d messages within 5s", len(out), n)
		}
	}
	return out
}

// seqs returns the sequences of msgs.
func seqs(msgs []store.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// span returns the sequences first..last.
func span(first, last uint64) []uint64 {
	var out []uint64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func subjectOf(i int) string {
	return fmt.Sprintf("%spublish.org%d.user%d", store.NotifySubjectPrefix, i%3, i%5)
}

func TestAppend_FeedInOrder(t *testing.T) {
	db := MustOpen(t)
	ch, _ := MustFeed(t, db, 1)
	const n = 200
	for i := range n {
		if seq := mustAppend(t, db, subjectOf(i), fmt.Sprint("id", i), []byte(fmt.Sprint("payload ", i))); seq != uint64(i+1) {
			t.Fatalf("Append #%d = seq %d; want %d", i, seq, i+1)
		}
	}
	got := receive(t, ch, n)
	for i, m := range got {
		if m.Seq != uint64(i+1) || m.Subject != subjectOf(i) || string(m.Payload) != fmt.Sprint("payload ", i) {
			t.Fatalf("message %d = {%d %q %q}; want {%d %q %q}", i, m.Seq, m.Subject, m.Payload, i+1, subjectOf(i), fmt.Sprint("payload ", i))
		}
		if time.Since(m.Time) > time.Minute || m.Time.After(time.Now()) {
			t.Errorf("message %d time %v; want about now", i, m.Time)
		}
	}
}

// TestAppendFrom_Origin: a message's origin comes back with it from the feed and
// from a read by sequence; a message appended without one has none.
func TestAppendFrom_Origin(t *testing.T) {
	db := MustOpen(t)
	ch, _ := MustFeed(t, db, 1)
	ctx := context.Background()
	const origin = "ip=192.0.2.10&session=0f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b"
	seq, _, err := db.AppendFrom(ctx, subjectOf(1), "with-origin", origin, []byte("login"))
	if err != nil {
		t.Fatal(err)
	}
	plain := mustAppend(t, db, subjectOf(2), "without", []byte("other"))
	got := receive(t, ch, 2)
	if got[0].Seq != seq || got[0].Origin != origin || got[1].Seq != plain || got[1].Origin != "" {
		t.Fatalf("feed delivered origins %q (seq %d) and %q (seq %d); want %q and none", got[0].Origin, got[0].Seq,
			got[1].Origin, got[1].Seq, origin)
	}
	for _, c := range []struct {
		seq  uint64
		want string
	}{{seq, origin}, {plain, ""}} {
		m, err := db.Message(ctx, c.seq)
		if err != nil || m.Origin != c.want {
			t.Errorf("Message(%d).Origin = %q, %v; want %q", c.seq, m.Origin, err, c.want)
		}
	}
}

func TestAppend_Dedup(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	first := mustAppend(t, db, subjectOf(0), "event-1", []byte("a"))
	mustAppend(t, db, subjectOf(0), "event-2", []byte("b"))
	seq, dup, err := db.Append(ctx, subjectOf(1), "event-1", []byte("a again"))
	if err != nil || !dup || seq != first {
		t.Fatalf("repeated Append = %d, %v, %v; want %d, true, nil", seq, dup, err, first)
	}
	info, err := db.LogInfo(ctx)
	if err != nil || info.Messages != 2 || info.First != 1 || info.Last != 2 {
		t.Fatalf("LogInfo = %+v, %v; want 2 messages, first 1, last 2", info, err)
	}

	res, err := db.AppendBatch(ctx, []store.Record{
		{Subject: subjectOf(0), ID: "event-2", Payload: []byte("b")},
		{Subject: subjectOf(0), ID: "event-3", Payload: []byte("c")},
		{Subject: subjectOf(0), ID: "event-3", Payload: []byte("c")},
	})
	want := []store.Appended{{Seq: 2, Dup: true}, {Seq: 3}, {Seq: 3, Dup: true}}
	if err != nil || !slices.Equal(res, want) {
		t.Fatalf("AppendBatch = %+v, %v; want %+v", res, err, want)
	}
}

// TestAppendAsync keeps many appends in flight from one goroutine: they are stored in
// the order they were started, each wait reports its sequence, a repeated id is a
// duplicate, and invalid arguments fail before anything is sent.
func TestAppendAsync(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	ch, _ := MustFeed(t, db, 1)
	const n = 500
	waits := make([]store.AppendWait, 0, n)
	for i := range n {
		w, err := db.AppendAsync(subjectOf(i), fmt.Sprint("id", i), []byte(fmt.Sprint("payload ", i)))
		if err != nil {
			t.Fatalf("AppendAsync #%d: %v", i, err)
		}
		waits = append(waits, w)
	}
	for i, w := range waits {
		if seq, dup, err := w(ctx); err != nil || dup || seq != uint64(i+1) {
			t.Fatalf("wait #%d = %d, %v, %v; want %d, false, nil", i, seq, dup, err, i+1)
		}
	}
	for i, m := range receive(t, ch, n) {
		if m.Seq != uint64(i+1) || string(m.Payload) != fmt.Sprint("payload ", i) {
			t.Fatalf("message %d = {%d %q}; want {%d %q}", i, m.Seq, m.Payload, i+1, fmt.Sprint("payload ", i))
		}
	}
	w, err := db.AppendAsync(subjectOf(0), "id7", []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	if seq, dup, err := w(ctx); err != nil || !dup || seq != 8 {
		t.Errorf("repeated id: wait = %d, %v, %v; want 8, true, nil", seq, dup, err)
	}
	_, err = db.AppendAsync("publish.org.user", "x", nil)
	wantCode(t, "AppendAsync outside the log", err, vcd.CodeInvalid)
	w, err = db.AppendAsync(subjectOf(0), "big", make([]byte, 2<<20))
	if err == nil {
		_, _, err = w(ctx)
	}
	wantCode(t, "AppendAsync too large", err, vcd.CodeInvalid)
}

func TestAppend_Errors(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	tests := []struct {
		name, subject, id string
		payload           []byte
		want              vcd.Code
	}{
		{"OutsideLog", "publish.org.user", "x", nil, vcd.CodeInvalid},
		{"PrefixOnly", "notify.", "x", nil, vcd.CodeInvalid},
		{"Wildcard", "notify.publish.*.user", "x", nil, vcd.CodeInvalid},
		{"TailWildcard", "notify.publish.>", "x", nil, vcd.CodeInvalid},
		{"EmptyToken", "notify.publish..user", "x", nil, vcd.CodeInvalid},
		{"Space", "notify.publish.a b", "x", nil, vcd.CodeInvalid},
		{"TooLarge", "notify.publish.org.user", "x", make([]byte, 2<<20), vcd.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := db.Append(ctx, tc.subject, tc.id, tc.payload)
			wantCode(t, fmt.Sprintf("Append(%q, %q)", tc.subject, tc.id), err, tc.want)
		})
	}
	t.Run("BatchInvalid", func(t *testing.T) {
		_, err := db.AppendBatch(ctx, []store.Record{{Subject: subjectOf(0), ID: "ok"}, {Subject: "bad", ID: "x"}})
		wantCode(t, "AppendBatch", err, vcd.CodeInvalid)
		if info, _ := db.LogInfo(ctx); info.Messages != 0 {
			t.Errorf("invalid batch stored %d messages; want 0", info.Messages)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		db := MustOpen(t)
		_ = db.Close()
		_, _, err := db.Append(ctx, subjectOf(0), "x", nil)
		wantCode(t, "Append after Close", err, vcd.CodeUnavailable)
		_, err = db.LogInfo(ctx)
		wantCode(t, "LogInfo after Close", err, vcd.CodeUnavailable)
		err = db.Feed(ctx, 1, func(store.Message) {})
		wantCode(t, "Feed after Close", err, vcd.CodeUnavailable)
	})
}

// TestAppend_StorageFull: when the store's storage limit is reached (store.maxStore
// here; a full disk alike), appends, single and pipelined, fail as unavailable and
// say why, and every append acknowledged before is stored and readable.
func TestAppend_StorageFull(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, func(c *store.Config) { c.MaxStore, c.LogMaxBytes = 24<<20, -1 })
	payload := bytes.Repeat([]byte("x"), 4000)
	var last uint64
	var err error
	for range 100000 {
		var seq uint64
		if seq, _, err = db.Append(ctx, subjectOf(0), "", payload); err != nil {
			break
		}
		last = seq
	}
	wantCode(t, "Append to a full store", err, vcd.CodeUnavailable)
	var ve *vcd.Error
	if !errors.As(err, &ve) || !strings.Contains(ve.Message, "storage is full") {
		t.Errorf("error %v; want its message to say the storage is full", err)
	}
	if last == 0 {
		t.Fatal("nothing was stored before the store was full")
	}
	wait, err := db.AppendAsync(subjectOf(0), "", payload)
	if err == nil {
		_, _, err = wait(ctx)
	}
	wantCode(t, "AppendAsync to a full store", err, vcd.CodeUnavailable)
	info, err := db.LogInfo(ctx)
	if err != nil || info.Messages != last || info.Last != last {
		t.Fatalf("LogInfo = %+v, %v; want the %d acknowledged messages", info, err, last)
	}
	for _, seq := range []uint64{1, last} {
		if m, err := db.Message(ctx, seq); err != nil || !bytes.Equal(m.Payload, payload) {
			t.Errorf("Message(%d) = %d bytes, %v; want the acknowledged message", seq, len(m.Payload), err)
		}
	}
}

func TestFeed_From(t *testing.T) {
	db := MustOpen(t)
	for i := range 10 {
		mustAppend(t, db, subjectOf(i), fmt.Sprint(i), nil)
	}

	t.Run("Seq", func(t *testing.T) {
		ch, _ := MustFeed(t, db, 6)
		if got := seqs(receive(t, ch, 5)); !slices.Equal(got, span(6, 10)) {
			t.Fatalf("Feed(6) = %v; want 6..10", got)
		}
		select {
		case m := <-ch:
			t.Fatalf("Feed(6) delivered %d beyond the log", m.Seq)
		default:
		}
	})

	t.Run("New", func(t *testing.T) {
		// Feed(0) starts after the last sequence at some point after the call: append
		// until something arrives, then it must be a contiguous run after 10.
		ch, stop := MustFeed(t, db, 0)
		var first store.Message
		deadline := time.After(5 * time.Second)
	wait:
		for i := 0; ; i++ {
			mustAppend(t, db, subjectOf(i), fmt.Sprint("new", i), nil)
			select {
			case first = <-ch:
				break wait
			case <-deadline:
				t.Fatal("Feed(0) delivered nothing within 5s")
			case <-time.After(10 * time.Millisecond):
			}
		}
		if first.Seq <= 10 {
			t.Fatalf("Feed(0) delivered old message %d", first.Seq)
		}
		last := mustAppend(t, db, subjectOf(0), "final", nil)
		rest := receive(t, ch, int(last-first.Seq))
		if got := seqs(rest); !slices.Equal(got, span(first.Seq+1, last)) {
			t.Fatalf("Feed(0) after %d = %v; want %d..%d", first.Seq, got, first.Seq+1, last)
		}
		if err := stop(); err != nil {
			t.Errorf("Feed returned %v after cancel; want nil", err)
		}
	})
}

// TestFeed_Restart appends, restarts the store on the same data dir and reads the log
// again by sequence.
func TestFeed_Restart(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *store.Config) { c.DataDir = dir; c.SyncAlways = true }
	db := MustOpen(t, cfg)
	for i := range 5 {
		mustAppend(t, db, subjectOf(i), fmt.Sprint(i), []byte(fmt.Sprint("before ", i)))
	}
	_ = db.Close()

	db = MustOpen(t, cfg)
	// The dedup window survives the restart too.
	if seq, dup, err := db.Append(context.Background(), subjectOf(0), "0", nil); err != nil || !dup || seq != 1 {
		t.Errorf("Append of a known id after restart = %d, %v, %v; want 1, true, nil", seq, dup, err)
	}
	ch, _ := MustFeed(t, db, 1)
	got := receive(t, ch, 5)
	for i, m := range got {
		if m.Seq != uint64(i+1) || string(m.Payload) != fmt.Sprint("before ", i) {
			t.Errorf("message %d after restart = {%d %q}", i, m.Seq, m.Payload)
		}
	}
	if seq := mustAppend(t, db, subjectOf(0), "after", nil); seq != 6 {
		t.Errorf("first Append after restart = %d; want 6", seq)
	}
	if m := receive(t, ch, 1)[0]; m.Seq != 6 {
		t.Errorf("fed %d; want 6", m.Seq)
	}
}

// replayAll runs Replay and returns what it delivered.
func replayAll(tb testing.TB, db *store.DB, filters []string, after uint64) ([]store.Message, uint64) {
	tb.Helper()
	var got []store.Message
	last, err := db.Replay(context.Background(), filters, after, func(m store.Message) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay(%v, %d): %v", filters, after, err)
	}
	return got, last
}

func TestReplay(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	// 30 messages: subjects cycle through org0..org2 × user0..user4.
	for i := range 30 {
		mustAppend(t, db, subjectOf(i), fmt.Sprint(i), []byte(fmt.Sprint(i)))
	}
	// matching returns the sequences after `after` whose subject satisfies keep.
	matching := func(after uint64, keep func(subject string) bool) []uint64 {
		var out []uint64
		for i := range 30 {
			if uint64(i+1) > after && keep(subjectOf(i)) {
				out = append(out, uint64(i+1))
			}
		}
		return out
	}
	p := store.NotifySubjectPrefix
	tests := []struct {
		name    string
		filters []string
		after   uint64
		keep    func(string) bool
	}{
		{"All", []string{p + ">"}, 0, func(string) bool { return true }},
		{"Middle", []string{p + ">"}, 17, func(string) bool { return true }},
		{"OneUser", []string{p + "publish.org1.user2"}, 0, func(s string) bool { return s == p+"publish.org1.user2" }},
		{"SeveralFilters", []string{p + "publish.org1.user2", p + "publish.org2.*", p + "metrics.>"}, 10,
			func(s string) bool { return s == p+"publish.org1.user2" || strings.HasPrefix(s, p+"publish.org2.") }},
		// Filters contained in others would make JetStream refuse the consumer.
		{"Overlapping", []string{p + "publish.org0.user0", p + "publish.org0.*", p + "publish.org0.*", p + "publish.*.user0"}, 3,
			func(s string) bool { return strings.HasPrefix(s, p+"publish.org0.") || strings.HasSuffix(s, ".user0") }},
		{"NoMatch", []string{p + "metrics.>"}, 0, func(string) bool { return false }},
		{"AfterLast", []string{p + ">"}, 30, func(string) bool { return false }},
		{"NoFilters", nil, 0, func(string) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, last := replayAll(t, db, tc.filters, tc.after)
			if last != 30 {
				t.Errorf("Replay last = %d; want 30", last)
			}
			want := matching(tc.after, tc.keep)
			if !slices.Equal(seqs(got), want) {
				t.Errorf("Replay(%v, %d) = %v; want %v", tc.filters, tc.after, seqs(got), want)
			}
			for _, m := range got {
				if string(m.Payload) != fmt.Sprint(m.Seq-1) || m.Subject != subjectOf(int(m.Seq-1)) {
					t.Errorf("message %d = {%q %q}", m.Seq, m.Subject, m.Payload)
				}
			}
		})
	}

	t.Run("FnError", func(t *testing.T) {
		stopAt := errors.New("queue full")
		var got []uint64
		last, err := db.Replay(ctx, []string{p + "publish.org1.*"}, 0, func(m store.Message) error {
			if len(got) == 3 {
				return stopAt
			}
			got = append(got, m.Seq)
			return nil
		})
		// org1 is every third message from seq 2: 2, 5, 8, then 11 is refused.
		if !errors.Is(err, stopAt) || last != 10 || !slices.Equal(got, []uint64{2, 5, 8}) {
			t.Errorf("Replay with failing fn = %d, %v, delivered %v; want 10, %v, [2 5 8]", last, err, got, stopAt)
		}
	})

	t.Run("InvalidFilter", func(t *testing.T) {
		for _, f := range []string{"publish.>", "notify.", "notify.a.>.b", "notify.a..b"} {
			_, err := db.Replay(ctx, []string{f}, 0, func(store.Message) error { return nil })
			wantCode(t, fmt.Sprintf("Replay(%q)", f), err, vcd.CodeInvalid)
		}
	})
}

// TestReplay_ThenFeed is the broker's handover for a reconnecting persistent session:
// replay from its ack floor, then feed from the replay's last sequence + 1, while
// producers keep appending. Every matching message must arrive once, in order.
func TestReplay_ThenFeed(t *testing.T) {
	db := MustOpen(t)
	for i := range 500 {
		mustAppend(t, db, subjectOf(i), fmt.Sprint(i), nil)
	}
	const total = 3000
	appended := make(chan error, 1)
	go func() {
		for i := 500; i < total; i++ {
			if _, _, err := db.Append(context.Background(), subjectOf(i), fmt.Sprint(i), nil); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	// Replay while appends are under way.
	waitFor(t, "appends beyond 600", func() bool {
		info, err := db.LogInfo(context.Background())
		return err == nil && info.Last > 600
	})

	filter := store.NotifySubjectPrefix + "publish.org1.*"
	match := func(s string) bool { return strings.HasPrefix(s, store.NotifySubjectPrefix+"publish.org1.") }
	const after = 100
	replayed, last := replayAll(t, db, []string{filter}, after)
	ch, _ := MustFeed(t, db, last+1)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	fed := receive(t, ch, int(total-last))

	var got, want []uint64
	for _, m := range replayed {
		if m.Seq > last || !match(m.Subject) {
			t.Errorf("replayed %d %q beyond last %d or outside the filter", m.Seq, m.Subject, last)
		}
		got = append(got, m.Seq)
	}
	for _, m := range fed {
		if match(m.Subject) {
			got = append(got, m.Seq)
		}
	}
	for i := after; i < total; i++ {
		if match(subjectOf(i)) {
			want = append(want, uint64(i+1))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("replay (last %d) then feed delivered %d matching messages; want %d in order\ngot  %v\nwant %v", last, len(got), len(want), got, want)
	}
	if last >= total {
		t.Logf("appends finished before the replay; the handover ran without concurrency")
	}
	t.Logf("replayed %d up to seq %d while appending, fed %d", len(replayed), last, len(fed))
}

// TestLog_RetentionByAge lets messages expire and expects LogInfo to show the loss.
func TestLog_RetentionByAge(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, func(c *store.Config) { c.LogMaxAge = 500 * time.Millisecond })
	for i := range 3 {
		mustAppend(t, db, subjectOf(i), fmt.Sprint(i), nil)
	}
	var info store.LogInfo
	waitFor(t, "expiry of the first messages", func() bool {
		var err error
		info, err = db.LogInfo(ctx)
		return err == nil && info.First > 3
	})
	if info.Messages != 0 || info.Last != 3 || info.First != 4 {
		t.Errorf("LogInfo after expiry = %+v; want first 4, last 3, 0 messages", info)
	}
	got, last := replayAll(t, db, []string{store.NotifySubjectPrefix + ">"}, 0)
	if len(got) != 0 || last != 3 {
		t.Errorf("Replay after expiry = %v, %d; want nothing, 3", seqs(got), last)
	}
	if seq := mustAppend(t, db, subjectOf(0), "later", nil); seq != 4 {
		t.Errorf("Append after expiry = %d; want 4", seq)
	}
}

// TestLog_StreamConfig reads the stream's configuration from the server, and checks
// that Open applies changed limits to an existing stream.
func TestLog_StreamConfig(t *testing.T) {
	ctx := context.Background()
	url := MustRunNATS(t)
	open := func(o func(*store.Config)) {
		db := MustOpen(t, func(c *store.Config) { c.NATSURL = url; c.DataDir = ""; o(c) })
		_ = db.Close()
	}
	js := jetStreamAt(t, url)
	config := func() jetstream.StreamConfig {
		s, err := js.Stream(ctx, "NOTIFY")
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}

	open(func(*store.Config) {})
	c := config()
	if c.MaxAge != 24*time.Hour || c.MaxBytes != 1<<30 || c.Duplicates != 10*time.Minute ||
		!c.AllowDirect || c.Discard != jetstream.DiscardOld || c.Storage != jetstream.FileStorage ||
		c.Replicas != 1 || !slices.Equal(c.Subjects, []string{"notify.>"}) {
		t.Errorf("default stream config = %+v", c)
	}
	open(func(c *store.Config) { c.LogMaxAge = time.Hour; c.LogMaxBytes = -1; c.LogDedupWindow = 2 * time.Hour })
	if c := config(); c.MaxAge != time.Hour || c.MaxBytes != -1 || c.Duplicates != time.Hour {
		t.Errorf("updated stream config: max age %v, max bytes %d, duplicates %v; want 1h, -1, 1h (capped)", c.MaxAge, c.MaxBytes, c.Duplicates)
	}
}

// TestFeed_RecoversFromDeletedConsumer deletes the feed's consumer on the server, as a
// cluster failure can, while messages keep coming: none may be lost or repeated.
func TestFeed_RecoversFromDeletedConsumer(t *testing.T) {
	ctx := context.Background()
	url, dbs := MustOpenNodes(t, 1)
	db := dbs[0]
	js := jetStreamAt(t, url)
	stream, err := js.Stream(ctx, "NOTIFY")
	if err != nil {
		t.Fatal(err)
	}

	ch, _ := MustFeed(t, db, 1)
	var got []store.Message
	next := 0
	appendSome := func(n int) {
		for range n {
			mustAppend(t, db, subjectOf(next), fmt.Sprint(next), nil)
			next++
		}
	}
	for round := range 3 {
		appendSome(100)
		got = append(got, receive(t, ch, 100)...)
		deleted := 0
		for name := range stream.ListConsumers(ctx).Info() {
			if err := stream.DeleteConsumer(ctx, name.Name); err == nil {
				deleted++
			}
		}
		if deleted == 0 {
			t.Fatalf("round %d: no consumer to delete", round)
		}
	}
	appendSome(100)
	got = append(got, receive(t, ch, 100)...)
	if want := span(1, uint64(next)); !slices.Equal(seqs(got), want) {
		t.Fatalf("fed %v; want 1..%d once each", seqs(got), next)
	}
}

// BenchmarkAppend measures one synchronous append (publish, wait for the stored ack)
// of an 800-byte notification, one producer and eight concurrent ones.
func BenchmarkAppend(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 800)
	b.Run("Sync", func(b *testing.B) {
		db := MustOpen(b)
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := db.Append(ctx, subjectOf(i), fmt.Sprint(i), payload); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel8", func(b *testing.B) {
		db := MustOpen(b)
		ctx := context.Background()
		var mu sync.Mutex
		n := 0
		b.SetParallelism(4) // 4 × GOMAXPROCS(2) producers
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				if _, _, err := db.Append(ctx, subjectOf(i), fmt.Sprint(i), payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Async100", func(b *testing.B) {
		// One producer with up to 100 appends in flight, waited for in order: the
		// broker's pipeline for one MQTT producer.
		db := MustOpen(b)
		ctx := context.Background()
		waits := make(chan store.AppendWait, 100)
		done := make(chan error, 1)
		go func() {
			for w := range waits {
				if _, _, err := w(ctx); err != nil {
					done <- err
					for range waits {
					}
					return
				}
			}
			done <- nil
		}()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w, err := db.AppendAsync(subjectOf(i), fmt.Sprint(i), payload)
			if err != nil {
				b.Fatal(err)
			}
			waits <- w
			i++
		}
		close(waits)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("Batch", func(b *testing.B) {
		db := MustOpen(b)
		ctx := context.Background()
		recs := make([]store.Record, 1000)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for j := range recs {
				recs[j] = store.Record{Subject: subjectOf(n), ID: fmt.Sprint(n), Payload: payload}
				n++
			}
			if _, err := db.AppendBatch(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkAppendFeed measures messages appended (in batches of 1000) and delivered by
// the live feed, end to end: each iteration is a batch.
func BenchmarkAppendFeed(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 800)
	db := MustOpen(b)
	ctx := context.Background()
	ch, _ := MustFeed(b, db, 1)
	recs := make([]store.Record, 1000)
	n := 0
	for b.Loop() {
		for j := range recs {
			recs[j] = store.Record{Subject: subjectOf(n), ID: fmt.Sprint(n), Payload: payload}
			n++
		}
		if _, err := db.AppendBatch(ctx, recs); err != nil {
			b.Fatal(err)
		}
		// Drain what has arrived so the channel never fills.
		for drained := false; !drained; {
			select {
			case <-ch:
			default:
				drained = true
			}
		}
	}
	for m := range ch {
		if m.Seq == uint64(n) {
			break
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReplay replays 100k stored 800-byte messages, all of them and a fifth of
// them (one filter of several).
func BenchmarkReplay(b *testing.B) {
	const total = 100_000
	payload := bytes.Repeat([]byte("x"), 800)
	db := MustOpen(b, func(c *store.Config) { c.LogMaxBytes = -1 })
	ctx := context.Background()
	recs := make([]store.Record, 1000)
	for n := 0; n < total; {
		for j := range recs {
			recs[j] = store.Record{Subject: subjectOf(n), ID: fmt.Sprint(n), Payload: payload}
			n++
		}
		if _, err := db.AppendBatch(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	p := store.NotifySubjectPrefix
	for _, bc := range []struct {
		name    string
		filters []string
	}{
		{"All", []string{p + ">"}},
		{"User", []string{p + "publish.*.user3", p + "metrics.>"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			delivered := 0
			for b.Loop() {
				last, err := db.Replay(ctx, bc.filters, 0, func(store.Message) error { delivered++; return nil })
				if err != nil || last != total {
					b.Fatalf("Replay = %d, %v", last, err)
				}
			}
			b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
