// Package config holds herald's one configuration struct, its defaults, loading from a
// YAML file and the environment, and validation.
//
// Precedence, lowest first: Default(), the file given with -config, environment
// variables (HERALD_*), then command-line flags (bound by the cli package to the same
// fields). Secrets (the bootstrap administrator password) come only from the
// environment or a file, never from a flag.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one herald node.
type Config struct {
	// DataDir holds the store (JetStream files) and the generated TLS material.
	// Default "./herald-data".
	DataDir string `yaml:"dataDir"`
	// SiteName is the site's name in Session JSON; default "herald".
	SiteName string      `yaml:"siteName"`
	HTTP     HTTPConfig  `yaml:"http"`
	MQTT     MQTTConfig  `yaml:"mqtt"`
	Auth     AuthConfig  `yaml:"auth"`
	Store    StoreConfig `yaml:"store"`
	Log      LogConfig   `yaml:"log"`
	// Metrics are the defaults of the run-time metrics settings (VCD-COMPAT §9.1).
	Metrics MetricsConfig `yaml:"metrics"`
	// Runtime tunes the Go runtime herald runs on.
	Runtime RuntimeConfig `yaml:"runtime"`
}

// RuntimeConfig tunes the Go runtime.
type RuntimeConfig struct {
	// BusyHeapHeadroom bounds, in bytes, how far the heap may grow beyond its live size
	// between garbage collections while notifications flow: herald then raises the GC
	// percentage so that collections come about every 8 seconds instead of every two at
	// 5,000 notifications a second, and sets it back to 100 once they stop and the
	// heap is small again (docs/PERFORMANCE.md). Never more than half of what lies between the live heap
	// and the process's memory limit (GOMEMLIMIT, else a container's cgroup limit).
	// Once no notifications flow and little is allocated, herald also collects and
	// returns the heap's free memory to the OS (after a burst of connects Go would
	// keep twice the live heap). Default 512 MiB; 0 turns the tuning and the release
	// off, and so does an explicit GOGC.
	BusyHeapHeadroom int64 `yaml:"busyHeapHeadroom"`
}

// HTTPConfig configures the one HTTP listener (and an optional plain one).
type HTTPConfig struct {
	// Addr is the HTTPS listen address; default ":8443". Empty disables HTTPS.
	Addr string `yaml:"addr"`
	// PlainAddr is an optional plain-HTTP listen address (e.g. "127.0.0.1:8080"); default
	// empty, meaning none.
	PlainAddr string `yaml:"plainAddr"`
	// DebugAddr is an optional loopback listen address (e.g. "127.0.0.1:6060") serving Go's
	// runtime profiles under /debug/pprof/ for operators measuring herald; default empty,
	// meaning none. It must be a loopback address: profiles are not for the network.
	DebugAddr string `yaml:"debugAddr"`
	// MetricsToken, when set (at least 16 characters), is the bearer token GET
	// /metrics requires (Authorization: Bearer <token>); default empty, meaning
	// /metrics is open. Take it from HERALD_METRICS_TOKEN rather than the file.
	MetricsToken string `yaml:"metricsToken"`
	// TLSCert and TLSKey are PEM files. When both are empty herald generates a local CA
	// and a server certificate under <DataDir>/tls (ca.pem, cert.pem, key.pem).
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	// TLSSANs are extra DNS names or IP addresses for the generated certificate, beyond
	// localhost, 127.0.0.1, ::1 and the host name.
	TLSSANs []string `yaml:"tlsSANs"`
	// PublicURL, when set (e.g. "https://vcd.example.com"), is used in hrefs instead of
	// the scheme and Host of each request.
	PublicURL string `yaml:"publicURL"`
	// MaxBodyBytes bounds request bodies; default 1 MiB.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// LoginRatePerMinute bounds logins from one client address; default 20.
	LoginRatePerMinute int `yaml:"loginRatePerMinute"`
	// ShutdownTimeout bounds a graceful shutdown; default 10s.
	ShutdownTimeout Duration `yaml:"shutdownTimeout"`
}

