// Package server is herald's composition root: it opens the store, the authenticator,
// the HTTP API (and, as they land, the MQTT broker and the notification pipeline),
// binds the listeners and ties their lifecycles together.
//
// Lifecycle: New validates the configuration; Open binds every listener synchronously
// (so "127.0.0.1:0" works and Addr/URL report the real address) and starts serving;
// Close stops accepting, lets requests finish within the shutdown timeout and closes
// the store. Close is idempotent.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/config"
	"github.com/heraldmq/herald/internal/console"
	"github.com/heraldmq/herald/internal/gctune"
	"github.com/heraldmq/herald/internal/ratelimit"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/vcd"
)

// Server is one herald node.
type Server struct {
	cfg    config.Config
	logger *slog.Logger
	now    func() time.Time

	db     *store.DB
	auth   *auth.Authenticator
	api    *api.API
	broker *broker.Broker
	// connects bounds new MQTT connections per client address (WebSocket and TCP).
	connects *ratelimit.Limiter

	httpsSrv, plainSrv *http.Server
	debugSrv           *http.Server
	httpsLn, plainLn   net.Listener
	debugLn            net.Listener
	mqttLn             net.Listener
	unwatch            func() // stops the store change feed
	stopCluster        func() // stops serving other nodes' takeovers (cluster.go)

	generatedPassword string

	inst        *instruments  // GET /metrics; the API's and the broker's Observer
	gc          *gctune.Tuner // the GC percentage while notifications flow
	feedRunning atomic.Bool   // the live feed is delivering (GET /readyz)
	stopping    atomic.Bool   // Close has begun (GET /readyz answers 503)

	stop      context.CancelFunc // ends background work
	wg        sync.WaitGroup     // serving and background goroutines
	closeOnce sync.Once
	closeErr  error
}

// New returns a server for cfg, or the configuration's problems. It starts nothing.
func New(cfg config.Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger, now: time.Now,
		connects: ratelimit.New(cfg.MQTT.ConnectsPerSecondPerIP, time.Second)}
	s.inst = newInstruments(s)
	s.gc = gctune.New(gctune.Config{
		Headroom: cfg.Runtime.BusyHeapHeadroom,
		Busy:     s.inst.fed.Load,
		BusyRate: gcBusyRate,
		Changed:  func(p int) { logger.Debug("GC percentage", "percent", p) },
		Released: func(n uint64) { logger.Debug("returned free heap memory to the OS", "bytes", n) },
	})
	return s, nil
}

