package store

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a DB. The zero value of every field except DataDir (embedded mode)
// means its documented default; config.Default() is where the server chooses values.
type Config struct {
	// DataDir is the directory of the embedded NATS server's JetStream file store
	// (<DataDir>/jetstream). Required unless NATSURL is set.
	DataDir string
	// SiteName is the name Site reports. Default "herald".
	SiteName string
	// ServerName is the embedded NATS server's name. It must stay the same across
	// restarts (and differ between the nodes of a cluster) for JetStream to find its
	// data again. Default "herald".
	ServerName string
	// Replicas is the number of replicas of every bucket: 1 for one machine, 3 in a
	// cluster. Default 1; at most 5.
	Replicas int
	// SyncInterval is how often the embedded server fsyncs JetStream files; 0 means the
	// nats-server default (2 minutes). Ignored when SyncAlways is set.
	SyncInterval time.Duration
	// SyncAlways makes the embedded server fsync after every write: slower, but a power
	// loss loses nothing that was acknowledged.
	SyncAlways bool
	// MaxMemory and MaxStore bound the embedded server's JetStream memory and file
	// storage in bytes; 0 means the nats-server default (a share of the machine's).
	MaxMemory int64
	MaxStore  int64
	// DiskReserve is the free space, in bytes, the embedded store keeps on its disk:
	// below it appends to the log and the history are refused (disk.go). Default
	// 64 MiB; -1 turns the guard off. Ignored with NATSURL.
	DiskReserve int64
	// InProcess connects to the embedded server through in-process pipes and opens no
	// port at all. By default the embedded server listens on a random loopback port
	// that only this process has the password of, and herald connects through it:
	// the kernel's socket buffers let either side write without waiting for the other
	// to read, where a pipe hands over every write, and under load that halves the
	// notifications' tail latency (docs/PERFORMANCE.md). A cell always listens there.
	InProcess bool
	// NATSURL, when set, connects to an existing NATS cluster (comma-separated URLs)
	// instead of embedding a server; DataDir and the embedded-server fields are then
	// ignored.
	NATSURL string
	// NATSCredsFile is a NATS credentials file used with NATSURL; empty means none.
	NATSCredsFile string
	// NATSUser and NATSPassword authenticate to NATSURL by user and password; NATSCA
	// verifies the servers' certificates; NATSCert and NATSKey are a client
	// certificate. Empty means none.
	NATSUser, NATSPassword string
	NATSCA                 string
	NATSCert, NATSKey      string
	// Cluster joins the embedded server to its peers by NATS routes (cell mode);
	// the zero value means a server alone. Ignored with NATSURL.
	Cluster ClusterConfig
	// StartTimeout bounds Open's retries while JetStream is not ready: a cluster
	// without a quorum yet, elections, peers still joining. Default Timeout.
	StartTimeout time.Duration
	// RevokedTTL is how long a revoked JWT id is remembered; it must exceed the longest
	// JWT lifetime. Default 48h.
	RevokedTTL time.Duration
	// Timeout bounds each JetStream request and the wait for JetStream at Open.
	// Default 10s.
	Timeout time.Duration
	// LogMaxAge is how long the notification log (stream NOTIFY) keeps a message, and
	// so how long an offline persistent session can be away without losing messages.
	// Default 24h.
	LogMaxAge time.Duration
	// LogMaxBytes bounds the notification log's size; the oldest messages are dropped
	// beyond it. Default 1 GiB; -1 means unlimited (LogMaxAge alone bounds it).
	LogMaxBytes int64
	// LogDedupWindow is how long Append remembers a message id to drop a repeated
	// append of it. Default 10m; capped at LogMaxAge.
	LogDedupWindow time.Duration
	// HistoryMaxAge is how long the audit history (stream HISTORY) keeps a record
	// (VCD-COMPAT §10.1). Default 90 days.
	HistoryMaxAge time.Duration
}

// Defaults applied by withDefaults.
const (
	defaultName       = "herald"
	defaultRevokedTTL = 48 * time.Hour
	defaultTimeout    = 10 * time.Second

	defaultLogMaxAge      = 24 * time.Hour
	defaultLogMaxBytes    = 1 << 30
	defaultLogDedupWindow = 10 * time.Minute
	defaultHistoryMaxAge  = 90 * 24 * time.Hour
)

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.SiteName == "" {
		c.SiteName = defaultName
	}
	if c.ServerName == "" {
		c.ServerName = defaultName
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RevokedTTL == 0 {
		c.RevokedTTL = defaultRevokedTTL
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = c.Timeout
	}
	if c.LogMaxAge == 0 {
		c.LogMaxAge = defaultLogMaxAge
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = defaultLogMaxBytes
	}
	if c.LogDedupWindow == 0 {
		c.LogDedupWindow = defaultLogDedupWindow
	}
	if c.HistoryMaxAge == 0 {
		c.HistoryMaxAge = defaultHistoryMaxAge
	}
	if c.DiskReserve == 0 {
		c.DiskReserve = defaultDiskReserve
	}
	// JetStream rejects a duplicate window longer than the stream's max age.
	c.LogDedupWindow = min(c.LogDedupWindow, c.LogMaxAge)
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.NATSURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required for the embedded server"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1 to 5", c.Replicas))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("sync interval %v: must not be negative", c.SyncInterval))
	}
	if c.MaxMemory < 0 || c.MaxStore < 0 {
		errs = append(errs, errors.New("max memory and max store must not be negative"))
	}
	if c.DiskReserve < -1 {
		errs = append(errs, fmt.Errorf("disk reserve %d: must be -1 (off) or positive", c.DiskReserve))
	}
	if c.NATSURL == "" && c.Cluster.Name != "" && c.Cluster.Addr == "" {
		errs = append(errs, errors.New("cluster address is required with a cluster name"))
	}
	if c.RevokedTTL < 0 || c.Timeout < 0 || c.StartTimeout < 0 {
		errs = append(errs, errors.New("revoked ttl and timeout must not be negative"))
	}
	if c.LogMaxAge < 100*time.Millisecond {
		// JetStream's floor for a stream's max age.
		errs = append(errs, fmt.Errorf("log max age %v: must be at least 100ms", c.LogMaxAge))
	}
	if c.LogMaxBytes < -1 {
		errs = append(errs, fmt.Errorf("log max bytes %d: must be positive or -1", c.LogMaxBytes))
	}
	if c.HistoryMaxAge < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("history max age %v: must be at least 100ms", c.HistoryMaxAge))
	}
	if c.LogDedupWindow < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("log dedup window %v: must be at least 100ms", c.LogDedupWindow))
	}
	return errors.Join(errs...)
}
