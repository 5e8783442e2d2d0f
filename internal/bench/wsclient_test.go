package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldmq/herald/internal/mqtt"
)

// publishPacket encodes a QoS 0 PUBLISH with a payload of n bytes of pattern.
func publishPacket(t testing.TB, topic string, n int, pattern byte) []byte {
	t.Helper()
	payload := bytes.Repeat([]byte{pattern}, n)
	for i := range payload {
		payload[i] += byte(i)
	}
	b, err := mqtt.AppendPublish(nil, mqtt.Version311, mqtt.PublishHeader{}, topic, nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serverReport is what the test server saw and did.
type serverReport struct {
	auth, proto string
	received    [][]byte // client messages, in order
	pingErr     error
	err         error
}

// TestWSClientAgainstCoderServer runs the client against a real WebSocket server
// (coder/websocket behind httptest): the upgrade with a bearer token, a write
// as one message, packets split over and shared by messages, 16- and 64-bit
// lengths both ways, a ping answered with a pong, and the close handshake.
func TestWSClientAgainstCoderServer(t *testing.T) {
	pA := publishPacket(t, "a/1", 10, 'a')
	pB := publishPacket(t, "b/2", 20, 'b')
	pC := publishPacket(t, "c/3", 300, 'c')    // 16-bit frame lengths
	pD := publishPacket(t, "d/4", 70000, 'd')  // 64-bit frame length
	out1 := publishPacket(t, "x/1", 5, 'x')    // 7-bit
	out2 := publishPacket(t, "x/2", 1000, 'y') // 16-bit
	out3 := publishPacket(t, "x/3", 66000, 'z')

	reports := make(chan serverReport, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := serverReport{auth: r.Header.Get("Authorization")}
		defer func() { reports <- rep }()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			rep.err = err
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 20)
		rep.proto = ws.Subprotocol()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		// The client's three messages, each of which must arrive as one binary message.
		for range 3 {
			typ, msg, err := ws.Read(ctx)
			if err != nil {
				rep.err = err
				return
			}
			if typ != websocket.MessageBinary {
				rep.err = fmt.Errorf("message type %v", typ)
				return
			}
			rep.received = append(rep.received, msg)
		}
		// Two packets in one message, then one packet over two messages, then
		// one of 70 KB (64-bit length).
		half := len(pC) / 2
		for _, m := range [][]byte{append(append([]byte{}, pA...), pB...), pC[:half], pC[half:], pD} {
			if err := ws.Write(ctx, websocket.MessageBinary, m); err != nil {
				rep.err = err
				return
			}
		}
		// Ping needs a concurrent reader on this side, which CloseRead provides.
		ctx = ws.CloseRead(ctx)
		rep.pingErr = ws.Ping(ctx)
		// A close frame: the client answers it and its reads end with io.EOF.
		rep.err = ws.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer srv.Close()

	ep, err := newWSEndpoint("ws"+strings.TrimPrefix(srv.URL, "http")+"/messaging/mqtt?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ep.dial(ctx, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}, "tok.en")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("source address %s, want 127.0.0.2", got)
	}
	for _, m := range [][]byte{out1, out2, out3} {
		if n, err := c.Write(m); err != nil || n != len(m) {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	r := mqtt.NewReader(c, 0)
	r.SetVersion(mqtt.Version311)
	for i, want := range [][]byte{pA, pB, pC, pD} {
		pk, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		got, err := pk.Append(nil, mqtt.Version311)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: got %d bytes, want %d (%q…)", i, len(got), len(want), got[:min(len(got), 20)])
		}
	}
	// Reading on answers the ping, then the close.
	if pk, err := r.ReadPacket(); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v, %v; want io.EOF", pk, err)
	}
	rep := <-reports
	if rep.auth != "Bearer tok.en" {
		t.Errorf("server saw Authorization %q", rep.auth)
	}
	if rep.proto != "mqtt" {
		t.Errorf("subprotocol %q", rep.proto)
	}
	if rep.pingErr != nil {
		t.Errorf("ping: %v", rep.pingErr)
	}
	if rep.err != nil {
		t.Errorf("server: %v", rep.err)
	}
	if len(rep.received) != 3 || !bytes.Equal(rep.received[0], out1) || !bytes.Equal(rep.received[1], out2) || !bytes.Equal(rep.received[2], out3) {
		t.Errorf("server received %d messages, not the three written", len(rep.received))
	}
}

// TestWSClientRefusesNon101 checks that a refused upgrade's error names the status.
func TestWSClientRefusesNon101(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	ep, err := newWSEndpoint("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ep.dial(ctx, &net.Dialer{}, "")
	if err == nil || !strings.Contains(err.Error(), "429 Too Many Requests") {
		t.Fatalf("error %v, want one naming 429 Too Many Requests", err)
	}
}

// rawServer answers one connection's upgrade request with response (after
// reading the request head) and reports the request.
func rawServer(t *testing.T, response func(req string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		var req strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			req.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, response(req.String()))
		_, _ = io.Copy(io.Discard, br) // until the client closes
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// keyOf returns the Sec-WebSocket-Key of a request head.
func keyOf(req string) string {
	for line := range strings.SplitSeq(req, "\r\n") {
		if k, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
			return k
		}
	}
	return ""
}

// TestWSClientChecksAccept checks that the client refuses a 101 whose
// Sec-WebSocket-Accept does not match its key, or that lacks subprotocol mqtt,
// and accepts a correct one whose first frame arrives in the same segment.
func TestWSClientChecksAccept(t *testing.T) {
	head := func(accept, proto string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + accept + "\r\n" + proto + "\r\n"
	}
	cases := []struct {
		name    string
		resp    func(req string) string
		wantErr string
	}{
		{"wrong accept", func(req string) string {
			return head(string(acceptOf([]byte("AAAAAAAAAAAAAAAAAAAAAA=="))), "Sec-WebSocket-Protocol: mqtt\r\n")
		}, "Sec-WebSocket-Accept"},
		{"no subprotocol", func(req string) string {
			return head(string(acceptOf([]byte(keyOf(req)))), "")
		}, "subprotocol"},
		{"good, frame follows at once", func(req string) string {
			return head(string(acceptOf([]byte(keyOf(req)))), "sec-websocket-protocol: mqtt\r\n") + "\x82\x03abc"
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := rawServer(t, tc.resp)
			ep, err := newWSEndpoint(u, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := ep.dial(ctx, &net.Dialer{}, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := make([]byte, 10)
			n, err := io.ReadAtLeast(c, got, 3)
			if err != nil || string(got[:n]) != "abc" {
				t.Fatalf("read %q, %v; want abc", got[:n], err)
			}
		})
	}
}

// TestWSClientHandshakeBoundedByContext checks that a server that never answers
// the upgrade cannot hold the dial beyond ctx.
func TestWSClientHandshakeBoundedByContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c) // reads, never answers
			c.Close()
		}
	}()
	ep, err := newWSEndpoint("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ep.dial(ctx, &net.Dialer{}, ""); err == nil {
		t.Fatal("dial succeeded without an answer")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("dial took %v with a 200ms context", d)
	}
}

// frame encodes one unmasked server frame.
func frame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n <= 125:
		b = []byte{b0, byte(n)}
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(n))
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 127}, uint64(n))
	}
	return append(b, payload...)
}

