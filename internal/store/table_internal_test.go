package store

import (
	"io"
	"log/slog"
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
