package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// reasonNone closes a connection without sending DISCONNECT (the client
// disconnected, or the network failed). Other close reasons are 5.0 reason
// codes, sent in a DISCONNECT before closing a 5.0 connection.
const reasonNone int32 = 0x100

// closeGrace is how long a connection asked to close may take to flush
// what its writer is writing and send the 5.0 DISCONNECT before the net.Conn
// is closed under it: a client that does not read cannot hold a revoked
// connection open for WriteTimeout (VCD-COMPAT §6.7).
const closeGrace = 500 * time.Millisecond

// maxClientIDBytes is the longest client identifier accepted (VCD-COMPAT §6.5).
const maxClientIDBytes = 128

// conn is one network connection running MQTT. Its reader is the goroutine
// that called ServeConn, or for a parked WebSocket connection the one that
// resumed it (park.go); a writer goroutine (writeRun) runs while there is
// something to write, and the last one, when ctx is done, closes writerDone,
// which the connection's end waits for.
type conn struct {
	b        *Broker
	nc       net.Conn
	pre      *vcd.Principal
	ctx      context.Context // done when the connection is to close
	cancel   context.CancelFunc
	reason   atomic.Int32 // why it closes: -1 unset, a reason code, or reasonNone
	start    time.Time    // monotonic base for lastRead
	logger   *slog.Logger
	id       uint64                       // conn_id in log records
	identity atomic.Pointer[connIdentity] // set when CONNECT is accepted, for log records

	// Set during CONNECT, read-only afterwards (principal is read by
	// closeMatching from other goroutines, hence atomic).
	principal  atomic.Pointer[vcd.Principal]
	version    byte
	key        sessionKey
	registered bool // written under b.mu, only by this connection's goroutine
	s          *session
	maxOut     int  // the client's Maximum Packet Size, 0 for none
	noProblems bool // 5.0 Request Problem Information 0: no Reason String on acknowledgements
	keepAlive  time.Duration
	transport  uint8         // transportTCP or transportWebSocket, set before serve
	form       uint8         // the authentication form, set by authenticate
	touch      bool          // the principal came from Authenticator
	connack    *mqtt.Connack // the accepting CONNACK, from handshake to serve
	will       *mqtt.Will    // published unless the client disconnects normally

	r          *mqtt.Reader
	lastRead   atomic.Int64 // time since start of the last packet read
	writerDone chan struct{}
	wrun       atomic.Bool // a writer goroutine runs, or may not start yet (see kick)
	wdirty     atomic.Bool // work was signalled since the writer last looked

	// Set by serve for run and end.
	hook      atomic.Int32  // the close hook's state: hookNone, hookHandshake, …
	graceDone chan struct{} // closed when closing has run
	timers    []*time.Timer // keepalive and token expiry

	// Parking (park.go).
	raw         syscall.RawConn     // the socket to watch, nil when the connection never parks
	pstate      atomic.Int32        // readerActive or readerParked
	pollID      uint64              // key in the poller, assigned at the first park
	pollAdded   bool                // the socket is in the poller's epoll set; reader only
	awaitingRel map[uint16]struct{} // inbound QoS 2 ids stored, awaiting PUBREL; reader only, nil until the first
	lastTouch   time.Time           // reader only
	pipe        *pipeline           // pipelined appends (pipeline.go); reader only, nil until the first

	// Persistent sessions (persist.go).
	expiry      time.Duration  // how long the session outlives the connection; 0 for a clean session
	prev        *conn          // the connection this one took over, until openSession has waited for it
	saved       chan struct{}  // closed when cleanup has saved (or dropped) the session
	loopDone    chan struct{}  // closed when sessionLoop returns; nil when it never ran
	rev         uint64         // the stored record's revision; written under persistState.save (lockSave)
	lastSave    atomic.Int64   // UnixNano of the last save: written under persistState.save, read by the session loop without it
	closeExpiry *time.Duration // a 5.0 DISCONNECT's new expiry; reader only
	replayed    int            // messages the running catchUp queued; session loop only
}

func newConn(ctx context.Context, b *Broker, nc net.Conn, pre *vcd.Principal) *conn {
	c := &conn{
		b:          b,
		nc:         nc,
		pre:        pre,
		start:      time.Now(),
		id:         b.connSeq.Add(1),
		writerDone: make(chan struct{}),
		saved:      make(chan struct{}),
	}
	c.wrun.Store(true) // no writer before the CONNACK is written
	c.ctx, c.cancel = context.WithCancel(ctx)
	if ctx.Done() != nil {
		// A cancellable parent (ServeConn's contract) fires the close hook
		// too, until the connection's own cancel unregisters it. The
		// WebSocket handler's parent is not cancellable and costs nothing.
		cancel := c.cancel
		stop := context.AfterFunc(ctx, func() { c.closeReason(-1) })
		c.cancel = func() { cancel(); stop() }
	}
	c.reason.Store(-1)
	c.logger = newConnLogger(b.logger, c)
	return c
}

// The close hook: what a request to close the connection sets off besides
// cancelling ctx. It is a state word rather than a context.AfterFunc because
// those cost each of tens of thousands of idle connections a registration
// map in its context (about 600 bytes, issue 7).
const (
	hookNone      int32 = iota // no hook armed
	hookHandshake              // during CONNECT: close nc, to unblock the read
	hookClosing                // after CONNACK: run closing
	hookFired                  // the hook has started
	hookStopped                // end stopped the closing hook before it fired
)

// armHook arms the hook h (from hookNone) and fires it at once if the
// connection was already asked to close.
func (c *conn) armHook(h int32) {
	c.hook.Store(h)
	if c.ctx.Err() != nil {
		c.fireHook()
	}
}

// fireHook starts the armed hook, once, on a goroutine of its own (closing
// and even a TLS nc.Close may block, and closeWith must not).
func (c *conn) fireHook() {
	switch {
	case c.hook.CompareAndSwap(hookHandshake, hookFired):
		go func() { _ = c.nc.Close() }()
	case c.hook.CompareAndSwap(hookClosing, hookFired):
		go c.closing()
	}
}

