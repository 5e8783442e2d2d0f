package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/heraldmq/herald/internal/mqtt"
)

// startTestNull serves the null server on a loopback port for the test and
// returns its ws:// URL; the server is stopped, and must return nil, at cleanup.
func startTestNull(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveNull(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serveNull: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serveNull did not return after its context ended")
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// TestNullServerPaho runs a real third-party client (paho.mqtt.golang over
// gorilla/websocket, which masks its frames) against the null server: CONNECT,
// SUBSCRIBE granted at the QoS asked, a QoS 1 PUBLISH acknowledged, DISCONNECT.
func TestNullServerPaho(t *testing.T) {
	url := startTestNull(t)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("null-paho").
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
	if tk := c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	defer c.Disconnect(0)
	tk := c.SubscribeMultiple(map[string]byte{"publish/org/a": 1, "publish/org/+": 0}, nil)
	if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	got := tk.(*paho.SubscribeToken).Result()
	if got["publish/org/a"] != 1 || got["publish/org/+"] != 0 || len(got) != 2 {
		t.Fatalf("granted %v", got)
	}
	// 300 bytes: a 16-bit frame length, and unmasking across 8-byte steps.
	if tk := c.Publish("publish/org/a", 1, false, strings.Repeat("x", 300)); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("publish QoS 1 (no PUBACK?): %v", tk.Error())
	}
}

// TestNullServerTool runs the connect storm's own sequence through the tool's
// dialer: upgrade with a bearer token, CONNECT, SUBSCRIBE, DISCONNECT; the
// server then ends the WebSocket with a close frame, which the client answers
// and reads as the end of the stream.
func TestNullServerTool(t *testing.T) {
	url := startTestNull(t)
	d, err := newDialer(url, []string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.dial(ctx, connectOpts{bearer: "not checked", clientID: "null-tool"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.subscribe(ctx, "publish/org/user", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.send(&mqtt.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after DISCONNECT: read %d, %v; want the close frame's io.EOF", n, err)
	}
}

// TestNullServerRefusals checks that requests the null server cannot serve get
// a 400 and a closed connection, and that others go on being served.
func TestNullServerRefusals(t *testing.T) {
	url := startTestNull(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	for name, req := range map[string]string{
		"not a GET":       "POST / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
		"no key":          "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
		"no mqtt offered": "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp\r\n\r\n",
		"bad header line": "GET / HTTP/1.1\r\nHost x\r\n\r\n",
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(nc, req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400 ") {
			t.Errorf("%s: answer %q, %v; want 400", name, line, err)
		}
		nc.Close()
	}
	// The RFC 6455 §1.3 example key gets its example answer.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat, mqtt\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The head ends with an empty line; the connection stays open.
	var head []byte
	br := bufio.NewReader(nc)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		line, err := br.ReadSlice('\n')
		if err != nil {
			t.Fatalf("upgrade answer %q: %v", head, err)
		}
		head = append(head, line...)
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) || !bytes.Contains(head, []byte("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")) ||
		!bytes.Contains(head, []byte("Sec-WebSocket-Protocol: mqtt\r\n")) {
		t.Fatalf("upgrade answer %q", head)
	}
}

// TestWSServerReader checks the server's side of wsConn: masked frames of every
// length form, read in pieces of several sizes (the unmasking key's position
// carried across reads), control frames unmasked, and an unmasked frame refused.
func TestWSServerReader(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4200) // 67,200 bytes: 64-bit length
	for i := range big {
		big[i] += byte(i / 16)
	}
	var wire bytes.Buffer
	client := &wsConn{w: &wire}
	var want []byte
	for _, n := range []int{0, 1, 7, 8, 9, 125, 126, 300, 65535, len(big)} {
		if err := client.writeFrame(opBinary, big[:n]); err != nil {
			t.Fatal(err)
		}
		want = append(want, big[:n]...)
	}
	if err := client.writeFrame(opPing, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
	if err := client.writeFrame(opClose, []byte{0x03, 0xe8}); err != nil {
		t.Fatal(err)
	}
	stream := wire.Bytes()
	for _, size := range []int{1, 3, 7, 1000, 70000} {
		var replies bytes.Buffer
		srv := &wsConn{br: bufio.NewReaderSize(bytes.NewReader(stream), wsReadBufferSize), w: &replies, server: true}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := srv.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read size %d: %v", size, err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read size %d: %d bytes, want %d (equal: %v)", size, len(got), len(want), bytes.Equal(got, want))
		}
		// Unmasked replies: the pong with the ping's payload, then the close.
		if w := "\x8a\x0dare you there\x88\x02\x03\xe8"; replies.String() != w {
			t.Fatalf("replies %q, want %q", replies.String(), w)
		}
	}
	srv := &wsConn{br: bufio.NewReader(bytes.NewReader(frame(true, opBinary, []byte("x")))), w: io.Discard, server: true}
	if _, err := srv.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "unmasked") {
		t.Fatalf("unmasked frame from a client: %v", err)
	}
}
