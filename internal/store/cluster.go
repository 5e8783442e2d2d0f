package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterConfig joins the embedded NATS server to its peers by NATS routes: herald's
// cell mode (docs/CLUSTER.md). Every node runs the same store code; JetStream's own
// Raft groups replicate the streams and buckets (Config.Replicas).
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node; empty means no cluster.
	Name string
	// Addr is the route listen address, host:port (port 0 picks one, for tests).
	Addr string
	// Advertise is the route address peers should use when it differs from Addr.
	Advertise string
	// Routes are the peers' route addresses, host:port or nats-route:// URLs; this
	// node's own address may be among them (the server ignores a route to itself).
	Routes []string
	// Secret, when set, is required of every route and presented to every peer.
	Secret string
	// TLSCert, TLSKey and TLSCA (PEM files) make routes mutual TLS when set.
	TLSCert, TLSKey, TLSCA string
}

// routeUser is the user name routes authenticate with when Secret is set.
const routeUser = "herald-route"

// apply sets c in the embedded server's options. A clustered server must listen for
// clients, because nats-server starts routing only after its client listener is up
// (listenLoopback).
func (c ClusterConfig) apply(opts *server.Options) error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("cluster address %q: %w", c.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("cluster address %q: bad port", c.Addr)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	opts.Cluster.Name = c.Name
	opts.Cluster.Host = host
	opts.Cluster.Port = p
	opts.Cluster.Advertise = c.Advertise
	// Each node's client port is private to its process (listenLoopback): none
	// is of use to a client of another node, so none is gossiped to clients.
	opts.Cluster.NoAdvertise = true
	// Peers learn of each other through any one route (gossip), but every node
	// lists all of them so that any subset can form the cluster.
	opts.Cluster.ConnectRetries = 0 // explicit routes are retried forever
	if c.Secret != "" {
		opts.Cluster.Username = routeUser
		opts.Cluster.Password = c.Secret
	}
	if c.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLSCert, KeyFile: c.TLSKey, CaFile: c.TLSCA, Verify: true})
		if err != nil {
			return fmt.Errorf("cluster tls: %w", err)
		}
		// The CA verifies the peers both ways: accepted routes (ClientCAs, set by
		// GenTLSConfig) and solicited ones (RootCAs), as nats-server's own
		// configuration parser does for cluster TLS.
		tc.RootCAs = tc.ClientCAs
		opts.Cluster.TLSConfig = tc
		opts.Cluster.TLSTimeout = 5
	}
	for _, r := range c.Routes {
		if !strings.Contains(r, "://") {
			r = "nats-route://" + r
		}
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return fmt.Errorf("route %q: not host:port or a URL", r)
		}
		if c.Secret != "" {
			u.User = url.UserPassword(routeUser, c.Secret)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}

// listenLoopback makes the embedded server listen for clients on a random loopback
// port, with one user whose password is generated for this process, and returns the
// client option that logs in as it. Nothing outside the machine reaches the port,
// and nothing on it that does not know the password (nats-server compares it in
// constant time).
func listenLoopback(opts *server.Options) nats.Option {
	opts.DontListen = false
	opts.Host = "127.0.0.1"
	opts.Port = server.RANDOM_PORT
	password := rand.Text()
	opts.Users = []*server.User{{Username: "herald", Password: password}}
	return nats.UserInfo("herald", password)
}

