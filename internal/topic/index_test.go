package topic_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/topic"
)

func TestIndex_Match(t *testing.T) {
	subs := []struct {
		filter string
		v      string
	}{
		{topic.Publish(org, user), "alice"},
		{"publish/" + org + "/+", "admin plus"},
		{"publish/" + org + "/*", "admin star"},
		{"publish/" + org + "/#", "admin hash"},
		{"publish/#", "sys publish"},
		{"publish/*/*", "sys star"},
		{"metrics/#", "sys metrics"},
		{"#", "everything"},
		{"+/+/+", "three levels"},
		{"$SYS/#", "sys broker"},
		{"a//b", "empty level"},
		{"a/+/b", "plus empty"},
		{"publish/" + org + "/u*", "literal star"},
	}
	var x topic.Index[string]
	for _, s := range subs {
		if err := x.Add(s.filter, s.v); err != nil {
			t.Fatalf("Add(%q): %v", s.filter, err)
		}
	}
	tests := []struct {
		name, topic string
		want        []string
	}{
		{"user topic", topic.Publish(org, user), []string{"admin hash", "admin plus", "admin star", "alice", "everything", "sys publish", "sys star", "three levels"}},
		{"other user", topic.Publish(org, otherUser), []string{"admin hash", "admin plus", "admin star", "everything", "sys publish", "sys star", "three levels"}},
		{"other org", topic.Publish(otherOrg, user), []string{"everything", "sys publish", "sys star", "three levels"}},
		{"metrics", topic.Metrics(org, vApp), []string{"everything", "sys metrics", "three levels"}},
		{"org parent", "publish/" + org, []string{"admin hash", "everything", "sys publish"}},
		{"literal star", "publish/" + org + "/u*", []string{"admin hash", "admin plus", "admin star", "everything", "literal star", "sys publish", "sys star", "three levels"}},
		{"dollar", "$SYS/x", []string{"sys broker"}},
		{"dollar three levels", "$SYS/x/y", []string{"sys broker"}},
		{"empty level", "a//b", []string{"empty level", "everything", "plus empty", "three levels"}},
		{"invalid topic", "publish/+/x", nil},
		{"empty topic", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := x.AppendMatches(nil, tc.topic)
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Match(%q) mismatch (-want +got):\n%s", tc.topic, diff)
			}
			// The index agrees with Match.
			var want []string
			for _, s := range subs {
				if topic.Match(s.filter, tc.topic) {
					want = append(want, s.v)
				}
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("index and Match disagree on %q (-Match +index):\n%s", tc.topic, diff)
			}
		})
	}
}

func TestIndex_AddRemove(t *testing.T) {
	var x topic.Index[int]
	mustAdd := func(f string, v int) {
		t.Helper()
		if err := x.Add(f, v); err != nil {
			t.Fatalf("Add(%q, %d): %v", f, v, err)
		}
	}
	matches := func(tp string) []int {
		got := x.AppendMatches(nil, tp)
		slices.Sort(got)
		return got
	}
	mustAdd("a/+", 1)
	mustAdd("a/*", 1) // a different filter string: a second pair
	mustAdd("a/+", 1) // the same pair: no change
	mustAdd("a/#", 2)
	mustAdd("a/b", 3)
	if got := x.Len(); got != 4 {
		t.Errorf("Len() = %d; want 4", got)
	}
	if diff := cmp.Diff([]int{1, 1, 2, 3}, matches("a/b")); diff != "" {
		t.Errorf("Match(a/b) mismatch (-want +got):\n%s", diff)
	}
	if !x.Remove("a/*", 1) {
		t.Errorf("Remove(a/*, 1) = false; want true")
	}
	if x.Remove("a/*", 1) {
		t.Errorf("second Remove(a/*, 1) = true; want false")
	}
	if x.Remove("a/+", 9) || x.Remove("x/y", 1) || x.Remove("a/#/b", 1) || x.Remove("a/b/c", 3) {
		t.Errorf("Remove of an absent pair reported true")
	}
	if diff := cmp.Diff([]int{1, 2, 3}, matches("a/b")); diff != "" {
		t.Errorf("Match(a/b) after Remove mismatch (-want +got):\n%s", diff)
	}
	for _, r := range []struct {
		f string
		v int
	}{{"a/+", 1}, {"a/#", 2}, {"a/b", 3}} {
		if !x.Remove(r.f, r.v) {
			t.Errorf("Remove(%q, %d) = false; want true", r.f, r.v)
		}
	}
	if got := x.Len(); got != 0 {
		t.Errorf("Len() = %d after removing all; want 0", got)
	}
	if got := matches("a/b"); len(got) != 0 {
		t.Errorf("Match(a/b) on empty index = %v; want none", got)
	}
	if err := x.Add("a/#/b", 1); err == nil {
		t.Errorf("Add(a/#/b) = nil; want an error")
	}
}

