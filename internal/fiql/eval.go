package fiql

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is how a field's values compare.
type Kind int

// Kinds of fields.
const (
	// KindText compares case-insensitively, as VCD compares names. With == and != a
	// '*' in the value is a wildcard for any run of characters (user.name==al*); the
	// ordering operators compare case-folded text, where '*' is literal.
	KindText Kind = iota
	// KindNumber compares numbers; values parse as float64.
	KindNumber
	// KindTime compares instants; values are RFC 3339 / ISO 8601 timestamps such as
	// 2025-03-14T09:00:00.000Z or 2025-03-14T10:00:00+01:00 (see ParseTime).
	KindTime
	// KindBool compares true and false (any case); only == and != apply.
	KindBool
	// KindID compares entity ids: a URN (urn:vcloud:user:<uuid>) equals its bare UUID,
	// case-insensitively. Only == and != apply, and '*' is literal.
	KindID
)

// Fields declares the fields a filter may name and their kinds, such as
// {"timestamp": KindTime, "user.name": KindText}.
type Fields map[string]Kind

// Errors wrapped by *FieldError.
var (
	ErrUnknownField = errors.New("unknown field")
	ErrBadValue     = errors.New("bad value")
	ErrBadOperator  = errors.New("operator not allowed")
)

// FieldError reports a comparison that does not fit the declared fields: an unknown
// field, a value that is not of the field's kind, or an operator the kind does not
// allow. Pos is the byte offset of the comparison in the parsed text.
type FieldError struct {
	Field string
	Pos   int
	Err   error
}

// Error returns the message, naming the field and its position.
func (e *FieldError) Error() string {
	return fmt.Sprintf("fiql: field %q at position %d: %v", e.Field, e.Pos, e.Err)
}

// Unwrap returns the cause, which wraps ErrUnknownField, ErrBadValue or ErrBadOperator.
func (e *FieldError) Unwrap() error { return e.Err }

// Value is a record's value of a field, as the accessor of Filter.Match returns it:
// Text for KindText and KindID, Number, Time or Bool for the other kinds. A Null value
// (a missing field, a JSON null) equals nothing: == and the ordering operators are
// false, != is true.
type Value struct {
	Null   bool
	Text   string
	Number float64
	Time   time.Time
	Bool   bool
}

// Text returns a text or id Value.
func Text(s string) Value { return Value{Text: s} }

// Number returns a number Value.
func Number(f float64) Value { return Value{Number: f} }

// Time returns a time Value.
func Time(t time.Time) Value { return Value{Time: t} }

// Bool returns a boolean Value.
func Bool(b bool) Value { return Value{Bool: b} }

// Null is the Value of a missing field.
var Null = Value{Null: true}

// Filter is an expression checked against Fields, with its values parsed, ready to
// match records. A Filter is immutable and safe for concurrent use.
type Filter struct {
	expr Expr
	root node
}

// node is a compiled Expr: an and, an or, or a comparison with its literal parsed.
type node struct {
	and, or []node
	field   string
	kind    Kind
	op      Op
	lit     Value
	wild    bool // a text == or != whose literal holds '*'
}

// Validate reports whether every comparison in e names a field of fs with a value and an
// operator that fit its kind. The error, for the first comparison that does not, is a
// *FieldError naming the field and its position.
func (fs Fields) Validate(e Expr) error {
	_, err := Compile(e, fs)
	return err
}

// Compile checks e against fs, as Validate does, and returns a Filter that evaluates
// it.
func Compile(e Expr, fs Fields) (*Filter, error) {
	root, err := compile(e, fs)
	if err != nil {
		return nil, err
	}
	return &Filter{expr: e, root: root}, nil
}

func compile(e Expr, fs Fields) (node, error) {
	switch e := e.(type) {
	case And, Or:
		var kids []node
		var list []Expr
		if a, ok := e.(And); ok {
			list = a
		} else {
			list = e.(Or)
		}
		for _, x := range list {
			k, err := compile(x, fs)
			if err != nil {
				return node{}, err
			}
			kids = append(kids, k)
		}
		if _, ok := e.(And); ok {
			return node{and: kids}, nil
		}
		return node{or: kids}, nil
	case Comparison:
		return compileComparison(e, fs)
	}
	return node{}, fmt.Errorf("fiql: unknown expression %T", e)
}

