package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

func TestSymTable_Table(t *testing.T) {
	var tab symTable
	steps := []struct {
		op   string // "add" or "release"
		s    string
		want uint32 // the number add returns; for release, the symbol's
	}{
		{"add", "", 0},
		{"add", "org-a", 1},
		{"add", "org-b", 2},
		{"add", "org-a", 1},
		{"release", "org-a", 1},
		{"add", "org-a", 1}, // still used once: the same number
		{"release", "org-a", 1},
		{"release", "org-a", 1}, // now free
		{"add", "org-c", 1},     // the freed number again
		{"add", "org-d", 3},
		{"release", "", 0}, // "" is never freed
	}
	for i, st := range steps {
		switch st.op {
		case "add":
			if got := tab.add(st.s); got != st.want {
				t.Fatalf("step %d: add(%q) = %d; want %d", i, st.s, got, st.want)
			}
		case "release":
			tab.release(st.want)
		}
	}
	for s, want := range map[string]uint32{"": 0, "org-b": 2, "org-c": 1, "org-d": 3} {
		if n, ok := tab.lookup(s); !ok || n != want {
			t.Errorf("lookup(%q) = %d, %v; want %d, true", s, n, ok, want)
		}
		if got := tab.str(want); got != s {
			t.Errorf("str(%d) = %q; want %q", want, got, s)
		}
	}
	if _, ok := tab.lookup("org-a"); ok {
		t.Error("a freed text is still a symbol")
	}
	if tab.count() != 3 || tab.numbers() != 4 {
		t.Errorf("count %d, numbers %d; want 3, 4", tab.count(), tab.numbers())
	}
}

// TestSymTable_AgainstMap drives the table and a map with the same random adds and
// releases (texts from a small set, so that probe runs collide and deletions move
// entries back), checking every text after every step, through growth, shrinking and
// compaction.
func TestSymTable_AgainstMap(t *testing.T) {
	var tab symTable
	type ref struct {
		n    uint32
		uses int
	}
	want := map[string]*ref{}
	rng := rand.New(rand.NewPCG(1, 2))
	long := strings.Repeat("x", 4000) // freed fast enough to compact
	text := func() string {
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("%s-%d", long, rng.IntN(600))
		}
		return fmt.Sprintf("name-%d", rng.IntN(3000))
	}
	compacted, shrunk := false, false
	for step := range 200_000 {
		s := text()
		if r, ok := want[s]; ok && rng.IntN(2) == 0 {
			tab.release(r.n)
			if r.uses--; r.uses == 0 {
				delete(want, s)
			}
		} else {
			n := tab.add(s)
			if ok && n != r.n {
				t.Fatalf("step %d: add(%q) = %d; it was %d", step, s, n, r.n)
			}
			if !ok {
				want[s] = &ref{n: n}
			}
			want[s].uses++
		}
		if step%5000 == 0 || step > 199_000 {
			garbage, slots := tab.garbage, len(tab.slots)
			// Release everything now and then, so that the table shrinks.
			if step%50_000 == 0 {
				for s, r := range want {
					for range r.uses {
						tab.release(r.n)
					}
					delete(want, s)
				}
				if len(tab.slots) < slots {
					shrunk = true
				}
			}
			if tab.garbage < garbage {
				compacted = true
			}
			if tab.count() != len(want) {
				t.Fatalf("step %d: %d symbols; want %d", step, tab.count(), len(want))
			}
			for s, r := range want {
				if n, ok := tab.lookup(s); !ok || n != r.n {
					t.Fatalf("step %d: lookup(%.20q) = %d, %v; want %d", step, s, n, ok, r.n)
				}
				if got := tab.str(r.n); got != s {
					t.Fatalf("step %d: str(%d) = %.20q; want %.20q", step, r.n, got, s)
				}
			}
		}
	}
	if !compacted || !shrunk {
		t.Errorf("compacted %v, shrunk %v: the test did not reach both", compacted, shrunk)
	}
}

// TestSymTable_StrOutlivesCompaction checks that a text str returned stays the same
// after its symbol is freed, its number reused and the table compacted.
func TestSymTable_StrOutlivesCompaction(t *testing.T) {
	var tab symTable
	n := tab.add("kept-by-caller")
	s := tab.str(n)
	tab.release(n)
	big := strings.Repeat("y", symCompactMin)
	for i := range 3 {
		tab.release(tab.add(fmt.Sprintf("%s%d", big, i)))
	}
	if tab.garbage != 0 {
		t.Fatalf("garbage %d: the table did not compact", tab.garbage)
	}
	tab.add("reused-number")
	runtime.GC()
	if s != "kept-by-caller" {
		t.Fatalf("the caller's text changed to %.20q", s)
	}
}

// BenchmarkSymTableAdd measures counting one more use of a known text (Known: most
// fields of most records), and adding a text and freeing it again (Unique: an entity
// name unique to its record, added when it is indexed and freed when it is pruned),
// among 100,000 symbols.
func BenchmarkSymTableAdd(b *testing.B) {
	var tab symTable
	names := make([]string, 100_000)
	for i := range names {
		names[i] = fmt.Sprintf("vm-%d-backup", i)
		tab.add(names[i])
	}
	b.Run("Known", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tab.release(tab.add(names[i%len(names)]))
		}
	})
	unique := make([]string, 1<<16)
	for i := range unique {
		unique[i] = fmt.Sprintf("vm-%d-backup-2026-11-28T22:00:00Z", i)
	}
	b.Run("Unique", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tab.release(tab.add(unique[i%len(unique)]))
		}
	})
}
