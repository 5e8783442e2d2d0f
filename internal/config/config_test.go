package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
)

func TestDefault_IsValid(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v; want nil", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		field  string // the FieldError expected; empty means valid
	}{
		{"default", func(*config.Config) {}, ""},
		{"no listeners", func(c *config.Config) { c.HTTP.Addr = "" }, "http.addr"},
		{"plain only", func(c *config.Config) { c.HTTP.Addr = ""; c.HTTP.PlainAddr = "127.0.0.1:0" }, ""},
		{"bad addr", func(c *config.Config) { c.HTTP.Addr = "8443" }, "http.addr"},
		{"bad mqtt addr", func(c *config.Config) { c.MQTT.Addr = "nope" }, "mqtt.addr"},
		{"debug on loopback", func(c *config.Config) { c.HTTP.DebugAddr = "127.0.0.1:6060" }, ""},
		{"debug on localhost", func(c *config.Config) { c.HTTP.DebugAddr = "localhost:0" }, ""},
		{"debug on ::1", func(c *config.Config) { c.HTTP.DebugAddr = "[::1]:6060" }, ""},
		{"debug on every address", func(c *config.Config) { c.HTTP.DebugAddr = ":6060" }, "http.debugAddr"},
		{"debug on a public address", func(c *config.Config) { c.HTTP.DebugAddr = "192.0.2.1:6060" }, "http.debugAddr"},
		{"metrics token", func(c *config.Config) { c.HTTP.MetricsToken = "sixteen-chars-ok" }, ""},
		{"short metrics token", func(c *config.Config) { c.HTTP.MetricsToken = "fifteen-chars-x" }, "http.metricsToken"},
		{"cert without key", func(c *config.Config) { c.HTTP.TLSCert = "c.pem" }, "http.tlsCert"},
		{"public url scheme", func(c *config.Config) { c.HTTP.PublicURL = "vcd.example.com" }, "http.publicURL"},
		{"short admin password", func(c *config.Config) { c.Auth.AdminPassword = "abc" }, "auth.adminPassword"},
		{"admin name with colon", func(c *config.Config) { c.Auth.AdminName = "a:b" }, "auth.adminName"},
		{"zero token lifetime", func(c *config.Config) { c.Auth.TokenLifetime = 0 }, "auth.tokenLifetime"},
		{"replicas 2", func(c *config.Config) { c.Store.Replicas = 2 }, "store.replicas"},
		{"log level", func(c *config.Config) { c.Log.Level = "loud" }, "log.level"},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, "log.format"},
		{"packet size", func(c *config.Config) { c.MQTT.MaxPacketBytes = 10 }, "mqtt.maxPacketBytes"},
		{"largest window", func(c *config.Config) { c.MQTT.MaxInflight = config.MaxInflightLimit }, ""},
		{"window too large", func(c *config.Config) { c.MQTT.MaxInflight = config.MaxInflightLimit + 1 }, "mqtt.maxInflight"},
		{"no window", func(c *config.Config) { c.MQTT.MaxInflight = 0 }, "mqtt.maxInflight"},
		{"receive maximum", func(c *config.Config) { c.MQTT.ReceiveMaximum = 65535 }, ""},
		{"receive maximum too large", func(c *config.Config) { c.MQTT.ReceiveMaximum = 65536 }, "mqtt.receiveMaximum"},
		{"connect rate", func(c *config.Config) { c.MQTT.ConnectsPerSecondPerIP = 0 }, "mqtt.connectsPerSecondPerIP"},
		{"log max age", func(c *config.Config) { c.Store.LogMaxAge = 0 }, "store.logMaxAge"},
		{"log max bytes", func(c *config.Config) { c.Store.LogMaxBytes = 10 }, "store.logMaxBytes"},
		{"log unlimited", func(c *config.Config) { c.Store.LogMaxBytes = -1 }, ""},
		{"session retention", func(c *config.Config) { c.MQTT.SessionRetention = 0 }, "mqtt.sessionRetention"},
		{"empty data dir", func(c *config.Config) { c.DataDir = "" }, "dataDir"},
		{"negative heap headroom", func(c *config.Config) { c.Runtime.BusyHeapHeadroom = -1 }, "runtime.busyHeapHeadroom"},
		{"no gc tuning", func(c *config.Config) { c.Runtime.BusyHeapHeadroom = 0 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate() = %v; want a FieldError for %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "abc") {
				t.Errorf("Validate() error reveals a secret: %v", err)
			}
		})
	}
}

func TestValidate_ReportsEveryProblem(t *testing.T) {
	c := config.Default()
	c.DataDir = ""
	c.Log.Level = "loud"
	c.Store.Replicas = 0
	err := c.Validate()
	for _, field := range []string{"dataDir", "log.level", "store.replicas"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v; want it to name %s", err, field)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.yaml")
	data := "dataDir: /var/lib/herald\nhttp:\n  addr: 127.0.0.1:9443\n  tlsSANs: [vcd.example.com]\nauth:\n  idleTimeout: 45m\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := c.Load(path); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if c.DataDir != "/var/lib/herald" || c.HTTP.Addr != "127.0.0.1:9443" || c.Auth.IdleTimeout.D() != 45*time.Minute {
		t.Errorf("Load() gave %+v", c)
	}
	if len(c.HTTP.TLSSANs) != 1 || c.HTTP.TLSSANs[0] != "vcd.example.com" {
		t.Errorf("TLSSANs = %v", c.HTTP.TLSSANs)
	}
	if c.Auth.TokenLifetime.D() != 24*time.Hour {
		t.Errorf("unset field lost its default: TokenLifetime = %v", c.Auth.TokenLifetime)
	}
}

func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, data string }{
		{"unknown key", "dataDirr: x\n"},
		{"bad duration", "auth:\n  idleTimeout: soon\n"},
		{"not yaml", "http: [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			c := config.Default()
			if err := c.Load(path); err == nil {
				t.Errorf("Load(%q) = nil; want an error", tc.data)
			}
		})
	}
	c := config.Default()
	if err := c.Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load(missing file) = nil; want an error")
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(empty); err != nil {
		t.Errorf("Load(empty file) = %v; want nil", err)
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{"HERALD_DATA_DIR": "/data", "HERALD_ADMIN_PASSWORD": "s3cret!", "HERALD_LOG_LEVEL": "debug"}
	c := config.Default()
	c.ApplyEnv(func(k string) string { return env[k] })
	if c.DataDir != "/data" || c.Auth.AdminPassword != "s3cret!" || c.Log.Level != "debug" {
		t.Errorf("ApplyEnv gave %+v", c)
	}
	if c.HTTP.Addr != ":8443" {
		t.Errorf("unset variable changed http.addr to %q", c.HTTP.Addr)
	}
}
