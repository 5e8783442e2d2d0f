package topic_test

import (
	"testing"

	"github.com/heraldmq/herald/internal/topic"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name          string
		filter, topic string
		want          bool
	}{
		{"exact", "publish/o/u", "publish/o/u", true},
		{"exact differs", "publish/o/u", "publish/o/v", false},
		{"case sensitive", "publish/o/u", "publish/O/u", false},
		{"plus", "publish/o/+", "publish/o/u", true},
		{"star as plus", "publish/o/*", "publish/o/u", true},
		{"star star", "publish/*/*", "publish/o/u", true},
		{"plus one level only", "publish/+", "publish/o/u", false},
		{"plus needs the level", "publish/o/+", "publish/o", false},
		{"plus matches empty level", "publish/o/+", "publish/o/", true},
		{"star inside level is literal", "publish/o/u*", "publish/o/uu", false},
		{"star inside level matches itself", "publish/o/u*", "publish/o/u*", true},
		{"hash", "#", "publish/o/u", true},
		{"hash under prefix", "publish/#", "publish/o/u", true},
		{"hash matches parent", "publish/o/#", "publish/o", true},
		{"hash not sibling", "publish/o/#", "publish/p/u", false},
		{"hash not prefix of level", "pub/#", "publish/o", false},
		{"plus then hash", "+/#", "a", true},
		{"longer filter", "a/b/c", "a/b", false},
		{"longer topic", "a/b", "a/b/c", false},
		{"empty levels", "a//b", "a//b", true},
		{"plus over empty levels", "+/+", "/", true},
		{"leading slash", "/a", "/a", true},
		{"leading slash plus", "+/a", "/a", true},
		{"dollar hash", "#", "$SYS/x", false},
		{"dollar plus", "+/x", "$SYS/x", false},
		{"dollar star", "*/x", "$SYS/x", false},
		{"dollar literal", "$SYS/#", "$SYS/x", true},
		{"dollar deeper wildcard", "$SYS/+", "$SYS/x", true},
		{"dollar not first", "a/#", "a/$x", true},
		{"invalid filter", "a/#/b", "a/x/b", false},
		{"invalid topic", "a/+", "a/+", false},
		{"empty topic", "#", "", false},
		{"empty filter", "", "a", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := topic.Match(tc.filter, tc.topic); got != tc.want {
				t.Errorf("Match(%q, %q) = %v; want %v", tc.filter, tc.topic, got, tc.want)
			}
		})
	}
}

func TestMatch_DoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		topic.Match("publish/+/#", "publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f")
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times; want 0", allocs)
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		name         string
		outer, inner string
		want         bool
	}{
		{"same", "publish/o/u", "publish/o/u", true},
		{"plus inside hash", "publish/#", "publish/+/+", true},
		{"star inside hash", "publish/a/#", "publish/a/*", true},
		{"star star inside hash", "publish/#", "publish/*/*", true},
		{"hash inside hash", "publish/#", "publish/#", true},
		{"deeper hash inside hash", "publish/#", "publish/o/#", true},
		{"hash not inside prefix hash", "publish/#", "#", false},
		{"parent inside hash", "publish/o/#", "publish/o", true},
		{"exact inside plus", "publish/o/+", "publish/o/u", true},
		{"star inside plus", "publish/o/+", "publish/o/*", true},
		{"plus inside star", "publish/o/*", "publish/o/+", true},
		{"hash not inside plus", "publish/o/+", "publish/o/#", false},
		{"plus not inside exact", "publish/o/u", "publish/o/+", false},
		{"other org", "publish/o/#", "publish/p/u", false},
		{"plus org not inside org", "publish/o/#", "publish/+/u", false},
		{"shorter inner", "publish/o/u", "publish/o", false},
		{"longer inner", "publish/o", "publish/o/u", false},
		{"everything inside hash", "#", "a/+/#", true},
		{"plus hash", "+/#", "a/b", true},
		{"metrics not inside publish", "publish/#", "metrics/#", false},
		{"literal star not a wildcard", "publish/o/u*", "publish/o/ux", false},
		{"dollar not inside hash", "#", "$SYS/x", false},
		{"dollar not inside plus", "+/x", "$SYS/x", false},
		{"dollar inside dollar", "$SYS/#", "$SYS/x", true},
		{"plus first inside hash", "#", "+/x", true},
		{"empty level inside plus", "a/+", "a/", true},
		{"invalid outer", "a/#/b", "a/x/b", false},
		{"invalid inner", "#", "a+", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := topic.Contains(tc.outer, tc.inner); got != tc.want {
				t.Errorf("Contains(%q, %q) = %v; want %v", tc.outer, tc.inner, got, tc.want)
			}
		})
	}
}