// MaxInflightLimit bounds mqtt.maxInflight: a persistent session stores the
// messages it has in flight with it, one stored value per session of at most
// 1 MiB, and this many take at most 0.7 MB of it, leaving room for a hundred
// long subscriptions (store's TestMQTTSession_FullWindow).
const MaxInflightLimit = 10000

// MQTTConfig configures the MQTT front end.
type MQTTConfig struct {
	// Addr is an optional plain MQTT listener for back-end services (TLS when a
	// certificate is configured or generated); default empty, meaning none.
	Addr string `yaml:"addr"`
	// MaxPacketBytes bounds inbound MQTT packets; default 1 MiB.
	MaxPacketBytes int `yaml:"maxPacketBytes"`
	// MaxInflight bounds the QoS>0 messages sent to a session and not yet
	// acknowledged; default 100, at most MaxInflightLimit.
	MaxInflight int `yaml:"maxInflight"`
	// ReceiveMaximum bounds the QoS>0 messages a client has sent and herald not
	// yet acknowledged (the Receive Maximum announced to MQTT 5 clients); default 100.
	ReceiveMaximum int `yaml:"receiveMaximum"`
	// SessionRetention is how long a disconnected persistent session is kept (3.1.1
	// CleanSession=0) and the cap on a 5.0 Session Expiry Interval; default 24h. Keep it
	// at or below store.logMaxAge: messages older than the log's retention are gone.
	SessionRetention Duration `yaml:"sessionRetention"`
	// ConnectsPerSecondPerIP bounds new MQTT connections (WebSocket upgrades and TCP
	// accepts) from one client address per second; default 1000. Past it a WebSocket
	// upgrade gets 429 and a TCP connection is closed at once.
	ConnectsPerSecondPerIP int `yaml:"connectsPerSecondPerIP"`
}

// AuthConfig configures logins, sessions and tokens.
type AuthConfig struct {
	// AdminName is the bootstrap System administrator's user name; default "administrator".
	AdminName string `yaml:"adminName"`
	// AdminPassword sets the bootstrap administrator's password on first start only.
	// Take it from HERALD_ADMIN_PASSWORD rather than the file; when empty on first start a
	// password is generated and printed once.
	AdminPassword string `yaml:"adminPassword"`
	// TokenLifetime is a session JWT's lifetime; default 24h.
	TokenLifetime Duration `yaml:"tokenLifetime"`
	// IdleTimeout ends a session without activity; default 30m.
	IdleTimeout Duration `yaml:"idleTimeout"`
	// LockoutThreshold failed logins within LockoutWindow lock a user for
	// LockoutDuration; defaults 5, 10m, 10m.
	LockoutThreshold int      `yaml:"lockoutThreshold"`
	LockoutWindow    Duration `yaml:"lockoutWindow"`
	LockoutDuration  Duration `yaml:"lockoutDuration"`
	// KeyLifetime is how long a JWT signing key signs before a new one is made; default 90 days.
	KeyLifetime Duration `yaml:"keyLifetime"`
	// APITokenLifetime bounds API tokens; default 0, meaning no expiry.
	APITokenLifetime Duration `yaml:"apiTokenLifetime"`
	// PasswordCost is the bcrypt cost for password hashes; default 12. Tests lower it.
	PasswordCost int `yaml:"passwordCost"`
}

