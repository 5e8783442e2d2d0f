package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/store"
)

// storeConfig is the store's configuration: the node alone, a cell (embedded
// servers joined by routes) or a client of an external NATS cluster
// (docs/CLUSTER.md); every JetStream limit comes from the configuration.
func (s *Server) storeConfig() store.Config {
	c := s.cfg.Store
	return store.Config{
		DataDir:        s.cfg.DataDir,
		SiteName:       s.cfg.SiteName,
		ServerName:     c.ServerName,
		Replicas:       c.Replicas,
		SyncAlways:     c.SyncAlways,
		SyncInterval:   c.SyncInterval.D(),
		InProcess:      c.InProcess,
		MaxMemory:      c.MaxMemory,
		MaxStore:       c.MaxStore,
		DiskReserve:    c.DiskReserve,
		LogMaxAge:      c.LogMaxAge.D(),
		LogMaxBytes:    c.LogMaxBytes,
		LogDedupWindow: c.LogDedupWindow.D(),
		HistoryMaxAge:  c.HistoryMaxAge.D(),
		Timeout:        c.Timeout.D(),
		StartTimeout:   c.StartTimeout.D(),
		NATSURL:        c.NATSURL,
		NATSCredsFile:  c.NATSCredsFile,
		NATSUser:       c.NATSUser,
		NATSPassword:   c.NATSPassword,
		NATSCA:         c.NATSCA,
		NATSCert:       c.NATSCert,
		NATSKey:        c.NATSKey,
		Cluster: store.ClusterConfig{
			Name:      c.ClusterName,
			Addr:      c.ClusterAddr,
			Advertise: c.ClusterAdvertise,
			Routes:    c.Routes,
			Secret:    c.ClusterSecret,
			TLSCert:   c.ClusterTLSCert,
			TLSKey:    c.ClusterTLSKey,
			TLSCA:     c.ClusterTLSCA,
		},
	}
}

// Cluster signal names (store.Signal, store.Ask).
const (
	signalTakeover = "conn.takeover" // a session key registered on a node
	signalRelease  = "conn.release"  // asks a node to close and save a session
)

// releaseWait bounds how long a node waits for a released connection to save its
// session, like the broker's own takeover wait.
const releaseWait = 15 * time.Second

// sessionSignal is the payload of both signals.
type sessionSignal struct {
	Node      string `json:"n"`
	Principal string `json:"p"`
	ClientID  string `json:"c"`
	At        int64  `json:"t,omitempty"` // Unix nanoseconds of the registration
}

// clusterLink is the broker's Cluster over the store's signals.
type clusterLink struct {
	db     *store.DB
	node   string
	logger *slog.Logger
}

func (l clusterLink) TakeOver(principalID, clientID string, at time.Time) {
	data, _ := json.Marshal(sessionSignal{Node: l.node, Principal: principalID, ClientID: clientID, At: at.UnixNano()})
	if err := l.db.Signal(signalTakeover, data); err != nil {
		l.logger.Warn("announce takeover", "err", err)
	}
}

func (l clusterLink) Release(ctx context.Context, node, principalID, clientID string) error {
	data, _ := json.Marshal(sessionSignal{Node: l.node, Principal: principalID, ClientID: clientID})
	_, err := l.db.Ask(ctx, node, signalRelease, data)
	if errors.Is(err, store.ErrNoNode) {
		return nil // the node is gone: its last save is all there is
	}
	return err
}

// brokerCluster is the broker's link to the other nodes; nil on a node alone.
func (s *Server) brokerCluster() broker.Cluster {
	if !s.cfg.Store.Clustered() {
		return nil
	}
	return clusterLink{s.db, s.cfg.Store.ServerName, s.logger}
}

// openCluster serves the other nodes' takeovers and releases until the returned
// stop is called; a node alone has none and serves nothing.
func (s *Server) openCluster(ctx context.Context) (stop func(), err error) {
	if !s.cfg.Store.Clustered() {
		return func() {}, nil
	}
	node := s.cfg.Store.ServerName
	stopTakeover, err := s.db.OnSignal(signalTakeover, func(data []byte) {
		var sig sessionSignal
		if json.Unmarshal(data, &sig) != nil || sig.Node == node {
			return
		}
		s.broker.TakeOverRemote(sig.Principal, sig.ClientID, time.Unix(0, sig.At))
	})
	if err != nil {
		return nil, fmt.Errorf("cluster signals: %w", err)
	}
	stopRelease, err := s.db.Answer(signalRelease, func(data []byte) []byte {
		var sig sessionSignal
		if json.Unmarshal(data, &sig) != nil {
			return nil
		}
		if saved := s.broker.ReleaseRemote(sig.Principal, sig.ClientID); saved != nil {
			t := time.NewTimer(releaseWait)
			defer t.Stop()
			select {
			case <-saved:
			case <-t.C:
			case <-ctx.Done():
			}
		}
		return []byte("ok")
	})
	if err != nil {
		stopTakeover()
		return nil, fmt.Errorf("cluster signals: %w", err)
	}
	return func() { stopTakeover(); stopRelease() }, nil
}

// serveCluster answers GET /clusterz: this node, the mode, and the notification
// log's leader and replicas as this node sees them (503 when the log has no
// leader). Like /readyz it needs no credentials and shows no tenant data.
func (s *Server) serveCluster(w http.ResponseWriter, r *http.Request) {
	ci, err := s.db.ClusterInfo(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(ci)
}