// disarmHook stops the armed hook h and reports whether it had not fired.
func (c *conn) disarmHook(h, to int32) bool { return c.hook.CompareAndSwap(h, to) }

// closeWith asks the connection to close; the first reason given wins. It
// never blocks, so it may be called with any lock held.
func (c *conn) closeWith(r mqtt.ReasonCode) { c.closeReason(int32(r)) }

func (c *conn) closeReason(r int32) {
	c.reason.CompareAndSwap(-1, r)
	c.cancel()
	c.fireHook()
}

func (c *conn) principalOrNil() *vcd.Principal { return c.principal.Load() }

// code picks the reason code for the connection's protocol version.
func (c *conn) code(v5, v311 mqtt.ReasonCode) mqtt.ReasonCode {
	if c.version == mqtt.Version5 {
		return v5
	}
	return v311
}

// serve runs the connection: CONNECT, then the read loop, then the end. It
// reports true when the connection parked (park.go): another goroutine
// resumes and ends it then.
func (c *conn) serve() (parked bool) {
	c.r = mqtt.NewReader(c.nc, c.b.cfg.MaxPacketBytes)

	// Until the writer exists nothing else closes nc, so a close request
	// (Close, revocation, takeover) during the handshake closes it directly to
	// unblock the read.
	c.armHook(hookHandshake)
	ok := c.handshake()
	if !c.disarmHook(hookHandshake, hookNone) || !ok {
		_ = c.nc.Close()
		c.cleanup()
		c.cancel()
		return false
	}
	// The CONNACK leaves only once the hook is stopped: a takeover or
	// revocation from now on reaches the writer, which sends the 5.0
	// DISCONNECT, instead of closing nc without one.
	c.writeNow(c.connack, c.version)
	c.connack = nil

	if c.transport == transportWebSocket && c.b.cfg.ParkAfter > 0 && c.b.poller() != nil {
		c.raw = rawConnOf(c.nc) // parkable (park.go)
	}
	// From now on a writer goroutine runs whenever there is something to
	// write (kick), and once more when the connection is asked to close
	// (closing).
	c.wrun.Store(false)
	c.kick()
	c.graceDone = make(chan struct{})
	c.armHook(hookClosing)
	if c.persistent() {
		// Replays the backlog and saves the session; exits when ctx is done.
		c.loopDone = make(chan struct{})
		go c.sessionLoop()
	}
	if c.keepAlive > 0 {
		c.timers = append(c.timers, c.startKeepAlive())
	}
	if p := c.principal.Load(); !p.ExpiresAt.IsZero() {
		// Token expiry while connected (VCD-COMPAT §6.7).
		c.timers = append(c.timers, time.AfterFunc(p.ExpiresAt.Sub(c.b.cfg.Now()), func() {
			c.logger.Debug("token expired, closing")
			c.closeWith(mqtt.ReasonMaximumConnectTime)
		}))
	}
	return c.run(false)
}

// closing runs once the connection is asked to close (the close hook, on a
// goroutine of its own). It starts the writer that sends the 5.0
// DISCONNECT, resumes a parked reader (which has no other way to notice),
// and gives the writer closeGrace to finish before closing nc under a Write
// that a client which does not read keeps blocked. It exits when the writer
// is done or the grace has passed; end waits for it.
func (c *conn) closing() {
	defer close(c.graceDone)
	c.kick()
	if c.raw != nil {
		c.unpark()
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-c.writerDone:
	case <-t.C:
		c.logger.Debug("writer blocked, closing connection")
		_ = c.nc.Close()
	}
}

// run reads packets until the connection parks (true) or ends; then it ends
// the connection (false). resumed is true when a parked connection resumes.
func (c *conn) run(resumed bool) (parked bool) {
	if c.readLoop(resumed) {
		return true
	}
	c.end()
	return false
}

// end waits for the connection's other goroutines and cleans up.
func (c *conn) end() {
	c.closeReason(reasonNone)
	c.stopPipe()
	<-c.writerDone
	if c.loopDone != nil {
		<-c.loopDone
	}
	if !c.disarmHook(hookClosing, hookStopped) {
		<-c.graceDone
	}
	for _, t := range c.timers {
		t.Stop()
	}
	if c.raw != nil {
		c.b.poller().forget(c)
	}
	c.cleanup()
	c.cancel()
	// Nothing reads any more: the read buffers go back to their pools. A
	// connection that ends before it first parks, as a connect storm's do,
	// would otherwise leave about 8 KB to the collector.
	if ws, ok := c.nc.(*wsConn); ok {
		ws.release()
	}
	c.r.Release()
}

// cleanup removes the session's subscriptions and registration and publishes
// the will if the connection did not end normally.
func (c *conn) cleanup() {
	defer close(c.saved)
	if c.persistent() && c.registered {
		c.closeSession()
	}
	if c.s != nil {
		for f, sub := range c.s.subs {
			c.b.index.Remove(f, sub)
			c.b.stats.subscriptions.Add(-1)
		}
		clear(c.s.subs)
		c.s.nNoLocal = 0
		c.s.close()
		c.b.originMu.Lock()
		c.b.removeOrigins(func(o *origin) bool { return o.s == c.s })
		c.b.originMu.Unlock()
	}
	if c.will != nil && c.registered {
		switch mqtt.ReasonCode(c.reason.Load()) {
		case mqtt.ReasonNotAuthorized, mqtt.ReasonMaximumConnectTime:
			// The principal is no longer trusted; its will is not published.
		default:
			c.publishWill()
		}
	}
	c.b.unregister(c)
	c.logger.Debug("connection closed", logKeyReason, c.reason.Load())
}

// refuse sends a CONNACK refusal and reports false for handshake to return.
func (c *conn) refuse(code mqtt.ReasonCode, why string) bool {
	c.logger.Debug("connect refused", logKeyReason, why, "code", byte(code))
	c.b.stats.connectsRefused.Add(1)
	c.writeNow(&mqtt.Connack{ReasonCode: code}, c.version)
	return false
}

// writeNow writes one packet directly; only before the writer exists.
func (c *conn) writeNow(p mqtt.Packet, version byte) {
	buf, err := p.Append(nil, version)
	if err != nil {
		c.logger.Error("encode packet", logKeyErr, err)
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.WriteTimeout))
	_, _ = c.nc.Write(buf)
}

