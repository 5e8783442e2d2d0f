// Package vcd holds herald's domain: the entities of VMware Cloud Director that herald
// serves (orgs, users, roles, sessions, API tokens, service accounts), the identifiers
// that name them (bare UUIDs and urn:vcloud URNs), the principal on whose behalf a
// request runs, the rights rules of docs/VCD-COMPAT.md §5.4, and the one error
// vocabulary every adapter maps to its protocol.
//
// The package imports only the standard library so every other package may use it.
package vcd
