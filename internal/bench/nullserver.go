package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldmq/herald/internal/mqtt"
)

// The null server is the connect storm's floor: an MQTT-over-WebSocket server
// that does nothing but answer. It accepts, reads the upgrade request and
// answers 101 with subprotocol mqtt, then answers CONNECT with a CONNACK,
// SUBSCRIBE with a SUBACK granting what was asked, PINGREQ with PINGRESP and a
// QoS 1 PUBLISH with a PUBACK, and, as herald does, ends the connection on
// DISCONNECT with a WebSocket close frame. It checks no token, keeps no
// session and routes nothing. Each connection has one goroutine and its read
// buffers (1 KiB for frames, 4 KiB for packets), so what it costs per connect
// is what the kernel's TCP over
// loopback, the Go runtime and the two protocols' framing cost: with the tool
// on the same machine, the most connects per second any Go server can be
// measured at here, against which herald's own work per connect shows.

// nullServer runs the null server until ctx ends. It prints the ws:// URL it
// listens on as the first line of stdout, for the tool that started it.
func (e env) nullServer(ctx context.Context, args []string) error {
	fs := e.newFlagSet("null-server", "Serve MQTT over WebSocket doing nothing but answer (no auth, no sessions, no\n"+
		"routing): the floor of the connect storm on this machine (-target null starts one).\n"+
		"Prints its ws:// URL on the first line of stdout.")
	addr := fs.String("addr", "127.0.0.1:0", "listen address; loopback only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return &usageError{"-addr: " + err.Error()}
	}
	if err := checkLoopback(host); err != nil {
		return &usageError{"-addr: " + err.Error()}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("null server: %w", err)
	}
	fmt.Fprintf(e.stdout, "ws://%s/\n", ln.Addr())
	return serveNull(ctx, ln)
}

// serveNull accepts connections on ln until ctx ends, serving each with
// nullConn, and waits for them to end.
func serveNull(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := make(map[net.Conn]struct{})
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of files, or a client gone before accept: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			wg.Wait()
			return fmt.Errorf("null server: accept: %w", err)
		}
		delay = 0
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			_ = nullConn(c)
			c.Close()
			mu.Lock()
			delete(open, c)
			mu.Unlock()
		})
	}
}

// nullConn serves one connection; it returns when the client leaves or breaks
// a protocol rule.
func nullConn(nc net.Conn) error {
	br := bufio.NewReaderSize(nc, wsReadBufferSize)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	key, err := readUpgradeRequest(br)
	if err != nil {
		_, _ = nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
		return err
	}
	resp := make([]byte, 0, 160)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Accept: "...)
	resp = append(resp, acceptOf(key)...)
	resp = append(resp, "\r\n\r\n"...)
	if _, err := nc.Write(resp); err != nil {
		return err
	}
	_ = nc.SetReadDeadline(time.Time{})
	c := &wsConn{Conn: nc, w: nc, br: br, server: true}
	r := mqtt.NewReader(c, 0)
	version := byte(mqtt.Version311)
	var out []byte
	send := func(p mqtt.Packet) error {
		var err error
		if out, err = p.Append(out[:0], version); err != nil {
			return err
		}
		_, err = c.Write(out)
		return err
	}
	for {
		pk, err := r.ReadPacket()
		if err != nil {
			return err
		}
		switch p := pk.(type) {
		case *mqtt.Connect:
			version = p.ProtocolVersion
			err = send(&mqtt.Connack{})
		case *mqtt.Subscribe:
			codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
			for i, s := range p.Subscriptions {
				codes[i] = mqtt.ReasonCode(s.QoS)
			}
			err = send(&mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes})
		case *mqtt.Pingreq:
			err = send(&mqtt.Pingresp{})
		case *mqtt.Publish:
			if p.QoS == 1 {
				err = send(&mqtt.Puback{PacketID: p.PacketID})
			}
		case *mqtt.Disconnect:
			return c.writeFrame(opClose, []byte{0x03, 0xe8}) // 1000, normal closure
		}
		if err != nil {
			return err
		}
	}
}

// readUpgradeRequest reads a WebSocket upgrade request's head from br and
// returns its Sec-WebSocket-Key. It checks no more than the null server needs:
// a GET, the key, and the mqtt subprotocol offered.
func readUpgradeRequest(br *bufio.Reader) ([]byte, error) {
	line, err := readHeadLine(br)
	if err != nil {
		return nil, fmt.Errorf("read request line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("GET ")) {
		return nil, fmt.Errorf("not a GET: %q", truncate(line, 100))
	}
	var key []byte
	var mqttOffered bool
	for i := 0; ; i++ {
		if i == wsMaxHeaderLines {
			return nil, errors.New("too many request header lines")
		}
		line, err := readHeadLine(br)
		if err != nil {
			return nil, fmt.Errorf("read request headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("bad header line %q", truncate(line, 100))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			key = bytes.Clone(value)
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				mqttOffered = mqttOffered || string(bytes.TrimSpace(tok)) == "mqtt"
			}
		}
	}
	switch {
	case len(key) == 0:
		return nil, errors.New("no Sec-WebSocket-Key")
	case !mqttOffered:
		return nil, errors.New("subprotocol mqtt not offered")
	}
	return key, nil
}

// startNullServer starts this executable's null-server command as a child
// process and returns it once it listens.
func startNullServer(ctx context.Context) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	cmd := exec.Command(exe, "null-server", "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start null server: %w", err)
	}
	s := newChildServer(cmd, "")
	type line struct {
		s   string
		err error
	}
	first := make(chan line, 1)
	go func() {
		l, err := bufio.NewReader(out).ReadString('\n')
		first <- line{strings.TrimSpace(l), err}
	}()
	select {
	case l := <-first:
		if l.err != nil || !strings.HasPrefix(l.s, "ws://") {
			s.Close()
			return nil, fmt.Errorf("null server did not start: %q %v", l.s, l.err)
		}
		s.url = l.s
		return s, nil
	case <-time.After(10 * time.Second):
		s.Close()
		return nil, errors.New("null server did not start within 10 s")
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}