// handshake reads CONNECT and answers a refusal. It reports whether the
// connection is established; serve then sends c.connack (0x00).
func (c *conn) handshake() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.b.cfg.ConnectTimeout))
	pkt, err := c.r.ReadPacket()
	if errors.Is(err, mqtt.ErrUnsupportedProtocolVersion) {
		// MQTT 3.1 ("MQIsdp", level 3) and unknown levels: CONNACK 0x01 in
		// 3.1.1 format, then close [MQTT-3.1.2-2] (VCD-COMPAT §6.1).
		c.version = mqtt.Version311
		return c.refuse(mqtt.ConnRefusedProtocolVersion, "unsupported protocol version")
	}
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.logger.Debug("connect failed", logKeyErr, err)
		}
		return false
	}
	cp, ok := pkt.(*mqtt.Connect)
	if !ok {
		// The first packet must be CONNECT [MQTT-3.1.0-1].
		c.logger.Debug("first packet not connect", "type", pkt.Type().String())
		return false
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.version = cp.ProtocolVersion
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second

	if c.version == mqtt.Version5 && cp.Props != nil && cp.Props.AuthenticationMethod != "" {
		return c.refuse(mqtt.ReasonBadAuthenticationMethod, "authentication method")
	}
	clientID := cp.ClientID
	assigned := ""
	switch {
	case len(clientID) > maxClientIDBytes:
		return c.refuse(c.code(mqtt.ReasonClientIdentifierNotValid, mqtt.ConnRefusedIdentifierRejected), "client id too long")
	case clientID == "" && !cp.CleanStart && c.version == mqtt.Version311:
		return c.refuse(mqtt.ConnRefusedIdentifierRejected, "empty client id without clean session") // [MQTT-3.1.3-8]
	case clientID == "":
		clientID = newClientID() // [MQTT-3.1.3-6]
		assigned = clientID
	}

	p, code, why := c.authenticate(cp)
	if code != 0 {
		return c.refuse(code, why)
	}
	if !p.ExpiresAt.IsZero() && !c.b.cfg.Now().Before(p.ExpiresAt) {
		return c.refuse(c.code(mqtt.ReasonBadUserNameOrPassword, mqtt.ConnRefusedNotAuthorized), "token expired")
	}
	if cp.Will != nil {
		// A will is accepted only where the principal may publish (VCD-COMPAT §6.4).
		if !topic.CanPublish(p, cp.Will.Topic).Allowed() {
			return c.refuse(c.code(mqtt.ReasonNotAuthorized, mqtt.ConnRefusedNotAuthorized), "will topic not allowed")
		}
		if cp.Will.Retain && c.b.cfg.Retained == nil && c.version == mqtt.Version5 && !topic.InNotificationSpace(cp.Will.Topic) {
			return c.refuse(mqtt.ReasonRetainNotSupported, "will retain not available") // MQTT 5.0 §3.1.2.7
		}
		c.will = cp.Will
	}
	c.principal.Store(&p)
	c.identity.Store(&connIdentity{clientID: clientID, user: p.UserName, org: p.OrgName})

	maxInflight := c.b.cfg.MaxInflight
	if c.version == mqtt.Version5 && cp.Props != nil {
		if rm := cp.Props.ReceiveMaximum; rm != nil && int(*rm) < maxInflight {
			maxInflight = int(*rm)
		}
		if mp := cp.Props.MaximumPacketSize; mp != nil {
			c.maxOut = int(*mp)
		}
		if rp := cp.Props.RequestProblemInformation; rp != nil && !*rp {
			c.noProblems = true
		}
	}
	c.key = sessionKey{principal: principalKey{kind: p.Kind, id: p.UserID}, clientID: clientID}
	c.s = newSession(c.b, maxInflight)
	c.s.wake = c.kick

	// Persistent sessions (VCD-COMPAT §6.6) need Config.Sessions and
	// Config.Backlog; without them every session is clean, with session
	// present 0.
	expiry, lowered := c.sessionExpiry(cp)
	c.expiry = expiry
	if !c.b.register(c) {
		return c.refuse(c.code(mqtt.ReasonQuotaExceeded, mqtt.ConnRefusedServerUnavailable), "too many connections")
	}
	present, note, code := c.openSession(cp)
	if code != 0 {
		return c.refuse(code, "session store unavailable")
	}
	if c.touch && c.b.authn != nil {
		c.b.authn.Touch(c.ctx, p)
		c.lastTouch = time.Now()
	}

	retainAvailable := c.b.cfg.Retained != nil
	ack := &mqtt.Connack{ReasonCode: mqtt.ReasonSuccess, SessionPresent: present} // [MQTT-3.2.2-2], [MQTT-3.2.2-3]
	if c.version == mqtt.Version5 {
		recvMax := uint16(c.b.cfg.ReceiveMaximum)
		maxPacket := uint32(c.b.cfg.MaxPacketBytes)
		var zero16 uint16
		no, yes := false, true
		ack.Props = &mqtt.Properties{
			AssignedClientIdentifier:        assigned,
			ReceiveMaximum:                  &recvMax,
			MaximumPacketSize:               &maxPacket,
			TopicAliasMaximum:               &zero16, // the server uses no topic aliases
			RetainAvailable:                 &retainAvailable,
			WildcardSubscriptionAvailable:   &yes,
			SubscriptionIdentifierAvailable: &yes,
			SharedSubscriptionAvailable:     &no,
		}
		if se := cp.Props; se != nil && se.SessionExpiryInterval != nil && *se.SessionExpiryInterval != 0 && (c.expiry == 0 || lowered) {
			// Without a session store sessions end with the connection; with
			// one, the interval is capped at Config.SessionRetention.
			v := uint32(c.expiry / time.Second)
			ack.Props.SessionExpiryInterval = &v
		}
		ack.Props.ReasonString = note
	}
	c.connack = ack
	c.logger.Debug("connected", "version", c.version, "keepalive", cp.KeepAlive)
	return true
}

