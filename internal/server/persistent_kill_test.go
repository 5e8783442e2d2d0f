package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/freeport"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// eventIDRe finds the eventId in a notification envelope (its payload is a JSON
// string inside the envelope, hence the escaped quotes).
var eventIDRe = regexp.MustCompile(`eventId\W+([0-9a-f-]{36})`)

// heraldProc is a herald process started from a binary built for the test.
type heraldProc struct {
	cmd        *exec.Cmd
	done       chan struct{}
	httpsAddr  string
	mqttAddr   string
	dataDir    string
	caFile     string
	binaryPath string
}

// freeAddr returns a loopback address that was free a moment ago, for a listener
// that a herald process will bind (see package freeport).
func freeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// startHerald runs `herald serve` on dataDir and waits until its MQTT listener
// accepts connections. The process is killed when the test ends.
func startHerald(t *testing.T, bin, dataDir string) *heraldProc {
	t.Helper()
	p := &heraldProc{httpsAddr: freeAddr(t), mqttAddr: freeAddr(t), dataDir: dataDir, binaryPath: bin,
		caFile: filepath.Join(dataDir, "tls", "ca.pem"), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "-data-dir", dataDir, "-addr", p.httpsAddr, "-mqtt-addr", p.mqttAddr, "-log-level", "warn")
	p.cmd.Env = append(os.Environ(), "HERALD_ADMIN_PASSWORD="+adminPassword)
	if os.Getenv("HERALD_TEST_LOG") != "" {
		p.cmd.Stderr = os.Stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // exits when the process does
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", p.mqttAddr); err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatal("herald exited during start-up")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("herald did not start within 60 s")
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *heraldProc) kill(t *testing.T) {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *heraldProc) tls(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func (p *heraldProc) client(t *testing.T) *client {
	return &client{tb: t, base: "https://" + p.httpsAddr, http: &http.Client{Transport: &http.Transport{TLSClientConfig: p.tls(t)}}}
}

func (p *heraldProc) dialRaw(t *testing.T) *rawMQTT {
	t.Helper()
	nc, err := tls.Dial("tcp", p.mqttAddr, p.tls(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	r := mqtt.NewReader(nc, 0)
	r.SetVersion(mqtt.Version311)
	return &rawMQTT{tb: t, nc: nc, r: r, v: mqtt.Version311}
}

// TestProcess_PersistentSessionSurvivesKill: every notification a producer got a
// PUBACK for before `kill -9` of the server reaches the persistent session after a
// restart, in order; duplicates are counted and reported. It builds ./cmd/herald
// (a few seconds with a warm build cache), so -short skips it.
func TestProcess_PersistentSessionSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herald and kills it with SIGKILL; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldmq/herald/cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	p := startHerald(t, bin, dir)

	admin := p.client(t)
	if code, _ := admin.login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	o := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"acme"}`, http.StatusCreated)
	org := mustUUID(t, "org", o["id"].(string))
	u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","password":"pw-alice","roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":%q}}`, org), http.StatusCreated)
	alice := mustUUID(t, "user", u["id"].(string))
	sa := admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"feed","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#"]}`, http.StatusCreated)
	ac := p.client(t)
	if code, _ := ac.login("alice@acme", "pw-alice"); code != http.StatusOK {
		t.Fatalf("alice login = %d", code)
	}
	c := p.dialRaw(t)
	c.connect(ac.token, "survivor", false)
	c.subscribe(1, topic.Publish(org, alice))
	c.disconnect()

	// The producer publishes until the server is killed in the middle; acked
	// records the events the server acknowledged.
	prod := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + p.mqttAddr).SetClientID("feed-kill").
		SetUsername("feed").SetPassword(sa["secret"].(string)).SetTLSConfig(p.tls(t)).SetAutoReconnect(false).
		SetOrderMatters(true).SetConnectTimeout(10 * time.Second))
	if tok := prod.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("producer connect: %v", tok.Error())
	}
	const total, killAt = 20000, 5000
	var mu sync.Mutex
	acked := map[string]bool{}
	var sent []string
	var wg sync.WaitGroup
	for i := range total {
		id := vcd.NewUUID()
		ev, err := notify.Event(notify.EventInfo{ID: id, Type: "com/vmware/vcloud/event/user/modify", Time: time.Now(),
			Success: true, OrgID: org, UserID: alice, EntityType: "user", EntityID: alice, EntityName: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
		tok := prod.Publish(ev.Topic, 1, false, ev.Envelope)
		wg.Add(1)
		go func() { // exits when the token completes or times out
			defer wg.Done()
			if tok.WaitTimeout(20*time.Second) && tok.Error() == nil {
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
		if i == killAt {
			p.kill(t)
			break
		}
	}
	prod.Disconnect(0)
	wg.Wait()
	t.Logf("sent %d, acknowledged %d before kill -9", len(sent), len(acked))

	p = startHerald(t, bin, dir)
	c = p.dialRaw(t)
	if ack := c.connect(ac.token, "survivor", false); !ack.SessionPresent {
		t.Fatal("after kill -9: session present 0")
	}
	// Read until every acknowledged event is in and a PINGREQ's answer shows that
	// nothing else is queued.
	pos := map[string]int{}
	for i, id := range sent {
		pos[id] = i
	}
	got := map[string]int{}
	last, dups, missing, extra := -1, 0, len(acked), 0
	pinged := false
	for {
		if missing == 0 && !pinged {
			// Every acknowledged event is in; what follows up to the PINGRESP are
			// events stored before the kill whose PUBACK the producer never saw.
			c.send(&mqtt.Pingreq{})
			pinged = true
		}
		pk := c.read()
		if pk.Type() == mqtt.TypePingresp && pinged {
			break
		}
		pub, ok := pk.(*mqtt.Publish)
		if !ok {
			t.Fatalf("got %T; want PUBLISH", pk)
		}
		c.send(&mqtt.Puback{PacketID: pub.PacketID})
		m := eventIDRe.FindSubmatch(pub.Payload)
		if m == nil {
			t.Fatalf("no event id in %q", pub.Payload)
		}
		i, ok := pos[string(m[1])]
		if !ok {
			continue // not a producer event (a login event, say)
		}
		id := sent[i]
		got[id]++
		if got[id] > 1 {
			dups++
			continue
		}
		if i < last {
			t.Errorf("event %d arrived after event %d", i, last)
		}
		last = i
		if acked[id] {
			missing--
		} else {
			extra++
		}
	}
	t.Logf("after restart: %d distinct events received: all %d acknowledged, %d stored but unacknowledged; %d duplicates",
		len(got), len(acked), extra, dups)
}
