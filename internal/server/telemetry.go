package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/api"
	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/telemetry"
)

// readyTimeout bounds the store round trip of GET /readyz.
const readyTimeout = time.Second

// instruments are the node's Prometheus registry and the instruments the server
// updates itself; the broker's and the store's counters are read at scrape
// time. It is the api.Observer and the broker.Observer.
type instruments struct {
	reg *telemetry.Registry

	requests    *telemetry.CounterVec // method, code
	requestTime *telemetry.Histogram
	logins      *telemetry.CounterVec // kind, result
	deliver     *telemetry.Histogram  // store → client socket, seconds
	backlog     *telemetry.Histogram  // messages per persistent-session resumption
	appendTime  *telemetry.Histogram  // log append round trip, seconds

	fed atomic.Uint64 // sequence of the last message the live feed delivered
}

// httpMethods are the methods counted under their own name; others count as OTHER,
// so that a client cannot grow the label set.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// newInstruments registers herald's metric families. Collected families read s's
// broker and store when scraped, so they must only be scraped after Open.
func newInstruments(s *Server) *instruments {
	reg := telemetry.NewRegistry()
	m := &instruments{reg: reg}
	m.requests = reg.CounterVec("herald_http_requests_total", "HTTP requests answered, by method and status code (101: MQTT WebSocket connections, counted when they end).", "method", "code")
	m.requestTime = reg.Histogram("herald_http_request_duration_seconds", "Time to answer an HTTP request other than a WebSocket upgrade.", telemetry.DurationBuckets)
	m.logins = reg.CounterVec("herald_logins_total", "Login attempts by endpoint (cloudapi, legacy, oauth, service_account) and result (success, failure, locked, rate_limited, error).", "endpoint", "result")
	m.deliver = reg.Histogram("herald_mqtt_delivery_latency_seconds", "Time from a notification's storing in the log to its writing to a subscriber's connection (live deliveries).", telemetry.DurationBuckets)
	m.backlog = reg.Histogram("herald_mqtt_session_backlog_messages", "Backlog messages queued when a persistent session resumed.", []float64{0, 1, 10, 100, 1000, 10000, 100000, 1000000})
	m.appendTime = reg.Histogram("herald_store_append_duration_seconds", "Time to store one notification in the log (JetStream publish and acknowledgement).", telemetry.DurationBuckets)

	// One scrape reads the broker's counters and the log's state once, not once per
	// family: each is kept for scrapeReuse.
	stats := &cached[broker.Stats]{fetch: func() (broker.Stats, bool) {
		if s.broker == nil {
			return broker.Stats{}, false
		}
		return s.broker.Stats(), true
	}}
	logState := &cached[store.LogInfo]{fetch: func() (store.LogInfo, bool) {
		if s.db == nil {
			return store.LogInfo{}, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		info, err := s.db.LogInfo(ctx)
		return info, err == nil // absent from this scrape on error; /readyz says why
	}}
	for _, f := range []struct {
		name, help string
		gauge      bool
		read       func(broker.Stats) int64
	}{
		{"herald_mqtt_connects_refused_total", "CONNECTs refused with a CONNACK error code (bad credentials, quotas, protocol).", false,
			func(st broker.Stats) int64 { return st.ConnectsRefused }},
		{"herald_mqtt_subscriptions", "Filters held by open MQTT sessions.", true,
			func(st broker.Stats) int64 { return st.Subscriptions }},
		{"herald_mqtt_messages_received_total", "PUBLISH packets from clients that were stored.", false,
			func(st broker.Stats) int64 { return st.MessagesIn }},
		{"herald_mqtt_messages_routed_total", "Stored notifications routed to this node's subscribers.", false,
			func(st broker.Stats) int64 { return st.MessagesRouted }},
		{"herald_mqtt_messages_sent_total", "PUBLISH packets written to clients.", false,
			func(st broker.Stats) int64 { return st.MessagesOut }},
		{"herald_mqtt_sessions_resumed_total", "Persistent sessions resumed (CONNACK session present 1).", false,
			func(st broker.Stats) int64 { return st.SessionsResumed }},
		{"herald_mqtt_sessions_behind_total", "Times a persistent session's queue filled and it went back to reading the log.", false,
			func(st broker.Stats) int64 { return st.SessionsBehind }},
		{"herald_mqtt_session_messages_lost_total", "Log sequences resuming sessions lost to the log's retention (an upper bound).", false,
			func(st broker.Stats) int64 { return st.SessionsLost }},
		{"herald_mqtt_messages_replayed_total", "Backlog messages queued by resuming persistent sessions.", false,
			func(st broker.Stats) int64 { return st.MessagesReplayed }},
	} {
		collect := func(emit func(float64, ...string)) {
			if st, ok := stats.get(); ok {
				emit(float64(f.read(st)))
			}
		}
		if f.gauge {
			reg.GaugeFunc(f.name, f.help, nil, collect)
		} else {
			reg.CounterFunc(f.name, f.help, nil, collect)
		}
	}
	groups := func(read func(broker.ConnGroup) int64) func(emit func(float64, ...string)) {
		return func(emit func(float64, ...string)) {
			st, _ := stats.get()
			for _, g := range st.Groups {
				emit(float64(read(g)), g.Transport, g.Auth)
			}
		}
	}
	reg.GaugeFunc("herald_mqtt_connections", "Established MQTT connections, by transport and authentication form (bearer: Authorization header at the upgrade; jwt_password: JWT as CONNECT password; service_account).", []string{"transport", "auth"},
		groups(func(g broker.ConnGroup) int64 { return g.Open }))
	reg.CounterFunc("herald_mqtt_connections_total", "MQTT connections established, by transport and authentication form.", []string{"transport", "auth"},
		groups(func(g broker.ConnGroup) int64 { return g.Total }))
	reg.CounterFunc("herald_mqtt_drops_total", "Messages not delivered or not accepted, by reason.", []string{"reason"},
		func(emit func(float64, ...string)) {
			st, ok := stats.get()
			if !ok {
				return
			}
			d := st.Drops
			emit(float64(d.QueueFullQoS0), "queue_full_qos0")
			emit(float64(d.QueueFullQoS1), "queue_full_qos1")
			emit(float64(d.TooLarge), "too_large")
			emit(float64(d.InboundDenied), "inbound_denied")
		})

	for _, f := range []struct {
		name, help string
		read       func(info store.LogInfo) uint64
	}{
		{"herald_store_log_last_sequence", "Sequence of the newest notification in the log.",
			func(info store.LogInfo) uint64 { return info.Last }},
		{"herald_store_log_messages", "Notifications kept in the log.",
			func(info store.LogInfo) uint64 { return info.Messages }},
		{"herald_store_log_bytes", "Size of the notifications kept in the log.",
			func(info store.LogInfo) uint64 { return info.Bytes }},
		{"herald_feed_lag_messages", "Notifications stored but not yet delivered by this node's live feed.",
			func(info store.LogInfo) uint64 { return info.Last - min(info.Last, m.fed.Load()) }},
	} {
		reg.GaugeFunc(f.name, f.help, nil, func(emit func(float64, ...string)) {
			if info, ok := logState.get(); ok {
				emit(float64(f.read(info)))
			}
		})
	}
	reg.GaugeFunc("herald_store_disk_free_bytes", "Free space on the embedded store's disk, measured every second (store.diskReserve). Absent when not watched.", nil,
		func(emit func(float64, ...string)) {
			if s.db == nil {
				return
			}
			if free, ok := s.db.DiskFree(); ok {
				emit(float64(free))
			}
		})
	reg.GaugeFunc("herald_store_streams_failed", "Streams the embedded store could not write since it started (a full disk, an I/O error); they take nothing more until herald restarts.", nil,
		func(emit func(float64, ...string)) {
			if s.db != nil {
				emit(float64(len(s.db.FailedStreams())))
			}
		})
	reg.GaugeFunc("herald_go_gc_percent", "GC percentage herald set (runtime.busyHeapHeadroom): above 100 while notifications flow. Absent when the tuning is off.", nil,
		func(emit func(float64, ...string)) {
			if p, ok := s.gc.Current(); ok {
				emit(float64(p))
			}
		})
	reg.GaugeFunc("herald_go_goroutines", "Goroutines of the process.", nil,
		func(emit func(float64, ...string)) { emit(float64(runtime.NumGoroutine())) })
	reg.GaugeFunc("herald_process_resident_memory_bytes", "Resident memory of the process (Linux).", nil,
		func(emit func(float64, ...string)) {
			if rss, ok := residentBytes(); ok {
				emit(float64(rss))
			}
		})
	return m
}

// Request counts one answered HTTP request (api.Observer).
func (m *instruments) Request(method string, status int, elapsed time.Duration) {
	if !slices.Contains(httpMethods, method) {
		method = "OTHER"
	}
	m.requests.With(method, strconv.Itoa(status)).Inc()
	if status != http.StatusSwitchingProtocols {
		m.requestTime.Observe(elapsed.Seconds())
	}
}

// Login counts one login attempt (api.Observer).
func (m *instruments) Login(kind, result string) { m.logins.With(kind, result).Inc() }

// Delivered records one live delivery's latency (broker.Observer).
func (m *instruments) Delivered(latency time.Duration) { m.deliver.Observe(latency.Seconds()) }

// Replayed records one persistent-session resumption's backlog (broker.Observer).
func (m *instruments) Replayed(n int) { m.backlog.Observe(float64(n)) }

// scrapeReuse is how long a cached reading serves the families of one scrape.
const scrapeReuse = 250 * time.Millisecond

// cached keeps fetch's last reading for scrapeReuse.
type cached[T any] struct {
	fetch func() (T, bool)

	mu sync.Mutex
	at time.Time
	v  T
	ok bool
}

func (c *cached[T]) get() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.at) > scrapeReuse {
		c.v, c.ok = c.fetch()
		c.at = now
	}
	return c.v, c.ok
}

// appended records one log append's duration.
func (m *instruments) appended(start time.Time) { m.appendTime.Observe(time.Since(start).Seconds()) }

var (
	_ api.Observer    = (*instruments)(nil)
	_ broker.Observer = (*instruments)(nil)
)

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

// serveReady answers GET /readyz: 200 when the store answers within readyTimeout and
// the live feed is running, else 503 with the reason. /healthz only says the process
// serves HTTP; /readyz says this node can take traffic.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fail := func(why string) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + why + "\n"))
	}
	switch {
	case s.stopping.Load():
		fail("shutting down")
		return
	case s.broker == nil || s.db == nil:
		fail("not started")
		return
	}
	if !s.feedRunning.Load() {
		fail("the notification feed is not running")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if _, err := s.db.LogInfo(ctx); err != nil {
		fail("the store does not answer")
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// requireBearer serves h only to requests with Authorization: Bearer token, compared
// in constant time; others get 401. An empty token requires nothing.
func requireBearer(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Digests of equal length, so that the comparison says nothing of the length.
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald metrics"`)
			http.Error(w, "metrics need the bearer token set in http.metricsToken", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
