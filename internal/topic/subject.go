package topic

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects in the durable log (ARCHITECTURE.md): a notification topic
// publish/<org>/<user> is stored under the NATS subject publish.<org>.<user>, and
// metrics/<org>/<vapp> under metrics.<org>.<vapp>. Any other topic (extension topics,
// retained messages) is stored under EscapeSubject(topic), which maps notification
// topics to the same subjects, so one mapping serves both.
//
// The escape turns each topic level into one NATS token. Bytes in [A-Za-z0-9_-] stand
// for themselves; every other byte b, including '.', ' ', '*', '>', '/', '=' and each
// byte of a multi-byte UTF-8 sequence, becomes "=" followed by two uppercase hex
// digits; an empty level becomes the lone token "=". The result uses only
// [A-Za-z0-9_=.-], so it is a valid JetStream subject and KV key, and UnescapeSubject
// inverts it exactly.

// ErrBadSubject is wrapped by UnescapeSubject for a string EscapeSubject never returns.
var ErrBadSubject = errors.New("not an escaped topic subject")

const hexDigits = "0123456789ABCDEF"

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Subject returns the NATS subject under which a strict notification topic is stored:
// publish.<org>.<user> or metrics.<org>.<vapp>. The error is ValidateNotification's.
func Subject(topic string) (string, error) {
	if err := ValidateNotification(topic); err != nil {
		return "", err
	}
	return strings.ReplaceAll(topic, "/", "."), nil
}

// EscapeSubject returns the NATS subject that stands for an arbitrary topic name, by the
// reversible escape described above. For a notification topic it equals Subject.
func EscapeSubject(topic string) string {
	var b strings.Builder
	b.Grow(len(topic) + 8)
	appendEscaped(&b, topic)
	return b.String()
}

func appendEscaped(b *strings.Builder, topic string) {
	for i := 0; ; i++ {
		level, rest, more := strings.Cut(topic, "/")
		if i > 0 {
			b.WriteByte('.')
		}
		appendLevel(b, level)
		if !more {
			return
		}
		topic = rest
	}
}

func appendLevel(b *strings.Builder, level string) {
	if level == "" {
		b.WriteByte('=')
		return
	}
	for i := 0; i < len(level); i++ {
		c := level[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
}

// UnescapeSubject returns the topic name for which EscapeSubject returns subject. The
// error wraps ErrBadSubject when no topic escapes to subject (a byte outside
// [A-Za-z0-9_=.-], an empty token, lowercase or missing hex digits).
func UnescapeSubject(subject string) (string, error) {
	if subject == "" {
		return "", fmt.Errorf("%w: empty", ErrBadSubject)
	}
	out := make([]byte, 0, len(subject))
	start := 0 // start of the current token
	for i := 0; i <= len(subject); i++ {
		if i == len(subject) || subject[i] == '.' {
			if i == start {
				return "", fmt.Errorf("%w: empty token at byte %d", ErrBadSubject, i)
			}
			if i < len(subject) {
				out = append(out, '/')
			}
			start = i + 1
			continue
		}
		c := subject[i]
		switch {
		case plainByte(c):
			out = append(out, c)
		case c != '=':
			return "", fmt.Errorf("%w: byte %q at %d", ErrBadSubject, c, i)
		case i == start && (i+1 == len(subject) || subject[i+1] == '.'):
			// The lone token "=" is an empty level.
		default:
			hi, lo := -1, -1
			if i+2 < len(subject) {
				hi, lo = unhex(subject[i+1]), unhex(subject[i+2])
			}
			// Only the canonical form is accepted, so the escape is a bijection.
			if hi < 0 || lo < 0 || plainByte(byte(hi<<4|lo)) {
				return "", fmt.Errorf("%w: bad escape at byte %d", ErrBadSubject, i)
			}
			out = append(out, byte(hi<<4|lo))
			i += 2
		}
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// FilterSubject returns the narrowest single NATS subject filter that covers an MQTT
// filter: every subject under which a topic the filter matches is stored (by Subject or
// EscapeSubject) matches the result. A whole-level '+' or '*' becomes '*', a final '#'
// becomes '>', literal levels are escaped. It returns "" for an invalid filter.
//
// The result may match more than the filter, so a consumer still applies Match to each
// message: "#" and "+/…" become ">" and "*.…", which also cover '$' topics; and since
// MQTT's "a/b/#" also matches "a/b", which "a.b.>" does not, it becomes "a.>". Under
// publish/ and metrics/, where every stored topic has exactly three levels, the result
// is exact: "publish/#" is "publish.>", "publish/{org}/#" is "publish.{org}.>", and
// "publish/{org}/{user}/#" is "publish.{org}.{user}".
func FilterSubject(filter string) string {
	if checkFilter(filter).err != nil {
		return ""
	}
	base, hash := strings.CutSuffix(filter, "/#")
	switch {
	case filter == "#":
		return ">"
	case !hash:
		return escapeFilter(filter)
	case InNotificationSpace(filter) && strings.Count(base, "/") == 2:
		// Only the parent level of '#' can be a stored topic here.
		return escapeFilter(base)
	case InNotificationSpace(filter):
		return escapeFilter(filter)
	}
	// Cover both base and base/…: the parent of base, then '>'.
	i := strings.LastIndexByte(base, '/')
	if i < 0 {
		return ">"
	}
	return escapeFilter(base[:i] + "/#")
}

// FilterSubjects returns NATS subject filters that together cover exactly the subjects
// of the topics an MQTT filter matches, apart from the '$' rule: one filter, or two
// for a final '#' outside publish/ and metrics/ ("a/b/#" is "a.b" and "a.b.>"). They
// never overlap, so they can be one JetStream consumer's filter subjects. It returns
// nil for an invalid filter.
func FilterSubjects(filter string) []string {
	if checkFilter(filter).err != nil {
		return nil
	}
	base, hash := strings.CutSuffix(filter, "/#")
	if !hash || InNotificationSpace(filter) {
		return []string{FilterSubject(filter)}
	}
	return []string{escapeFilter(base), escapeFilter(filter)}
}

// escapeFilter maps a valid filter level by level: wildcards to NATS wildcards, literal
// levels as EscapeSubject does.
func escapeFilter(f string) string {
	var b strings.Builder
	b.Grow(len(f) + 8)
	for i := 0; ; i++ {
		level, rest, more := strings.Cut(f, "/")
		if i > 0 {
			b.WriteByte('.')
		}
		switch {
		case isSingle(level):
			b.WriteByte('*')
		case level == "#":
			b.WriteByte('>')
		default:
			appendLevel(&b, level)
		}
		if !more {
			return b.String()
		}
		f = rest
	}
}
