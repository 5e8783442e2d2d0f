package broker

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// Authenticator resolves a session JWT to a principal and records activity.
type Authenticator interface {
	// Authenticate returns the principal a token stands for. A missing, bad,
	// expired or revoked token is an error with code vcd.CodeUnauthorized; any
	// other error is a server fault.
	Authenticate(ctx context.Context, token string) (vcd.Principal, error)
	// Touch records that p's session is in use (for idle limits). The broker
	// calls it at CONNECT and then at most once a minute while the connection
	// receives packets; it must not block for long.
	Touch(ctx context.Context, p vcd.Principal)
}

// ServiceAccounts authenticates CONNECT form C (VCD-COMPAT §6.2): the username is
// an account name or an extension triplet vendor/name/version, the password its
// secret. A nil ServiceAccounts refuses form C like a bad password.
type ServiceAccounts interface {
	// AuthenticateService returns the service account's principal. Unknown
	// accounts and wrong secrets are errors with code vcd.CodeUnauthorized.
	AuthenticateService(ctx context.Context, name, secret string) (vcd.Principal, error)
}

// Log is the durable notification log.
type Log interface {
	// Append stores a message and returns once it is stored, so that an
	// acknowledgement sent to a producer afterwards is honest; id de-duplicates
	// repeated appends of one message. The broker never appends a message twice
	// (a client's resend after a reconnect is a new message, at least once), and
	// gives no id. payload is valid only during the call:
	// an implementation that keeps it must copy it. Stored messages come back
	// to the broker through Deliver, from the node's live feed.
	Append(ctx context.Context, topic, id string, payload []byte) (seq uint64, err error)
}

// Retained is the retained message of one topic (VCD-COMPAT §6.4).
type Retained struct {
	Topic   string // a valid MQTT topic name, never under publish/ or metrics/
	Payload []byte // never empty; shared, must not be modified
	QoS     byte   // QoS of the PUBLISH that retained it
}

// RetainedStore keeps the retained messages of every topic, durably and the
// same on every node (VCD-COMPAT §6.4).
type RetainedStore interface {
	// SetRetained makes payload the retained message of topic, replacing any
	// earlier one [MQTT-3.3.1-5]; an empty payload clears the topic
	// [MQTT-3.3.1-6], [MQTT-3.3.1-7]. It returns once the change is stored,
	// so that an acknowledgement sent afterwards is honest, and it is then
	// visible to Retained on this node. payload is valid only during the call.
	SetRetained(ctx context.Context, topic string, payload []byte, qos byte) error
	// Retained returns every retained message. The broker calls it for each
	// SUBSCRIBE that may receive retained messages and does not modify the
	// result; it must answer from memory.
	Retained() []Retained
}

