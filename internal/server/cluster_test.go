package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/server"
	"github.com/heraldmq/herald/internal/topic"
)

// testCluster is n herald nodes on loopback sharing one JetStream cluster.
type testCluster struct {
	nodes  []*server.Server
	org    string // acme's UUID
	alice  string // alice's UUID (vApp Author)
	secret string // the producer service account's secret
	admin  []*client
}

// cellConfigs returns the configurations of n cell-mode nodes on loopback, each
// with its own data dir and route port, routes to all of them, replicas 3, and
// routes that require a shared secret and mutual TLS.
func cellConfigs(t *testing.T, n int) []config.Config {
	t.Helper()
	pki := mustTestPKI(t, t.TempDir())
	addrs := freeAddrs(t, n)
	cfgs := make([]config.Config, n)
	for i := range cfgs {
		c := testConfig(t.TempDir())
		c.MQTT.Addr = "127.0.0.1:0"
		c.Store.ServerName = fmt.Sprintf("n%d", i+1)
		c.Store.Replicas = 3
		c.Store.ClusterName = "test"
		c.Store.ClusterAddr = addrs[i]
		c.Store.Routes = addrs
		c.Store.ClusterSecret = "route-secret-for-the-test"
		c.Store.ClusterTLSCert, c.Store.ClusterTLSKey, c.Store.ClusterTLSCA = pki.cert, pki.key, pki.ca
		c.Store.Timeout = config.Duration(5 * time.Second)
		c.Store.StartTimeout = config.Duration(60 * time.Second)
		cfgs[i] = c
	}
	return cfgs
}

// MustRunNodes opens a server per configuration, all at once (each waits in Open for
// the quorum the others make), and closes them when the test ends.
func MustRunNodes(tb testing.TB, cfgs []config.Config) []*server.Server {
	tb.Helper()
	nodes := make([]*server.Server, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		s, err := server.New(cfg, testLogger())
		if err != nil {
			tb.Fatal(err)
		}
		nodes[i] = s
		wg.Add(1)
		go func() { // exits when Open returns
			defer wg.Done()
			errs[i] = s.Open(context.Background())
		}()
	}
	wg.Wait()
	for _, s := range nodes {
		tb.Cleanup(func() { _ = s.Close() })
	}
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return nodes
}

// newTestCluster starts a node per configuration and creates, through node 1, org
// acme, user alice and a producer service account.
func newTestCluster(t *testing.T, cfgs []config.Config) *testCluster {
	t.Helper()
	start := time.Now()
	c := &testCluster{nodes: MustRunNodes(t, cfgs)}
	t.Logf("%d nodes up in %v", len(cfgs), time.Since(start))
	for _, s := range c.nodes {
		c.admin = append(c.admin, newClient(t, s))
	}
	if code, _ := c.admin[0].login("administrator@System", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login = %d", code)
	}
	for _, a := range c.admin[1:] {
		a.token = c.admin[0].token // one JWT is good on every node
	}
	admin := c.admin[0]
	o := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/orgs", `{"name":"acme","displayName":"acme"}`, http.StatusCreated)
	c.org = mustUUID(t, "org", o["id"].(string))
	u := admin.mustJSON(http.MethodPost, "/cloudapi/1.0.0/users", fmt.Sprintf(
		`{"username":"alice","password":"pw-alice","roleEntityRefs":[{"name":"vApp Author"}],"orgEntityRef":{"id":%q}}`, c.org), http.StatusCreated)
	c.alice = mustUUID(t, "user", u["id"].(string))
	sa := admin.mustJSON(http.MethodPost, "/cloudapi/herald/1.0.0/serviceAccounts",
		`{"name":"feed","enabled":true,"producer":true,"subscribe":[],"publish":["publish/#"]}`, http.StatusCreated)
	c.secret = sa["secret"].(string)
	return c
}

// within polls cond until it holds or d has passed, and reports how long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		tick := time.NewTimer(5 * time.Millisecond)
		<-tick.C
	}
	return time.Since(start)
}

// login logs alice in on node i and returns her JWT.
func (c *testCluster) login(t *testing.T, i int) string {
	t.Helper()
	cl := newClient(t, c.nodes[i])
	if code, _ := cl.login("alice@acme", "pw-alice"); code != http.StatusOK {
		t.Fatalf("login alice on node %d = %d", i+1, code)
	}
	return cl.token
}

