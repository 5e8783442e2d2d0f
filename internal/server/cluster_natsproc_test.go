package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/server"
)

// natsProc is one nats-server process of an operator-run NATS cluster.
type natsProc struct {
	name, conf, monitor string
	cmd                 *exec.Cmd
	done                chan struct{}
	out                 *lockedBuffer
}

// lockedBuffer collects a process's output for the test log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// kill sends SIGKILL and waits until the process is gone.
func (p *natsProc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// natsCluster is three nats-server processes joined by routes.
type natsCluster struct {
	procs []*natsProc
	urls  string // the client URLs, comma-separated
}

// buildNATSServer builds the nats-server command of the module version go.mod
// pins into a temporary directory of t (from the build cache, after the first
// time, in about 2 s).
func buildNATSServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// startNATSProcs starts n nats-server processes on loopback as an operator would
// run them: routes between all of them, JetStream with its store in a temporary
// directory, TLS on the client port requiring a client certificate signed by the
// CA of pki (verify: true), and user herald with password. It waits until the
// JetStream meta group has a leader and kills the processes when the test ends,
// logging their output if it failed.
func startNATSProcs(t *testing.T, n int, pki testPKI, password string) *natsCluster {
	t.Helper()
	bin := buildNATSServer(t)
	addrs := freeAddrs(t, 3*n) // client, route and monitoring ports
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://%s", addrs[n+i]))
	}
	nc := &natsCluster{}
	var urls []string
	for i := range n {
		p := &natsProc{name: fmt.Sprintf("nats-%d", i+1), monitor: addrs[2*n+i], done: make(chan struct{}), out: &lockedBuffer{}}
		dir := t.TempDir()
		p.conf = filepath.Join(dir, "nats.conf")
		conf := fmt.Sprintf(`server_name: %s
listen: %s
http: %s
jetstream { store_dir: %q }
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify: true
  timeout: 5
}
authorization { users: [ { user: herald, password: %q } ] }
cluster {
  name: operators
  listen: %s
  routes: [ %s ]
}
`, p.name, addrs[i], p.monitor, filepath.Join(dir, "js"), pki.cert, pki.key, pki.ca, password, addrs[n+i], strings.Join(routes, ", "))
		if err := os.WriteFile(p.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(bin, "-c", p.conf)
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { // exits when the process does
			_ = p.cmd.Wait()
			close(p.done)
		}()
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				t.Logf("%s output:\n%s", p.name, p.out.String())
			}
		})
		nc.procs = append(nc.procs, p)
		urls = append(urls, "tls://"+addrs[i])
	}
	nc.urls = strings.Join(urls, ",")
	start := time.Now()
	within(t, 60*time.Second, "a JetStream meta leader", func() bool {
		for _, p := range nc.procs {
			select {
			case <-p.done:
				t.Fatalf("%s exited during start-up:\n%s", p.name, p.out.String())
			default:
			}
		}
		return nc.metaLeader() != ""
	})
	t.Logf("%d nats-server processes up, meta leader %s, in %v", n, nc.metaLeader(), time.Since(start))
	return nc
}

// metaLeader returns the JetStream meta leader as the first process that answers
// its monitoring endpoint sees it, or "" for none.
func (nc *natsCluster) metaLeader() string {
	hc := &http.Client{Timeout: time.Second}
	for _, p := range nc.procs {
		resp, err := hc.Get("http://" + p.monitor + "/jsz")
		if err != nil {
			continue
		}
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err == nil && jsz.Meta != nil && jsz.Meta.Leader != "" {
			return jsz.Meta.Leader
		}
	}
	return ""
}

// externalConfig is the configuration of herald node i in external mode against
// nc: every server's URL, the CA, the client certificate and user herald.
func externalConfig(t *testing.T, i int, nc *natsCluster, pki testPKI, password string) config.Config {
	c := testConfig(t.TempDir())
	c.MQTT.Addr = "127.0.0.1:0"
	c.Store.ServerName = fmt.Sprintf("h%d", i+1)
	c.Store.Replicas = 3
	c.Store.NATSURL = nc.urls
	c.Store.NATSUser = "herald"
	c.Store.NATSPassword = password
	c.Store.NATSCA = pki.ca
	c.Store.NATSCert, c.Store.NATSKey = pki.cert, pki.key
	c.Store.Timeout = config.Duration(3 * time.Second)
	c.Store.StartTimeout = config.Duration(60 * time.Second)
	return c
}