// externalOptions returns the client options for Config.NATSURL: credentials, TLS,
// and reconnection without end, so that a NATS server restart or a failover to
// another server of the cluster is invisible beyond the requests it delays.
func (db *DB) externalOptions() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("herald " + db.cfg.ServerName),
		nats.MaxReconnects(-1),
		// The cluster may not be up yet: keep trying, Open waits for JetStream.
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			db.logger.Warn("disconnected from nats", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			db.logger.Info("reconnected to nats", "server", nc.ConnectedServerName())
		}),
	}
	c := db.cfg
	if c.NATSCredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCredsFile))
	}
	if c.NATSUser != "" {
		opts = append(opts, nats.UserInfo(c.NATSUser, c.NATSPassword))
	}
	if c.NATSCA != "" || c.NATSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.NATSCA != "" {
			pem, err := os.ReadFile(c.NATSCA)
			if err != nil {
				return nil, fmt.Errorf("nats ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("nats ca %s: no PEM certificate", c.NATSCA)
			}
		}
		if c.NATSCert != "" {
			cert, err := tls.LoadX509KeyPair(c.NATSCert, c.NATSKey)
			if err != nil {
				return nil, fmt.Errorf("nats client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// connectExternal connects to Config.NATSURL with opts (externalOptions). First
// attempts, without retries, tell a configuration error from a cluster that is not
// up yet: a server that refuses herald's credentials or its TLS (no client
// certificate, an unknown CA) fails Open at once with the server's answer, where
// retrying in the background would leave Open waiting out Config.StartTimeout for
// a JetStream that never answers and say only that. Servers that cannot be reached
// are retried, in the background, while Open waits for JetStream.
func (db *DB) connectExternal(opts []nats.Option) (*nats.Conn, error) {
	once := append(slices.Clip(opts), nats.RetryOnFailedConnect(false))
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(db.cfg.NATSURL, once...)
		switch {
		case err == nil:
			return nc, nil
		case refused(err):
			return nil, fmt.Errorf("nats server refused herald (check store.natsUser and HERALD_NATS_PASSWORD, natsCredsFile, natsCA, natsCert and natsKey): %w", err)
		case errors.Is(err, nats.ErrTLS) && attempt < 3:
			// Closed right after the TLS handshake: a server that refuses the
			// client certificate, which says so with an alert most of the time
			// but may close first. Asked again, it says why.
			continue
		case errors.Is(err, nats.ErrTLS):
			return nil, fmt.Errorf("nats server refused herald's TLS (check store.natsCA, natsCert and natsKey): %w", err)
		}
		db.logger.Info("nats not reachable yet, retrying", "err", err)
		return nats.Connect(db.cfg.NATSURL, opts...)
	}
}

// refused reports whether err, from a connection attempt, is a server's refusal
// of the client's credentials or TLS rather than a server out of reach.
func refused(err error) bool {
	for _, e := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked,
		nats.ErrAccountAuthExpired, nats.ErrSecureConnRequired, nats.ErrSecureConnWanted} {
		if errors.Is(err, e) {
			return true
		}
	}
	// A TLS alert the server sent (certificate required, bad certificate, unknown
	// CA) is a *net.OpError "remote error" around crypto/tls's unexported alert.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	var (
		alert   tls.AlertError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	return errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &invalid)
}

// retry runs fn, each attempt bounded by Config.Timeout (at most 2 s), until it succeeds or ctx
// ends: during start-up a cluster may lack a quorum, be electing leaders or have
// too few peers for the replicas yet. It logs at info every few seconds while it
// waits, and returns the last error when ctx ends.
func (db *DB) retry(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	lastLog := time.Now()
	for attempt := 1; ; attempt++ {
		// A request sent while a group elects its leader is never answered: a short
		// bound per attempt lets the next one find the new leader.
		actx, cancel := context.WithTimeout(ctx, min(db.cfg.Timeout, 2*time.Second))
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				db.logger.Info("store ready after retries", "op", op, "attempts", attempt)
			}
			return nil
		}
		if time.Since(lastLog) > 5*time.Second {
			db.logger.Info("waiting for jetstream", "op", op, "attempts", attempt, "err", err)
			lastLog = time.Now()
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// provisionHello is the core NATS subject of awaitProvisioner's announcements.
const provisionHello = signalPrefix + "provision.hello"

// awaitProvisioner lets one node create the streams and buckets on a cluster's first
// start while the others wait: JetStream answers none of several concurrent creates
// of one new replicated stream in time (each waits out its timeout, though the stream
// is made), which would cost every node a timeout per bucket. The nodes say hello on
// a core NATS subject every 100 ms. After listening for a second, a node provisions
// when nobody heard says it is provisioning and, in cell mode, it is the JetStream
// meta leader or, with NATSURL, its name is the smallest heard; while it provisions
// (and from its start, for a node importing with Migrate) its hellos say so. The
// others go on once the site identity, written last by Open, exists; from then on
// every Open only updates what exists, which is fast concurrently too. A provisioner
// that dies is replaced (it is no longer heard), and retries absorb a collision
// with it. The returned done ends this node's announcements; Open calls it when it
// returns.
func (db *DB) awaitProvisioner(ctx context.Context) (done func(), err error) {
	done = func() {}
	if db.srv != nil && db.cfg.Cluster.Name == "" {
		return done, nil // alone
	}
	if db.siteExists(ctx) {
		return done, nil // not the first start
	}
	type peer struct {
		at           time.Time
		provisioning bool
	}
	var mu sync.Mutex
	heard := map[string]peer{}
	sub, err := db.nc.Subscribe(provisionHello, func(m *nats.Msg) {
		name, flag, _ := strings.Cut(string(m.Data), " ")
		mu.Lock()
		heard[name] = peer{time.Now(), flag == "provisioning"}
		mu.Unlock()
	})
	if err != nil {
		return done, unavailable("provisioning", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	first := time.Now()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_ = db.nc.Publish(provisionHello, []byte(db.cfg.ServerName))
		if time.Since(first) > time.Second {
			mu.Lock()
			mine := db.srv == nil || db.srv.JetStreamIsLeader()
			for name, p := range heard {
				if time.Since(p.at) < time.Second && (p.provisioning || (db.srv == nil && name < db.cfg.ServerName)) {
					mine = false
				}
			}
			mu.Unlock()
			if mine {
				return db.sayProvisioning(), nil
			}
		}
		if db.siteExists(ctx) {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return done, unavailable("wait for the cluster's first start", ctx.Err())
		case <-t.C:
		}
	}
}

// sayProvisioning tells the other nodes every 100 ms that this node provisions, from
// a goroutine that stop ends and waits for.
func (db *DB) sayProvisioning() (stop func()) {
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			_ = db.nc.Publish(provisionHello, []byte(db.cfg.ServerName+" provisioning"))
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-exited
		})
	}
}