// authenticate resolves CONNECT credentials by the forms of VCD-COMPAT §6.2.
// It returns a non-zero CONNACK code when the connection is refused.
func (c *conn) authenticate(cp *mqtt.Connect) (vcd.Principal, mqtt.ReasonCode, string) {
	if c.pre != nil { // form A: the upgrade's Bearer token decides; CONNECT credentials are ignored
		c.touch = true
		c.form = formBearer
		return *c.pre, 0, ""
	}
	notAuthorized := c.code(mqtt.ReasonNotAuthorized, mqtt.ConnRefusedNotAuthorized)
	bad := c.code(mqtt.ReasonBadUserNameOrPassword, mqtt.ConnRefusedNotAuthorized)
	unavailable := c.code(mqtt.ReasonServerUnavailable, mqtt.ConnRefusedServerUnavailable)
	if !cp.PasswordFlag || len(cp.Password) == 0 {
		return vcd.Principal{}, notAuthorized, "no credentials"
	}
	fail := func(err error) (vcd.Principal, mqtt.ReasonCode, string) {
		if vcd.CodeOf(err) == vcd.CodeUnauthorized {
			return vcd.Principal{}, bad, "bad credentials"
		}
		c.logger.Error("authenticate", logKeyErr, err)
		return vcd.Principal{}, unavailable, "authentication unavailable"
	}
	user := cp.Username
	if user != "" && !strings.Contains(user, "@") { // form C: a service account
		if c.b.svc == nil {
			return vcd.Principal{}, bad, "no service accounts"
		}
		p, err := c.b.svc.AuthenticateService(c.ctx, user, string(cp.Password))
		if err != nil {
			return fail(err)
		}
		c.form = formServiceAccount
		return p, 0, ""
	}
	// Form B: the JWT decides the identity; a username must name the same user.
	if c.b.authn == nil {
		return vcd.Principal{}, bad, "no authenticator"
	}
	p, err := c.b.authn.Authenticate(c.ctx, string(cp.Password))
	if err != nil {
		return fail(err)
	}
	if user != "" {
		i := strings.LastIndexByte(user, '@')
		if !strings.EqualFold(user[:i], p.UserName) || !strings.EqualFold(user[i+1:], p.OrgName) {
			return vcd.Principal{}, bad, "username does not match token"
		}
	}
	c.touch = true
	c.form = formJWTPassword
	return p, 0, ""
}

// newClientID returns a random server-assigned client identifier.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "herald-" + hex.EncodeToString(b[:])
}

// startKeepAlive closes the connection when no packet arrives for 1.5 times
// the keep-alive [MQTT-3.1.2-24]. The timer re-arms itself from the time of
// the last packet, so reads never need a deadline.
func (c *conn) startKeepAlive() *time.Timer {
	grace := c.keepAlive * 3 / 2
	var t *time.Timer
	t = time.AfterFunc(grace, func() {
		idle := time.Since(c.start) - time.Duration(c.lastRead.Load())
		if idle >= grace {
			c.logger.Debug("keepalive timeout")
			c.closeWith(mqtt.ReasonKeepAliveTimeout)
			return
		}
		t.Reset(grace - idle)
	})
	return t
}

// readLoop handles packets until the connection ends (false) or parks
// (true, see tryPark).
// A resumed connection's socket is readable (or closing): it reads first,
// or it would park again at once.
func (c *conn) readLoop(resumed bool) (parked bool) {
	for {
		if c.ctx.Err() != nil {
			return false
		}
		if !resumed && c.tryPark() {
			return true
		}
		resumed = false
		pkt, err := c.r.ReadPacket()
		if err != nil {
			c.readError(err)
			return false
		}
		c.lastRead.Store(int64(time.Since(c.start)))
		if c.touch && c.b.authn != nil && time.Since(c.lastTouch) >= c.b.cfg.TouchInterval {
			c.b.authn.Touch(c.ctx, *c.principal.Load())
			c.lastTouch = time.Now()
		}
		if !c.handle(pkt) {
			return false
		}
	}
}

// readError ends the connection after a read failed.
func (c *conn) readError(err error) {
	if c.ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		c.closeReason(reasonNone)
		return
	}
	var pe *mqtt.ProtocolError
	if errors.As(err, &pe) {
		// Malformed, protocol error, packet too large: 5.0 says why [MQTT-4.13.1-1].
		c.logger.Warn("protocol error", logKeyErr, err)
		c.closeWith(pe.Reason)
		return
	}
	c.logger.Debug("read failed", logKeyErr, err)
	c.closeReason(reasonNone)
}

// protocolError closes the connection with reason (DISCONNECT on 5.0).
func (c *conn) protocolError(reason mqtt.ReasonCode, why string) bool {
	c.logger.Warn("protocol error", logKeyReason, why, "code", byte(reason))
	c.closeWith(reason)
	return false
}

// handle processes one packet; false ends the read loop.
func (c *conn) handle(pkt mqtt.Packet) bool {
	switch p := pkt.(type) {
	case *mqtt.Publish:
		return c.onPublish(p)
	case *mqtt.Puback:
		c.onAck(mqtt.TypePuback, p.PacketID, 0)
	case *mqtt.Pubrec:
		if c.onAck(mqtt.TypePubrec, p.PacketID, p.ReasonCode) {
			if !p.ReasonCode.IsError() {
				c.s.queueCtrl(&mqtt.Pubrel{PacketID: p.PacketID}, c.version)
			}
		} else if !p.ReasonCode.IsError() {
			c.s.queueCtrl(&mqtt.Pubrel{PacketID: p.PacketID, ReasonCode: mqtt.ReasonPacketIdentifierNotFound}, c.version)
		}
	case *mqtt.Pubcomp:
		c.onAck(mqtt.TypePubcomp, p.PacketID, 0)
	case *mqtt.Pubrel:
		rc := mqtt.ReasonSuccess
		if _, ok := c.awaitingRel[p.PacketID]; ok {
			delete(c.awaitingRel, p.PacketID)
		} else {
			rc = mqtt.ReasonPacketIdentifierNotFound
		}
		c.s.queueCtrl(&mqtt.Pubcomp{PacketID: p.PacketID, ReasonCode: rc}, c.version)
	case *mqtt.Subscribe:
		return c.onSubscribe(p)
	case *mqtt.Unsubscribe:
		return c.onUnsubscribe(p)
	case *mqtt.Pingreq:
		c.s.queueCtrl(&mqtt.Pingresp{}, c.version)
	case *mqtt.Disconnect:
		if p.ReasonCode != mqtt.ReasonDisconnectWithWillMessage {
			c.will = nil // a normal disconnect discards the will [MQTT-3.1.2-10]
		}
		if c.persistent() && p.Props != nil && p.Props.SessionExpiryInterval != nil {
			// 5.0 may change the expiry at DISCONNECT (not from 0: the session is
			// not persistent then); closeSession applies it.
			d := min(time.Duration(*p.Props.SessionExpiryInterval)*time.Second, c.b.cfg.SessionRetention)
			c.closeExpiry = &d
		}
		c.closeReason(reasonNone)
		return false
	case *mqtt.Connect:
		return c.protocolError(mqtt.ReasonProtocolError, "second connect") // [MQTT-3.1.0-2]
	case *mqtt.Auth:
		return c.protocolError(mqtt.ReasonProtocolError, "auth without authentication method")
	default:
		return c.protocolError(mqtt.ReasonProtocolError, "unexpected "+pkt.Type().String())
	}
	return true
}

