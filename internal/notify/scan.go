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
}

func (sc *scanner) ws() {
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

// str decodes the JSON string at the current position into sc.scratch and returns
// it; the result is valid only until the next call.
func (sc *scanner) str() ([]byte, error) {
	if !sc.expect('"') {
		return nil, errJSONSyntax
	}
	b := sc.scratch[:0]
	s := sc.s
	for {
		start := sc.i
		for sc.i < len(s) && s[sc.i] >= 0x20 && s[sc.i] != '"' && s[sc.i] != '\\' && s[sc.i] < utf8.RuneSelf {
			sc.i++
		}
		b = append(b, s[start:sc.i]...)
		if sc.i >= len(s) {
			return nil, errJSONSyntax
		}
		c := s[sc.i]
		switch {
		case c == '"':
			sc.i++
			sc.scratch = b
			return b, nil
		case c < 0x20:
			return nil, errJSONSyntax
		case c == '\\':
			if sc.i+1 >= len(s) {
				return nil, errJSONSyntax
			}
			e := s[sc.i+1]
			sc.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := sc.hex4()
				if !ok {
					return nil, errJSONSyntax
				}
				if utf16.IsSurrogate(r) {
					// A pair decodes to one rune; a lone surrogate to U+FFFD, and the
					// following escape, if any, is read on its own (as encoding/json).
					if sc.i+1 < len(s) && s[sc.i] == '\\' && s[sc.i+1] == 'u' {
						save := sc.i
						sc.i += 2
						r2, ok := sc.hex4()
						if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							continue
						}
						sc.i = save
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return nil, errJSONSyntax
			}
		default: // multi-byte UTF-8
			r, size := utf8.DecodeRune(s[sc.i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[sc.i:sc.i+size]...)
			}
			sc.i += size
		}
	}
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
				b = appendString(b, key)
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
		return appendString(b, v), nil
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
	sc := scanner{s: src}
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
