package api

import (
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// versionInfo is one API version of VCD-COMPAT §1.2.
type versionInfo struct {
	Version    string
	Deprecated bool
}

// apiVersions lists the advertised and accepted versions in ascending order
// (VCD-COMPAT §1.2). Never add alpha or three-digit versions: a widely copied script
// compares max(versions) >= "34.0" as strings.
var apiVersions = []versionInfo{
	{"33.0", true}, {"34.0", true}, {"35.0", true},
	{"36.0", false}, {"36.1", false}, {"36.2", false}, {"36.3", false},
	{"37.0", false}, {"37.1", false}, {"37.2", false}, {"37.3", false},
	{"38.0", false}, {"38.1", false},
	{"39.0", false}, {"39.1", false},
}

// defaultVersion is used when Accept names no version (VCD-COMPAT §1.3).
const defaultVersion = "39.0"

func supportedVersion(v string) bool {
	for _, vi := range apiVersions {
		if vi.Version == v {
			return true
		}
	}
	return false
}

// versionMajor returns the major number of a supported version ("36.3" → 36).
func versionMajor(v string) int {
	n := 0
	for i := 0; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		n = n*10 + int(v[i]-'0')
	}
	return n
}

// invalidVersionMessage is the 406 message of VCD-COMPAT §1.3, newest version first.
var invalidVersionMessage = func() string {
	var b strings.Builder
	b.WriteString("The request has invalid accept header: Invalid API version requested. Supported API versions are: [")
	for i := len(apiVersions) - 1; i >= 0; i-- {
		b.WriteString(apiVersions[i].Version)
		if apiVersions[i].Deprecated {
			b.WriteString(" [D]")
		}
		if i > 0 {
			b.WriteString(", ")
		}
	}
	b.WriteString("] ([D] indicates deprecated versions)")
	return b.String()
}()

// mediaRange is one element of an Accept header.
type mediaRange struct {
	typ, sub   string // lowercased
	version    string
	hasVersion bool
}

// parseAccept splits an Accept header into media ranges in order. Names are
// case-insensitive; parameters other than version (q included) are ignored; elements
// that are not type/subtype are skipped.
func parseAccept(h string) []mediaRange {
	var out []mediaRange
	for part := range strings.SplitSeq(h, ",") {
		params := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(params[0]))
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || typ == "" || sub == "" {
			continue
		}
		mr := mediaRange{typ: typ, sub: sub}
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "version") {
				mr.version = strings.Trim(strings.TrimSpace(v), `"`)
				mr.hasVersion = true
			}
		}
		out = append(out, mr)
	}
	return out
}

// apiKind tells which API a path belongs to; it decides negotiation and error formats.
type apiKind int

const (
	kindOpenAPI apiKind = iota // /cloudapi, /oauth/*/register, and anything outside /api
	kindLegacy                 // /api
	kindOAuth                  // /oauth/*/token
)

func kindOf(path string) apiKind {
	switch {
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		return kindLegacy
	case strings.HasPrefix(path, "/oauth/") && strings.HasSuffix(path, "/token"):
		return kindOAuth
	}
	return kindOpenAPI
}

// Formats a response can take.
const (
	formatJSON = "json"
	formatXML  = "xml"
)

// classify returns the format a media range selects for kind, or "" if it selects none
// (VCD-COMPAT §1.3 table).
func classify(kind apiKind, mr mediaRange) string {
	legacy := kind == kindLegacy
	switch {
	case mr.typ == "*" && mr.sub == "*":
		if legacy {
			return formatXML
		}
		return formatJSON
	case mr.typ != "application":
		return ""
	case mr.sub == "json" || strings.HasSuffix(mr.sub, "+json"):
		return formatJSON
	case mr.sub == "*":
		if legacy {
			return formatXML
		}
		return formatJSON
	case mr.sub == "xml" || strings.HasSuffix(mr.sub, "+xml"):
		if legacy {
			return formatXML
		}
		return ""
	}
	return ""
}

// negotiate picks the response format and API version from an Accept header: ranges are
// tried in order and the first one that selects a format decides. An unknown or
// malformed version is 406, unless ignoreVersion (for /api/versions and /oauth).
func negotiate(kind apiKind, accept string, ignoreVersion bool) (format, version string, err error) {
	if strings.TrimSpace(accept) == "" {
		return classify(kind, mediaRange{typ: "*", sub: "*"}), defaultVersion, nil
	}
	for _, mr := range parseAccept(accept) {
		f := classify(kind, mr)
		if f == "" {
			continue
		}
		if ignoreVersion || mr.version == "" {
			return f, defaultVersion, nil
		}
		if !supportedVersion(mr.version) {
			return f, "", vcd.Errorf(vcd.CodeNotAcceptable, "%s", invalidVersionMessage)
		}
		return f, mr.version, nil
	}
	if ignoreVersion {
		return classify(kind, mediaRange{typ: "*", sub: "*"}), defaultVersion, nil
	}
	return "", "", vcd.Errorf(vcd.CodeNotAcceptable,
		"The request has invalid accept header: no supported media type in %q.", truncate(accept, 200))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// requestFormat is the format used for errors on path: the negotiated one when it can
// be negotiated, else XML on /api and JSON elsewhere.
func requestFormat(kind apiKind, accept string) string {
	f, _, err := negotiate(kind, accept, true)
	if err != nil || f == "" {
		if kind == kindLegacy {
			return formatXML
		}
		return formatJSON
	}
	return f
}