// siteExists reports whether the site identity is stored, so the store was set up.
func (db *DB) siteExists(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	kv, err := db.js.KeyValue(ctx, bucketMeta)
	if err != nil {
		return false
	}
	_, err = kv.Get(ctx, siteKey)
	return err == nil
}

// streamInfo reads a stream's info in attempts of at most two seconds until ctx
// ends: a request sent while the stream's Raft group elects a leader is never
// answered, and waiting out the caller's whole deadline for it would turn a
// failover of a few seconds into a refused MQTT CONNECT.
func (db *DB) streamInfo(ctx context.Context, name string) (jetstream.Stream, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := db.js.Stream(actx, name)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return s, err
		}
	}
}

// placementAttempts bounds createOnLeader's tries.
const placementAttempts = 20

// createOnLeader creates the replay consumer cfg on NOTIFY so that it runs on the
// stream leader's replica. JetStream places a replica-1 consumer of a replicated
// stream on any of its peers, which may lag (a node just restarted, or a follower
// that has not applied the newest messages yet): the consumer then counts and
// delivers only what that replica holds, and a replay that trusts it would move a
// session's cursor past messages it never delivered. The leader holds everything it
// acknowledged. A consumer placed elsewhere is deleted and created again, up to
// placementAttempts times (each placement is random among the stream's peers), after
// which it is an error and the caller retries later.
func (db *DB) createOnLeader(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for range placementAttempts {
		cons, err := db.js.CreateConsumer(ctx, streamNotify, cfg)
		if err != nil {
			return nil, err
		}
		host := ""
		if ci := cons.CachedInfo(); ci.Cluster != nil {
			host = ci.Cluster.Leader
		}
		s, err := db.streamInfo(ctx, streamNotify)
		if err != nil {
			_ = db.js.DeleteConsumer(ctx, streamNotify, cons.CachedInfo().Name)
			return nil, err
		}
		sc := s.CachedInfo().Cluster
		if sc == nil || len(sc.Replicas) == 0 || host == "" || host == sc.Leader {
			return cons, nil // not replicated, or on the leader
		}
		db.logger.Debug("replay consumer not on the stream leader, placing it again", "on", host, "leader", sc.Leader)
		_ = db.js.DeleteConsumer(ctx, streamNotify, cons.CachedInfo().Name)
	}
	return nil, fmt.Errorf("no replay consumer on the stream leader after %d attempts", placementAttempts)
}

