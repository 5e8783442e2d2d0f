package fiql

import "strings"

// Op is a comparison operator.
type Op int

// Operators. The zero Op is not valid.
const (
	Eq Op = iota + 1 // ==
	Ne               // !=
	Gt               // =gt=
	Ge               // =ge=
	Lt               // =lt=
	Le               // =le=
)

var opText = [...]string{Eq: "==", Ne: "!=", Gt: "=gt=", Ge: "=ge=", Lt: "=lt=", Le: "=le="}

// String returns the operator as written in FIQL, such as "==" or "=gt=".
func (o Op) String() string {
	if o >= Eq && o <= Le {
		return opText[o]
	}
	return "?"
}

// Expr is a parsed FIQL expression: a Comparison, an And or an Or. Parse returns
// expressions in a normal form: an And or Or has at least two operands and none of the
// same type (a;(b;c) is a;b;c), and redundant parentheses are gone, so String returns
// text that parses to an equal expression.
type Expr interface {
	// String returns the expression in FIQL syntax, with parentheses only where
	// needed and values quoted only where needed.
	String() string
	expr()
}

// Comparison is a selector, an operator and a value: user.name==al*. Pos is the byte
// offset of the selector in the parsed text, for error messages; it takes no part in
// what the expression means.
type Comparison struct {
	Selector string
	Op       Op
	Value    string
	Pos      int
}

// And is a conjunction (';'): true when every operand is.
type And []Expr

// Or is a disjunction (','): true when any operand is.
type Or []Expr

func (Comparison) expr() {}
func (And) expr()        {}
func (Or) expr()         {}

// String returns the comparison in FIQL syntax, quoting the value only if needed.
func (c Comparison) String() string {
	return c.Selector + c.Op.String() + quote(c.Value)
}

// String returns the operands joined by ';', each OR in parentheses.
func (a And) String() string {
	var b strings.Builder
	for i, e := range a {
		if i > 0 {
			b.WriteByte(';')
		}
		if _, ok := e.(Or); ok {
			// ';' binds tighter than ','.
			b.WriteByte('(')
			b.WriteString(e.String())
			b.WriteByte(')')
			continue
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// String returns the operands joined by ','.
func (o Or) String() string {
	var b strings.Builder
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// quote returns v as Parse reads it back: unquoted when it can be, else in double
// quotes with '"' and '\' escaped by a backslash.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, reserved) && v[0] != '"' && v[0] != '\'' {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Walk calls fn for each comparison in e, left to right, until fn returns false. It
// reports whether it visited them all.
func Walk(e Expr, fn func(Comparison) bool) bool {
	switch e := e.(type) {
	case Comparison:
		return fn(e)
	case And:
		for _, x := range e {
			if !Walk(x, fn) {
				return false
			}
		}
	case Or:
		for _, x := range e {
			if !Walk(x, fn) {
				return false
			}
		}
	}
	return true
}
