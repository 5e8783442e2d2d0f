package topic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/topic"
)

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		want  error // nil: valid
	}{
		{"notification", "publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f", nil},
		{"single level", "a", nil},
		{"slash only", "/", nil},
		{"empty levels", "a//b/", nil},
		{"dollar", "$SYS/broker", nil},
		{"literal star", "publish/*/a*b", nil},
		{"spaces and dots", "a b/c.d", nil},
		{"unicode", "héraut/✉", nil},
		{"max length", strings.Repeat("a", topic.MaxLen), nil},
		{"empty", "", topic.ErrEmpty},
		{"too long", strings.Repeat("a", topic.MaxLen+1), topic.ErrTooLong},
		{"nul", "a/\x00", topic.ErrNUL},
		{"bad utf8", "a/\xff", topic.ErrInvalidUTF8},
		{"plus", "a/+", topic.ErrWildcardInTopic},
		{"hash", "#", topic.ErrWildcardInTopic},
		{"plus inside level", "a/b+c", topic.ErrWildcardInTopic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := topic.ValidateTopic(tc.topic)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("ValidateTopic(%.40q) = %v; want %v", tc.topic, err, tc.want)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		want   error
	}{
		{"exact", "publish/a/b", nil},
		{"hash", "#", nil},
		{"plus", "+", nil},
		{"plus levels", "+/+/+", nil},
		{"final hash", "publish/#", nil},
		{"plus then hash", "+/#", nil},
		{"star", "publish/*/*", nil},
		{"star inside level", "publish/a*", nil},
		{"empty levels", "//", nil},
		{"empty level before hash", "a//#", nil},
		{"empty", "", topic.ErrEmpty},
		{"too long", strings.Repeat("a", topic.MaxLen+1), topic.ErrTooLong},
		{"nul", "a/\x00/#", topic.ErrNUL},
		{"bad utf8", "\xc3", topic.ErrInvalidUTF8},
		{"hash not last", "a/#/b", topic.ErrHashNotLast},
		{"hash inside level", "a/b#", topic.ErrBadWildcard},
		{"plus inside level", "a/+b/c", topic.ErrBadWildcard},
		{"double hash", "##", topic.ErrBadWildcard},
		{"hash then plus", "#/+", topic.ErrHashNotLast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := topic.ValidateFilter(tc.filter)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("ValidateFilter(%.40q) = %v; want %v", tc.filter, err, tc.want)
			}
		})
	}
}

func TestValidateFilter_ErrorNamesPosition(t *testing.T) {
	err := topic.ValidateFilter("publish/a+")
	if err == nil || !strings.Contains(err.Error(), "byte 9") {
		t.Errorf("ValidateFilter(%q) = %v; want an error naming byte 9", "publish/a+", err)
	}
}