// Open opens the store, bootstraps the directory on first start, binds the listeners and
// starts serving. On error everything opened so far is closed again.
func (s *Server) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop

	s.db, err = store.Open(ctx, s.storeConfig(), s.logger) // cluster.go; the store names its own subsystem
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	site, err := s.db.Site(ctx)
	if err != nil {
		return fmt.Errorf("read site: %w", err)
	}
	s.auth = auth.New(auth.Config{
		TokenLifetime:    s.cfg.Auth.TokenLifetime.D(),
		IdleTimeout:      s.cfg.Auth.IdleTimeout.D(),
		LockoutThreshold: s.cfg.Auth.LockoutThreshold,
		LockoutWindow:    s.cfg.Auth.LockoutWindow.D(),
		LockoutDuration:  s.cfg.Auth.LockoutDuration.D(),
		KeyLifetime:      s.cfg.Auth.KeyLifetime.D(),
		APITokenLifetime: s.cfg.Auth.APITokenLifetime.D(),
		PasswordCost:     s.cfg.Auth.PasswordCost,
	}, s.db, site, s.logger.With("subsystem", "auth"))
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	if err := s.auth.Open(ctx); err != nil {
		return fmt.Errorf("open authenticator: %w", err)
	}
	s.api = api.New(api.Config{
		PublicURL:          s.cfg.HTTP.PublicURL,
		MaxBodyBytes:       s.cfg.HTTP.MaxBodyBytes,
		LoginRateLimit:     s.cfg.HTTP.LoginRatePerMinute,
		SessionIdleMinutes: int(s.cfg.Auth.IdleTimeout.D() / time.Minute),
		HashPassword:       s.auth.HashPassword,
		Notifier:           logNotifier{s.db, s.inst},
		Tasks:              taskStore{s.db},
		Audit:              auditTrail{s.db},
		Inventory:          inventoryStore{s.db},
		Metrics:            apiMetrics{s.newMetricsStore()},
		Observer:           s.inst,
	}, s.db, s.auth, s.logger.With("subsystem", "api"))

	s.broker = broker.New(broker.Config{
		MaxPacketBytes:       s.cfg.MQTT.MaxPacketBytes,
		MaxInflight:          s.cfg.MQTT.MaxInflight,
		ReceiveMaximum:       s.cfg.MQTT.ReceiveMaximum,
		ValidateNotification: validateNotification,
		WriteHTTPError:       s.api.WriteError,
		Retained:             retainedStore{s.db},
		Sessions:             sessionStore{s.db}, // persistent sessions (sessions.go)
		Backlog:              backlog{s.db},
		Node:                 s.cfg.Store.ServerName,
		Cluster:              s.brokerCluster(), // cluster.go
		SessionRetention:     s.cfg.MQTT.SessionRetention.D(),
		Observer:             s.inst,
	}, s.auth, s.auth, notifyLog{s.db, s.inst}, s.logger) // the broker names its own subsystem
	// The live feed and the change watch start before any listener, so the first
	// client already gets every message and every revocation.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runFeed(bg)
	}()
	s.unwatch = s.db.Watch(s.onChange)
	if s.stopCluster, err = s.openCluster(bg); err != nil { // takeovers from other nodes
		return err
	}
	// The audit history (VCD-COMPAT §10.1) names this node as its cell.
	cellURN := "urn:vcloud:cell:" + vcd.NameUUID(site.ID, "cell:"+s.cfg.Store.ServerName)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runHistory(bg, cellURN)
	}()

	handler := s.routes()
	var tlsCfg *tls.Config
	if s.cfg.HTTP.Addr != "" {
		cert, err := loadTLS(s.cfg.HTTP.TLSCert, s.cfg.HTTP.TLSKey, s.cfg.DataDir, s.cfg.HTTP.TLSSANs, s.now())
		if err != nil {
			return err
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, err := net.Listen("tcp", s.cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("listen https: %w", err)
		}
		httpsCfg := tlsCfg.Clone()
		httpsCfg.NextProtos = []string{"http/1.1"} // WebSocket upgrades need HTTP/1.1
		s.httpsLn = tls.NewListener(ln, httpsCfg)
		s.httpsSrv = s.newHTTPServer(handler)
		s.serve(s.httpsSrv, s.httpsLn, "https")
	}
	if s.cfg.HTTP.PlainAddr != "" {
		// Listen before Serve, rather than ListenAndServe, so a bad address fails Open
		// synchronously and ":0" reports its real port.
		s.plainLn, err = net.Listen("tcp", s.cfg.HTTP.PlainAddr)
		if err != nil {
			return fmt.Errorf("listen http: %w", err)
		}
		s.plainSrv = s.newHTTPServer(handler)
		s.serve(s.plainSrv, s.plainLn, "http")
	}
	if s.cfg.HTTP.DebugAddr != "" {
		s.debugLn, err = net.Listen("tcp", s.cfg.HTTP.DebugAddr)
		if err != nil {
			return fmt.Errorf("listen debug: %w", err)
		}
		s.debugSrv = s.newHTTPServer(debugHandler())
		s.serve(s.debugSrv, s.debugLn, "http")
	}
	if s.cfg.MQTT.Addr != "" {
		if err := s.listenMQTT(tlsCfg); err != nil {
			return err
		}
		s.wg.Add(1)
		go s.serveMQTT(bg, s.mqttLn)
	}
	s.background(bg)
	s.startMetrics(bg)
	s.tuneGC(bg)
	return nil
}

// gcBusyRate is the notification rate (a second) from which the live feed is busy
// enough for the GC tuning: at about 10 KB allocated per notification, below it a
// heap of 100 MB collects every ten seconds or so anyway, while provisioning (a
// burst of logins, each allocating much and notifying once) would otherwise leave
// an idle server with a heap grown for nothing.
const gcBusyRate = 1000

// tuneGC gives the garbage collector room while the live feed delivers
// notifications (package gctune), unless the configuration or an explicit GOGC
// turns that off.
func (s *Server) tuneGC(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.gc.Run(ctx)
	}()
}

// bootstrap creates the System org and its administrator on first start.
func (s *Server) bootstrap(ctx context.Context) error {
	created, err := s.db.EnsureSystem(ctx, s.cfg.Auth.AdminName, func() (string, error) {
		pw := s.cfg.Auth.AdminPassword
		if pw == "" {
			pw = generatePassword()
			s.generatedPassword = pw
		}
		return s.auth.HashPassword(pw)
	})
	if err != nil {
		return fmt.Errorf("bootstrap directory: %w", err)
	}
	if !created {
		s.generatedPassword = ""
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /clusterz", s.serveCluster) // cluster.go
	mux.Handle("GET /metrics", requireBearer(s.cfg.HTTP.MetricsToken, s.inst.reg.Handler()))
	mux.Handle("/messaging/mqtt", s.limitConnects(s.broker))
	mux.Handle("/console/", console.Handler()) // the browser console; "/console" redirects
	mux.Handle("GET /console", console.Handler())
	mux.Handle("/", s.api.Routes())
	return s.api.Middleware(mux)
}

func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
}

