package notify

import (
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// Timestamp layouts (VCD-COMPAT §8.2, §8.4). Both are written in UTC.
const (
	// EventTimeLayout is the form of EVENT, EXTERNAL_EVENT and METRICS timestamps:
	// 2025-03-14T09:26:53.589+00:00.
	EventTimeLayout = "2006-01-02T15:04:05.000-07:00"
	// TaskTimeLayout is the form of Task JSON timestamps, without a colon in the
	// offset: 2025-03-14T09:30:00.000+0000.
	TaskTimeLayout = "2006-01-02T15:04:05.000-0700"
)

const hexDigits = "0123456789abcdef"

// plain marks the bytes appendString copies unchanged: printable ASCII but '"' and
// '\\'. Bytes from 0x80 need a UTF-8 check.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, escaped exactly as encoding/json does with
// SetEscapeHTML(false): '<', '>' and '&' stay literal (VCD-COMPAT §8.1 rule 4), '"' and
// '\\' and control characters are escaped, invalid UTF-8 becomes \ufffd, and U+2028 and
// U+2029 become \u2028 and \u2029.
func appendString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainRun(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var buf [utf8.UTFMax]byte
		r, size := utf8.DecodeRune(buf[:copy(buf[:], s[i:])])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers; encoding/json
		// escapes them even without HTML escaping, and VCD-COMPAT §8.1 accepts that.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNullableString appends s as a JSON string, or null when s is empty.
func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendFloat appends f as encoding/json formats a float64. f must be finite.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendTime appends t in UTC in the given layout as a JSON string, or null when t is
// the zero time.
func appendTime(b []byte, t time.Time, layout string) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, layout)
	return append(b, '"')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// Masks for plainRun's word-at-a-time test (see "Bit Twiddling Hacks": haszero and
// hasless).
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainRun returns the index of the first byte at or after i that plain does not
// mark, or len(s). It tests eight bytes at a time: long runs of printable ASCII are
// most of a notification.
func plainRun[S string | []byte](s S, i int) int {
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		q := x ^ (lsb * '"')
		bs := x ^ (lsb * '\\')
		// A byte from 0x80, below 0x20, equal to '"' or equal to '\\' sets its high
		// bit. Borrows can set bits above a byte that is really flagged, never below
		// it, so the lowest set bit marks the first such byte.
		if m := (x | (x-lsb*0x20)&^x | (q-lsb)&^q | (bs-lsb)&^bs) & msb; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}