func compileComparison(c Comparison, fs Fields) (node, error) {
	kind, ok := fs[c.Selector]
	if !ok {
		return node{}, &FieldError{c.Selector, c.Pos, ErrUnknownField}
	}
	n := node{field: c.Selector, kind: kind, op: c.Op}
	if c.Op < Eq || c.Op > Le {
		return node{}, &FieldError{c.Selector, c.Pos, fmt.Errorf("%w: %v", ErrBadOperator, c.Op)}
	}
	ordering := c.Op != Eq && c.Op != Ne
	bad := func(what string) (node, error) {
		return node{}, &FieldError{c.Selector, c.Pos, fmt.Errorf("%w: %q is not %s", ErrBadValue, c.Value, what)}
	}
	switch kind {
	case KindText:
		n.lit = Text(c.Value)
		n.wild = !ordering && strings.Contains(c.Value, "*")
	case KindNumber:
		f, err := strconv.ParseFloat(c.Value, 64)
		if err != nil {
			return bad("a number")
		}
		n.lit = Number(f)
	case KindTime:
		t, err := ParseTime(c.Value)
		if err != nil {
			return bad("a timestamp")
		}
		n.lit = Time(t)
	case KindBool, KindID:
		if ordering {
			return node{}, &FieldError{c.Selector, c.Pos, fmt.Errorf("%w: %v", ErrBadOperator, c.Op)}
		}
		if kind == KindID {
			n.lit = Text(bareID(c.Value))
			break
		}
		switch {
		case strings.EqualFold(c.Value, "true"):
			n.lit = Bool(true)
		case strings.EqualFold(c.Value, "false"):
			n.lit = Bool(false)
		default:
			return bad("true or false")
		}
	default:
		return node{}, &FieldError{c.Selector, c.Pos, fmt.Errorf("%w: unknown kind %d", ErrBadValue, kind)}
	}
	return n, nil
}

// timeLayouts are the timestamp forms ParseTime accepts, in order.
var timeLayouts = []string{
	time.RFC3339Nano,                     // 2025-03-14T09:00:00.000Z, …+01:00
	"2006-01-02T15:04:05.999999999Z0700", // …+0100
	"2006-01-02T15:04:05.999999999",      // no zone: UTC
	"2006-01-02",                         // a date: its midnight UTC
}

// ParseTime parses a timestamp as FIQL values give it: RFC 3339 with or without
// fractional seconds, 'Z' or a numeric offset (with or without a colon), a local time
// without offset (taken as UTC), or a date alone (midnight UTC). Because form decoding
// turns an unescaped '+' into a space, a space before the offset is read as '+'.
func ParseTime(s string) (time.Time, error) {
	if i := strings.LastIndexByte(s, ' '); i > 10 {
		s = s[:i] + "+" + s[i+1:]
	}
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// bareID returns the UUID of a URN (the part after its last ':'), or s itself.
func bareID(s string) string {
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		return s[strings.LastIndexByte(s, ':')+1:]
	}
	return s
}

// Expr returns the expression f was compiled from.
func (f *Filter) Expr() Expr { return f.expr }

// Match reports whether a record matches the filter. get returns the record's value of
// a field named in Fields; it is called only for fields the expression names, and the
// evaluation stops as soon as the outcome is known.
func (f *Filter) Match(get func(field string) Value) bool { return f.root.eval(get) }

func (n *node) eval(get func(string) Value) bool {
	switch {
	case n.and != nil:
		for i := range n.and {
			if !n.and[i].eval(get) {
				return false
			}
		}
		return true
	case n.or != nil:
		for i := range n.or {
			if n.or[i].eval(get) {
				return true
			}
		}
		return false
	}
	v := get(n.field)
	if v.Null {
		return n.op == Ne
	}
	var c int // v compared with the literal
	switch n.kind {
	case KindText:
		if n.wild {
			return globFold(n.lit.Text, v.Text) == (n.op == Eq)
		}
		if n.op == Eq || n.op == Ne {
			return strings.EqualFold(v.Text, n.lit.Text) == (n.op == Eq)
		}
		c = compareFold(v.Text, n.lit.Text)
	case KindID:
		return strings.EqualFold(bareID(v.Text), n.lit.Text) == (n.op == Eq)
	case KindBool:
		return (v.Bool == n.lit.Bool) == (n.op == Eq)
	case KindNumber:
		c = cmp.Compare(v.Number, n.lit.Number)
	case KindTime:
		c = v.Time.Compare(n.lit.Time)
	}
	switch n.op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case Lt:
		return c < 0
	}
	return c <= 0
}

// foldRune maps a rune to a case-insensitive representative.
func foldRune(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

// compareFold compares a and b rune by rune, ignoring case.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if c := cmp.Compare(foldRune(ra), foldRune(rb)); c != 0 {
			return c
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// globFold reports whether s matches pattern, in which '*' matches any run of
// characters, ignoring case. It runs in O(len(pattern) × len(s)) at worst.
func globFold(pattern, s string) bool {
	px, sx := 0, 0
	// Where to resume after a mismatch: just after the last '*', with s one rune
	// further on. nextSx == 0 means no '*' seen yet.
	nextPx, nextSx := 0, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			if pattern[px] == '*' {
				nextPx = px
				nextSx = sx + 1
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					nextSx = sx + w
				}
				px++
				continue
			}
			if sx < len(s) {
				pr, pw := utf8.DecodeRuneInString(pattern[px:])
				sr, sw := utf8.DecodeRuneInString(s[sx:])
				if foldRune(pr) == foldRune(sr) {
					px += pw
					sx += sw
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}