// leaderGet reads the current value of key in bucket from the bucket's stream
// leader. KV Get uses direct gets when the bucket allows them (every bucket does),
// which any replica answers, one that lags included: right after another node's
// write it can return the value before it. It returns jetstream.ErrKeyNotFound for
// a key never written or deleted.
func (db *DB) leaderGet(ctx context.Context, bucket, key string) (value []byte, rev uint64, err error) {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{"$KV." + bucket + "." + key})
	if err != nil {
		return nil, 0, err
	}
	m, err := db.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, err
	}
	var resp struct {
		Message *struct {
			Seq    uint64 `json:"seq"`
			Header []byte `json:"hdrs"`
			Data   []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, 0, fmt.Errorf("decode message get: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.Code == 404:
		return nil, 0, jetstream.ErrKeyNotFound
	case resp.Error != nil:
		return nil, 0, fmt.Errorf("message get: %s (%d)", resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, 0, errors.New("message get: empty answer")
	}
	// A delete or purge leaves a marker with the KV-Operation header.
	if bytes.Contains(resp.Message.Header, []byte("KV-Operation")) {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	return resp.Message.Data, resp.Message.Seq, nil
}

// Node returns this node's name (Config.ServerName).
func (db *DB) Node() string { return db.cfg.ServerName }

// ClusterInfo describes the cluster as this node sees it.
type ClusterInfo struct {
	Node      string   // this node (Config.ServerName)
	Mode      string   // "embedded" (alone), "cell" or "external"
	Replicas  int      // of every stream and bucket
	LogLeader string   // the server leading the notification log's Raft group; "" alone or without a leader
	Peers     []string // the log's other replicas, current or not
	Lagging   []string // those replicas that are offline or behind
}

// ClusterInfo reports the notification log's leader and replicas. Without a leader
// (no quorum) it returns what it can with a vcd.CodeUnavailable error.
func (db *DB) ClusterInfo(ctx context.Context) (ClusterInfo, error) {
	ci := ClusterInfo{Node: db.cfg.ServerName, Mode: db.mode(), Replicas: db.cfg.Replicas}
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	s, err := db.js.Stream(ctx, streamNotify)
	if err != nil {
		return ci, unavailable("stream info", err)
	}
	info := s.CachedInfo()
	if info.Cluster != nil {
		ci.LogLeader = info.Cluster.Leader
		for _, p := range info.Cluster.Replicas {
			ci.Peers = append(ci.Peers, p.Name)
			if !p.Current || p.Offline {
				ci.Lagging = append(ci.Lagging, p.Name)
			}
		}
	}
	return ci, nil
}

// Subjects of the cluster signals (Signal, Ask). Node names are subject tokens: the
// configuration allows only [-_a-zA-Z0-9] in a cluster.
const signalPrefix = "$HERALD."

// Signal publishes data to every node's OnSignal handlers of name, this node's
// included: core NATS, at most once, to the nodes connected now, never stored. It
// does not wait for the network.
func (db *DB) Signal(name string, data []byte) error {
	if err := db.nc.Publish(signalPrefix+name, data); err != nil {
		return unavailable("signal "+name, err)
	}
	return nil
}

// OnSignal calls fn, on one goroutine of the NATS client, for each signal of name
// from any node until the returned stop is called or the DB closes. fn must not
// block for long.
func (db *DB) OnSignal(name string, fn func(data []byte)) (stop func(), err error) {
	sub, err := db.nc.Subscribe(signalPrefix+name, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, unavailable("subscribe "+name, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// ErrNoNode is returned by Ask when no node of that name is connected (it stopped
// or died), so there is nobody to wait for.
var ErrNoNode = errors.New("node not connected")

// Ask sends data to node's Answer handler of name and returns its reply. It returns
// ErrNoNode at once when the node is not connected, and ctx's error when it does not
// answer in time.
func (db *DB) Ask(ctx context.Context, node, name string, data []byte) ([]byte, error) {
	m, err := db.nc.RequestWithContext(ctx, signalPrefix+name+"."+node, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoNode
	}
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// Answer serves the requests of name addressed to this node with fn, each in its own
// goroutine (fn may block, as it waits for a connection to save its session), until
// stop is called or the DB closes. stop waits for the running handlers.
func (db *DB) Answer(name string, fn func(data []byte) []byte) (stop func(), err error) {
	done := make(chan struct{})
	sem := make(chan struct{}, 256) // bounds the handlers running at once
	sub, err := db.nc.Subscribe(signalPrefix+name+"."+db.cfg.ServerName, func(m *nats.Msg) {
		select {
		case sem <- struct{}{}:
		case <-done:
			return
		}
		go func() { // exits when fn returns
			defer func() { <-sem }()
			_ = m.Respond(fn(m.Data))
		}()
	})
	if err != nil {
		return nil, unavailable("subscribe "+name, err)
	}
	return func() {
		_ = sub.Unsubscribe()
		close(done)
		for range cap(sem) {
			sem <- struct{}{}
		}
	}, nil
}
