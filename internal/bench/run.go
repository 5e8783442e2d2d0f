package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// env is what a command needs from its process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

const topUsage = `herald-bench drives a herald (or mosquitto) on this machine the way VCD clients do
and measures it.

Usage: herald-bench <command> [flags]

Commands:
  fanout          notifications to users, org admins and the system admin; deliveries/s and latency
  slow-consumer   the fanout, first without, then with one subscriber that reads slowly or not at all
  idle            as many authenticated idle subscribers as the file limits allow; server memory per connection
  connect-storm   connects + subscribes per second (token verification on herald)
  metrics         VM samples ingested per second; METRICS envelopes per interval and their latency
  null-server     an MQTT-over-WebSocket server that only answers: the connect storm's floor (-target null)
  plot            a PNG of one scenario's two charts (fanout, slow-consumer, idle, connect-storm), from -json output

Run "herald-bench <command> -h" for the flags of a command.
`

// Run runs the command in args (without the program name) and returns the process
// exit code: 0 on success, 1 on error, 2 on a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := env{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stderr, topUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if path := e.getenv("HERALD_BENCH_CPUPROFILE"); path != "" {
		// The tool's own profile, for when the tool is what limits a run.
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "herald-bench: %v\n", err)
			return 1
		}
		defer stop()
	}
	var err error
	switch args[0] {
	case "fanout":
		err = e.fanout(ctx, args[1:], false)
	case "slow-consumer":
		err = e.fanout(ctx, args[1:], true)
	case "idle":
		err = e.idle(ctx, args[1:])
	case "connect-storm":
		err = e.connectStorm(ctx, args[1:])
	case "metrics":
		err = e.metrics(ctx, args[1:])
	case "null-server":
		err = e.nullServer(ctx, args[1:])
	case "plot":
		err = e.plot(args[1:])
	default:
		err = &usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "herald-bench: %v\nRun \"herald-bench -h\" for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "herald-bench: %v\n", err)
		return 1
	}
}

// options are the flags shared by the load scenarios.
type options struct {
	target       string
	url          string
	cacert       string
	insecure     bool
	admin        string
	userPassword string
	wsURL        string
	mosquittoBin string
	pid          int
	orgs, users  int
	qos          int
	src          string
	workers      int
	json         bool
	adminPW      string // from HERALD_ADMIN_PASSWORD
}

// newFlagSet returns a flag set for a command that prints its own usage.
func (e env) newFlagSet(name, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: herald-bench %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// commonFlags binds the flags every load scenario shares.
func commonFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.target, "target", "herald", "herald, mosquitto, or null (connect-storm and idle: a server that only answers, this machine's floor)")
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "herald base URL (http, or https with -cacert or -insecure); loopback only")
	fs.StringVar(&o.cacert, "cacert", "", "PEM file of the CA that signed herald's certificate (e.g. <data-dir>/tls/ca.pem)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify herald's TLS certificate")
	fs.StringVar(&o.admin, "admin", "administrator@System", "system administrator; the password comes from HERALD_ADMIN_PASSWORD")
	fs.StringVar(&o.userPassword, "user-password", "bench-password", "password given to (and used for) the bench users")
	fs.StringVar(&o.wsURL, "ws-url", "", "mosquitto websockets URL (ws://127.0.0.1:PORT/); empty: start a private mosquitto")
	fs.StringVar(&o.mosquittoBin, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary started when -ws-url is empty")
	fs.IntVar(&o.pid, "pid", 0, "server process id for memory figures (default: the process listening on the target port)")
	fs.IntVar(&o.orgs, "orgs", 10, "number of orgs, bench-org-0…")
	fs.IntVar(&o.users, "users", 100, "users per org, bench-user-0…; each org also gets bench-admin (Organization Administrator)")
	fs.IntVar(&o.qos, "qos", 0, "subscription QoS, 0 or 1")
	fs.StringVar(&o.src, "src", "127.0.0.1", "comma-separated loopback source addresses to spread connections over")
	fs.IntVar(&o.workers, "workers", 32, "concurrent provisioning requests and connection attempts")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per result line instead of a table")
}

// check validates the shared options.
func (o *options) check() error {
	switch {
	case o.target != "herald" && o.target != "mosquitto" && o.target != "null":
		return &usageError{"-target must be herald, mosquitto or null"}
	case o.qos != 0 && o.qos != 1:
		return &usageError{"-qos must be 0 or 1"}
	case o.orgs < 1 || o.users < 1 || o.orgs*o.users > maxTopics:
		return &usageError{"-orgs and -users must be at least 1, with at most 999999 users in all"}
	case o.workers < 1:
		return &usageError{"-workers must be at least 1"}
	case o.target == "herald" && o.adminPW == "":
		return &usageError{"HERALD_ADMIN_PASSWORD must hold the password of -admin"}
	}
	for _, s := range o.sources() {
		if err := checkLoopback(s); err != nil {
			return &usageError{"-src: " + err.Error()}
		}
	}
	return nil
}

