package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/config"
)

// cell returns a valid cell-mode configuration of node n1.
func cell(c *config.Config) {
	c.Store.ServerName = "n1"
	c.Store.Replicas = 3
	c.Store.ClusterName = "herald"
	c.Store.ClusterAddr = "0.0.0.0:6222"
	c.Store.Routes = []string{"10.0.0.1:6222", "nats-route://10.0.0.2:6222", "10.0.0.3:6222"}
}

// external returns a valid external-mode configuration.
func external(c *config.Config) {
	c.Store.ServerName = "n1"
	c.Store.Replicas = 3
	c.Store.NATSURL = "tls://n1:4222,tls://n2:4222"
	c.Store.NATSUser = "herald"
	c.Store.NATSPassword = "secret-password"
	c.Store.NATSCA = "/etc/herald/nats-ca.pem"
}

func TestValidate_Cluster(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		fields []string // every FieldError expected, in order; none means valid
	}{
		{"cell", cell, nil},
		{"cell with secret and tls", func(c *config.Config) {
			cell(c)
			c.Store.ClusterSecret = "0123456789abcdef"
			c.Store.ClusterTLSCert, c.Store.ClusterTLSKey, c.Store.ClusterTLSCA = "c.pem", "k.pem", "ca.pem"
		}, nil},
		{"seed node without routes", func(c *config.Config) { cell(c); c.Store.Routes = nil }, nil},
		{"cell without name", func(c *config.Config) { cell(c); c.Store.ClusterName = "" }, []string{"store.clusterName"}},
		{"cell name with dot", func(c *config.Config) { cell(c); c.Store.ClusterName = "a.b" }, []string{"store.clusterName"}},
		{"cell without addr", func(c *config.Config) { cell(c); c.Store.ClusterAddr = "" }, []string{"store.clusterAddr"}},
		{"bad route", func(c *config.Config) { cell(c); c.Store.Routes = []string{"10.0.0.1"} }, []string{"store.routes"}},
		{"route scheme", func(c *config.Config) { cell(c); c.Store.Routes = []string{"http://h:1"} }, []string{"store.routes"}},
		{"route with credentials", func(c *config.Config) { cell(c); c.Store.Routes = []string{"nats-route://u:pw@h:1"} },
			[]string{"store.routes"}},
		{"bad advertise", func(c *config.Config) { cell(c); c.Store.ClusterAdvertise = "h" }, []string{"store.clusterAdvertise"}},
		{"short secret", func(c *config.Config) { cell(c); c.Store.ClusterSecret = "short" }, []string{"store.clusterSecret"}},
		{"tls without ca", func(c *config.Config) { cell(c); c.Store.ClusterTLSCert, c.Store.ClusterTLSKey = "c", "k" },
			[]string{"store.clusterTLSCert"}},
		{"server name with space", func(c *config.Config) { cell(c); c.Store.ServerName = "node 1" }, []string{"store.serverName"}},
		{"cell and external", func(c *config.Config) { cell(c); c.Store.NATSURL = "nats://h:4222" }, []string{"store.clusterName"}},
		{"external", external, nil},
		{"external creds file", func(c *config.Config) {
			external(c)
			c.Store.NATSUser, c.Store.NATSPassword = "", ""
			c.Store.NATSCredsFile = "/etc/herald/nats.creds"
		}, nil},
		{"user without password", func(c *config.Config) { external(c); c.Store.NATSPassword = "" }, []string{"store.natsUser"}},
		{"user and creds", func(c *config.Config) { external(c); c.Store.NATSCredsFile = "x.creds" }, []string{"store.natsCredsFile"}},
		{"cert without key", func(c *config.Config) { external(c); c.Store.NATSCert = "c.pem" }, []string{"store.natsCert"}},
		{"credentials without url", func(c *config.Config) { external(c); c.Store.NATSURL = "" }, []string{"store.natsURL"}},
		{"url with password", func(c *config.Config) { external(c); c.Store.NATSURL = "nats://u:hunter22@h:4222" }, []string{"store.natsURL"}},
		{"negative max store", func(c *config.Config) { c.Store.MaxStore = -1 }, []string{"store.maxStore"}},
		{"zero timeout", func(c *config.Config) { c.Store.Timeout = 0 }, []string{"store.timeout"}},
		{"zero start timeout", func(c *config.Config) { c.Store.StartTimeout = 0 }, []string{"store.startTimeout"}},
		{"zero dedup window", func(c *config.Config) { c.Store.LogDedupWindow = 0 }, []string{"store.logDedupWindow"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.mutate(&c)
			err := c.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *config.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("Validate() returned %v; want only FieldErrors", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("Validate() = %v; want FieldErrors for %v", err, tc.fields)
			}
			for _, secret := range []string{"secret-password", "hunter22", "short"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("Validate() error reveals a secret: %v", err)
				}
			}
		})
	}
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestApplyEnv_ClusterSecrets(t *testing.T) {
	env := map[string]string{"HERALD_NATS_PASSWORD": "pw-from-env", "HERALD_CLUSTER_SECRET": "secret-from-env-0123"}
	c := config.Default()
	c.ApplyEnv(func(k string) string { return env[k] })
	if c.Store.NATSPassword != "pw-from-env" || c.Store.ClusterSecret != "secret-from-env-0123" {
		t.Errorf("ApplyEnv: natsPassword %q, clusterSecret %q", c.Store.NATSPassword, c.Store.ClusterSecret)
	}
}
