package fiql

import "fmt"

// reserved are the bytes that end an unquoted value: the logical operators and
// parentheses.
const reserved = ";,()"

// maxDepth bounds the nesting of parentheses, so that hostile input cannot exhaust the
// stack.
const maxDepth = 64

// SyntaxError reports where and why Parse failed. Pos is a 0-based byte offset into the
// parsed text.
type SyntaxError struct {
	Pos int
	Msg string
}

// Error returns the message, naming the position.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fiql: syntax error at position %d: %s", e.Pos, e.Msg)
}

// Parse parses a FIQL expression (VCD-COMPAT §10.1), already URL-decoded by the caller:
//
//	or         = and *( "," and )
//	and        = term *( ";" term )
//	term       = "(" or ")" / comparison
//	comparison = selector operator value
//	selector   = name *( "." name ), name = ALPHA / "_" followed by ALPHA / DIGIT / "_" / "-"
//	operator   = "==" / "!=" / "=gt=" / "=ge=" / "=lt=" / "=le="
//	value      = 1*( any byte but ";" "," "(" ")" ) / quoted
//	quoted     = DQUOTE *( any but DQUOTE or "\" / "\" any ) DQUOTE, or the same with "'"
//
// ';' (AND) binds tighter than ',' (OR). A value ends at the first reserved byte, so
// com/vmware/vcloud/event/session/login and 2025-03-14T09:00:00.000Z need no quotes;
// a value holding ';', ',', '(' or ')' must be quoted. Nothing else is special: spaces
// belong to the value. The error is a *SyntaxError.
func Parse(s string) (Expr, error) {
	p := parser{s: s}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(s) {
		return nil, p.errorf("unexpected %q", s[p.pos])
	}
	return e, nil
}

type parser struct {
	s     string
	pos   int
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peek(c byte) bool { return p.pos < len(p.s) && p.s[p.pos] == c }

func (p *parser) or() (Expr, error) {
	var terms Or
	for {
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		if o, ok := e.(Or); ok {
			terms = append(terms, o...)
		} else {
			terms = append(terms, e)
		}
		if !p.peek(',') {
			break
		}
		p.pos++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) and() (Expr, error) {
	var terms And
	for {
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		if a, ok := e.(And); ok {
			terms = append(terms, a...)
		} else {
			terms = append(terms, e)
		}
		if !p.peek(';') {
			break
		}
		p.pos++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) term() (Expr, error) {
	if !p.peek('(') {
		return p.comparison()
	}
	if p.depth == maxDepth {
		return nil, p.errorf("parentheses nested deeper than %d", maxDepth)
	}
	open := p.pos
	p.pos++
	p.depth++
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	p.depth--
	if !p.peek(')') {
		if p.pos == len(p.s) {
			return nil, &SyntaxError{Pos: open, Msg: "unclosed '('"}
		}
		return nil, p.errorf("expected ')', found %q", p.s[p.pos])
	}
	p.pos++
	return e, nil
}

func (p *parser) comparison() (Expr, error) {
	c := Comparison{Pos: p.pos}
	sel, err := p.selector()
	if err != nil {
		return nil, err
	}
	c.Selector = sel
	if c.Op, err = p.operator(); err != nil {
		return nil, err
	}
	if c.Value, err = p.value(); err != nil {
		return nil, err
	}
	return c, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func isNameByte(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' || c == '-' }

func (p *parser) selector() (string, error) {
	start := p.pos
	for {
		if p.pos == len(p.s) || !isAlpha(p.s[p.pos]) {
			if p.pos == len(p.s) {
				return "", p.errorf("expected a field name, found the end")
			}
			return "", p.errorf("expected a field name, found %q", p.s[p.pos])
		}
		for p.pos < len(p.s) && isNameByte(p.s[p.pos]) {
			p.pos++
		}
		if !p.peek('.') {
			return p.s[start:p.pos], nil
		}
		p.pos++
	}
}

func (p *parser) operator() (Op, error) {
	rest := p.s[p.pos:]
	switch {
	case len(rest) >= 2 && rest[:2] == "==":
		p.pos += 2
		return Eq, nil
	case len(rest) >= 2 && rest[:2] == "!=":
		p.pos += 2
		return Ne, nil
	case len(rest) >= 4 && rest[0] == '=' && rest[3] == '=':
		for op := Gt; op <= Le; op++ {
			if rest[:4] == opText[op] {
				p.pos += 4
				return op, nil
			}
		}
		return 0, p.errorf("unknown operator %q", rest[:4])
	case rest == "":
		return 0, p.errorf("expected an operator, found the end")
	}
	return 0, p.errorf("expected an operator, found %q", rest[0])
}

func (p *parser) value() (string, error) {
	if p.pos < len(p.s) && (p.s[p.pos] == '"' || p.s[p.pos] == '\'') {
		return p.quoted()
	}
	start := p.pos
	for p.pos < len(p.s) && !isReserved(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected a value")
	}
	return p.s[start:p.pos], nil
}

func isReserved(c byte) bool { return c == ';' || c == ',' || c == '(' || c == ')' }

func (p *parser) quoted() (string, error) {
	open := p.pos
	q := p.s[p.pos]
	p.pos++
	var v []byte
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			if p.pos < len(p.s) && !isReserved(p.s[p.pos]) {
				return "", p.errorf("unexpected %q after a quoted value", p.s[p.pos])
			}
			return string(v), nil
		case c == '\\' && p.pos+1 < len(p.s):
			p.pos++
			c = p.s[p.pos]
		}
		v = append(v, c)
		p.pos++
	}
	return "", &SyntaxError{Pos: open, Msg: "unterminated quoted value"}
}