// StoreConfig configures the NATS JetStream store.
type StoreConfig struct {
	// NATSURL, when set, connects to an operator-run NATS cluster instead of embedding a
	// server; default empty (embedded, reached on a loopback port, see InProcess).
	NATSURL string `yaml:"natsURL"`
	// ServerName names the embedded NATS server; it must stay the same across restarts
	// of one data dir. Default "herald".
	ServerName string `yaml:"serverName"`
	// Replicas of every stream and KV bucket; default 1 (3 in a cluster).
	Replicas int `yaml:"replicas"`
	// SyncAlways makes JetStream fsync every write before acknowledging it; default
	// false (JetStream syncs every SyncInterval).
	SyncAlways bool `yaml:"syncAlways"`
	// SyncInterval is JetStream's periodic fsync interval; default 0 (JetStream's own, 2m).
	SyncInterval Duration `yaml:"syncInterval"`
	// InProcess talks to the embedded NATS server through in-process pipes, with no
	// port at all; default false: through a random 127.0.0.1 port guarded by a
	// password generated at each start, which keeps the tail latency under load
	// about half as long (docs/PERFORMANCE.md).
	InProcess bool `yaml:"inProcess"`
	// LogMaxAge is how long the notification log keeps a message, and so how long an
	// offline persistent session can be served; default 24h.
	LogMaxAge Duration `yaml:"logMaxAge"`
	// LogMaxBytes bounds the notification log; the oldest messages go first beyond it.
	// Default 1 GiB; -1 means unlimited (LogMaxAge alone bounds it).
	LogMaxBytes int64 `yaml:"logMaxBytes"`
	// HistoryMaxAge is how long the audit trail keeps a record; default 90 days.
	HistoryMaxAge Duration `yaml:"historyMaxAge"`
	// LogDedupWindow is how long a repeated notification id is recognised and stored
	// only once; default 10m, capped at logMaxAge.
	LogDedupWindow Duration `yaml:"logDedupWindow"`
	// MaxMemory and MaxStore bound the embedded server's JetStream memory and file
	// storage in bytes; default 0, meaning nats-server's own (a share of the machine's).
	MaxMemory int64 `yaml:"maxMemory"`
	MaxStore  int64 `yaml:"maxStore"`
	// DiskReserve is the free space (bytes) the embedded store keeps on its disk:
	// below it notifications and audit records are refused (503, PUBACK 0x80) until
	// there is room, because JetStream that meets a full disk stops taking messages
	// until a restart. Default 64 MiB; -1 turns it off.
	DiskReserve int64 `yaml:"diskReserve"`
	// Timeout bounds each request to JetStream (a write, a lookup); past it the request
	// fails as unavailable (HTTP 503). Default 10s.
	Timeout Duration `yaml:"timeout"`
	// StartTimeout bounds how long start-up retries to reach JetStream: in a cluster
	// the first nodes wait for a quorum of peers and the elections. Default 2m.
	StartTimeout Duration `yaml:"startTimeout"`

	// Cell mode (docs/CLUSTER.md): the embedded NATS server joins its peers by NATS
	// routes. ClusterName names the cluster (the same on every node); empty means no
	// cluster. ClusterAddr is the route listen address (e.g. "0.0.0.0:6222"), required
	// with ClusterName. ClusterAdvertise is the address peers reach it at when it
	// differs (NAT, 0.0.0.0). Routes lists the peers' route addresses (host:port or
	// nats-route://host:port; this node's own may be included). serverName must then
	// differ between nodes, and replicas is usually 3.
	ClusterName      string   `yaml:"clusterName"`
	ClusterAddr      string   `yaml:"clusterAddr"`
	ClusterAdvertise string   `yaml:"clusterAdvertise"`
	Routes           []string `yaml:"routes"`
	// ClusterSecret, when set, is required of every route (the same on every node).
	// Take it from HERALD_CLUSTER_SECRET rather than the file.
	ClusterSecret string `yaml:"clusterSecret"`
	// ClusterTLSCert, ClusterTLSKey and ClusterTLSCA (PEM files), when set, make the
	// routes mutual TLS: each node presents its certificate and requires a peer's
	// signed by the CA. Default empty: plain TCP.
	ClusterTLSCert string `yaml:"clusterTLSCert"`
	ClusterTLSKey  string `yaml:"clusterTLSKey"`
	ClusterTLSCA   string `yaml:"clusterTLSCA"`

	// External mode: credentials and TLS for natsURL. NATSCredsFile is a NATS
	// credentials (JWT + nkey) file; NATSUser and NATSPassword are user/password
	// authentication instead (take the password from HERALD_NATS_PASSWORD). NATSCA is
	// a PEM CA file to verify the servers (tls:// URLs); NATSCert and NATSKey a client
	// certificate for servers that require one. Default empty: none.
	NATSCredsFile string `yaml:"natsCredsFile"`
	NATSUser      string `yaml:"natsUser"`
	NATSPassword  string `yaml:"natsPassword"`
	NATSCA        string `yaml:"natsCA"`
	NATSCert      string `yaml:"natsCert"`
	NATSKey       string `yaml:"natsKey"`
}

