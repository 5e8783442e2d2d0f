package broker

import (
	"context"
	"log/slog"
)

// connHandler adds a connection's identity (conn_id, remote, and once
// CONNECT is accepted client_id, user, org) to each record it handles. It
// formats nothing until a record is logged, so that an idle connection does
// not hold a pre-formatted copy of its attributes (logger.With would).
type connHandler struct {
	h slog.Handler
	c *conn
}

// connIdentity is what CONNECT adds to a connection's log records.
type connIdentity struct {
	clientID, user, org string
}

// newConnLogger returns the logger of c, on top of the broker's.
func newConnLogger(base *slog.Logger, c *conn) *slog.Logger {
	return slog.New(connHandler{h: base.Handler(), c: c})
}

func (h connHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h connHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.Uint64(logKeyConn, h.c.id))
	if a := h.c.nc.RemoteAddr(); a != nil {
		r.AddAttrs(slog.String(logKeyRemote, a.String()))
	}
	if id := h.c.identity.Load(); id != nil {
		r.AddAttrs(slog.String(logKeyClientID, id.clientID), slog.String(logKeyUser, id.user), slog.String(logKeyOrg, id.org))
	}
	return h.h.Handle(ctx, r)
}

func (h connHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return connHandler{h: h.h.WithAttrs(as), c: h.c}
}

func (h connHandler) WithGroup(name string) slog.Handler {
	return connHandler{h: h.h.WithGroup(name), c: h.c}
}