// onAck applies an acknowledgement of an outbound message.
func (c *conn) onAck(t mqtt.Type, id uint16, reason mqtt.ReasonCode) bool {
	found := c.s.ack(t, id, reason)
	if !found {
		c.logger.Debug("acknowledgement for unknown packet id", "type", t.String(), "packet_id", id)
	}
	return found
}

// onSubscribe authorizes each filter on its own (VCD-COMPAT §7.2, §7.3),
// makes the granted ones durable for a persistent session (commitSubs),
// answers SUBACK and then queues the retained messages the new
// subscriptions receive. A subscription that could not be stored is refused
// with 0x80 (Unspecified error; 3.1.1's Failure) and the session keeps its
// previous subscriptions: a SUBACK never claims what a resumption elsewhere
// would not find.
func (c *conn) onSubscribe(sp *mqtt.Subscribe) bool {
	var id uint32
	if sp.Props != nil && len(sp.Props.SubscriptionIdentifiers) > 0 {
		// At most one, 1 to 268435455: the codec checked. It belongs to every
		// filter of this SUBSCRIBE (MQTT 5.0 §3.8.2.1.2).
		id = sp.Props.SubscriptionIdentifiers[0]
	}
	codes := make([]mqtt.ReasonCode, len(sp.Subscriptions))
	plan := make([]subChange, 0, len(sp.Subscriptions))
	for i, sub := range sp.Subscriptions {
		ch, code := c.planSubscribe(sub, id, plan)
		codes[i] = code
		if ch.ns != nil {
			plan = append(plan, ch)
		}
	}
	var retained []*subscription
	ok := c.commitSubs(plan, func() {
		for _, ch := range plan {
			c.applySub(ch)
			if c.b.cfg.Retained == nil {
				continue
			}
			// Retain Handling [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11]:
			// 0 sends at every subscribe, 1 only for a new subscription, 2 never.
			// 3.1.1 always sends.
			if rh := ch.ns.rh; c.version != mqtt.Version5 || rh == 0 || (rh == 1 && ch.old == nil) {
				retained = append(retained, ch.ns)
			}
		}
	})
	if !ok {
		for i, code := range codes {
			if !code.IsError() {
				codes[i] = mqtt.ReasonUnspecifiedError
			}
		}
	}
	var entries []entry
	if len(retained) > 0 {
		entries = c.retainedFor(retained)
	}
	c.s.queueCtrl(&mqtt.Suback{PacketID: sp.PacketID, ReasonCodes: codes}, c.version, entries...)
	return true
}

// subChange is one planned change to a session's subscriptions: filter f
// gets ns (nil: it is removed), replacing old (nil: f is new).
type subChange struct {
	f       string
	old, ns *subscription
}

// retainedFor returns the deliveries, to queue right after the SUBACK, of the
// retained messages matching subs: RETAIN=1 [MQTT-3.3.1-9], each at the lower
// of its QoS and the subscription's. The subscriptions are already in the
// index, so a message retained meanwhile is delivered live or retained,
// perhaps both, never missed.
func (c *conn) retainedFor(subs []*subscription) []entry {
	var out []entry
	for _, r := range c.b.cfg.Retained.Retained() {
		if len(r.Payload) == 0 || topic.InNotificationSpace(r.Topic) {
			continue // nothing is retained there (VCD-COMPAT §6.4)
		}
		var m *message
		for _, sub := range subs {
			if !topic.Match(sub.filter, r.Topic) {
				continue
			}
			if m == nil {
				m = &message{topic: r.Topic, payload: r.Payload}
			}
			e := entry{m: m, qos: min(r.QoS, sub.qos), retain: true}
			if sub.id != 0 {
				e.ids[0], e.nids = sub.id, 1 // one PUBLISH per subscription [MQTT-3.3.4-5]
			}
			out = append(out, e)
		}
	}
	return out
}

// subscribe adds one filter with the SUBSCRIBE's identifier id (0: none) at
// once, without storing the session (restoreSubs, which saves after). It
// returns the subscription (nil when refused) and the SUBACK code.
func (c *conn) subscribe(sub mqtt.Subscription, id uint32) (*subscription, mqtt.ReasonCode) {
	ch, code := c.planSubscribe(sub, id, nil)
	if ch.ns != nil {
		c.applySub(ch)
	}
	return ch.ns, code
}

// current returns the subscription filter f has once plan is applied.
func (c *conn) current(f string, plan []subChange) *subscription {
	for i := len(plan) - 1; i >= 0; i-- {
		if plan[i].f == f {
			return plan[i].ns
		}
	}
	return c.s.subs[f]
}