// Config tunes a Broker. The zero value of a field means its default.
type Config struct {
	// MaxPacketBytes is the largest packet a client may send, fixed header
	// included (1 MiB); larger closes the connection (0x95 on 5.0). It is also
	// the Maximum Packet Size announced in a 5.0 CONNACK.
	MaxPacketBytes int
	// MaxInflight is the number of outbound QoS 1 and 2 messages awaiting
	// acknowledgement per session (100, as VCD-COMPAT §6.4 states), lowered to a
	// 5.0 client's Receive Maximum. A subscriber can take no more than
	// MaxInflight messages per round trip of its acknowledgements, and on a busy
	// machine that round trip takes milliseconds: at 100 the system
	// administrator's publish/# at QoS 1 fell behind at fan-out saturation and
	// lost part of its stream, at 500 it did not (docs/PERFORMANCE.md).
	MaxInflight int
	// ReceiveMaximum is how many QoS 1 and 2 PUBLISHes a client may have
	// unacknowledged toward the broker (100): announced in a 5.0 CONNACK, and
	// the depth of a connection's pipeline of appends, each up to
	// MaxPacketBytes.
	ReceiveMaximum int
	// MaxQueue bounds the messages waiting in one session's outbound queue
	// (1000); see the overflow policy in the package documentation.
	MaxQueue int
	// MaxSubscriptionsPerSession bounds the filters one session holds (100).
	MaxSubscriptionsPerSession int
	// MaxConnsPerPrincipal bounds the connections of one user or service
	// account (100); a takeover does not count as a new connection.
	MaxConnsPerPrincipal int
	// ConnectTimeout is how long a connection may take to send CONNECT (10 s).
	ConnectTimeout time.Duration
	// WriteTimeout bounds each write to a client (10 s); a client that does not
	// read for that long is disconnected.
	WriteTimeout time.Duration
	// ValidateNotification checks and canonicalises the envelope a producer
	// publishes under publish/ or metrics/ (VCD-COMPAT §6.3, §8.1) and appends
	// the bytes to store to dst, a buffer the broker owns (perhaps nil), never
	// into payload, which is the connection's read buffer. It returns dst
	// extended, or an error and dst unchanged. nil stores the payload as sent.
	ValidateNotification func(dst []byte, topic string, payload []byte) ([]byte, error)
	// WriteHTTPError writes the API's error body for a refused WebSocket
	// upgrade (400, 401, 403, 503). nil writes plain text with the status of the
	// error's vcd.Code.
	WriteHTTPError func(w http.ResponseWriter, r *http.Request, err error)
	// Retained stores retained messages. nil makes them unavailable: the 5.0
	// CONNACK says Retain Available 0, a 5.0 RETAIN=1 PUBLISH outside
	// publish/ and metrics/ gets DISCONNECT 0x9A and a Will Retain CONNACK
	// 0x9A, and 3.1.1 RETAIN=1 is stored as a normal message.
	Retained RetainedStore
	// TouchInterval is how often, at most, Authenticator.Touch is called for
	// a connection that keeps receiving packets (1 minute); it is also called
	// at CONNECT.
	TouchInterval time.Duration
	// AllowedOrigins lists the host patterns (path.Match syntax, compared
	// without case to the host[:port] of the Origin header, e.g.
	// "console.example.com" or "*.example.com"; "*" allows any) of the web
	// pages that may open /messaging/mqtt in addition to the defaults: an
	// upgrade without an Origin header (non-browser clients) and one whose
	// Origin host equals the request's Host (same origin). Any other origin
	// is refused with 403 before authentication, against cross-site
	// WebSocket hijacking.
	AllowedOrigins []string
	// Sessions and Backlog make persistent sessions available (VCD-COMPAT
	// §6.6): the stored records and the log they replay. With either nil,
	// CleanSession=0 and Clean Start=0 are served as clean sessions.
	Sessions SessionStore
	Backlog  Backlog
	// SessionRetention is how long a persistent session outlives its
	// connection (24 h): the 3.1.1 expiry, and the cap of a 5.0 Session
	// Expiry Interval (CONNACK reports the lowered value).
	SessionRetention time.Duration
	// Node names this node in session records.
	Node string
	// Cluster carries takeovers to and from the other nodes of a cluster
	// (cluster.go); nil on a node alone.
	Cluster Cluster
	// Now is the clock used for token expiry (time.Now).
	Now func() time.Time
	// Observer receives the timings Stats cannot hold (nil: none).
	Observer Observer
	// ParkAfter is how long a WebSocket connection over plain TCP with nothing
	// to read waits for its client before it is parked: its reader goroutine
	// and read buffers are given up until the socket is readable again
	// (park.go). 1 s; negative never parks. A connection's first park comes
	// after at most 100 ms.
	ParkAfter time.Duration
}

// Observer receives observations from the broker's hot paths: its methods
// must be cheap and must not block.
type Observer interface {
	// Delivered reports, for one live message given to a client, the time
	// from its storing in the log to its encoding for the client's socket.
	// Messages replayed from a persistent session's backlog are not reported.
	Delivered(latency time.Duration)
	// Replayed reports how many backlog messages one resumption of a
	// persistent session queued.
	Replayed(messages int)
}