// dial opens a raw MQTT connection of version v to node i's TLS listener.
func (c *testCluster) dial(t *testing.T, i int, v byte) *rawMQTT {
	t.Helper()
	nc, err := tls.Dial("tcp", c.nodes[i].MQTTAddr(), tlsConfig(t, c.nodes[i]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	r := mqtt.NewReader(nc, 0)
	r.SetVersion(v)
	return &rawMQTT{tb: t, nc: nc, r: r, v: v}
}

// publish has the producer, connected to node i, publish n events about alice at
// QoS 1 and returns their ids in order.
func (c *testCluster) publish(t *testing.T, i, n int) []string {
	t.Helper()
	return publishAliceEvents(t, c.nodes[i], c.secret, c.org, c.alice, n)
}

// closed reads until the connection ends and returns the reason of the DISCONNECT
// it got first (0 for none) and when the end came.
func (r *rawMQTT) closed(t *testing.T, within time.Duration) (reason mqtt.ReasonCode, at time.Time) {
	t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(within))
	for {
		p, err := r.r.ReadPacket()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", within)
			}
			return reason, time.Now()
		}
		if d, ok := p.(*mqtt.Disconnect); ok && reason == 0 {
			reason = d.ReasonCode
		}
	}
}

// TestCluster_CellMode checks ISSUE 8 item 2 on three in-process nodes whose
// embedded NATS servers are joined by routes, with replicas 3 (see checkAcrossNodes).
func TestCluster_CellMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes; skipped with -short")
	}
	cfgs := cellConfigs(t, 3)
	newTestCluster(t, cfgs).checkAcrossNodes(t)

	t.Run("RouteSecretRequired", func(t *testing.T) {
		// A fourth node with the right TLS material but the wrong route secret is
		// refused by every peer: it never reaches JetStream and gives up.
		c := cfgs[0]
		c.DataDir = t.TempDir()
		c.Store.ServerName = "intruder"
		c.Store.ClusterAddr = freeAddr(t)
		c.Store.ClusterSecret = "not-the-route-secret"
		c.Store.StartTimeout = config.Duration(3 * time.Second)
		s, err := server.New(c, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Open(context.Background()); err == nil {
			t.Fatal("a node with the wrong route secret joined the cluster")
		}
	})
}