func TestIndex_MatchDoesNotAllocate(t *testing.T) {
	var x topic.Index[int]
	for i, f := range []string{topic.Publish(org, user), "publish/" + org + "/+", "publish/#", "#"} {
		if err := x.Add(f, i); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]int, 0, 8)
	n := 0
	tp := topic.Publish(org, user)
	allocs := testing.AllocsPerRun(100, func() {
		buf = x.AppendMatches(buf[:0], tp)
		x.Match(tp, func(int) { n++ })
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run; want 0", allocs)
	}
	if len(buf) != 4 {
		t.Errorf("AppendMatches found %d; want 4", len(buf))
	}
}

func TestIndex_Concurrent(t *testing.T) {
	var x topic.Index[int]
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				f := fmt.Sprintf("publish/%d/%d", w, i)
				if err := x.Add(f, i); err != nil {
					t.Error(err)
					return
				}
				x.Match(f, func(int) {})
				if !x.Remove(f, i) {
					t.Errorf("Remove(%q) = false", f)
				}
			}
		}()
	}
	wg.Wait()
	if got := x.Len(); got != 0 {
		t.Errorf("Len() = %d; want 0", got)
	}
}

// benchIndex builds the index of a large site: orgs × users exact subscriptions, one
// org-admin "+" subscription per org, and a few sysadmin "#" filters.
func benchIndex(b *testing.B, orgs, users int) (*topic.Index[int], []string) {
	b.Helper()
	x := new(topic.Index[int])
	var topics []string
	id := 0
	for o := range orgs {
		orgID := fmt.Sprintf("%08x-0000-4000-8000-000000000000", o)
		for u := range users {
			tp := topic.Publish(orgID, fmt.Sprintf("%08x-1111-4000-8000-000000000000", u))
			topics = append(topics, tp)
			if err := x.Add(tp, id); err != nil {
				b.Fatal(err)
			}
			id++
		}
		if err := x.Add("publish/"+orgID+"/+", id); err != nil {
			b.Fatal(err)
		}
		id++
	}
	for i := range 3 {
		if err := x.Add("publish/#", id+i); err != nil {
			b.Fatal(err)
		}
	}
	return x, topics
}

func BenchmarkIndex_Match(b *testing.B) {
	x, topics := benchIndex(b, 1000, 100)
	buf := make([]int, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		buf = x.AppendMatches(buf[:0], topics[i%len(topics)])
		if len(buf) != 5 {
			b.Fatalf("matched %d; want 5", len(buf))
		}
	}
}

func BenchmarkIndex_AddRemove(b *testing.B) {
	x, _ := benchIndex(b, 1000, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := topic.Publish(org, fmt.Sprintf("%08x-2222-4000-8000-000000000000", i%1024))
		if err := x.Add(f, -1); err != nil {
			b.Fatal(err)
		}
		if !x.Remove(f, -1) {
			b.Fatal("Remove = false")
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	f, tp := "publish/"+org+"/+", topic.Publish(org, user)
	b.ReportAllocs()
	for b.Loop() {
		if !topic.Match(f, tp) {
			b.Fatal("no match")
		}
	}
}
