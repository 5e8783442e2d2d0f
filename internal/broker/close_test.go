package broker_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/mqtt"
	"github.com/heraldmq/herald/internal/vcd"
)

// stuckConn is the server side of a connection; it reports, on stuck, the
// first Write that takes the bytes handed to Write past limit.
type stuckConn struct {
	net.Conn
	limit   int64
	written atomic.Int64
	once    sync.Once
	stuck   chan struct{}
}

func (c *stuckConn) Write(p []byte) (int, error) {
	if c.written.Add(int64(len(p))) > c.limit {
		c.once.Do(func() { close(c.stuck) })
	}
	return c.Conn.Write(p)
}

// TestClose_RevokedClientThatDoesNotRead: revocation closes the connection of a
// client that never reads within a second, although the writer is blocked on a
// full socket buffer and WriteTimeout is a minute (VCD-COMPAT §6.7).
func TestClose_RevokedClientThatDoesNotRead(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h := mustRunBroker(t, func(c *broker.Config) {
				c.WriteTimeout = time.Minute
				c.MaxQueue = 1 << 16
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			_ = client.(*net.TCPConn).SetReadBuffer(4096)
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			_ = server.(*net.TCPConn).SetWriteBuffer(4096)
			// The first Write of a 4 MiB message takes the total past 1 MiB; it
			// cannot finish, as the message is far larger than both socket
			// buffers.
			sc := &stuckConn{Conn: server, limit: 1 << 20, stuck: make(chan struct{})}
			done := make(chan struct{})
			go func() { // ends when ServeConn returns
				defer close(done)
				h.b.ServeConn(context.Background(), sc, nil)
			}()
			// Cleanups run last first: closing the client unblocks a failed run.
			t.Cleanup(func() { <-done })
			t.Cleanup(func() { _ = client.Close() })

			c := newClient(t, client, v.v)
			if ack := c.connect(connectPacket("deaf", "acme/backup/1.0.0", "ext-secret")); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
			}
			c.subscribe(0, extIn)
			// From here on the client reads nothing.
			payload := make([]byte, 4<<20)
			for i := range 4 {
				h.b.Deliver(broker.Message{Seq: uint64(i + 1), Topic: extIn, Payload: payload})
			}
			select {
			case <-sc.stuck:
			case <-time.After(waitFor):
				t.Fatal("the writer never got past the socket buffers")
			}
			start := time.Now()
			if n := h.b.ClosePrincipal(idExt); n != 1 {
				t.Fatalf("ClosePrincipal closed %d connections; want 1", n)
			}
			select {
			case <-done:
				if d := time.Since(start); d > time.Second {
					t.Errorf("connection closed after %v; want within 1s", d)
				}
			case <-time.After(waitFor):
				t.Fatalf("connection still open %v after revocation", waitFor)
			}
		})
	}
}

// TestTouch_WhileConnected: a connection that keeps sending packets calls
// Authenticator.Touch at CONNECT and again once Config.TouchInterval has
// passed, not for every packet.
func TestTouch_WhileConnected(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		again    bool
	}{{"ShortInterval", 20 * time.Millisecond, true}, {"Default", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustRunBroker(t, func(c *broker.Config) { c.TouchInterval = tc.interval })
			touched := make(chan vcd.Principal, 100)
			h.auth.touched = touched
			c := h.login(t, mqtt.Version5, "tok-alice", "touch")
			if p := <-touched; p.UserID != idAlice {
				t.Fatalf("Touch(%+v); want alice", p)
			}
			if !tc.again {
				for range 20 {
					c.send(&mqtt.Pingreq{})
					readAs[*mqtt.Pingresp](c)
				}
				if n := h.auth.touches.Load(); n != 1 {
					t.Errorf("Touch called %d times for 20 packets within a minute; want 1", n)
				}
				return
			}
			deadline := time.Now().Add(waitFor)
			for {
				c.send(&mqtt.Pingreq{})
				readAs[*mqtt.Pingresp](c)
				select {
				case p := <-touched:
					if p.UserID != idAlice {
						t.Errorf("Touch(%+v); want alice", p)
					}
					return
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("Touch not called again within %v", waitFor)
				}
			}
		})
	}
}

// TestWebSocket_Origin: an upgrade from a page of another origin is refused
// with 403 unless Config.AllowedOrigins lists it; no Origin header and the
// same host are accepted.
func TestWebSocket_Origin(t *testing.T) {
	_, url := mustRunWS(t, func(c *broker.Config) { c.AllowedOrigins = []string{"console.example.com", "*.trusted.example"} })
	host := url[len("ws://"):]
	host = host[:len(host)-len("/messaging/mqtt")]
	tests := []struct {
		name   string
		origin string
		status int
	}{
		{"None", "", http.StatusSwitchingProtocols},
		{"SameHost", "http://" + host, http.StatusSwitchingProtocols},
		{"Allowed", "https://console.example.com", http.StatusSwitchingProtocols},
		{"AllowedPattern", "https://App.Trusted.Example", http.StatusSwitchingProtocols},
		{"CrossOrigin", "https://evil.example.com", http.StatusForbidden},
		{"SameHostOtherPort", "http://127.0.0.1:1", http.StatusForbidden},
		{"Null", "null", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr http.Header
			if tc.origin != "" {
				hdr = http.Header{"Origin": {tc.origin}}
			}
			_, resp := dialWS(t, url, hdr, "mqtt")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