// readerOver returns a wsConn reading from data and writing to w.
func readerOver(data []byte, w io.Writer) *wsConn {
	return &wsConn{br: bufio.NewReaderSize(bytes.NewReader(data), wsReadBufferSize), w: w}
}

// TestWSFrameReader checks the frame reader on streams written here: the payload
// stream across fragments and control frames, the pong and close replies, and
// the refusal of protocol violations.
func TestWSFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 7000)
	var in []byte
	in = append(in, frame(false, opBinary, []byte("ab"))...)
	in = append(in, frame(false, opContinuation, nil)...)
	in = append(in, frame(true, opPing, []byte("hi"))...)
	in = append(in, frame(true, opContinuation, []byte("cd"))...)
	in = append(in, frame(true, opBinary, big[:300])...)
	in = append(in, frame(true, opPong, []byte("x"))...)
	in = append(in, frame(true, opBinary, big)...)
	in = append(in, frame(true, opClose, []byte{0x03, 0xe8, 'o', 'k'})...)
	in = append(in, frame(true, opBinary, []byte("after close"))...)
	var out bytes.Buffer
	c := readerOver(in, &out)
	got, err := io.ReadAll(c) // io.EOF at the close frame ends ReadAll cleanly
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("abcd"), append(append([]byte{}, big[:300]...), big...)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("payload stream of %d bytes, want %d", len(got), len(want))
	}
	// The replies: a masked pong "hi", then a masked close with status 1000.
	replies := out.Bytes()
	for _, w := range []struct {
		op      byte
		payload string
	}{{opPong, "hi"}, {opClose, "\x03\xe8"}} {
		if len(replies) < 6 || replies[0] != 0x80|w.op || replies[1] != 0x80|byte(len(w.payload)) {
			t.Fatalf("reply % x, want opcode %#x masked with %d bytes", replies, w.op, len(w.payload))
		}
		key := replies[2:6]
		p := replies[6 : 6+len(w.payload)]
		for i := range p {
			p[i] ^= key[i&3]
		}
		if string(p) != w.payload {
			t.Fatalf("reply payload %q, want %q", p, w.payload)
		}
		replies = replies[6+len(w.payload):]
	}
	if len(replies) != 0 {
		t.Fatalf("%d extra reply bytes", len(replies))
	}

	bad := map[string][]byte{
		"text":               frame(true, opText, []byte("x")),
		"masked":             {0x82, 0x81, 1, 2, 3, 4, 'x'},
		"rsv":                {0xc2, 0x00},
		"stray continuation": frame(true, opContinuation, []byte("x")),
		"binary in message":  append(frame(false, opBinary, []byte("x")), frame(true, opBinary, []byte("y"))...),
		"big control":        frame(true, opPing, make([]byte, 126)),
		"fragmented ping":    frame(false, opPing, nil),
		"unknown opcode":     frame(true, 0x3, nil),
		"too large 64-bit":   {0x82, 127, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x01},
		"huge 64-bit":        {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"truncated payload":  {0x82, 0x05, 'a', 'b'},
		"truncated header":   {0x82, 126, 0x01},
	}
	for name, in := range bad {
		c := readerOver(in, io.Discard)
		_, err := io.ReadAll(c)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err2 := c.Read(make([]byte, 1)); err2 == nil {
			t.Errorf("%s: error not sticky", name)
		}
	}
}

