package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
)

// listFlag is a list flag whose value is comma-separated and may be repeated; the
// first use on a command line replaces the list from the file or the defaults.
type listFlag struct {
	dst *[]string
	set bool
}

func (l *listFlag) String() string {
	if l.dst == nil {
		return ""
	}
	return strings.Join(*l.dst, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		*l.dst = nil
		l.set = true
	}
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*l.dst = append(*l.dst, e)
		}
	}
	return nil
}

// clusterFlags binds the store's node and cluster flags (docs/CLUSTER.md) to c.
// Secrets (the cluster secret, the NATS password) come from the environment or the
// file only.
func clusterFlags(fs *flag.FlagSet, c *config.Config) {
	s := &c.Store
	fs.StringVar(&s.ServerName, "server-name", s.ServerName, "this node's name, stable across restarts and unique in a cluster")
	fs.IntVar(&s.Replicas, "replicas", s.Replicas, "replicas of every stream and bucket: 1 alone, 3 or 5 in a cluster")
	fs.StringVar(&s.ClusterName, "cluster-name", s.ClusterName, "cell mode: the cluster's name, the same on every node")
	fs.StringVar(&s.ClusterAddr, "cluster-addr", s.ClusterAddr, "cell mode: NATS route listen address, e.g. 0.0.0.0:6222")
	fs.StringVar(&s.ClusterAdvertise, "cluster-advertise", s.ClusterAdvertise, "cell mode: route address peers reach this node at, if not -cluster-addr")
	fs.Var(&listFlag{dst: &s.Routes}, "routes", "cell mode: peers' route addresses host:port, comma-separated or repeated")
	fs.StringVar(&s.ClusterTLSCert, "cluster-tls-cert", s.ClusterTLSCert, "cell mode: route TLS certificate PEM file")
	fs.StringVar(&s.ClusterTLSKey, "cluster-tls-key", s.ClusterTLSKey, "cell mode: route TLS private key PEM file")
	fs.StringVar(&s.ClusterTLSCA, "cluster-tls-ca", s.ClusterTLSCA, "cell mode: CA PEM file of the peers' route certificates")
	fs.StringVar(&s.NATSURL, "nats-url", s.NATSURL, "external mode: NATS cluster URLs, comma-separated (nats:// or tls://)")
	fs.StringVar(&s.NATSCredsFile, "nats-creds", s.NATSCredsFile, "external mode: NATS credentials file")
	fs.StringVar(&s.NATSUser, "nats-user", s.NATSUser, "external mode: NATS user (password from HERALD_NATS_PASSWORD)")
	fs.StringVar(&s.NATSCA, "nats-ca", s.NATSCA, "external mode: CA PEM file of the NATS servers")
	fs.StringVar(&s.NATSCert, "nats-cert", s.NATSCert, "external mode: client certificate PEM file")
	fs.StringVar(&s.NATSKey, "nats-key", s.NATSKey, "external mode: client private key PEM file")
}

// migrate copies a single node's data dir into a new cluster: this node's
// configuration (the serve flags) names the cluster, -from the old data dir.
func (e env) migrate(ctx context.Context, args []string) error {
	fs := e.newFlagSet("migrate", "Copy a single node's store (-from, the old data dir, its server stopped) into a new\n"+
		"cluster, as this node: give the flags this node will serve with. Start the cluster's\n"+
		"other nodes with serve meanwhile; they wait for the copy. Then serve this node.\n"+
		"See docs/CLUSTER.md.")
	var from, fromName string
	cfg, err := e.loadConfig(fs, args, func(fs *flag.FlagSet, c *config.Config) {
		serveFlags(fs, c)
		fs.StringVar(&from, "from", "", "the single node's data dir (required; its server must be stopped)")
		fs.StringVar(&fromName, "from-server-name", "herald", "the single node's store.serverName")
	})
	if err != nil {
		return err
	}
	if from == "" {
		return &usageError{"migrate: -from is required"}
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{fmt.Sprintf("invalid configuration:\n%v", err)}
	}
	logger := newLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	st, err := server.Migrate(ctx, cfg, from, fromName, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "migrated site %s: %d keys, %d notifications (from sequence %d), %d audit records, replicas %d\n",
		st.SiteID, st.Keys, st.Notifications, st.FirstSeq, st.AuditRecords, st.TargetReplicas)
	return nil
}