func (c Config) withDefaults() Config {
	if c.MaxPacketBytes <= 0 {
		c.MaxPacketBytes = mqtt.DefaultMaxPacketSize
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 100
	}
	if c.ReceiveMaximum <= 0 {
		c.ReceiveMaximum = 100
	}
	c.MaxInflight = min(c.MaxInflight, 65535)
	c.ReceiveMaximum = min(c.ReceiveMaximum, 65535)
	if c.MaxQueue <= 0 {
		c.MaxQueue = 1000
	}
	if c.MaxSubscriptionsPerSession <= 0 {
		c.MaxSubscriptionsPerSession = 100
	}
	if c.MaxConnsPerPrincipal <= 0 {
		c.MaxConnsPerPrincipal = 100
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionRetention <= 0 {
		c.SessionRetention = 24 * time.Hour
	}
	if c.ParkAfter == 0 {
		c.ParkAfter = time.Second
	}
	return c
}

// Log attribute keys.
const (
	logKeySubsystem = "subsystem"
	logKeyClientID  = "client_id"
	logKeyUser      = "user"
	logKeyOrg       = "org"
	logKeyRemote    = "remote"
	logKeyConn      = "conn_id"
	logKeyErr       = "err"
	logKeyTopic     = "topic"
	logKeyFilter    = "filter"
	logKeyReason    = "reason"
)

// Broker is herald's MQTT broker: sessions over any net.Conn, the
// /messaging/mqtt WebSocket endpoint, and fan-out of stored notifications.
// Create it with New; it is safe for concurrent use.
type Broker struct {
	cfg    Config
	authn  Authenticator
	svc    ServiceAccounts
	log    Log
	logger *slog.Logger

	// index maps filters to subscriptions for Deliver. It has its own lock
	// (see the lock order in the package documentation).
	index topic.Index[*subscription]

	mu       sync.Mutex           // guards the fields below
	closed   bool                 // Close was called
	conns    map[*conn]struct{}   // every connection inside ServeConn
	sessions map[sessionKey]*conn // established connections by (principal, client id)
	perPrinc map[principalKey]int // established connections per principal
	wg       sync.WaitGroup       // one per ServeConn call
	closeCh  chan struct{}        // closed by Close

	deliverMu sync.Mutex      // serialises Deliver; guards matches
	matches   []*subscription // Deliver's scratch slice, reused

	// origins records the messages local connections are storing, so that
	// Deliver can tell No Local and Retain As Published apart; see origin.
	originMu sync.Mutex
	origins  []*origin    // in append order; guarded by originMu
	nOrigins atomic.Int32 // len(origins), read by Deliver without the lock

	// fed is the sequence of the last message Deliver queued; see beforeSubscribe.
	fed atomic.Uint64
	// connSeq numbers connections for their log lines (conn_id).
	connSeq atomic.Uint64

	// pollOnce starts poll, which parks idle connections (park.go); nil
	// where that is not available.
	pollOnce sync.Once
	poll     *poller

	stats counters

	// appendFailed passes one "append to log" error line a second: a store that
	// fails (full, unreachable) fails every producer's every message.
	appendFailed everySecond
}

// everySecond lets one of a kind of log line through per second and counts the
// ones it holds back.
type everySecond struct {
	next atomic.Int64 // Unix nanoseconds before which lines are held back
	held atomic.Int64 // lines held back since the last one let through
}

// allow reports whether a line may be written at now and, if so, how many were
// held back before it.
func (e *everySecond) allow(now time.Time) (held int64, ok bool) {
	next, t := e.next.Load(), now.UnixNano()
	if t < next || !e.next.CompareAndSwap(next, t+int64(time.Second)) {
		e.held.Add(1)
		return 0, false
	}
	return e.held.Swap(0), true
}

// logAppendFailed logs a failed append, unless one was logged within the second.
func (c *conn) logAppendFailed(err error, attrs ...any) {
	if held, ok := c.b.appendFailed.allow(time.Now()); ok {
		c.logger.Error("append to log", append([]any{logKeyErr, err, "held_back", held}, attrs...)...)
	}
}

// principalKey identifies a user or a service account.
type principalKey struct {
	kind vcd.PrincipalKind
	id   string
}

// sessionKey identifies a session: client ids are scoped per principal
// (VCD-COMPAT §6.5).
type sessionKey struct {
	principal principalKey
	clientID  string
}

// New returns a Broker. authn resolves JWTs (forms A and B), svc service
// accounts (form C, may be nil), log stores what producers publish; logger
// receives the broker's logs under subsystem=broker.
func New(cfg Config, authn Authenticator, svc ServiceAccounts, log Log, logger *slog.Logger) *Broker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Broker{
		cfg:      cfg.withDefaults(),
		authn:    authn,
		svc:      svc,
		log:      log,
		logger:   logger.With(logKeySubsystem, "broker"),
		conns:    make(map[*conn]struct{}),
		sessions: make(map[sessionKey]*conn),
		perPrinc: make(map[principalKey]int),
		closeCh:  make(chan struct{}),
	}
}