// planSubscribe checks one filter of a SUBSCRIBE, with identifier id (0:
// none), against the session as plan (the earlier filters of the same
// packet) leaves it, and returns the change (ns nil when refused) and the
// SUBACK code. It changes nothing. In 3.1.1 every failure is encoded as 0x80.
func (c *conn) planSubscribe(sub mqtt.Subscription, id uint32, plan []subChange) (subChange, mqtt.ReasonCode) {
	f := sub.Filter
	if strings.HasPrefix(f, "$share/") {
		return subChange{}, mqtt.ReasonSharedSubscriptionsNotSupported
	}
	p := c.principal.Load()
	switch d := topic.CanSubscribe(*p, f); d {
	case topic.Malformed:
		c.logger.Debug("subscribe malformed", logKeyFilter, f)
		return subChange{}, mqtt.ReasonTopicFilterInvalid
	case topic.Denied:
		c.logger.Debug("subscribe denied", logKeyFilter, f)
		return subChange{}, mqtt.ReasonNotAuthorized
	case topic.GrantedNeverMatches:
		c.logger.Warn("subscription can never match", logKeyFilter, f)
	}
	old := c.current(f, plan)
	if old == nil {
		n := len(c.s.subs)
		for _, ch := range plan {
			if ch.old == nil && ch.ns != nil {
				n++
			}
		}
		if n >= c.b.cfg.MaxSubscriptionsPerSession {
			return subChange{}, mqtt.ReasonQuotaExceeded
		}
	}
	qos := min(sub.QoS, 2)
	ns := &subscription{s: c.s, filter: f, qos: qos, noLocal: sub.NoLocal, rap: sub.RetainAsPublished, id: id, rh: sub.RetainHandling}
	return subChange{f: f, old: old, ns: ns}, mqtt.ReasonCode(qos)
}

// applySub puts a planned change into the index and the session: a repeated
// filter replaces the subscription [MQTT-3.8.4-3]. Reader goroutine only.
func (c *conn) applySub(ch subChange) {
	if ch.ns != nil {
		c.beforeSubscribe()
		if err := c.b.index.Add(ch.f, ch.ns); err != nil {
			// CanSubscribe refused what the index refuses (Malformed).
			c.logger.Error("index a validated filter", logKeyFilter, ch.f, logKeyErr, err)
			return
		}
		c.s.subs[ch.f] = ch.ns
		if ch.ns.noLocal {
			c.s.nNoLocal++
		}
		if ch.old == nil {
			c.b.stats.subscriptions.Add(1)
		}
	} else {
		delete(c.s.subs, ch.f)
	}
	if ch.old != nil {
		c.b.index.Remove(ch.f, ch.old)
		if ch.old.noLocal {
			c.s.nNoLocal--
		}
		if ch.ns == nil {
			c.b.stats.subscriptions.Add(-1)
		}
	}
}

// onUnsubscribe removes filters by the string they were subscribed with,
// durably for a persistent session before the UNSUBACK (commitSubs). If that
// save fails the subscriptions stay: 5.0 answers 0x80 for each filter that
// existed; 3.1.1, whose UNSUBACK cannot say so, closes the connection
// without one.
func (c *conn) onUnsubscribe(up *mqtt.Unsubscribe) bool {
	ack := &mqtt.Unsuback{PacketID: up.PacketID}
	if c.version == mqtt.Version5 {
		ack.ReasonCodes = make([]mqtt.ReasonCode, len(up.Filters))
	}
	plan := make([]subChange, 0, len(up.Filters))
	for i, f := range up.Filters {
		rc := mqtt.ReasonSuccess
		if old := c.current(f, plan); old != nil {
			plan = append(plan, subChange{f: f, old: old})
		} else {
			rc = mqtt.ReasonNoSubscriptionExisted
		}
		if ack.ReasonCodes != nil {
			ack.ReasonCodes[i] = rc
		}
	}
	ok := c.commitSubs(plan, func() {
		for _, ch := range plan {
			c.applySub(ch)
		}
	})
	if !ok {
		if ack.ReasonCodes == nil {
			c.closeReason(reasonNone)
			return false
		}
		for i, rc := range ack.ReasonCodes {
			if rc == mqtt.ReasonSuccess {
				ack.ReasonCodes[i] = mqtt.ReasonUnspecifiedError
			}
		}
	}
	c.s.queueCtrl(ack, c.version)
	return true
}

// refusePublish answers a PUBLISH that is not accepted (VCD-COMPAT §7.3): 3.1.1
// closes the connection without acknowledgement; 5.0 acknowledges with code,
// or drops a QoS 0 message and counts it.
func (c *conn) refusePublish(p *mqtt.Publish, code mqtt.ReasonCode, why string) bool {
	c.logger.Debug("publish refused", logKeyTopic, p.Topic, logKeyReason, why)
	if c.version != mqtt.Version5 {
		c.closeReason(reasonNone)
		return false
	}
	if p.QoS > 0 && !c.drainPipe() {
		return false // the refusal follows the pipelined acknowledgements
	}
	switch p.QoS {
	case 0:
		c.b.stats.dropIn.Add(1)
	case 1:
		c.s.queueCtrl(&mqtt.Puback{PacketID: p.PacketID, ReasonCode: code, Props: c.reasonString(why)}, c.version)
	case 2:
		c.s.queueCtrl(&mqtt.Pubrec{PacketID: p.PacketID, ReasonCode: code, Props: c.reasonString(why)}, c.version)
	}
	return true
}

// reasonString returns the properties that carry text as the Reason String of a 5.0
// acknowledgement, or nil where the client asked for none (Request Problem
// Information 0 [MQTT-3.1.2-29]) or its Maximum Packet Size leaves no room
// [MQTT-3.4.2-2]. A PUBACK or PUBREC with it takes 10 bytes besides the text.
func (c *conn) reasonString(text string) *mqtt.Properties {
	if c.version != mqtt.Version5 || c.noProblems || text == "" || c.maxOut > 0 && 10+len(text) > c.maxOut {
		return nil
	}
	return &mqtt.Properties{ReasonString: text}
}

// publicReason is what a producer is told of a failed append: the store's message
// for it (vcd.Error.Message), never its internals.
func publicReason(err error) string {
	var ve *vcd.Error
	if errors.As(err, &ve) && ve.Message != "" {
		return ve.Message
	}
	return "the notification could not be stored"
}

