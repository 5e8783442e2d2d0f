package store

import (
	"errors"
	"fmt"

	"github.com/heraldmq/herald/internal/vcd"
)

// errExists is returned inside the package when a KV Create finds its key taken; the
// exported methods turn it into vcd.CodeDuplicate with a message naming the entity.
var errExists = errors.New("key exists")

// unavailable wraps a JetStream failure (no responders, timeout, no quorum, closed
// connection, cancelled context) as vcd.CodeUnavailable: the caller may retry later.
func unavailable(op string, err error) error {
	return vcd.Wrap(vcd.CodeUnavailable, fmt.Errorf("%s: %w", op, err), "The store is unavailable.")
}

// notFound is the error of a lookup that finds nothing.
func notFound(kind, id string) error {
	return vcd.Errorf(vcd.CodeNotFound, "%s %q not found", kind, id)
}

// validID reports whether id can be a KV key and one token of a composite key: 1 to 256
// characters of [-_=a-zA-Z0-9]. UUIDs and herald's key ids are.
func validID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

// invalidID is the error for an id that cannot be stored.
func invalidID(kind, id string) error {
	return vcd.Errorf(vcd.CodeInvalid, "invalid %s id %q", kind, id)
}