// ServeConn runs one MQTT connection over nc until it ends, then closes nc.
// pre is the principal a WebSocket upgrade already authenticated (form A), in
// which case CONNECT credentials are ignored; nil means CONNECT authenticates
// (forms B and C). Cancelling ctx ends the connection as a server shutdown
// does. ServeConn returns at once, closing nc, if the broker is closed.
func (b *Broker) ServeConn(ctx context.Context, nc net.Conn, pre *vcd.Principal) {
	b.serveConn(ctx, nc, pre, transportTCP)
}

// serveConn is ServeConn for a connection over the given transport.
func (b *Broker) serveConn(ctx context.Context, nc net.Conn, pre *vcd.Principal, transport uint8) {
	c := newConn(ctx, b, nc, pre)
	c.transport = transport
	if !b.track(c) {
		c.cancel()
		_ = nc.Close()
		return
	}
	if c.serve() {
		return // parked: the goroutine that ends it calls served
	}
	b.served(c)
}

// served forgets a connection that has ended.
func (b *Broker) served(c *conn) {
	b.untrack(c)
	b.wg.Done()
}

// poller returns the broker's poller, started on first use, or nil where
// connections cannot be parked.
func (b *Broker) poller() *poller {
	b.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			b.logger.Debug("idle connections are not parked", logKeyErr, err)
			return
		}
		b.poll = p
	})
	return b.poll
}

// track registers c for Close; it reports false once the broker is closed.
func (b *Broker) track(c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	b.wg.Add(1)
	return true
}

func (b *Broker) untrack(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
}

// register makes c the live connection of its session key, taking over (and
// closing) a previous one [MQTT-3.1.4-2]. It returns false, with the reason
// code to refuse with, when the principal has too many connections or the
// broker is closing.
func (b *Broker) register(c *conn) (ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	old := b.sessions[c.key]
	if old == nil && b.perPrinc[c.key.principal] >= b.cfg.MaxConnsPerPrincipal {
		return false
	}
	if old != nil {
		c.prev = old // openSession waits for it to save its session
		old.closeWith(mqtt.ReasonSessionTakenOver)
		old.logger.Debug("session taken over")
	}
	b.sessions[c.key] = c
	b.perPrinc[c.key.principal]++
	c.registered = true
	b.announce(c) // the same key on other nodes is taken over too (cluster.go)
	b.stats.connections.Add(1)
	b.stats.connectionsTotal.Add(1)
	b.stats.groupOpen[c.transport][c.form].Add(1)
	b.stats.groupTotal[c.transport][c.form].Add(1)
	return true
}

// unregister removes c from the session table, unless a takeover already
// replaced it there.
func (b *Broker) unregister(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !c.registered {
		return
	}
	c.registered = false
	if b.sessions[c.key] == c {
		delete(b.sessions, c.key)
	}
	if n := b.perPrinc[c.key.principal] - 1; n > 0 {
		b.perPrinc[c.key.principal] = n
	} else {
		delete(b.perPrinc, c.key.principal)
	}
	b.stats.connections.Add(-1)
	b.stats.groupOpen[c.transport][c.form].Add(-1)
}

