package broker

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/vcd"
)

// Cluster carries session takeovers between the brokers of a cluster's nodes
// (docs/CLUSTER.md). A session key is (principal, client id) on every node, so the
// same client id of the same principal connecting to node B takes over its
// connection on node A [MQTT-3.1.4-2], as it would on one node:
//
//   - Register announces every newly registered session key with TakeOver; every
//     other node closes its older connection of that key with Session Taken Over
//     (0x8E on 5.0) through Broker.TakeOverRemote.
//   - A persistent session's stored record names the node that saved it last, and
//     is "held" while its DisconnectedAt is zero. Resuming a record held by another
//     node first asks that node, with Release, to close its connection and to save
//     the session (Broker.ReleaseRemote), then loads the record again, so the new
//     node starts from the old one's last acknowledgements. A node that is gone
//     (killed) cannot answer; Release returns at once and the record as last saved
//     is used (at most a second of acknowledgements old: duplicates, no loss).
type Cluster interface {
	// TakeOver tells the other nodes that a connection of the session key
	// (principalID, clientID), registered at the time at, now lives on this node.
	// It must not block.
	TakeOver(principalID, clientID string, at time.Time)
	// Release asks node to close its connection of the session, if any, and
	// returns once that node saved the session, at once if the node is gone, or
	// when ctx ends.
	Release(ctx context.Context, node, principalID, clientID string) error
}

// parsePrincipalKey is the inverse of principalKey.String.
func parsePrincipalKey(s string) (principalKey, bool) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return principalKey{}, false
	}
	k, err := strconv.Atoi(kind)
	if err != nil || k < 0 || k > 255 {
		return principalKey{}, false
	}
	return principalKey{kind: vcd.PrincipalKind(k), id: id}, true
}

// announce tells the other nodes that c now holds its session key.
// b.mu held on entry; Cluster.TakeOver does not block.
func (b *Broker) announce(c *conn) {
	if b.cfg.Cluster != nil {
		b.cfg.Cluster.TakeOver(c.key.principal.String(), c.key.clientID, time.Now())
	}
}

// TakeOverRemote closes this node's connection of the session key (principalID,
// clientID) with Session Taken Over when it is older than at, the time another
// node registered a connection of the same key. It returns a channel closed once
// the closed connection has saved its session, or nil when nothing was closed.
func (b *Broker) TakeOverRemote(principalID, clientID string, at time.Time) <-chan struct{} {
	return b.closeSessionKey(principalID, clientID, func(c *conn) bool { return c.start.Before(at) })
}

// ReleaseRemote closes this node's connection of the session key, whatever its
// age, because another node resumes the session, and returns a channel closed once
// the connection has saved its session, or nil when there is none.
func (b *Broker) ReleaseRemote(principalID, clientID string) <-chan struct{} {
	return b.closeSessionKey(principalID, clientID, func(*conn) bool { return true })
}

func (b *Broker) closeSessionKey(principalID, clientID string, ok func(*conn) bool) <-chan struct{} {
	pk, valid := parsePrincipalKey(principalID)
	if !valid {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.sessions[sessionKey{principal: pk, clientID: clientID}]
	if c == nil || !ok(c) {
		return nil
	}
	c.closeWith(mqtt.ReasonSessionTakenOver)
	c.logger.Debug("session taken over by another node")
	return c.saved
}

// releaseRemote asks the node holding rec (DisconnectedAt zero, saved by another
// node) to release it, bounded by takeoverWait, and reports whether rec must be
// loaded again. openSession calls it after Load.
func (c *conn) releaseRemote(rec *SessionRecord) bool {
	b := c.b
	if b.cfg.Cluster == nil || !rec.DisconnectedAt.IsZero() || rec.Node == "" || rec.Node == b.cfg.Node {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, takeoverWait)
	defer cancel()
	if err := b.cfg.Cluster.Release(ctx, rec.Node, rec.PrincipalID, rec.ClientID); err != nil {
		c.logger.Warn("node holding the session did not release it", "node", rec.Node, logKeyErr, err)
	}
	return true
}