// serve runs srv on ln until Close; the goroutine exits when srv is shut down.
func (s *Server) serve(srv *http.Server, ln net.Listener, scheme string) {
	s.logger.Info("listening", "url", scheme+"://"+displayAddr(ln.Addr()), "addr", ln.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "scheme", scheme, "err", err)
		}
	}()
}

// displayAddr returns addr with an unspecified host (":8443", "[::]:8443") shown as
// localhost, so the logged URL can be pasted into a browser or curl.
func displayAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// expiredTaskGrace is how long an expired task can still be read by id
// (GET /api/task/{id}) before housekeeping deletes it; lists leave it out at once.
const expiredTaskGrace = 7 * 24 * time.Hour

// background starts periodic housekeeping; it exits when ctx is cancelled by Close.
func (s *Server) background(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(10 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := s.db.PurgeExpiredSessions(ctx, s.now()); err != nil {
					s.logger.Warn("purge expired sessions", "err", err)
				} else if n > 0 {
					s.logger.Debug("purged expired sessions", "count", n)
				}
				s.purgeMQTTSessions(ctx)
				if n, err := s.db.PurgeExpiredTasks(ctx, s.now().Add(-expiredTaskGrace)); err != nil {
					s.logger.Warn("purge expired tasks", "err", err)
				} else if n > 0 {
					s.logger.Debug("purged expired tasks", "count", n)
				}
			}
		}
	}()
}

// Close stops serving, waits for in-flight requests up to the shutdown timeout and
// closes the store. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopping.Store(true)
		if s.stop != nil {
			s.stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout.D())
		defer cancel()
		var errs []error
		if s.mqttLn != nil {
			_ = s.mqttLn.Close()
		}
		// MQTT connections are hijacked from HTTP, so Shutdown does not see them: the
		// broker disconnects them itself (DISCONNECT 0x8B on 5.0).
		if s.broker != nil {
			if err := s.broker.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close broker: %w", err))
			}
		}
		if s.unwatch != nil {
			s.unwatch()
		}
		if s.stopCluster != nil {
			s.stopCluster()
		}
		for _, srv := range []*http.Server{s.httpsSrv, s.plainSrv, s.debugSrv} {
			if srv != nil {
				if err := srv.Shutdown(ctx); err != nil {
					errs = append(errs, fmt.Errorf("shutdown http: %w", err))
				}
			}
		}
		// Every goroutine ends with its context, but one inside a store request
		// that nats.go bounds by no context (an ordered consumer recreating its
		// consumer, up to 10 s when the store has no quorum) ends only when the
		// request does: after a grace (within the shutdown timeout) the store is
		// closed beneath it, which fails such a request at once.
		grace, cancelGrace := context.WithTimeout(ctx, storeCloseGrace)
		waited := waitCtx(grace, &s.wg)
		cancelGrace()
		if s.db != nil {
			if err := s.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		if !waited {
			s.wg.Wait()
		}
		s.closeErr = errors.Join(errs...)
		s.logger.Info("stopped")
	})
	return s.closeErr
}

// storeCloseGrace is how long Close waits for the server's goroutines to end
// before it closes the store beneath those still in a request.
const storeCloseGrace = 2 * time.Second

// waitCtx waits for wg until ctx is done and reports whether wg is.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { // exits when wg is done: Close waits for it in the end
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// URL returns the base URL of the HTTPS listener, or of the plain one when HTTPS is off.
func (s *Server) URL() string {
	if s.httpsLn != nil {
		return "https://" + displayAddr(s.httpsLn.Addr())
	}
	return s.PlainURL()
}

// PlainURL returns the base URL of the plain-HTTP listener, or "" when there is none.
func (s *Server) PlainURL() string {
	if s.plainLn == nil {
		return ""
	}
	return "http://" + displayAddr(s.plainLn.Addr())
}

// DebugURL returns the base URL of the profiling listener (http.debugAddr), or ""
// when there is none.
func (s *Server) DebugURL() string {
	if s.debugLn == nil {
		return ""
	}
	return "http://" + s.debugLn.Addr().String()
}

// Addr returns the address of the HTTPS listener (or the plain one when HTTPS is off).
func (s *Server) Addr() string {
	if s.httpsLn != nil {
		return s.httpsLn.Addr().String()
	}
	if s.plainLn != nil {
		return s.plainLn.Addr().String()
	}
	return ""
}

// CAFile returns the path of the generated CA certificate that clients can trust, or ""
// when a certificate was configured.
func (s *Server) CAFile() string {
	if s.cfg.HTTP.TLSCert != "" || s.cfg.HTTP.Addr == "" {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, tlsDirName, caCertFile)
}

// GeneratedAdminPassword returns the bootstrap administrator's password when this start
// created the administrator with a generated password, else "". The caller shows it
// once; it is never logged.
func (s *Server) GeneratedAdminPassword() string { return s.generatedPassword }

// generatePassword returns 26 random base32 characters (130 bits).
func generatePassword() string { return rand.Text() }
