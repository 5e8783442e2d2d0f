package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// dialer opens MQTT-over-WebSocket connections, spreading them over several
// loopback source addresses: one source address gives at most about 28,000
// ephemeral ports towards one server port, and herald limits connects and logins
// per client address.
type dialer struct {
	ep      *wsEndpoint   // the parsed ws:// or wss:// URL
	dialers []*net.Dialer // one per source address
	next    atomic.Uint64
}

// newDialer returns a dialer for wsURL whose connections come from the given source
// addresses (none: the system's choice), trusting tlsCfg for wss.
func newDialer(wsURL string, srcs []string, tlsCfg *tls.Config) (*dialer, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, fmt.Errorf("parse websocket url: %w", err)
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	ep, err := newWSEndpoint(wsURL, tlsCfg)
	if err != nil {
		return nil, err
	}
	d := &dialer{ep: ep}
	if len(srcs) == 0 {
		srcs = []string{""}
	}
	for _, s := range srcs {
		// No TCP keep-alive: on loopback it never fires within a run, and turning
		// it on costs four setsockopt calls per connect (2.5 % of the tool's CPU in
		// a connect storm against the null server, where the tool is the limit).
		d.dialers = append(d.dialers, sourceDialer(s, false))
	}
	return d, nil
}

// httpClients returns one HTTP client per source address (or one with no source
// address when srcs is empty), for the REST calls of provisioning.
func httpClients(srcs []string, tlsCfg *tls.Config) []*http.Client {
	if len(srcs) == 0 {
		srcs = []string{""}
	}
	var out []*http.Client
	for _, s := range srcs {
		out = append(out, &http.Client{Transport: &http.Transport{
			DialContext:         sourceDialer(s, true).DialContext,
			TLSClientConfig:     tlsCfg,
			MaxIdleConnsPerHost: 64,
			ForceAttemptHTTP2:   false,
		}})
	}
	return out
}

// checkLoopback refuses any target that is not a loopback address: the tool only
// ever loads the machine it runs on.
func checkLoopback(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not a loopback address", host)
	}
	return nil
}

// conn is one MQTT 3.1.1 client connection over WebSocket. Its packets are read
// by one goroutine (r) and written by one goroutine at a time.
type conn struct {
	nc  net.Conn // a *wsConn: Write sends one binary message
	r   *mqtt.Reader
	buf []byte // write buffer
}

// connectOpts are the CONNECT credentials: a Bearer token on the upgrade (form A)
// and/or a username and password in CONNECT (forms B and C; none for mosquitto).
type connectOpts struct {
	bearer    string
	username  string
	password  string
	clientID  string
	keepAlive uint16
}

// dial opens a WebSocket with subprotocol mqtt, sends CONNECT and waits for a
// successful CONNACK. ctx bounds the handshake; the connection lives until
// close.
func (d *dialer) dial(ctx context.Context, o connectOpts) (*conn, error) {
	nd := d.dialers[int(d.next.Add(1)%uint64(len(d.dialers)))]
	nc, err := d.ep.dial(ctx, nd, o.bearer)
	if err != nil {
		return nil, err
	}
	cn := &conn{nc: nc, r: mqtt.NewReader(nc, 0)}
	cn.r.SetVersion(mqtt.Version311)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	p := &mqtt.Connect{CleanStart: true, KeepAlive: o.keepAlive, ClientID: o.clientID,
		UsernameFlag: o.username != "", Username: o.username,
		PasswordFlag: o.password != "", Password: []byte(o.password)}
	if err := cn.send(p); err != nil {
		cn.close()
		return nil, err
	}
	pk, err := cn.r.ReadPacket()
	if err != nil {
		cn.close()
		return nil, fmt.Errorf("read connack: %w", err)
	}
	ack, ok := pk.(*mqtt.Connack)
	if !ok {
		cn.close()
		return nil, fmt.Errorf("expected CONNACK, got %v", pk.Type())
	}
	if ack.ReasonCode != 0 {
		cn.close()
		return nil, fmt.Errorf("connect refused: CONNACK 0x%02x", byte(ack.ReasonCode))
	}
	return cn, nil
}

// send encodes one packet and writes it as one WebSocket message.
func (c *conn) send(p mqtt.Packet) error {
	b, err := p.Append(c.buf[:0], mqtt.Version311)
	if err != nil {
		return fmt.Errorf("encode %v: %w", p.Type(), err)
	}
	c.buf = b
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write %v: %w", p.Type(), err)
	}
	return nil
}

// subscribe subscribes to filter and waits for the SUBACK, which must grant it.
// Messages arriving before the SUBACK are acknowledged and ignored.
func (c *conn) subscribe(ctx context.Context, filter string, qos byte) error {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetReadDeadline(time.Now()) })
	defer stop()
	if err := c.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		return err
	}
	for {
		pk, err := c.r.ReadPacket()
		if err != nil {
			return fmt.Errorf("read suback: %w", err)
		}
		switch p := pk.(type) {
		case *mqtt.Suback:
			if len(p.ReasonCodes) != 1 || p.ReasonCodes[0] >= 0x80 {
				return fmt.Errorf("subscribe %s refused: %v", filter, p.ReasonCodes)
			}
			return nil
		case *mqtt.Publish:
			if p.QoS == 1 {
				if err := c.send(&mqtt.Puback{PacketID: p.PacketID}); err != nil {
					return err
				}
			}
		}
	}
}

// close closes the connection at once, without a WebSocket close handshake (which
// would wait for a peer that may not be reading).
func (c *conn) close() {
	_ = c.nc.Close()
}

// disconnect sends DISCONNECT, then closes.
func (c *conn) disconnect() {
	_ = c.send(&mqtt.Disconnect{})
	c.close()
}

// receive reads packets until the connection closes and calls fn with each PUBLISH
// and the time it was read (Unix ns). QoS 1 deliveries are acknowledged in
// batches, one write per read the decoder has drained, after fn has returned.
func (c *conn) receive(fn func(p *mqtt.Publish, now int64)) {
	var ack []byte
	for {
		pk, err := c.r.ReadPacket()
		if err != nil {
			return
		}
		p, ok := pk.(*mqtt.Publish)
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		if p.QoS == 1 {
			ack, _ = (&mqtt.Puback{PacketID: p.PacketID}).Append(ack, mqtt.Version311)
		}
		fn(p, now)
		if len(ack) > 0 && c.r.Buffered() == 0 {
			if _, err := c.nc.Write(ack); err != nil {
				return
			}
			ack = ack[:0]
		}
	}
}
