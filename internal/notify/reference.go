package notify

import (
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Reference is VCD's ReferenceType: a link to an entity by href, id (a URN), media
// type and name, as in a Task's Owner, User and Organization or an Event's Owner and
// User. In JSON its keys are href, id, type, name in that order; empty values are
// written as null.
type Reference struct {
	Href string `json:"href" xml:"href,attr,omitempty"`
	ID   string `json:"id" xml:"id,attr,omitempty"`
	Type string `json:"type" xml:"type,attr,omitempty"`
	Name string `json:"name" xml:"name,attr,omitempty"`
}

// Entity returns the kind and bare lowercase UUID of the referenced entity: from ID
// when it is a urn:vcloud URN, else from a known legacy href (VCD-COMPAT §1.1):
// /api/vApp/vm-<uuid>, /api/vApp/vapp-<uuid>, /api/admin/user/<uuid>,
// /api/org/<uuid>, /api/admin/org/<uuid> or /api/task/<uuid>. It reports false when
// neither gives an entity.
func (r Reference) Entity() (kind, uuid string, ok bool) {
	if kind, uuid, ok = parseURN(r.ID); ok {
		return kind, uuid, true
	}
	return entityOfHref(r.Href)
}

// hrefForms maps the legacy href path after /api/ to an entity kind; the UUID follows
// the prefix and ends the path.
var hrefForms = []struct{ prefix, kind string }{
	{"vApp/vm-", vcd.KindVM},
	{"vApp/vapp-", vcd.KindVApp},
	{"admin/user/", vcd.KindUser},
	{"admin/org/", vcd.KindOrg},
	{"org/", vcd.KindOrg},
	{"task/", vcd.KindTask},
}

func entityOfHref(href string) (kind, uuid string, ok bool) {
	if i := strings.IndexAny(href, "?#"); i >= 0 {
		href = href[:i]
	}
	i := strings.LastIndex(href, "/api/")
	if i < 0 {
		return "", "", false
	}
	path := strings.TrimSuffix(href[i+len("/api/"):], "/")
	for _, f := range hrefForms {
		if rest, found := strings.CutPrefix(path, f.prefix); found && vcd.IsUUID(rest) {
			return f.kind, strings.ToLower(rest), true
		}
	}
	return "", "", false
}

// appendReference appends r as VCD's Reference JSON, or null when r is nil.
func appendReference(b []byte, r *Reference) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"href":`...)
	b = appendNullableString(b, r.Href)
	b = append(b, `,"id":`...)
	b = appendNullableString(b, r.ID)
	b = append(b, `,"type":`...)
	b = appendNullableString(b, r.Type)
	b = append(b, `,"name":`...)
	b = appendNullableString(b, r.Name)
	return append(b, '}')
}