// Clustered reports whether the store runs as part of a cluster (cell or external
// mode) rather than as one embedded server alone.
func (s StoreConfig) Clustered() bool { return s.ClusterName != "" || s.NATSURL != "" }

// MetricsConfig holds the defaults of the metrics settings (VCD-COMPAT §9.1): the keys
// metrics.publishing.enabled, metrics.interval and metrics.simulator.enabled. They
// apply until a sysadmin stores settings with PUT
// /cloudapi/herald/1.0.0/settings/metrics, which every node then uses.
type MetricsConfig struct {
	Publishing MetricsPublishing `yaml:"publishing"`
	// Interval is how often METRICS messages are published (and the simulator
	// produces samples); default 20s, whole seconds from 1s to 1h.
	Interval  Duration         `yaml:"interval"`
	Simulator MetricsSimulator `yaml:"simulator"`
}

// MetricsPublishing is metrics.publishing.
type MetricsPublishing struct {
	// Enabled turns METRICS publication on; default false, as in VCD.
	Enabled bool `yaml:"enabled"`
}

// MetricsSimulator is metrics.simulator.
type MetricsSimulator struct {
	// Enabled makes herald produce plausible samples for every inventory VM at each
	// interval; default false.
	Enabled bool `yaml:"enabled"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error; default info.
	Level string `yaml:"level"`
	// Format is text or json; default text.
	Format string `yaml:"format"`
}

// Default returns the configuration herald runs with when nothing is set. It is the one
// source of defaults.
func Default() Config {
	return Config{
		DataDir:  "./herald-data",
		SiteName: "herald",
		HTTP: HTTPConfig{
			Addr:               ":8443",
			MaxBodyBytes:       1 << 20,
			LoginRatePerMinute: 20,
			ShutdownTimeout:    Duration(10 * time.Second),
		},
		MQTT: MQTTConfig{MaxPacketBytes: 1 << 20, MaxInflight: 100, ReceiveMaximum: 100, ConnectsPerSecondPerIP: 1000,
			SessionRetention: Duration(24 * time.Hour)},
		Auth: AuthConfig{
			AdminName:        "administrator",
			TokenLifetime:    Duration(24 * time.Hour),
			IdleTimeout:      Duration(30 * time.Minute),
			LockoutThreshold: 5,
			LockoutWindow:    Duration(10 * time.Minute),
			LockoutDuration:  Duration(10 * time.Minute),
			KeyLifetime:      Duration(90 * 24 * time.Hour),
			PasswordCost:     12,
		},
		Store: StoreConfig{ServerName: "herald", Replicas: 1, LogMaxAge: Duration(24 * time.Hour),
			LogMaxBytes: 1 << 30, HistoryMaxAge: Duration(90 * 24 * time.Hour),
			LogDedupWindow: Duration(10 * time.Minute), Timeout: Duration(10 * time.Second),
			StartTimeout: Duration(2 * time.Minute), DiskReserve: 64 << 20},
		Log:     LogConfig{Level: "info", Format: "text"},
		Metrics: MetricsConfig{Interval: Duration(20 * time.Second)},
		Runtime: RuntimeConfig{BusyHeapHeadroom: 512 << 20},
	}
}

// Load reads a YAML file over c. Unknown keys are errors, so a typo does not pass
// silently.
func (c *Config) Load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// io.EOF means an empty file: nothing to change.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

// envFields maps each HERALD_* environment variable to the field it sets.
func (c *Config) envFields() []struct {
	name string
	dst  *string
} {
	return []struct {
		name string
		dst  *string
	}{
		{"HERALD_DATA_DIR", &c.DataDir},
		{"HERALD_ADDR", &c.HTTP.Addr},
		{"HERALD_HTTP_ADDR", &c.HTTP.PlainAddr},
		{"HERALD_DEBUG_ADDR", &c.HTTP.DebugAddr},
		{"HERALD_METRICS_TOKEN", &c.HTTP.MetricsToken},
		{"HERALD_MQTT_ADDR", &c.MQTT.Addr},
		{"HERALD_PUBLIC_URL", &c.HTTP.PublicURL},
		{"HERALD_ADMIN_PASSWORD", &c.Auth.AdminPassword},
		{"HERALD_NATS_URL", &c.Store.NATSURL},
		{"HERALD_NATS_PASSWORD", &c.Store.NATSPassword},
		{"HERALD_CLUSTER_SECRET", &c.Store.ClusterSecret},
		{"HERALD_LOG_LEVEL", &c.Log.Level},
		{"HERALD_LOG_FORMAT", &c.Log.Format},
	}
}

// EnvNames lists the environment variables ApplyEnv reads.
func EnvNames() []string {
	var c Config
	var names []string
	for _, f := range c.envFields() {
		names = append(names, f.name)
	}
	return names
}

// ApplyEnv sets fields from the HERALD_* environment variables that are set and
// non-empty, using getenv (os.Getenv in production).
func (c *Config) ApplyEnv(getenv func(string) string) {
	for _, f := range c.envFields() {
		if v := getenv(f.name); v != "" {
			*f.dst = v
		}
	}
}

// FieldError is one invalid setting.
type FieldError struct {
	Field string
	Value any
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s = %v: %v", e.Field, e.Value, e.Err) }

// Unwrap returns the reason.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate returns every problem of c at once, joined; nil when c is usable.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Value: value, Err: fmt.Errorf(format, args...)})
	}
	if c.DataDir == "" {
		bad("dataDir", c.DataDir, "must not be empty")
	}
	if c.SiteName == "" {
		bad("siteName", c.SiteName, "must not be empty")
	}
	if c.HTTP.Addr == "" && c.HTTP.PlainAddr == "" {
		bad("http.addr", c.HTTP.Addr, "at least one of http.addr and http.plainAddr must be set")
	}
	for _, a := range []struct{ field, addr string }{{"http.addr", c.HTTP.Addr}, {"http.plainAddr", c.HTTP.PlainAddr}, {"mqtt.addr", c.MQTT.Addr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.field, a.addr, "not a host:port address: %v", err)
		}
	}
	if c.HTTP.DebugAddr != "" && !isLoopbackAddr(c.HTTP.DebugAddr) {
		bad("http.debugAddr", c.HTTP.DebugAddr, "must be a loopback address such as 127.0.0.1:6060")
	}
	if c.HTTP.MetricsToken != "" && len(c.HTTP.MetricsToken) < 16 {
		bad("http.metricsToken", "(hidden)", "must have at least 16 characters")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tlsCert", c.HTTP.TLSCert, "tlsCert and tlsKey must be set together")
	}
	if c.HTTP.PublicURL != "" && !strings.HasPrefix(c.HTTP.PublicURL, "https://") && !strings.HasPrefix(c.HTTP.PublicURL, "http://") {
		bad("http.publicURL", c.HTTP.PublicURL, "must start with https:// or http://")
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.maxBodyBytes", c.HTTP.MaxBodyBytes, "must be at least 1024")
	}
	if c.HTTP.LoginRatePerMinute < 1 {
		bad("http.loginRatePerMinute", c.HTTP.LoginRatePerMinute, "must be at least 1")
	}
	if c.MQTT.MaxPacketBytes < 128 || c.MQTT.MaxPacketBytes > 268435455 {
		bad("mqtt.maxPacketBytes", c.MQTT.MaxPacketBytes, "must be between 128 and 268435455")
	}
	if c.MQTT.MaxInflight < 1 || c.MQTT.MaxInflight > MaxInflightLimit {
		bad("mqtt.maxInflight", c.MQTT.MaxInflight, "must be between 1 and %d", MaxInflightLimit)
	}
	if c.MQTT.ReceiveMaximum < 1 || c.MQTT.ReceiveMaximum > 65535 {
		bad("mqtt.receiveMaximum", c.MQTT.ReceiveMaximum, "must be between 1 and 65535")
	}
	if c.MQTT.ConnectsPerSecondPerIP < 1 {
		bad("mqtt.connectsPerSecondPerIP", c.MQTT.ConnectsPerSecondPerIP, "must be at least 1")
	}
	if c.Auth.AdminName == "" || strings.Contains(c.Auth.AdminName, ":") {
		bad("auth.adminName", c.Auth.AdminName, "must be non-empty and contain no ':'")
	}
	if c.Auth.AdminPassword != "" && len(c.Auth.AdminPassword) < 6 {
		bad("auth.adminPassword", "(hidden)", "must have at least 6 characters")
	}
	positive := []struct {
		field string
		d     Duration
	}{
		{"auth.tokenLifetime", c.Auth.TokenLifetime}, {"auth.idleTimeout", c.Auth.IdleTimeout},
		{"auth.lockoutWindow", c.Auth.LockoutWindow}, {"auth.lockoutDuration", c.Auth.LockoutDuration},
		{"auth.keyLifetime", c.Auth.KeyLifetime}, {"http.shutdownTimeout", c.HTTP.ShutdownTimeout},
		{"mqtt.sessionRetention", c.MQTT.SessionRetention}, {"store.historyMaxAge", c.Store.HistoryMaxAge},
		{"store.logDedupWindow", c.Store.LogDedupWindow}, {"store.timeout", c.Store.Timeout},
		{"store.startTimeout", c.Store.StartTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.field, p.d, "must be positive")
		}
	}
	if c.Auth.APITokenLifetime < 0 {
		bad("auth.apiTokenLifetime", c.Auth.APITokenLifetime, "must not be negative")
	}
	if c.Auth.LockoutThreshold < 1 {
		bad("auth.lockoutThreshold", c.Auth.LockoutThreshold, "must be at least 1")
	}
	if c.Auth.PasswordCost < 4 || c.Auth.PasswordCost > 31 {
		bad("auth.passwordCost", c.Auth.PasswordCost, "must be between 4 and 31")
	}
	if c.Store.NATSURL == "" && c.Store.ServerName == "" {
		bad("store.serverName", c.Store.ServerName, "must not be empty")
	}
	if c.Store.Replicas != 1 && c.Store.Replicas != 3 && c.Store.Replicas != 5 {
		bad("store.replicas", c.Store.Replicas, "must be 1, 3 or 5")
	}
	if c.Store.LogMaxAge < Duration(time.Second) {
		bad("store.logMaxAge", c.Store.LogMaxAge, "must be at least 1s")
	}
	if c.Store.DiskReserve < -1 || c.Store.DiskReserve == 0 {
		bad("store.diskReserve", c.Store.DiskReserve, "must be -1 (off) or a number of bytes")
	}
	if c.Store.LogMaxBytes < -1 || (c.Store.LogMaxBytes >= 0 && c.Store.LogMaxBytes < 1<<20) {
		bad("store.logMaxBytes", c.Store.LogMaxBytes, "must be -1 (unlimited) or at least 1 MiB")
	}
	if c.Store.SyncInterval < 0 {
		bad("store.syncInterval", c.Store.SyncInterval, "must not be negative")
	}
	errs = append(errs, c.Store.validateCluster()...)
	if iv := c.Metrics.Interval.D(); iv < time.Second || iv > time.Hour || iv%time.Second != 0 {
		bad("metrics.interval", c.Metrics.Interval, "must be whole seconds from 1s to 1h")
	}
	if c.Runtime.BusyHeapHeadroom < 0 {
		bad("runtime.busyHeapHeadroom", c.Runtime.BusyHeapHeadroom, "must not be negative (0 turns the tuning off)")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error", "trace":
	default:
		bad("log.level", c.Log.Level, "must be trace, debug, info, warn or error")
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		bad("log.format", c.Log.Format, "must be text or json")
	}
	return errors.Join(errs...)
}

// Duration is a time.Duration written in YAML as a Go duration string ("10m", "24h").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads a duration string such as "90s" or "24h".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// isLoopbackAddr reports whether addr is host:port with a loopback IP or "localhost".
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
