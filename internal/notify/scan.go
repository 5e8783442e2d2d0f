package notify

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a producer's inner JSON.
const maxJSONDepth = 256

var (
	errJSONSyntax   = errors.New("malformed JSON")
	errJSONDepth    = errors.New("JSON nested too deeply")
	errJSONTrailing = errors.New("data after the JSON value")
)

// scanner reads JSON text. It decodes strings as encoding/json does (invalid UTF-8 and
// lone surrogates become U+FFFD) and re-encodes values in canonical form. It never
// panics: every index is checked against the input's length.
type scanner struct {
	s       []byte
	i       int
	depth   int
	scratch []byte // decoded string, reused
	raw     []byte // the last string's text between its quotes
	canon   bool   // whether raw is appendString's form of the last string
}

func (sc *scanner) ws() {
	if sc.i < len(sc.s) && sc.s[sc.i] > ' ' {
		return // the usual case: compact JSON
	}
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (sc *scanner) peek() byte {
	sc.ws()
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

// expect consumes c after white space.
func (sc *scanner) expect(c byte) bool {
	if sc.peek() != c {
		return false
	}
	sc.i++
	return true
}

// str decodes the JSON string at the current position and returns it. When the
// string holds no escape and no invalid UTF-8 the result is the input's own bytes (no
// copy); otherwise it is decoded into sc.scratch. Either way it is valid only until
// the next call and must not be modified. It also sets sc.raw to the string's text
// between the quotes and sc.canon to whether that text is already what appendString
// writes for the result, so that appendLastString can copy it.
func (sc *scanner) str() ([]byte, error) {
	if !sc.expect('"') {
		return nil, errJSONSyntax
	}
	s := sc.s
	var b []byte // decoded text so far, once a byte had to change
	copied, canon := false, true
	start := sc.i
	from := start
	for sc.i < len(s) {
		sc.i = plainRun(s, sc.i)
		if sc.i >= len(s) {
			break
		}
		c := s[sc.i]
		switch {
		case c == '"':
			end := sc.i
			sc.i++
			sc.raw, sc.canon = s[from:end], canon
			if !copied {
				return s[start:end], nil
			}
			b = append(b, s[start:end]...)
			sc.scratch = b
			return b, nil
		case c < 0x20:
			return nil, errJSONSyntax
		case c == '\\':
			if !copied {
				b, copied = sc.scratch[:0], true
			}
			b = append(b, s[start:sc.i]...)
			var ok, escCanon bool
			if b, ok, escCanon = sc.escape(b); !ok {
				return nil, errJSONSyntax
			}
			canon = canon && escCanon
			start = sc.i
		default: // from 0x80: valid UTF-8 stays in the run, invalid becomes U+FFFD
			r, size := utf8.DecodeRune(s[sc.i:])
			if r == utf8.RuneError && size == 1 {
				if !copied {
					b, copied = sc.scratch[:0], true
				}
				b = append(b, s[start:sc.i]...)
				b = utf8.AppendRune(b, utf8.RuneError)
				canon = false // appendString writes U+FFFD, not the invalid byte
				sc.i++
				start = sc.i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				canon = false // appendString escapes them
			}
			sc.i += size
		}
	}
	return nil, errJSONSyntax
}

// appendLastString appends v, the result of the last call to str, as appendString
// does, copying the input's text when it is already in that form.
func (sc *scanner) appendLastString(b, v []byte) []byte {
	if !sc.canon {
		return appendString(b, v)
	}
	b = append(b, '"')
	b = append(b, sc.raw...)
	return append(b, '"')
}

// escape decodes the escape sequence at sc.s[sc.i] (a backslash) and appends it to b.
// canon reports whether appendString writes the decoded character as this very
// escape.
func (sc *scanner) escape(b []byte) (_ []byte, ok, canon bool) {
	s := sc.s
	if sc.i+1 >= len(s) {
		return b, false, false
	}
	at := sc.i
	e := s[sc.i+1]
	sc.i += 2
	switch e {
	case '"', '\\':
		return append(b, e), true, true
	case '/':
		return append(b, e), true, false
	case 'b':
		return append(b, '\b'), true, true
	case 'f':
		return append(b, '\f'), true, true
	case 'n':
		return append(b, '\n'), true, true
	case 'r':
		return append(b, '\r'), true, true
	case 't':
		return append(b, '\t'), true, true
	case 'u':
		r, ok := sc.hex4()
		if !ok {
			return b, false, false
		}
		if utf16.IsSurrogate(r) {
			// A pair decodes to one rune; a lone surrogate to U+FFFD, and the
			// following escape, if any, is read on its own (as encoding/json).
			if sc.i+1 < len(s) && s[sc.i] == '\\' && s[sc.i+1] == 'u' {
				save := sc.i
				sc.i += 2
				r2, ok := sc.hex4()
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					return utf8.AppendRune(b, dec), true, false
				}
				sc.i = save
			}
			r = utf8.RuneError
		}
		switch {
		case r == '\u2028' || r == '\u2029':
			canon = true // only digits: one spelling
		case r < 0x20 && r != '\b' && r != '\f' && r != '\n' && r != '\r' && r != '\t':
			// \u00xx with lowercase hex digits, the escape's only canonical spelling.
			canon = s[at+2] == '0' && s[at+3] == '0' && s[at+4] == hexDigits[r>>4] && s[at+5] == hexDigits[r&0xf]
		}
		return utf8.AppendRune(b, r), true, canon
	}
	return b, false, false
}

func (sc *scanner) hex4() (rune, bool) {
	if sc.i+4 > len(sc.s) {
		return 0, false
	}
	var r rune
	for _, c := range sc.s[sc.i : sc.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	sc.i += 4
	return r, true
}

// number consumes a JSON number and returns its text.
func (sc *scanner) number() ([]byte, error) {
	s, start := sc.s, sc.i
	digits := func() int {
		n := 0
		for sc.i < len(s) && s[sc.i] >= '0' && s[sc.i] <= '9' {
			sc.i++
			n++
		}
		return n
	}
	if sc.i < len(s) && s[sc.i] == '-' {
		sc.i++
	}
	if sc.i < len(s) && s[sc.i] == '0' {
		sc.i++
	} else if digits() == 0 {
		return nil, errJSONSyntax
	}
	if sc.i < len(s) && s[sc.i] == '.' {
		sc.i++
		if digits() == 0 {
			return nil, errJSONSyntax
		}
	}
	if sc.i < len(s) && (s[sc.i] == 'e' || s[sc.i] == 'E') {
		sc.i++
		if sc.i < len(s) && (s[sc.i] == '+' || s[sc.i] == '-') {
			sc.i++
		}
		if digits() == 0 {
			return nil, errJSONSyntax
		}
	}
	return s[start:sc.i], nil
}

func (sc *scanner) literal(lit string) bool {
	if len(sc.s)-sc.i < len(lit) || string(sc.s[sc.i:sc.i+len(lit)]) != lit {
		return false
	}
	sc.i += len(lit)
	return true
}

// value appends the canonical form of the value at the current position to b.
func (sc *scanner) value(b []byte) ([]byte, error) {
	switch c := sc.peek(); c {
	case '{', '[':
		if sc.depth == maxJSONDepth {
			return nil, errJSONDepth
		}
		sc.depth++
		defer func() { sc.depth-- }()
		sc.i++
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		b = append(b, c)
		if sc.expect(closing) {
			return append(b, closing), nil
		}
		for {
			var err error
			if c == '{' {
				key, err := sc.str()
				if err != nil {
					return nil, err
				}
				b = sc.appendLastString(b, key)
				if !sc.expect(':') {
					return nil, errJSONSyntax
				}
				b = append(b, ':')
			}
			if b, err = sc.value(b); err != nil {
				return nil, err
			}
			switch sc.peek() {
			case ',':
				sc.i++
				b = append(b, ',')
			case closing:
				sc.i++
				return append(b, closing), nil
			default:
				return nil, errJSONSyntax
			}
		}
	case '"':
		v, err := sc.str()
		if err != nil {
			return nil, err
		}
		return sc.appendLastString(b, v), nil
	case 't':
		if sc.literal("true") {
			return append(b, "true"...), nil
		}
	case 'f':
		if sc.literal("false") {
			return append(b, "false"...), nil
		}
	case 'n':
		if sc.literal("null") {
			return append(b, "null"...), nil
		}
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			n, err := sc.number()
			if err != nil {
				return nil, err
			}
			return append(b, n...), nil
		}
	}
	return nil, errJSONSyntax
}

// appendCanonicalJSON appends src, which must be one JSON value, in canonical form:
// compact, keys in the order given (duplicates kept), strings decoded and re-escaped
// by appendString (so \u003c becomes '<'), numbers as written. Applied to its own
// output it returns the same bytes. Nesting deeper than maxJSONDepth is refused.
func appendCanonicalJSON(b, src []byte) ([]byte, error) {
	// Strings with escapes are decoded into scratch; a pooled one saves growing it.
	sp := getBuf()
	defer putBuf(sp)
	sc := scanner{s: src, scratch: *sp}
	defer func() { *sp = sc.scratch[:0] }()
	out, err := sc.value(b)
	if err != nil {
		return nil, err
	}
	sc.ws()
	if sc.i != len(src) {
		return nil, errJSONTrailing
	}
	return out, nil
}
