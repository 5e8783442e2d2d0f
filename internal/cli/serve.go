package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// loadConfig applies defaults, then the -config file, then HERALD_* variables, then
// the flags the user set: the documented precedence. The flags are parsed twice: once
// to find -config, once more over the loaded configuration so that only the flags
// actually given override it.
func (e env) loadConfig(fs *flag.FlagSet, args []string, bind func(*flag.FlagSet, *config.Config)) (config.Config, error) {
	cfg := config.Default()
	var path string
	scratch := cfg
	fs.StringVar(&path, "config", "", "YAML configuration file")
	bind(fs, &scratch)
	if err := parse(fs, args); err != nil {
		return cfg, err
	}
	if path != "" {
		if err := cfg.Load(path); err != nil {
			return cfg, err
		}
	}
	cfg.ApplyEnv(e.getenv)
	again := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	again.SetOutput(io.Discard)
	again.String("config", "", "")
	bind(again, &cfg)
	if err := parse(again, args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// serveFlags binds serve's flags to the fields of c.
func serveFlags(fs *flag.FlagSet, c *config.Config) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the store and generated TLS files")
	fs.StringVar(&c.HTTP.Addr, "addr", c.HTTP.Addr, "HTTPS listen address (empty: none)")
	fs.StringVar(&c.HTTP.PlainAddr, "http-addr", c.HTTP.PlainAddr, "optional plain-HTTP listen address")
	fs.StringVar(&c.HTTP.TLSCert, "tls-cert", c.HTTP.TLSCert, "TLS certificate PEM file (default: generated under <data-dir>/tls)")
	fs.StringVar(&c.HTTP.TLSKey, "tls-key", c.HTTP.TLSKey, "TLS private key PEM file")
	fs.Var((*stringList)(&c.HTTP.TLSSANs), "tls-san", "extra DNS name or IP for the generated certificate (repeatable)")
	fs.StringVar(&c.HTTP.PublicURL, "public-url", c.HTTP.PublicURL, "public base URL used in hrefs (default: from each request)")
	fs.StringVar(&c.MQTT.Addr, "mqtt-addr", c.MQTT.Addr, "optional plain MQTT listen address for back-end services")
	fs.StringVar(&c.SiteName, "site-name", c.SiteName, "site name")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "trace, debug, info, warn or error")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "text or json")
	fs.BoolVar(&c.Metrics.Simulator.Enabled, "metrics-simulator", c.Metrics.Simulator.Enabled, "simulate VM metrics for every inventory VM (VCD-COMPAT §9.1)")
	clusterFlags(fs, c)
}

func (e env) serve(ctx context.Context, args []string) error {
	fs := e.newFlagSet("serve", "Run herald. The bootstrap administrator's password comes from\nHERALD_ADMIN_PASSWORD on first start, or is generated and printed once.")
	cfg, err := e.loadConfig(fs, args, serveFlags)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{fmt.Sprintf("invalid configuration:\n%v", err)}
	}
	logger := newLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	srv, err := server.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := srv.Open(ctx); err != nil {
		return err
	}
	if pw := srv.GeneratedAdminPassword(); pw != "" {
		// Shown once, on stdout, never in the log.
		fmt.Fprintf(e.stdout, "Created administrator@System with password: %s\nIt is not shown again; set HERALD_ADMIN_PASSWORD on first start to choose it.\n", pw)
	}
	if ca := srv.CAFile(); ca != "" {
		logger.Info("clients can trust the generated CA", "file", ca)
	}
	logger.Info("herald ready", "url", srv.URL())
	<-ctx.Done()
	logger.Info("shutting down")
	return srv.Close()
}

func (e env) checkConfig(args []string) error {
	fs := e.newFlagSet("check-config", "Validate the configuration (defaults, -config file, HERALD_* variables, flags) and exit.")
	cfg, err := e.loadConfig(fs, args, serveFlags)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	fmt.Fprintln(e.stdout, "configuration ok")
	return nil
}