// checkAcrossNodes checks, on a cluster of three nodes: the directory written on one
// node is visible on the others at once; a notification produced through one node
// reaches a subscriber on every node exactly once; a persistent session created on
// node 1 resumes on node 3 with its backlog in order; the same client id on node 2
// takes over the connection on node 1, and on node 3 a persistent one with its
// unacknowledged messages; a logout on node 3 closes the token's connections on every
// node within 1 s; the audit trail and task reads answer the same on every node.
func (c *testCluster) checkAcrossNodes(t *testing.T) {
	t.Run("DirectoryEverywhere", func(t *testing.T) {
		// The org, user and service account were created on node 1; a rename there
		// shows on the others as soon as their KV watchers deliver it.
		c.admin[0].mustJSON(http.MethodPut, "/cloudapi/1.0.0/orgs/urn:vcloud:org:"+c.org,
			`{"name":"acme","displayName":"Acme renamed","isEnabled":true}`, http.StatusOK)
		for i := 1; i < 3; i++ {
			d := within(t, time.Second, fmt.Sprintf("rename on node %d", i+1), func() bool {
				o := c.admin[i].mustJSON(http.MethodGet, "/cloudapi/1.0.0/orgs/urn:vcloud:org:"+c.org, "", http.StatusOK)
				return o["displayName"] == "Acme renamed"
			})
			t.Logf("node %d saw the rename after %v", i+1, d)
		}
		c.login(t, 2) // alice, created on node 1, logs in on node 3
	})

	t.Run("DeliveryOnceOnEveryNode", func(t *testing.T) {
		tok := c.login(t, 0)
		filter := topic.Publish(c.org, c.alice)
		subs := make([]*rawMQTT, 3)
		for i := range subs {
			subs[i] = c.dial(t, i, mqtt.Version311)
			subs[i].connect(tok, fmt.Sprintf("sub-%d", i), true)
			subs[i].subscribe(1, filter)
		}
		ids := c.publish(t, 1, 200) // produced through node 2
		for i, s := range subs {
			s.receiveIDs(ids) // all 200, in order, none missing or twice
			s.expectNothing()
			s.disconnect()
			t.Logf("node %d delivered %d of %d once, in order", i+1, len(ids), len(ids))
		}
	})

	t.Run("PersistentSessionResumesElsewhere", func(t *testing.T) {
		tok := c.login(t, 0)
		r := c.dial(t, 0, mqtt.Version311)
		if ack := r.connect(tok, "roamer", false); ack.SessionPresent {
			t.Fatal("new session: session present 1")
		}
		r.subscribe(1, topic.Publish(c.org, c.alice))
		r.disconnect()
		ids := c.publish(t, 1, 300) // while offline, through node 2
		r = c.dial(t, 2, mqtt.Version311)
		if ack := r.connect(tok, "roamer", false); !ack.SessionPresent {
			t.Fatal("resumed on node 3: session present 0")
		}
		r.receiveIDs(ids)
		live := c.publish(t, 0, 1)
		r.receiveIDs(live)
		r.expectNothing()
		r.disconnect()
	})

	t.Run("TakeoverAcrossNodes", func(t *testing.T) {
		tok := c.login(t, 0)
		// A clean session: the connection on node 1 is closed with 0x8E.
		old := c.dial(t, 0, mqtt.Version5)
		old.connect(tok, "dup", true)
		start := time.Now()
		c.dial(t, 1, mqtt.Version5).connect(tok, "dup", true)
		if reason, at := old.closed(t, 5*time.Second); reason != mqtt.ReasonSessionTakenOver {
			t.Errorf("old connection's DISCONNECT reason = %#x; want 0x8E", byte(reason))
		} else {
			t.Logf("clean session taken over across nodes in %v", at.Sub(start))
		}

		// A persistent session held on node 1, with messages it has not acknowledged:
		// node 3 takes it over with its state, so nothing is lost and the in-flight
		// messages come again.
		held := c.dial(t, 0, mqtt.Version5)
		held.connect(tok, "dup-persistent", false)
		held.subscribe(1, topic.Publish(c.org, c.alice))
		ids := c.publish(t, 1, 5)
		for got := 0; got < len(ids); { // received, never acknowledged
			p, ok := held.read().(*mqtt.Publish)
			if !ok {
				t.Fatal("want PUBLISH")
			}
			if m := eventIDRe.FindSubmatch(p.Payload); m != nil && slices.Contains(ids, string(m[1])) {
				got++
			}
		}
		next := c.dial(t, 2, mqtt.Version5)
		if ack := next.connect(tok, "dup-persistent", false); !ack.SessionPresent {
			t.Error("takeover on node 3: session present 0")
		}
		if reason, _ := held.closed(t, 5*time.Second); reason != mqtt.ReasonSessionTakenOver {
			t.Errorf("node 1's DISCONNECT reason = %#x; want 0x8E", byte(reason))
		}
		next.receiveIDs(ids) // resent (DUP) by node 3, in order
		next.expectNothing()
		next.disconnect()
	})

	t.Run("LogoutClosesEverywhere", func(t *testing.T) {
		cl := newClient(t, c.nodes[0])
		if code, _ := cl.login("alice@acme", "pw-alice"); code != http.StatusOK {
			t.Fatalf("login = %d", code)
		}
		conns := make([]*rawMQTT, 3)
		for i := range conns {
			conns[i] = c.dial(t, i, mqtt.Version5)
			conns[i].connect(cl.token, fmt.Sprintf("logout-%d", i), true)
		}
		// Logout through node 3 with the token node 1 issued.
		out := newClient(t, c.nodes[2])
		out.token = cl.token
		out.mustJSON(http.MethodDelete, "/cloudapi/1.0.0/sessions/current", "", http.StatusNoContent)
		loggedOut := time.Now()
		for i, r := range conns {
			reason, at := r.closed(t, 5*time.Second)
			if d := at.Sub(loggedOut); d > time.Second {
				t.Errorf("node %d closed the connection %v after the logout; want within 1 s", i+1, d)
			} else {
				t.Logf("node %d closed the connection %v after the logout", i+1, d)
			}
			if reason != mqtt.ReasonNotAuthorized {
				t.Errorf("node %d DISCONNECT reason = %#x; want 0x87", i+1, byte(reason))
			}
		}
	})

	t.Run("AuditAndTasksSameEverywhere", func(t *testing.T) {
		// A task created through node 2 reads the same through every node.
		body := fmt.Sprintf(`{"name":"task","status":"queued","operation":"Backing up VM web-01","operationName":"backupInProgress",`+
			`"serviceNamespace":"org.example.backup","user":{"id":"urn:vcloud:user:%s","name":"alice"}}`, c.alice)
		resp, b := c.admin[1].do(http.MethodPost, "/api/tasksList/"+c.org, "application/*+json;version=39.0", body,
			"Content-Type", "application/vnd.vmware.vcloud.task+json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("create task = %d %s", resp.StatusCode, b)
		}
		var taskURN string
		if m := taskIDRe.FindSubmatch(b); m != nil {
			taskURN = string(m[1])
		} else {
			t.Fatalf("no task id in %s", b)
		}
		for i := range 3 {
			resp, b := c.admin[i].do(http.MethodGet, "/api/task/"+taskURN, "application/*+json;version=39.0", "")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET task on node %d = %d %s", i+1, resp.StatusCode, b)
			}
		}
		// The audit trail: the same records, in the same order, on every node once
		// each node's index has followed the history stream.
		path := "/cloudapi/1.0.0/auditTrail?pageSize=128&filter=" + url.QueryEscape("eventType==com/vmware/vcloud/event/session/login")
		var pages [3][]string
		same := func() bool {
			for i := range 3 {
				resp, b := c.admin[i].do(http.MethodGet, path, jsonAccept, "")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("audit trail on node %d = %d %s", i+1, resp.StatusCode, b)
				}
				pages[i] = auditIDs(t, b)
			}
			return len(pages[0]) >= 6 && slices.Equal(pages[0], pages[1]) && slices.Equal(pages[1], pages[2])
		}
		deadline := time.Now().Add(10 * time.Second)
		for !same() {
			if time.Now().After(deadline) {
				t.Fatalf("audit trails differ after 10 s:\nnode 1 %v\nnode 2 %v\nnode 3 %v", pages[0], pages[1], pages[2])
			}
			<-time.After(10 * time.Millisecond)
		}
		t.Logf("the same %d login records on every node", len(pages[0]))
	})
}