// TestCluster_ExternalMode checks ISSUE 8 item 2 on three herald nodes that hold no
// durable state themselves, against three nats-server processes built from the
// pinned module version: TLS with a client certificate, user and password,
// replicas 3. A node refuses to start, with a clear error, with a wrong password
// or without its client certificate; once two of the three servers are killed, a
// producer gets 503 within seconds, never 2xx.
func TestCluster_ExternalMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and starts three of them and three nodes; skipped with -short")
	}
	pki := mustTestPKI(t, t.TempDir())
	const password = "nats-password-for-the-test"
	nc := startNATSProcs(t, 3, pki, password)
	cfgs := make([]config.Config, 3)
	for i := range cfgs {
		cfgs[i] = externalConfig(t, i, nc, pki, password)
	}
	c := newTestCluster(t, cfgs)
	c.checkAcrossNodes(t)
	for i := range c.nodes {
		// The nodes keep nothing durable: no JetStream directory in their data dirs.
		if _, err := os.Stat(filepath.Join(cfgs[i].DataDir, "jetstream")); !os.IsNotExist(err) {
			t.Errorf("node %d has a jetstream directory (err %v)", i+1, err)
		}
	}

	t.Run("RefusesBadCredentials", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			edit func(*config.Config)
			want string
		}{
			{"WrongPassword", func(c *config.Config) { c.Store.NATSPassword = "not-the-password" }, "authorization"},
			// The server's alert says "certificate required"; a server that closes
			// before its alert arrives, three times, leaves "tls error".
			{"NoClientCertificate", func(c *config.Config) { c.Store.NATSCert, c.Store.NATSKey = "", "" }, "tls"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := externalConfig(t, 3, nc, pki, password)
				tc.edit(&cfg)
				cfg.Store.StartTimeout = config.Duration(20 * time.Second)
				s, err := server.New(cfg, testLogger())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				t0 := time.Now()
				err = s.Open(context.Background())
				if err == nil {
					t.Fatal("Open succeeded; want a refusal")
				}
				t.Logf("refused after %v: %v", time.Since(t0).Round(time.Millisecond), err)
				if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "refused herald") || !strings.Contains(msg, tc.want) {
					t.Errorf("error %q does not say %q and %q", err, "refused herald", tc.want)
				}
				if d := time.Since(t0); d > 5*time.Second {
					t.Errorf("refused after %v; want at once, not after retries", d)
				}
			})
		}
	})

	t.Run("NoQuorum503", func(t *testing.T) {
		admin := c.admin[0]
		ev := func(k int) string {
			return fmt.Sprintf(`{"type":"external/test","serviceNamespace":"org.example.test","success":true,"typeFull":"ext%d",`+
				`"user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, k, c.alice)
		}
		if code := postEvent(admin, c.org, ev(1)); code/100 != 2 {
			t.Fatalf("post with every server up = %d; want 2xx", code)
		}
		nc.procs[1].kill()
		nc.procs[2].kill()
		admin.http.Timeout = 30 * time.Second
		t0 := time.Now()
		code := postEvent(admin, c.org, ev(2))
		d := time.Since(t0)
		t.Logf("post with one server of three: %d after %v", code, d.Round(time.Millisecond))
		if code != http.StatusServiceUnavailable {
			t.Errorf("post without a quorum = %d; want 503", code)
		}
		if d > 10*time.Second {
			t.Errorf("503 after %v; want within 10 s", d)
		}

		// A node without a quorum still stops promptly: its feeds, waiting for
		// consumers that cannot be created, do not hold it (they held every node
		// for 10 s or more).
		var wg sync.WaitGroup
		for i, s := range c.nodes {
			wg.Add(1)
			go func() { // exits when Close returns
				defer wg.Done()
				t0 := time.Now()
				_ = s.Close()
				d := time.Since(t0)
				t.Logf("node %d closed in %v", i+1, d.Round(time.Millisecond))
				if d > 5*time.Second {
					t.Errorf("node %d took %v to close without a quorum; want under 5 s", i+1, d)
				}
			}()
		}
		wg.Wait()
	})
}
