// Package fiql parses and evaluates FIQL filter expressions, the filter language of
// VCD's OpenAPI paging (docs/VCD-COMPAT.md §5.4), audit trail (§10.1) and task queries
// (§10.2), for example
//
//	(timestamp=gt=2025-03-14T09:00:00.000Z;(eventType==com/vmware/vcloud/event/session/login,eventType==com/vmware/vcloud/event/user/lockout))
//
// A comparison is a dotted field name, an operator (== != =gt= =ge= =lt= =le=) and a
// value; ';' is AND and binds tighter than ',' (OR); parentheses group. Parse returns
// the syntax tree (Comparison, And, Or) or a *SyntaxError with the byte position.
//
// Meaning comes from the caller: Fields declares each filterable field and its Kind
// (text, number, time, bool, id), and Compile checks the expression against it (an
// unknown field, a value of the wrong kind or an operator the kind does not allow is a
// *FieldError naming the field and its position) and returns a Filter that evaluates
// records through an accessor. Text compares case-insensitively, as VCD compares
// names, and '*' is a wildcard in text == and !=. Filter.Constraints exposes the
// conjunctive comparisons so a store can use an index for the common cases.
//
// The package imports only the standard library.
package fiql
