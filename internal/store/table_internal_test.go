package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// TestTable_Ordering pins the cache's revision rules: what the watcher delivers late
// must never undo a newer local write or a local delete.
func TestTable_Ordering(t *testing.T) {
	type step struct {
		op  string // "put" (local), "watch" (watcher put), "wdel" (watcher delete), "forget" (local delete)
		rev uint64
		v   string
	}
	tests := []struct {
		name    string
		steps   []step
		want    string // "" means absent
		wantRev uint64
		tombs   int
	}{
		{"LocalWriteThenSameRevWatched", []step{{"put", 5, "a"}, {"watch", 5, "a"}}, "a", 5, 0},
		{"LocalWriteThenOlderWatched", []step{{"put", 5, "b"}, {"watch", 4, "a"}}, "b", 5, 0},
		{"WatchedNewerWins", []step{{"put", 5, "a"}, {"watch", 7, "c"}}, "c", 7, 0},
		{"OlderLocalWriteIgnored", []step{{"watch", 7, "c"}, {"put", 5, "a"}}, "c", 7, 0},
		{"LocalDeleteThenStaleWatch", []step{{"put", 5, "a"}, {"forget", 5, ""}, {"watch", 3, "old"}, {"watch", 5, "a"}}, "", 0, 0},
		{"TombstoneKeptWhileWatcherBehind", []step{{"put", 5, "a"}, {"forget", 5, ""}, {"watch", 3, "old"}}, "", 0, 1},
		{"RecreateAfterDelete", []step{{"put", 5, "a"}, {"forget", 5, ""}, {"wdel", 6, ""}, {"watch", 9, "new"}}, "new", 9, 0},
		{"ForgetAfterWatcherPassed", []step{{"watch", 5, "a"}, {"wdel", 6, ""}, {"forget", 5, ""}}, "", 0, 0},
		{"StaleWatchedDelete", []step{{"put", 8, "a"}, {"wdel", 6, ""}}, "a", 8, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := &table[string]{
				kind:   "test",
				logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				items:  map[string]item[string]{},
			}
			for _, s := range tc.steps {
				switch s.op {
				case "put":
					tb.put("k", s.rev, s.v, false)
				case "watch":
					tb.put("k", s.rev, s.v, true)
				case "wdel":
					tb.remove("k", s.rev)
				case "forget":
					tb.forget("k", s.rev)
				}
			}
			v, rev, ok := tb.get("k")
			if tc.want == "" && ok {
				t.Errorf("after %v: k = %q@%d; want absent", tc.steps, v, rev)
			}
			if tc.want != "" && (v != tc.want || rev != tc.wantRev) {
				t.Errorf("after %v: k = %q@%d (present %v); want %q@%d", tc.steps, v, rev, ok, tc.want, tc.wantRev)
			}
			if len(tb.tombs.byKey) != tc.tombs {
				t.Errorf("after %v: %d tombstones; want %d", tc.steps, len(tb.tombs.byKey), tc.tombs)
			}
		})
	}
}

// TestTable_Index checks that secondary indexes follow puts and removals.
func TestTable_Index(t *testing.T) {
	idx := map[string]string{}
	tb := &table[string]{
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		items:  map[string]item[string]{},
		index: func(id string, old, new *string) {
			if old != nil {
				deleteIf(idx, *old, id)
			}
			if new != nil {
				idx[*new] = id
			}
		},
	}
	tb.put("a", 1, "x", true)
	tb.put("a", 2, "y", true)
	tb.put("b", 3, "x", true)
	if len(idx) != 2 || idx["x"] != "b" || idx["y"] != "a" {
		t.Fatalf("index = %v; want x→b, y→a", idx)
	}
	tb.remove("a", 4)
	if len(idx) != 1 || idx["x"] != "b" {
		t.Fatalf("index after remove = %v; want x→b", idx)
	}
}

// TestLastRev_Shares pins catchUp's request sharing: a caller that arrives while a
// request is pending gets the answer of the next request, sent after it arrived (the
// pending one may predate the write it looks for), and the callers that arrive
// meanwhile share that one request.
func TestLastRev_Shares(t *testing.T) {
	var l lastRev
	started := make(chan uint64)
	release := make(chan struct{})
	var sent uint64
	fetch := func(ctx context.Context) (uint64, error) {
		sent++ // only run's goroutine calls fetch, one request at a time
		n := sent
		started <- n
		<-release
		return n, nil
	}
	got := make(chan uint64, 4)
	ask := func() {
		rev, err := l.get(context.Background(), fetch)
		if err != nil {
			t.Error(err)
		}
		got <- rev
	}
	go ask()
	if n := <-started; n != 1 {
		t.Fatalf("first request %d", n)
	}
	// Three callers arrive while request 1 is pending.
	for range 3 {
		go ask()
	}
	for {
		l.mu.Lock()
		w := 0
		if l.next != nil {
			w = l.next.waiters
		}
		l.mu.Unlock()
		if w == 3 {
			break
		}
		runtime.Gosched()
	}
	release <- struct{}{}
	if rev := <-got; rev != 1 {
		t.Fatalf("first caller got %d, want 1", rev)
	}
	if n := <-started; n != 2 {
		t.Fatalf("second request %d", n)
	}
	release <- struct{}{}
	for range 3 {
		if rev := <-got; rev != 2 {
			t.Fatalf("a caller that arrived during request 1 got %d, want 2", rev)
		}
	}
	// Nobody waits: the goroutine has stopped, and a new caller starts a request.
	go ask()
	if n := <-started; n != 3 {
		t.Fatalf("third request %d", n)
	}
	release <- struct{}{}
	if rev := <-got; rev != 3 {
		t.Fatalf("late caller got %d, want 3", rev)
	}

	// A caller whose context ends stops waiting; the request still completes for
	// the others.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := l.get(ctx, fetch); errc <- err }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	release <- struct{}{}
}
