package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldmq/herald/internal/mqtt"
)

// MQTTPath is the WebSocket path of herald's MQTT service (VCD-COMPAT §6.1).
const MQTTPath = "/messaging/mqtt"

// MQTTOptions configures one MQTT over WebSocket connection in form A (VCD-COMPAT
// §6.2): the JWT travels as Authorization: Bearer on the upgrade.
type MQTTOptions struct {
	ClientID     string        // empty: the server assigns one (clean sessions only)
	CleanSession bool          // false keeps a persistent session (VCD-COMPAT §6.6)
	KeepAlive    time.Duration // default 60s, VCD clients' value
	Filters      []string      // subscribed at QoS 1 once connected
}

// Message is one PUBLISH received.
type Message struct {
	Topic   string
	Payload []byte // a copy, owned by the receiver
}

// MQTTConn is a connected, subscribed MQTT 3.1.1 session. Next returns its messages;
// Close ends it. A keep-alive goroutine sends PINGREQ every KeepAlive; it exits when
// the connection is closed, and Close waits for it.
type MQTTConn struct {
	ws             *websocket.Conn
	nc             net.Conn
	r              *mqtt.Reader
	keepAlive      time.Duration
	SessionPresent bool              // CONNACK's session present flag
	Granted        []mqtt.ReasonCode // SUBACK codes, one per filter
	early          []Message         // received before the SUBACK; Next returns them first

	wmu  sync.Mutex // serialises writes
	wbuf []byte     // guarded by wmu

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// DialMQTT connects to c's MQTT service with c.Token, sends CONNECT, checks CONNACK and
// subscribes to opts.Filters. A refused upgrade (HTTP 401) or a CONNACK refusing the
// credentials wraps ErrUnauthorized. ctx bounds the dial and the handshakes only.
func (c *Client) DialMQTT(ctx context.Context, opts MQTTOptions) (*MQTTConn, error) {
	u := c.BaseURL + MQTTPath
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	hdr := http.Header{}
	if c.Token != "" {
		hdr.Set("Authorization", "Bearer "+c.Token)
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.HTTP,
		HTTPHeader: hdr, Subprotocols: []string{"mqtt"}})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("websocket upgrade: %w", ErrUnauthorized)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	ws.SetReadLimit(int64(mqtt.DefaultMaxPacketSize) + 16)
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 60 * time.Second
	}
	// The net.Conn lives until Close: its context is not ctx, which only bounds the
	// handshake (enforced with a deadline below).
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	m := &MQTTConn{ws: ws, nc: nc, r: mqtt.NewReader(nc, 0), keepAlive: opts.KeepAlive, stop: make(chan struct{})}
	m.r.SetVersion(mqtt.Version311)
	if err := m.handshake(ctx, opts); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	m.wg.Add(1)
	go m.pinger()
	return m, nil
}

