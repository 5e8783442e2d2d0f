package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic or filter MQTT can carry, in bytes [MQTT-4.7.3-3].
const MaxLen = 65535

// Sentinel errors returned, wrapped with the offending byte position, by ValidateTopic,
// ValidateFilter and ValidateNotification. Compare with errors.Is.
var (
	ErrEmpty           = errors.New("empty topic")
	ErrTooLong         = errors.New("topic longer than 65535 bytes")
	ErrNUL             = errors.New("topic contains U+0000")
	ErrInvalidUTF8     = errors.New("topic is not valid UTF-8")
	ErrWildcardInTopic = errors.New("wildcard in topic name")
	ErrBadWildcard     = errors.New("wildcard is not a whole level")
	ErrHashNotLast     = errors.New("multi-level wildcard is not the last level")
	ErrNotNotification = errors.New("not a notification topic")
)

// problem is a grammar violation found without allocating: the sentinel and the byte
// offset where it was found. A nil err means the input is valid.
type problem struct {
	err error
	pos int
}

func (p problem) error() error {
	if p.err == nil {
		return nil
	}
	if p.err == ErrEmpty || p.err == ErrTooLong {
		return p.err
	}
	return fmt.Errorf("%w at byte %d", p.err, p.pos)
}

// checkLength applies the length rule shared by topics and filters: 1 to 65535 bytes
// [MQTT-4.7.3-1, MQTT-4.7.3-3].
func checkLength(s string) problem {
	switch {
	case len(s) == 0:
		return problem{ErrEmpty, 0}
	case len(s) > MaxLen:
		return problem{ErrTooLong, MaxLen}
	}
	return problem{}
}

// checkUTF8 reports the first invalid UTF-8 sequence [MQTT-1.5.3-1].
func checkUTF8(s string) problem {
	if !utf8.ValidString(s) {
		for i, r := range s {
			if r == utf8.RuneError {
				return problem{ErrInvalidUTF8, i}
			}
		}
	}
	return problem{}
}

// checkTopic and checkFilter make one pass over the bytes, since Match and the Index
// call them on every message.
func checkTopic(t string) problem {
	if p := checkLength(t); p.err != nil {
		return p
	}
	ascii := true
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == 0:
			return problem{ErrNUL, i} // [MQTT-4.7.3-2]
		case c == '+' || c == '#':
			return problem{ErrWildcardInTopic, i} // [MQTT-3.3.2-2]
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii {
		return checkUTF8(t)
	}
	return problem{}
}

func checkFilter(f string) problem {
	if p := checkLength(f); p.err != nil {
		return p
	}
	ascii := true
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c == 0:
			return problem{ErrNUL, i}
		case c == '+' || c == '#':
			// '+' and '#' must occupy a whole level [MQTT-4.7.1-2, MQTT-4.7.1-3].
			if i > 0 && f[i-1] != '/' || i+1 < len(f) && f[i+1] != '/' {
				return problem{ErrBadWildcard, i}
			}
			// '#' must be the last level [MQTT-4.7.1-2].
			if c == '#' && i+1 < len(f) {
				return problem{ErrHashNotLast, i}
			}
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii {
		return checkUTF8(f)
	}
	return problem{}
}

// ValidateTopic reports whether t is a valid MQTT topic name (as in PUBLISH): 1 to 65535
// bytes of UTF-8 without U+0000, '+' or '#'. The error wraps one of the package's
// sentinel errors and names the byte position.
func ValidateTopic(t string) error { return checkTopic(t).error() }

// ValidateFilter reports whether f is a valid MQTT topic filter (as in SUBSCRIBE): the
// rules of ValidateTopic, except that '+' may stand as a whole level and '#' as the
// whole last level. A '*' is always valid; as a whole level it is VCD's single-level
// wildcard (see Match). The error wraps one of the package's sentinel errors.
func ValidateFilter(f string) error { return checkFilter(f).error() }

// isSingle reports whether a filter level is a single-level wildcard: MQTT's '+' or, as
// VCD's Artemis broker has it, a whole-level '*' (VCD-COMPAT §7.2).
func isSingle(level string) bool { return level == "+" || level == "*" }

// isWild reports whether a filter level is any wildcard.
func isWild(level string) bool { return level == "+" || level == "*" || level == "#" }

// firstLevel returns the part of s before the first '/'.
func firstLevel(s string) string {
	l, _, _ := strings.Cut(s, "/")
	return l
}