// TestWSWriteFrame checks the masked frame layout for the three length forms
// and that masking round-trips at every length around the 8-byte steps.
func TestWSWriteFrame(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 125, 126, 127, 65535, 65536, 70001} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + 3)
		}
		var out bytes.Buffer
		c := &wsConn{w: &out}
		if m, err := c.Write(p); err != nil || m != n {
			t.Fatalf("write %d: %d, %v", n, m, err)
		}
		b := out.Bytes()
		if b[0] != 0x82 || b[1]&0x80 == 0 {
			t.Fatalf("n=%d: header % x", n, b[:2])
		}
		h, ln := 2, int(b[1]&0x7f)
		switch ln {
		case 126:
			h, ln = 4, int(binary.BigEndian.Uint16(b[2:]))
		case 127:
			h, ln = 10, int(binary.BigEndian.Uint64(b[2:]))
		}
		if ln != n || len(b) != h+4+n {
			t.Fatalf("n=%d: length field %d, frame %d bytes", n, ln, len(b))
		}
		if (n <= 125 && h != 2) || (n > 125 && n <= 0xffff && h != 4) || (n > 0xffff && h != 10) {
			t.Fatalf("n=%d: %d-byte header", n, h)
		}
		key, got := b[h:h+4], b[h+4:]
		for i := range got {
			got[i] ^= key[i&3]
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: unmasked payload differs", n)
		}
	}
}

// TestWSReadNoAllocs checks that reading frames allocates nothing in steady state.
func TestWSReadNoAllocs(t *testing.T) {
	msg := frame(true, opBinary, bytes.Repeat([]byte("m"), 900))
	ping := frame(true, opPing, []byte("p"))
	var in []byte
	for range 200 {
		in = append(in, msg...)
		in = append(in, ping...)
	}
	c := readerOver(in, io.Discard)
	p := make([]byte, 4096)
	_, _ = c.Read(p) // first frame; the write buffer is allocated at the first pong
	_, _ = c.Read(p)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Read(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read", allocs)
	}
}

// FuzzWSFrameReader feeds arbitrary server bytes to the frame reader: it must
// never panic, return more than asked, or return more payload than it was given,
// and must end with an error (io.EOF at the latest) within a bounded number of
// reads.
func FuzzWSFrameReader(f *testing.F) {
	f.Add(frame(true, opBinary, []byte("hello")))
	f.Add(append(frame(false, opBinary, []byte("he")), frame(true, opContinuation, []byte("llo"))...))
	f.Add(frame(true, opBinary, make([]byte, 300)))
	f.Add(frame(true, opPing, []byte("x")))
	f.Add(frame(true, opClose, []byte{3, 232}))
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0x01, 0, 0, 0})
	f.Add([]byte{0x82, 126, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := readerOver(data, io.Discard)
		p := make([]byte, 37) // odd size: payloads span reads
		total := 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("%d reads of %d input bytes without an end", i, len(data))
			}
			n, err := c.Read(p)
			if n < 0 || n > len(p) {
				t.Fatalf("read returned %d for a %d-byte buffer", n, len(p))
			}
			total += n
			if total > len(data) {
				t.Fatalf("%d payload bytes from %d input bytes", total, len(data))
			}
			if err != nil {
				return
			}
		}
	})
}

// TestWSClientTLS checks wss://: TLS with the given configuration and the
// URL's host as server name, then an echoed message.
func TestWSClientTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		typ, msg, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		_ = ws.Write(r.Context(), typ, msg)
		_, _, _ = ws.Read(r.Context()) // until the client closes
	}))
	defer srv.Close()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ep, err := newWSEndpoint("wss"+strings.TrimPrefix(srv.URL, "https")+"/messaging/mqtt", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ep.tls == nil || ep.tls.ServerName != "127.0.0.1" {
		t.Fatalf("tls config %+v, want ServerName 127.0.0.1", ep.tls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ep.dial(ctx, &net.Dialer{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.Conn.(*tls.Conn); !ok {
		t.Fatalf("connection is %T, not TLS", c.Conn)
	}
	want := publishPacket(t, "t/1", 200, 't')
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo: %v, equal=%v", err, bytes.Equal(got, want))
	}

	// Without the server's CA the handshake fails.
	ep2, err := newWSEndpoint("wss"+strings.TrimPrefix(srv.URL, "https")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep2.dial(ctx, &net.Dialer{}, ""); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("dial without the CA: %v, want a TLS error", err)
	}
}