// handshake sends CONNECT and SUBSCRIBE and reads their acknowledgements.
func (m *MQTTConn) handshake(ctx context.Context, opts MQTTOptions) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = m.nc.SetReadDeadline(dl)
	} else {
		_ = m.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	stopWatch := context.AfterFunc(ctx, func() { _ = m.nc.SetReadDeadline(time.Now()) })
	defer stopWatch()
	ka := opts.KeepAlive / time.Second
	if ka > 65535 {
		ka = 65535
	}
	if err := m.write(&mqtt.Connect{ProtocolVersion: mqtt.Version311, CleanStart: opts.CleanSession,
		KeepAlive: uint16(ka), ClientID: opts.ClientID}); err != nil {
		return err
	}
	p, err := m.r.ReadPacket()
	if err != nil {
		return fmt.Errorf("read CONNACK: %w", err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		return fmt.Errorf("expected CONNACK, got %v", p.Type())
	}
	switch ack.ReasonCode {
	case 0:
	case mqtt.ConnRefusedNotAuthorized, mqtt.ConnRefusedBadUserNameOrPassword:
		return fmt.Errorf("CONNACK %#02x: %w", byte(ack.ReasonCode), ErrUnauthorized)
	default:
		return fmt.Errorf("connection refused: CONNACK %#02x", byte(ack.ReasonCode))
	}
	m.SessionPresent = ack.SessionPresent
	if len(opts.Filters) > 0 {
		sub := &mqtt.Subscribe{PacketID: 1}
		for _, f := range opts.Filters {
			sub.Subscriptions = append(sub.Subscriptions, mqtt.Subscription{Filter: f, QoS: 1})
		}
		if err := m.write(sub); err != nil {
			return err
		}
		// A resumed session's backlog may arrive before the SUBACK (VCD-COMPAT
		// §6.6): such messages are acknowledged and queued for Next.
		for {
			p, err := m.r.ReadPacket()
			if err != nil {
				return fmt.Errorf("read SUBACK: %w", err)
			}
			if sa, ok := p.(*mqtt.Suback); ok {
				m.Granted = sa.ReasonCodes
				break
			}
			if pub, ok := p.(*mqtt.Publish); ok {
				m.early = append(m.early, Message{Topic: pub.Topic, Payload: append([]byte(nil), pub.Payload...)})
				if err := m.ack(pub); err != nil {
					return err
				}
			}
			if rel, ok := p.(*mqtt.Pubrel); ok {
				if err := m.write(&mqtt.Pubcomp{PacketID: rel.PacketID}); err != nil {
					return err
				}
			}
		}
		for i, rc := range m.Granted {
			if rc >= 0x80 && i < len(opts.Filters) {
				return fmt.Errorf("subscription to %q refused (SUBACK %#02x)", opts.Filters[i], byte(rc))
			}
		}
	}
	return m.nc.SetReadDeadline(time.Time{})
}

// write encodes p and sends it as one WebSocket message.
func (m *MQTTConn) write(p mqtt.Packet) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	b, err := p.Append(m.wbuf[:0], mqtt.Version311)
	if err != nil {
		return fmt.Errorf("encode %v: %w", p.Type(), err)
	}
	m.wbuf = b
	if _, err := m.nc.Write(b); err != nil {
		return fmt.Errorf("write %v: %w", p.Type(), err)
	}
	return nil
}

// ack acknowledges a received PUBLISH at its QoS.
func (m *MQTTConn) ack(p *mqtt.Publish) error {
	switch p.QoS {
	case 1:
		return m.write(&mqtt.Puback{PacketID: p.PacketID})
	case 2:
		return m.write(&mqtt.Pubrec{PacketID: p.PacketID})
	}
	return nil
}

// pinger sends PINGREQ every keep-alive period until stop is closed or a write fails.
func (m *MQTTConn) pinger() {
	defer m.wg.Done()
	t := time.NewTicker(m.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if m.write(&mqtt.Pingreq{}) != nil {
				return
			}
		}
	}
}

// Next returns the next message, answering the QoS handshakes and PINGRESPs on the way.
// It fails when the connection ends, when nothing (not even a PINGRESP) arrives for
// 1.5 keep-alive periods, or when ctx is done (which closes the connection).
func (m *MQTTConn) Next(ctx context.Context) (Message, error) {
	if len(m.early) > 0 {
		msg := m.early[0]
		m.early = m.early[1:]
		return msg, nil
	}
	stopWatch := context.AfterFunc(ctx, func() { _ = m.Close() })
	defer stopWatch()
	for {
		_ = m.nc.SetReadDeadline(time.Now().Add(m.keepAlive * 3 / 2))
		p, err := m.r.ReadPacket()
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, ctx.Err()
			}
			return Message{}, fmt.Errorf("connection lost: %w", err)
		}
		switch p := p.(type) {
		case *mqtt.Publish:
			msg := Message{Topic: p.Topic, Payload: append([]byte(nil), p.Payload...)}
			if err := m.ack(p); err != nil {
				return Message{}, err
			}
			return msg, nil
		case *mqtt.Pubrel:
			if err := m.write(&mqtt.Pubcomp{PacketID: p.PacketID}); err != nil {
				return Message{}, err
			}
		case *mqtt.Disconnect:
			return Message{}, errors.New("server sent DISCONNECT")
		}
	}
}

// Close sends DISCONNECT (so a persistent session is kept, not its Will) and closes
// the connection. It is idempotent and waits for the keep-alive goroutine.
func (m *MQTTConn) Close() error {
	m.once.Do(func() {
		close(m.stop)
		_ = m.write(&mqtt.Disconnect{})
		// CloseNow, not the close handshake: Close may run while Next reads.
		_ = m.ws.CloseNow()
	})
	m.wg.Wait()
	return nil
}