// onPublish stores a client's message in the log, if the principal may
// publish it, then acknowledges it; delivery follows from the log's feed.
func (c *conn) onPublish(p *mqtt.Publish) bool {
	if p.Props != nil && p.Props.TopicAlias != nil {
		// Topic Alias Maximum is 0 in CONNACK [MQTT-3.3.2-9].
		return c.protocolError(mqtt.ReasonTopicAliasInvalid, "topic alias")
	}
	if p.Props != nil && len(p.Props.SubscriptionIdentifiers) > 0 {
		return c.protocolError(mqtt.ReasonProtocolError, "subscription identifier from client") // [MQTT-3.3.4-6]
	}
	if err := topic.ValidateTopic(p.Topic); err != nil {
		return c.protocolError(mqtt.ReasonTopicNameInvalid, "invalid topic name") // [MQTT-3.3.2-2]
	}
	pr := c.principal.Load()
	if pr.Kind != vcd.PrincipalService {
		return c.refusePublish(p, mqtt.ReasonNotAuthorized, "interactive users only receive")
	}
	switch topic.CanPublish(*pr, p.Topic) {
	case topic.Denied:
		return c.refusePublish(p, mqtt.ReasonNotAuthorized, "outside publish grants")
	case topic.Malformed:
		return c.refusePublish(p, mqtt.ReasonTopicNameInvalid, "not a notification topic")
	}
	notification := topic.InNotificationSpace(p.Topic)
	// RETAIN=1 on a notification topic is ignored (VCD-COMPAT §6.4); elsewhere
	// it retains the message when the broker has a RetainedStore.
	retain := p.Retain && !notification && c.b.cfg.Retained != nil
	if p.Retain && !notification && c.b.cfg.Retained == nil && c.version == mqtt.Version5 {
		// Retain Available is 0 in CONNACK (MQTT 5.0 §3.2.2.3.5).
		return c.protocolError(mqtt.ReasonRetainNotSupported, "retain not available")
	}
	if p.QoS == 2 {
		if !c.drainPipe() {
			return false // PUBRECs follow the pipelined PUBACKs
		}
		if _, dup := c.awaitingRel[p.PacketID]; dup {
			// Already stored; acknowledge again without storing twice (4.3.3).
			c.s.queueCtrl(&mqtt.Pubrec{PacketID: p.PacketID}, c.version)
			return true
		}
		if len(c.awaitingRel) >= c.b.cfg.ReceiveMaximum {
			return c.protocolError(mqtt.ReasonReceiveMaximumExceeded, "receive maximum exceeded")
		}
	}
	if c.b.log == nil {
		return c.refusePublish(p, mqtt.ReasonImplementationSpecificError, "no log")
	}
	// QoS 0 and 1 are pipelined when the log allows it; anything Deliver must
	// recognise (origin) or that is retained or QoS 2 waits for the pipeline
	// and is stored synchronously.
	al, async := c.b.log.(AsyncLog)
	async = async && !retain && p.QoS < 2 && c.s.nNoLocal == 0
	// The append outlives this packet, whose payload is the Reader's buffer:
	// what it stores is a copy (the canonical one, for a notification), in a
	// pooled buffer when pipelined (the acknowledger returns it).
	var dst *[]byte
	if async {
		dst = payloadBuffers.get()
	}
	payload := p.Payload
	if notification && c.b.cfg.ValidateNotification != nil {
		v, err := c.b.cfg.ValidateNotification(bufOf(dst), p.Topic, payload)
		if err != nil {
			payloadBuffers.put(dst, bufOf(dst))
			return c.refusePublish(p, mqtt.ReasonPayloadFormatInvalid, "invalid envelope")
		}
		payload = v
	} else if async {
		payload = append(bufOf(dst), payload...)
	}
	if async {
		return c.appendPipelined(al, p, payload, dst)
	}
	if !c.drainPipe() {
		return false
	}
	if retain {
		// Retained before it is appended: a subscriber arriving in between gets
		// it as retained and perhaps live too, but never misses it. Both are
		// stored before the acknowledgement.
		if err := c.b.cfg.Retained.SetRetained(c.ctx, p.Topic, payload, p.QoS); err != nil {
			if c.ctx.Err() != nil {
				return false
			}
			if vcd.CodeOf(err) == vcd.CodeInvalid {
				return c.refusePublish(p, mqtt.ReasonTopicNameInvalid, "topic cannot be retained")
			}
			c.logger.Error("store retained message", logKeyErr, err, logKeyTopic, p.Topic)
			return c.refusePublish(p, mqtt.ReasonUnspecifiedError, "retain failed")
		}
	}
	var o *origin
	if retain || c.s.nNoLocal > 0 {
		// Deliver needs to know this message is ours or retained (see origin).
		o = &origin{s: c.s, topic: p.Topic, payload: payload, retain: retain}
		c.b.addOrigin(o)
	}
	seq, err := c.b.log.Append(c.ctx, p.Topic, "", payload)
	if o != nil {
		c.b.originStored(o, seq, err == nil)
	}
	if err != nil {
		if c.ctx.Err() != nil {
			return false
		}
		c.logAppendFailed(err, logKeyTopic, p.Topic)
		return c.refusePublish(p, mqtt.ReasonUnspecifiedError, publicReason(err))
	}
	c.b.stats.messagesIn.Add(1)
	switch p.QoS {
	case 1:
		c.s.queueCtrl(&mqtt.Puback{PacketID: p.PacketID}, c.version)
	case 2:
		if c.awaitingRel == nil {
			c.awaitingRel = make(map[uint16]struct{})
		}
		c.awaitingRel[p.PacketID] = struct{}{}
		c.s.queueCtrl(&mqtt.Pubrec{PacketID: p.PacketID}, c.version)
	}
	return true
}