// closeMatching closes, with reason, every established connection whose
// principal satisfies match, and returns how many it closed.
func (b *Broker) closeMatching(reason mqtt.ReasonCode, match func(p *vcd.Principal) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.conns {
		if p := c.principalOrNil(); p != nil && match(p) {
			c.closeWith(reason)
			n++
		}
	}
	return n
}

// LogReset tells the broker that the log was deleted and created again: the next
// message Deliver gets, seq, is not above the last one, prev, as the new log's
// sequences start over. Clean sessions take the new log's messages as they come. A
// persistent session's cursor counts in the old log's sequences and would pass the
// new log's messages by as read, so its connection is closed (5.0: DISCONNECT 0x98,
// administrative action): the client reconnects, and the session, whose ack floor
// is above the log's last sequence, resumes from the new log's first message. Call
// it from the goroutine that calls Deliver, before delivering seq.
func (b *Broker) LogReset(prev, seq uint64) {
	b.mu.Lock()
	conns := make([]*conn, 0, len(b.sessions))
	for _, c := range b.sessions {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.s.mu.Lock()
		persistent := c.s.p != nil
		c.s.mu.Unlock()
		if persistent {
			c.closeWith(mqtt.ReasonAdministrativeAction)
			n++
		}
	}
	b.logger.Warn("notification log reset: its sequences start over", "last", prev, "seq", seq, "persistent_sessions_closed", n)
}

// CloseSessions closes the connections opened with tokens of the login
// session sessionID (logout, revocation): MQTT 5.0 clients get DISCONNECT 0x87
// first (VCD-COMPAT §6.7). It returns the number of connections closed.
func (b *Broker) CloseSessions(sessionID string) int {
	if sessionID == "" {
		return 0
	}
	return b.closeMatching(mqtt.ReasonNotAuthorized, func(p *vcd.Principal) bool { return p.SessionID == sessionID })
}

// CloseUser closes every connection of the interactive user userID (disabled
// or deleted), with DISCONNECT 0x87 on 5.0. It returns the number closed.
func (b *Broker) CloseUser(userID string) int {
	if userID == "" {
		return 0
	}
	return b.closeMatching(mqtt.ReasonNotAuthorized, func(p *vcd.Principal) bool {
		return p.Kind == vcd.PrincipalUser && p.UserID == userID
	})
}

// CloseOrg closes every connection of principals of the org orgID (disabled
// or deleted), with DISCONNECT 0x87 on 5.0. It returns the number closed.
func (b *Broker) CloseOrg(orgID string) int {
	if orgID == "" {
		return 0
	}
	return b.closeMatching(mqtt.ReasonNotAuthorized, func(p *vcd.Principal) bool { return p.OrgID == orgID })
}

// ClosePrincipal closes every connection of the user or service account
// whose id is id (for a service account: deletion, disabling or secret
// rotation), with DISCONNECT 0x87 on 5.0. It returns the number closed.
func (b *Broker) ClosePrincipal(id string) int {
	if id == "" {
		return 0
	}
	return b.closeMatching(mqtt.ReasonNotAuthorized, func(p *vcd.Principal) bool { return p.UserID == id })
}

