// Package conformance_test checks at compile time that *store.DB satisfies the
// interfaces its consumers declare. It is a package of its own so that the store's
// own tests build while a consumer package is being edited.
package conformance_test

import (
	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/store"
)

// *store.DB is what the api handlers and the authenticator are built on.
var (
	_ auth.Directory = (*store.DB)(nil)
	_ api.Store      = (*store.DB)(nil)
)
