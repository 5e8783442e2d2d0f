package fiql

// Constraint is a comparison that every record a Filter matches satisfies, with its
// value parsed for the field's kind: Text (for KindText, and for KindID the bare id),
// Number, Time or Bool. Wildcard marks a text == or != whose value holds '*'.
type Constraint struct {
	Field    string
	Kind     Kind
	Op       Op
	Value    Value
	Wildcard bool
}

// Constraints returns the comparisons the whole filter depends on conjunctively: the
// filter itself when it is one comparison, the comparisons among the operands of a
// top-level AND, and none for an OR. A store may use them to narrow a scan through an
// index (for timestamp=gt=X;eventType==Y, a time range and an equality) and then apply
// Match to each candidate, which stays the authority.
func (f *Filter) Constraints() []Constraint {
	switch {
	case f.root.or != nil:
		return nil
	case f.root.and == nil:
		return []Constraint{f.root.constraint()}
	}
	var out []Constraint
	for i := range f.root.and {
		if n := &f.root.and[i]; n.and == nil && n.or == nil {
			out = append(out, n.constraint())
		}
	}
	return out
}

func (n *node) constraint() Constraint {
	return Constraint{Field: n.field, Kind: n.kind, Op: n.op, Value: n.lit, Wildcard: n.wild}
}
