package vcd

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// SystemOrgID is the fixed UUID VCD gives its System (provider) org; clients hard-code it.
const SystemOrgID = "a93c9db9-7471-3192-8d09-a8f7eeda85f9"

// SystemOrgName is the name of the provider org. Names compare case-insensitively.
const SystemOrgName = "System"

// Entity kinds as they appear in URNs (urn:vcloud:<kind>:<uuid>).
const (
	KindOrg     = "org"
	KindUser    = "user"
	KindRole    = "role"
	KindSession = "session"
	KindSite    = "site"
	KindToken   = "token"
	KindTask    = "task"
	KindAudit   = "audit"
	KindVApp    = "vapp"
	KindVM      = "vm"
)

const urnPrefix = "urn:vcloud:"

// NewUUID returns a random (version 4) UUID in lowercase 8-4-4-4-12 form.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatUUID(b)
}

// NameUUID returns the name-based (version 5, SHA-1) UUID of name within namespace,
// which must itself be a UUID. herald uses it for ids that must be the same on every
// node without coordination, such as the built-in roles of an org.
func NameUUID(namespace, name string) string {
	ns, ok := ParseUUID(namespace)
	if !ok {
		panic("vcd.NameUUID: namespace is not a UUID: " + namespace)
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return FormatUUID(b)
}

// FormatUUID returns b in lowercase 8-4-4-4-12 form.
func FormatUUID(b [16]byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:])
	return string(buf[:])
}

// ParseUUID parses a UUID in 8-4-4-4-12 form, in either case, without allocating.
func ParseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 { // the dashes checked above
			i--
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsUUID reports whether s is a UUID in 8-4-4-4-12 form, in either case.
func IsUUID(s string) bool {
	_, ok := ParseUUID(s)
	return ok
}

// URN returns urn:vcloud:<kind>:<id>.
func URN(kind, id string) string { return urnPrefix + kind + ":" + id }

// ParseID accepts either a full URN of the given kind or a bare UUID, matched
// case-insensitively, and returns the bare UUID in lowercase. It reports false for
// anything else, including a URN of another kind.
func ParseID(kind, s string) (string, bool) {
	if len(s) > len(urnPrefix) && strings.EqualFold(s[:len(urnPrefix)], urnPrefix) {
		rest := s[len(urnPrefix):]
		if len(rest) <= len(kind) || !strings.EqualFold(rest[:len(kind)], kind) || rest[len(kind)] != ':' {
			return "", false
		}
		s = rest[len(kind)+1:]
	}
	if !IsUUID(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

// SplitUserOrg splits a credential name "user@org" at its last '@' (user names may
// themselves contain '@'). It reports false when either side is empty.
func SplitUserOrg(s string) (user, org string, ok bool) {
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// IsSystemOrg reports whether name names the System org (any case).
func IsSystemOrg(name string) bool { return strings.EqualFold(name, SystemOrgName) }