// publishWill stores the will message after an abnormal end. The principal
// was authorized for its topic at CONNECT.
func (c *conn) publishWill() {
	w := c.will
	if c.b.log == nil {
		return
	}
	payload := w.Payload
	if topic.InNotificationSpace(w.Topic) && c.b.cfg.ValidateNotification != nil {
		v, err := c.b.cfg.ValidateNotification(nil, w.Topic, payload)
		if err != nil {
			c.logger.Warn("will refused", logKeyTopic, w.Topic, logKeyErr, err)
			return
		}
		payload = v
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.b.cfg.WriteTimeout)
	defer cancel()
	if w.Retain && c.b.cfg.Retained != nil && !topic.InNotificationSpace(w.Topic) {
		if err := c.b.cfg.Retained.SetRetained(ctx, w.Topic, payload, w.QoS); err != nil {
			c.logger.Error("store retained will", logKeyErr, err, logKeyTopic, w.Topic)
			return
		}
	}
	if _, err := c.b.log.Append(ctx, w.Topic, "", payload); err != nil {
		c.logger.Error("append will to log", logKeyErr, err, logKeyTopic, w.Topic)
		return
	}
	c.b.stats.messagesIn.Add(1)
}

// bufferPool pools byte buffers, each held in a slot (a *[]byte) so that putting
// one back allocates nothing.
type bufferPool struct{ pool sync.Pool }

// maxPooledBuffer is the largest buffer a pool keeps: a burst does not pin memory.
const maxPooledBuffer = 64 << 10

// get returns a slot holding an empty buffer.
func (bp *bufferPool) get() *[]byte {
	if slot, ok := bp.pool.Get().(*[]byte); ok {
		return slot
	}
	return new([]byte)
}

// put returns slot to the pool holding b emptied: b is the slot's buffer, perhaps
// grown since get. A nil slot is ignored.
func (bp *bufferPool) put(slot *[]byte, b []byte) {
	if slot == nil {
		return
	}
	if cap(b) > maxPooledBuffer {
		b = nil
	}
	*slot = b[:0]
	bp.pool.Put(slot)
}

// bufOf returns the empty buffer of a pooled slot, or nil for none.
func bufOf(slot *[]byte) []byte {
	if slot == nil {
		return nil
	}
	return (*slot)[:0]
}

// payloadBuffers pools the buffers of pipelined appends' payloads (onPublish): the
// acknowledger returns each once its append is stored, when JetStream's client
// has no more use for it.
var payloadBuffers bufferPool

// writeBuffers pools the writers' buffers: an idle connection holds none.
var writeBuffers bufferPool

// kick makes sure a writer goroutine will look at the session's queue: it
// starts one (writeRun) unless one runs, which then looks again. It never
// blocks, so Deliver and the session may call it with their locks held.
func (c *conn) kick() {
	c.wdirty.Store(true)
	if c.wrun.CompareAndSwap(false, true) {
		go c.writeRun()
	}
}

// writeRun is the connection's writer goroutine, started by kick when there
// is work. It drains everything pending into one buffer and writes it with
// one Write (one WebSocket message), so a burst costs one syscall, until
// nothing is left; then it exits, and an idle connection has no writer.
// When the connection is asked to close it sends a 5.0 DISCONNECT with the
// close reason, closes nc and closes writerDone; no writer starts after
// that. A failed write closes the connection too.
func (c *conn) writeRun() {
	bp := writeBuffers.get()
	buf := (*bp)[:0]
	defer func() { writeBuffers.put(bp, buf) }()
	for {
		if c.ctx.Err() != nil {
			// Acknowledgements already queued still go out (a producer's stored
			// messages before a failed one), deliveries do not (a revoked
			// client gets nothing more).
			if buf = c.s.takeCtrl(buf[:0]); len(buf) > 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.WriteTimeout))
				_, _ = c.nc.Write(buf)
			}
			c.finish()
			close(c.writerDone) // wrun stays set: no other writer starts
			return
		}
		c.wdirty.Store(false)
		for more := true; more; {
			var n int
			buf, n, more = c.s.drain(buf[:0], c.version, c.maxOut)
			if len(buf) > 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.WriteTimeout))
				if _, err := c.nc.Write(buf); err != nil {
					c.logger.Debug("write failed", logKeyErr, err)
					c.closeReason(reasonNone)
					break
				}
				c.b.stats.messagesOut.Add(int64(n))
			}
		}
		c.wrun.Store(false)
		// A kick between the drain and here found wrun set: look again.
		if !c.wdirty.Load() && c.ctx.Err() == nil {
			return
		}
		if !c.wrun.CompareAndSwap(false, true) {
			return // a kick started another writer
		}
	}
}

// finish sends the 5.0 DISCONNECT for the close reason, if any, and closes nc.
func (c *conn) finish() {
	// Done without a reason: the ServeConn context was cancelled, a shutdown.
	c.reason.CompareAndSwap(-1, int32(mqtt.ReasonServerShuttingDown))
	r := c.reason.Load()
	if c.version == mqtt.Version5 && r >= 0 && r < reasonNone {
		d := &mqtt.Disconnect{ReasonCode: mqtt.ReasonCode(r)}
		// A DISCONNECT may carry a Reason String whatever the client's Request Problem
		// Information [MQTT-3.1.2-29].
		text := disconnectReasons[d.ReasonCode]
		if text == "" {
			text = d.ReasonCode.String()
		}
		d.Props = &mqtt.Properties{ReasonString: text}
		c.writeNow(d, c.version)
	}
	_ = c.nc.Close()
}

// disconnectReasons are the Reason Strings of the DISCONNECTs the server sends, so a
// client can tell a user why it was disconnected (VCD-COMPAT §6.5, §6.7).
var disconnectReasons = map[mqtt.ReasonCode]string{
	mqtt.ReasonNotAuthorized:      "the session was revoked, or the user or org disabled or deleted",
	mqtt.ReasonMaximumConnectTime: "the token expired; log in again",
	mqtt.ReasonSessionTakenOver:   "another connection with this client id took over",
	mqtt.ReasonKeepAliveTimeout:   "no packet within 1.5 times the keepalive",
	mqtt.ReasonServerShuttingDown: "the server is shutting down",
	mqtt.ReasonPacketTooLarge:     "packet larger than the maximum packet size",
	mqtt.ReasonMalformedPacket:    "malformed packet",
	mqtt.ReasonProtocolError:      "protocol error",
	mqtt.ReasonTopicAliasInvalid:  "topic aliases are not supported",
	mqtt.ReasonAdministrativeAction: "the notification log was reset; reconnect to resume " +
		"the session from its first message",
}