// sources returns the -src addresses.
func (o *options) sources() []string {
	var out []string
	for _, s := range strings.Split(o.src, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseRates parses a comma-separated list of rates; 0 means maximal.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, &usageError{fmt.Sprintf("-rate: %q is not a non-negative number", f)}
		}
		out = append(out, v)
	}
	if len(out) > maxSteps {
		return nil, &usageError{"-rate: too many steps"}
	}
	return out, nil
}

// target is the server under test, ready to be loaded.
type target struct {
	name   string
	plan   *Plan
	dialer *dialer
	api    *api         // herald only
	pid    int          // 0 when unknown
	child  *childServer // a server the tool started, or nil
}

// Close stops what the target started.
func (t *target) Close() {
	if t.child != nil {
		t.child.Close()
	}
}

// setup prepares the target: for herald, provisions the orgs, users and producer
// through the API and logs everyone in; for mosquitto, starts one unless -ws-url
// names a running one; for null, starts the null server. It also finds the
// server's process.
func (e env) setup(ctx context.Context, o *options) (*target, error) {
	srcs := o.sources()
	t := &target{name: o.target}
	if o.target == "mosquitto" || o.target == "null" {
		wsURL := o.wsURL
		if wsURL == "" {
			start := func(ctx context.Context) (*childServer, error) { return startMosquitto(ctx, o.mosquittoBin) }
			if o.target == "null" {
				start = startNullServer
			}
			m, err := start(ctx)
			if err != nil {
				return nil, err
			}
			t.child, wsURL, t.pid = m, m.url, m.Pid()
			fmt.Fprintf(e.stderr, "herald-bench: started %s pid %d on %s\n", o.target, t.pid, wsURL)
		}
		d, err := newDialer(wsURL, srcs, nil)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.dialer, t.plan = d, syntheticPlan(o.orgs, o.users)
		if t.pid == 0 {
			t.pid = e.findPid(o.pid, wsURL)
		}
		return t, nil
	}

	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &usageError{"-url must be an http:// or https:// URL"}
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, &usageError{"-url: " + err.Error()}
	}
	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		tlsCfg = &tls.Config{InsecureSkipVerify: o.insecure}
		if o.cacert != "" {
			pem, err := os.ReadFile(o.cacert)
			if err != nil {
				return nil, fmt.Errorf("read -cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("-cacert %s holds no PEM certificate", o.cacert)
			}
			tlsCfg.RootCAs = pool
		}
	}
	base := strings.TrimSuffix(o.url, "/")
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/messaging/mqtt"
	if t.dialer, err = newDialer(wsURL, srcs, tlsCfg); err != nil {
		return nil, err
	}
	t.api = &api{base: base, clients: httpClients(srcs, tlsCfg), stderr: e.stderr}
	start := time.Now()
	if t.plan, err = t.api.provision(ctx, o.admin, o.adminPW, o.userPassword, o.orgs, o.users, o.workers); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	fmt.Fprintf(e.stderr, "herald-bench: provisioned and logged in %d orgs × (%d users + admin) in %v\n",
		o.orgs, o.users, time.Since(start).Round(time.Millisecond))
	t.pid = e.findPid(o.pid, base)
	return t, nil
}

// findPid returns pid if set, else the process listening on rawURL's port, or 0
// (with a warning) when it cannot be found.
func (e env) findPid(pid int, rawURL string) int {
	if pid != 0 {
		return pid
	}
	u, err := url.Parse(rawURL)
	if err == nil {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "ws": "80", "https": "443", "wss": "443"}[u.Scheme]
		}
		var p int
		if p, err = strconv.Atoi(port); err == nil {
			if pid, err = pidListening(p); err == nil {
				return pid
			}
		}
	}
	fmt.Fprintf(e.stderr, "herald-bench: server process not found (%v); memory figures are skipped (use -pid)\n", err)
	return 0
}

// output prints results as a table or JSON lines.
func (e env) output(o *options, results []Result) error {
	if o.json {
		return writeJSON(e.stdout, results)
	}
	writeTable(e.stdout, results)
	return nil
}

// startCPUProfile writes the process's CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
