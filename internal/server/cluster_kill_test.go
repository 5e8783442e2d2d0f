package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/topic"
)

// clusterProc is one herald process of a cell-mode cluster.
type clusterProc struct {
	name, dir, https string
	args             []string
	bin              string
	cmd              *exec.Cmd
	done             chan struct{}
}

// start runs the process and waits until its HTTPS listener accepts connections,
// which it opens only once its store is open (a quorum of the cluster is up).
func (p *clusterProc) start(t *testing.T) {
	t.Helper()
	p.done = make(chan struct{})
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = append(os.Environ(), "HERALD_ADMIN_PASSWORD="+adminPassword)
	if os.Getenv("HERALD_TEST_LOG") != "" {
		p.cmd.Stderr = os.Stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := p.done
	go func() { // exits when the process does
		_ = p.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() { p.kill() })
}

func (p *clusterProc) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	ca := filepath.Join(p.dir, "tls", "ca.pem")
	for {
		// The CA is generated before the HTTPS listener binds, which happens only once
		// the store is open; both are checked in case another process had the port.
		if _, err := os.Stat(ca); err == nil {
			if c, err := net.Dial("tcp", p.https); err == nil {
				c.Close()
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited during start-up", p.name)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 60 s", p.name)
		}
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *clusterProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startCellProcs builds herald and starts n processes in cell mode on loopback,
// replicas 3, store requests bounded to 3 s (so that a node without a quorum answers
// 503 quickly).
func startCellProcs(t *testing.T, n int) []*clusterProc {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldmq/herald/cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addrs := freeAddrs(t, 2*n) // n route and n HTTPS addresses, all different
	routes := addrs[:n]
	procs := make([]*clusterProc, n)
	for i := range procs {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "herald.yaml")
		if err := os.WriteFile(cfg, []byte("store:\n  timeout: 3s\n  startTimeout: 90s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &clusterProc{name: fmt.Sprintf("n%d", i+1), dir: dir, https: addrs[n+i], bin: bin}
		p.args = []string{"serve", "-config", cfg, "-data-dir", dir, "-addr", p.https, "-log-level", logLevel(),
			"-server-name", p.name, "-replicas", "3", "-cluster-name", "proc", "-cluster-addr", routes[i],
			"-routes", strings.Join(routes, ",")}
		procs[i] = p
	}
	for _, p := range procs {
		p.start(t)
	}
	for _, p := range procs {
		p.waitUp(t)
	}
	return procs
}

// freeAddrs returns n loopback addresses that were free a moment ago and differ
// from each other.
func freeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(tb)
	}
	return addrs
}

// trustAll returns a TLS configuration trusting every node's generated CA.
func trustAll(t *testing.T, procs []*clusterProc) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	for _, p := range procs {
		pem, err := os.ReadFile(filepath.Join(p.dir, "tls", "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// markRe finds a test event's number in a notification.
var markRe = regexp.MustCompile(`evt(\d{6})x`)

// tally records the distinct test events one subscriber received, and repeats.
type tally struct {
	mu   sync.Mutex
	got  map[int]int
	dups int
}

func (ta *tally) add(payload []byte) {
	m := markRe.FindSubmatch(payload)
	if m == nil {
		return // not a test event (a login event, say)
	}
	k, _ := strconv.Atoi(string(m[1]))
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.got[k]++
	if ta.got[k] > 1 {
		ta.dups++
	}
}

// missing returns how many of want ta has not received.
func (ta *tally) missing(want map[int]bool) int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	n := 0
	for k := range want {
		if ta.got[k] == 0 {
			n++
		}
	}
	return n
}

// wsSubscriber connects a persistent QoS 1 session of alice over WebSocket to the
// first of urls (and reconnects through the list). With a filter it is a new session
// that subscribes to it; without, a stored one that resumes.
func wsSubscriber(t *testing.T, tc *tls.Config, token, clientID, filter string, urls ...string) (paho.Client, *tally) {
	t.Helper()
	ta := &tally{got: map[int]int{}}
	o := paho.NewClientOptions().SetClientID(clientID).SetCleanSession(false).SetTLSConfig(tc).
		SetHTTPHeaders(http.Header{"Authorization": {"Bearer " + token}}).SetOrderMatters(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(250 * time.Millisecond).SetConnectTimeout(20 * time.Second).
		SetKeepAlive(30 * time.Second).SetResumeSubs(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { t.Logf("%s lost its connection: %v", clientID, err) }).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { t.Logf("%s reconnecting", clientID) }).
		SetOnConnectHandler(func(paho.Client) { t.Logf("%s connected", clientID) }).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { ta.add(m.Payload()) })
	for _, u := range urls {
		o.AddBroker(u)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", clientID, tok.Error())
	} else if present := tok.(*paho.ConnectToken).SessionPresent(); present != (filter == "") {
		t.Fatalf("connect %s: session present %v", clientID, present)
	}
	if filter == "" {
		t.Cleanup(func() { c.Disconnect(0) })
		return c, ta
	}
	if tok := c.Subscribe(filter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", clientID, tok.Error())
	}
	// The broker saves a new subscription within a second of its SUBACK; a
	// DISCONNECT saves it at once. Reconnecting then finds it stored (session
	// present), so a node killed right away cannot take it along.
	c.Disconnect(250)
	c = paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("reconnect %s: %v", clientID, tok.Error())
	} else if !tok.(*paho.ConnectToken).SessionPresent() {
		t.Fatalf("reconnect %s: session present 0", clientID)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, ta
}

// TestProcess_ClusterSurvivesKill is ISSUE 8 item 3 with real processes: three
// herald nodes in cell mode, replicas 3; producers post events over REST to every
// node while persistent subscribers read over MQTT-over-WebSocket; the node leading
// the notification log is killed with SIGKILL during production. Every event a
// producer got 204 for reaches every subscriber (the one on the killed node through
// another node), the killed node rejoins and serves a session's whole backlog, and a
// node left without a quorum answers producers with 503.
func TestProcess_ClusterSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herald, runs three processes and kills one; skipped with -short")
	}
	start := time.Now()
	procs := startCellProcs(t, 3)
	t.Logf("3 processes up in %v", time.Since(start))
	tc := trustAll(t, procs)
	hc := func(p *clusterProc) *client {
		return &client{tb: t, base: "https://" + p.https, http: &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tc}}}
	}
	admin := hc(procs[0])
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	o := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"acme"}`, http.StatusCreated)
	org := mustUUID(t, "org", o["id"].(string))
	u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","password":"pw-alice","roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":%q}}`, org), http.StatusCreated)
	alice := mustUUID(t, "user", u["id"].(string))
	ac := hc(procs[1])
	if code, _ := ac.login("alice@acme", "pw-alice"); code != http.StatusOK {
		t.Fatalf("alice login = %d", code)
	}

	// The victim is the node leading the notification log's Raft group.
	var info struct{ LogLeader string }
	resp, body := admin.do(http.MethodGet, "/clusterz", "", "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &info) != nil {
		t.Fatalf("GET /clusterz = %d %s", resp.StatusCode, body)
	}
	vi := -1
	for i, p := range procs {
		if p.name == info.LogLeader {
			vi = i
		}
	}
	if vi < 0 {
		t.Fatalf("log leader %q is none of the nodes", info.LogLeader)
	}
	victim, other := procs[vi], procs[(vi+1)%3]
	t.Logf("killing the log leader %s", victim.name)
	wss := func(p *clusterProc) string { return "wss://" + p.https + "/messaging/mqtt" }
	filter := topic.Publish(org, alice)

	// Subscribers: one on the victim (it reconnects to another node), one on a
	// survivor, and one offline session created on the victim, read after it rejoins.
	_, onVictim := wsSubscriber(t, tc, ac.token, "on-victim", filter, wss(victim), wss(other))
	_, onOther := wsSubscriber(t, tc, ac.token, "on-other", filter, wss(other))
	offline, _ := wsSubscriber(t, tc, ac.token, "offline", filter, wss(victim))
	offline.Disconnect(250)

	// Producers: one per node, each posting events in turn; a failed post is not
	// retried (its event counts as unacknowledged) and the producer moves to the
	// next node.
	const total, killAt = 1500, 400
	var next atomic.Int64
	var mu sync.Mutex
	acked := map[int]bool{}
	var failed, unavailable atomic.Int64
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for pi := range procs {
		wg.Add(1)
		go func() { // exits when every event is produced
			defer wg.Done()
			node := pi
			cl := hc(procs[node])
			cl.token = admin.token
			for {
				k := int(next.Add(1)) - 1
				if k >= total {
					return
				}
				if k == killAt {
					once.Do(func() {
						victim.kill()
						close(killed)
					})
				}
				ev := fmt.Sprintf(`{"type":"load/test","serviceNamespace":"org.example.load","success":true,"typeFull":"evt%06dx",`+
					`"user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, k, alice)
				code := postEvent(cl, org, ev)
				switch code {
				case http.StatusNoContent:
					mu.Lock()
					acked[k] = true
					mu.Unlock()
					continue
				case http.StatusServiceUnavailable:
					unavailable.Add(1)
				default:
					failed.Add(1)
				}
				node = (node + 1) % 3
				cl = hc(procs[node])
				cl.token = admin.token
			}
		}()
	}
	wg.Wait()
	<-killed
	t.Logf("produced %d: %d acknowledged (204), %d refused with 503, %d failed otherwise (connection to the killed node)",
		total, len(acked), unavailable.Load(), failed.Load())
	if len(acked) < total/2 {
		t.Fatalf("only %d of %d events acknowledged", len(acked), total)
	}

	// Every acknowledged event reaches the subscribers that stayed up.
	waitAll := func(name string, ta *tally) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for ta.missing(acked) > 0 {
			if time.Now().After(deadline) {
				ta.mu.Lock()
				var lost []int
				for k := range acked {
					if ta.got[k] == 0 {
						lost = append(lost, k)
					}
				}
				ta.mu.Unlock()
				slices.Sort(lost)
				t.Fatalf("%s: %d of %d acknowledged events missing, from %v to %v", name, len(lost), len(acked), lost[:min(5, len(lost))], lost[max(0, len(lost)-5):])
			}
			<-time.After(20 * time.Millisecond)
		}
		ta.mu.Lock()
		defer ta.mu.Unlock()
		t.Logf("%s: all %d acknowledged events delivered; %d distinct in all (%d stored without a 204), %d repeats",
			name, len(acked), len(ta.got), len(ta.got)-len(acked), ta.dups)
	}
	waitAll("subscriber on a survivor", onOther)
	waitAll("subscriber moved off the killed node", onVictim)

	// The killed node rejoins, catches up and serves the offline session's backlog.
	restart := time.Now()
	victim.start(t)
	victim.waitUp(t)
	t.Logf("%s rejoined in %v", victim.name, time.Since(restart))
	_, resumed := wsSubscriber(t, tc, ac.token, "offline", "", wss(victim))
	waitAll("offline session resumed on the rejoined node", resumed)

	// Without a quorum a node refuses what it cannot store: 503, not 204.
	procs[(vi+1)%3].kill()
	procs[(vi+2)%3].kill()
	lone := hc(victim)
	lone.token = admin.token
	t0 := time.Now()
	ev := fmt.Sprintf(`{"type":"load/test","serviceNamespace":"org.example.load","success":true,"typeFull":"evt999999x",`+
		`"user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, alice)
	if code := postEvent(lone, org, ev); code != http.StatusServiceUnavailable {
		t.Errorf("post without a quorum = %d; want 503", code)
	} else {
		t.Logf("without a quorum: 503 after %v", time.Since(t0))
	}
}

// postEvent posts an external event for org and returns the HTTP status, or 0 when
// the request failed.
func postEvent(c *client, org, body string) int {
	req, err := http.NewRequest(http.MethodPost, c.base+"/api/admin/org/"+org+"/events", strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Accept", "application/*+json;version=39.0")
	req.Header.Set("Content-Type", "application/vnd.vmware.admin.event+json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// logLevel is the processes' log level: HERALD_TEST_PROC_LOG, or warn.
func logLevel() string {
	if l := os.Getenv("HERALD_TEST_PROC_LOG"); l != "" {
		return l
	}
	return "warn"
}