// Close stops accepting connections, sends MQTT 5.0 clients DISCONNECT 0x8B
// (server shutting down), closes every connection and waits until all of the
// broker's goroutines have returned, or ctx is done (then it returns ctx's
// error; the connections are closed but may still be winding down). Close
// may be called more than once.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.closeCh)
	}
	for c := range b.conns {
		c.closeWith(mqtt.ReasonServerShuttingDown)
	}
	b.mu.Unlock()

	done := make(chan struct{})
	go func() { // exits when every connection has ended
		b.wg.Wait()
		b.pollOnce.Do(func() {}) // no poller starts any more
		if b.poll != nil {
			b.poll.stop()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isClosed reports whether Close was called.
func (b *Broker) isClosed() bool {
	select {
	case <-b.closeCh:
		return true
	default:
		return false
	}
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Connections      int64 // established (CONNACK 0x00 sent) and still open
	ConnectionsTotal int64 // established since New
	Subscriptions    int64 // filters held by open sessions
	MessagesIn       int64 // PUBLISH packets from clients that were stored
	MessagesRouted   int64 // messages given to Deliver
	MessagesOut      int64 // PUBLISH packets written to clients
	Drops            Drops
	SessionsResumed  int64 // persistent sessions resumed with session present 1
	SessionsBehind   int64 // times a persistent session's queue filled and it went back to the log
	SessionsLost     int64 // log sequences a resuming session lost to retention (an upper bound)
	MessagesReplayed int64 // backlog messages queued by resuming persistent sessions
	ConnectsRefused  int64 // CONNECTs answered with a refusing CONNACK
	// Groups counts established connections by transport and authentication
	// form: every combination, in a fixed order.
	Groups []ConnGroup
}

// ConnGroup counts the established connections of one transport and one
// authentication form (VCD-COMPAT §6.2).
type ConnGroup struct {
	Transport string // "tcp" or "websocket"
	Auth      string // "bearer" (form A), "jwt_password" (form B), "service_account" (form C)
	Open      int64
	Total     int64
}

// Transports and authentication forms, as indexes of the group counters.
const (
	transportTCP uint8 = iota
	transportWebSocket
	nTransports
)

const (
	formBearer uint8 = iota
	formJWTPassword
	formServiceAccount
	nForms
)

var (
	transportNames = [nTransports]string{"tcp", "websocket"}
	formNames      = [nForms]string{"bearer", "jwt_password", "service_account"}
)

// Drops counts messages not delivered or not accepted, by reason.
type Drops struct {
	QueueFullQoS0 int64 // QoS 0 delivery dropped: the session's queue was full
	QueueFullQoS1 int64 // QoS 1 or 2 delivery dropped on a clean session: queue full
	TooLarge      int64 // delivery larger than the client's Maximum Packet Size
	InboundDenied int64 // QoS 0 PUBLISH from a client refused (not allowed, invalid)
}

type counters struct {
	connections, connectionsTotal, subscriptions atomic.Int64
	messagesIn, messagesRouted, messagesOut      atomic.Int64
	dropQoS0, dropQoS1, dropTooLarge, dropIn     atomic.Int64
	sessionsResumed, sessionBehind, sessionLost  atomic.Int64
	messagesReplayed, connectsRefused            atomic.Int64
	groupOpen, groupTotal                        [nTransports][nForms]atomic.Int64
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	s := &b.stats
	return Stats{
		Connections:      s.connections.Load(),
		ConnectionsTotal: s.connectionsTotal.Load(),
		Subscriptions:    s.subscriptions.Load(),
		MessagesIn:       s.messagesIn.Load(),
		MessagesRouted:   s.messagesRouted.Load(),
		MessagesOut:      s.messagesOut.Load(),
		Drops: Drops{
			QueueFullQoS0: s.dropQoS0.Load(),
			QueueFullQoS1: s.dropQoS1.Load(),
			TooLarge:      s.dropTooLarge.Load(),
			InboundDenied: s.dropIn.Load(),
		},
		SessionsResumed:  s.sessionsResumed.Load(),
		SessionsBehind:   s.sessionBehind.Load(),
		SessionsLost:     s.sessionLost.Load(),
		MessagesReplayed: s.messagesReplayed.Load(),
		ConnectsRefused:  s.connectsRefused.Load(),
		Groups:           s.groups(),
	}
}

func (s *counters) groups() []ConnGroup {
	g := make([]ConnGroup, 0, int(nTransports)*int(nForms))
	for t := range nTransports {
		for f := range nForms {
			g = append(g, ConnGroup{Transport: transportNames[t], Auth: formNames[f],
				Open: s.groupOpen[t][f].Load(), Total: s.groupTotal[t][f].Load()})
		}
	}
	return g
}
