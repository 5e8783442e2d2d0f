package topic_test

import (
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/topic"
)

// FuzzFilterMatch checks Match, Contains, the Index and the subject mapping against each
// other on arbitrary filters and topics. Seeds are in testdata/fuzz/FuzzFilterMatch.
func FuzzFilterMatch(f *testing.F) {
	f.Add("publish/+/#", topic.Publish(org, user))
	f.Add("#", "$SYS/x")
	f.Add("a/*", "a/b")
	f.Add("+/+", "/")
	f.Fuzz(func(t *testing.T, filter, tp string) {
		got := topic.Match(filter, tp)
		topic.Contains(filter, tp)
		topic.FilterSubject(filter)

		validFilter := topic.ValidateFilter(filter) == nil
		validTopic := topic.ValidateTopic(tp) == nil
		if got && (!validFilter || !validTopic) {
			t.Fatalf("Match(%q, %q) = true for invalid input", filter, tp)
		}

		// The trie agrees with Match.
		var x topic.Index[int]
		if err := x.Add(filter, 1); (err == nil) != validFilter {
			t.Fatalf("Index.Add(%q) = %v; ValidateFilter valid = %v", filter, err, validFilter)
		}
		if n := len(x.AppendMatches(nil, tp)); n != b2i(got) {
			t.Fatalf("Index matches %q with %q %d times; Match = %v", filter, tp, n, got)
		}

		if validFilter {
			if !topic.Contains(filter, filter) {
				t.Fatalf("Contains(%q, itself) = false", filter)
			}
			if validTopic && topic.Contains(filter, tp) && !got {
				t.Fatalf("Contains(%q, %q) but no Match", filter, tp)
			}
			// The subject filter covers every topic the filter matches that can be
			// stored: under publish/ and metrics/ only strict notification topics are.
			stored := !topic.InNotificationSpace(tp) || topic.IsNotificationTopic(tp)
			if got && stored && !subjectMatch(topic.FilterSubject(filter), topic.EscapeSubject(tp)) {
				t.Fatalf("FilterSubject(%q) = %q does not cover EscapeSubject(%q) = %q",
					filter, topic.FilterSubject(filter), tp, topic.EscapeSubject(tp))
			}
		}
		if !validTopic {
			return
		}
		if !topic.Match(tp, tp) {
			t.Fatalf("topic %q does not match itself", tp)
		}
		if want := tp[0] != '$'; topic.Match("#", tp) != want {
			t.Fatalf("Match(#, %q) = %v; want %v", tp, !want, want)
		}
		// Every level prefix of the topic, followed by "/#", matches it.
		for i := strings.IndexByte(tp, '/'); i >= 0; i = next(tp, i) {
			prefix := tp[:i]
			if !topic.Match(prefix+"/#", tp) || prefix != "" && !topic.Match(prefix+"/#", prefix) {
				t.Fatalf("Match(%q, %q or its prefix) = false", prefix+"/#", tp)
			}
		}
		back, err := topic.UnescapeSubject(topic.EscapeSubject(tp))
		if err != nil || back != tp {
			t.Fatalf("UnescapeSubject(EscapeSubject(%q)) = %q, %v", tp, back, err)
		}
	})
}

// next returns the index of the first '/' in s after i, or -1.
func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