// receiveIDs is rawMQTT.receiveAll for a cluster, where a node's live feed may bring a
// notification stored just before a subscription (alice's own login event) after it:
// it reads PUBLISH packets, acknowledging each, until it has every one of ids, each
// once and in order, and skips notifications that are none of the test's events.
func (r *rawMQTT) receiveIDs(ids []string) {
	r.tb.Helper()
	want := make(map[string]int, len(ids))
	for i, id := range ids {
		want[id] = i
	}
	for next := 0; next < len(ids); {
		p, ok := r.read().(*mqtt.Publish)
		if !ok {
			r.tb.Fatalf("message %d: got %T; want PUBLISH", next, p)
		}
		if p.QoS > 0 {
			r.send(&mqtt.Puback{PacketID: p.PacketID})
		}
		m := eventIDRe.FindSubmatch(p.Payload)
		if m == nil {
			r.tb.Fatalf("no event id in %q", p.Payload)
		}
		i, ours := want[string(m[1])]
		switch {
		case !ours:
			continue // an event of another kind, such as a login
		case i != next:
			r.tb.Fatalf("event %d of %d arrived when %d was due (dup %v): out of order, duplicated or missing", i, len(ids), next, p.Dup)
		}
		next++
	}
}

// taskIDRe finds a task's UUID in its JSON.
var taskIDRe = regexp.MustCompile(`"id"\s*:\s*"urn:vcloud:task:([0-9a-f-]{36})"`)

// auditIDs returns the eventIds of an audit trail page, in order.
func auditIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var page struct {
		Values []struct {
			EventID string `json:"eventId"`
		} `json:"values"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("audit page: %v", err)
	}
	var ids []string
	for _, v := range page.Values {
		ids = append(ids, v.EventID)
	}
	return ids
}
