package store

import (
	"slices"
	"strings"
)

// validSubject reports whether s is a NATS subject of non-empty tokens without
// whitespace or control characters. With wildcards, a token may be "*" and the last
// token ">"; without, neither may appear (a message is published on a literal subject).
func validSubject(s string, wildcards bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if c := s[i]; c <= ' ' || c == 0x7f {
				return false
			}
			continue
		}
		tok := s[start:i]
		switch {
		case tok == "":
			return false
		case tok == "*" || tok == ">":
			if !wildcards || tok == ">" && i != len(s) {
				return false
			}
		case strings.ContainsAny(tok, "*>"):
			// A wildcard character inside a token is legal NATS but means something
			// else on every server version; herald never builds one.
			return false
		}
		start = i + 1
	}
	return true
}

// isNotifySubject reports whether s is a subject (or, with wildcards, a filter) inside
// the notification log: NotifySubjectPrefix followed by at least one token.
func isNotifySubject(s string, wildcards bool) bool {
	return strings.HasPrefix(s, NotifySubjectPrefix) && len(s) > len(NotifySubjectPrefix) &&
		validSubject(s, wildcards)
}

// subsetOf reports whether every subject filter a matches is also matched by filter b
// (a ⊆ b), with the semantics of the server's own check for overlapping consumer
// filters.
func subsetOf(a, b string) bool {
	for {
		bt, brest, bmore := strings.Cut(b, ".")
		if bt == ">" {
			return true
		}
		at, arest, amore := strings.Cut(a, ".")
		switch {
		case at == ">":
			return false
		case bt == "*":
		case at != bt:
			return false
		}
		if amore != bmore {
			return false
		}
		if !amore {
			return true
		}
		a, b = arest, brest
	}
}

// reduceFilters returns filters without duplicates and without any filter contained in
// another one: JetStream refuses a consumer whose filters overlap that way, and the
// union is the same. Filters that merely intersect are kept (the server allows them
// and delivers a message matching both once).
func reduceFilters(filters []string) []string {
	out := make([]string, 0, len(filters))
	for i, f := range filters {
		redundant := false
		for j, g := range filters {
			// A filter contained in another goes; of two equal ones the first stays.
			if i != j && subsetOf(f, g) && (f != g || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
