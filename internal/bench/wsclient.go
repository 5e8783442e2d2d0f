package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// This file is herald-bench's own RFC 6455 client. The tool must drive more
// connects and messages per second than the servers it measures can handle, on
// the same two cores: net/http's Transport with a general-purpose WebSocket
// library cost about 440 µs of the tool's CPU per connect and a core at 45,000
// received messages/s. This client does only what MQTT over WebSocket needs: one
// hand-written upgrade request, binary frames written in one syscall, and a frame
// reader that hands the payloads on as a byte stream without allocating. The
// same connection type serves the null server's side (nullserver.go): masked
// frames in, unmasked frames out.

const (
	// wsReadBufferSize is the size of a connection's read buffer, which holds the
	// upgrade response and then frame headers and small payloads. Idle runs open
	// tens of thousands of connections, so it is small; payload reads of at least
	// this size bypass it (bufio.Reader reads straight into the caller's buffer).
	wsReadBufferSize = 1024
	// wsMaxFrame bounds the payload length of a frame from the server: a corrupt
	// or hostile length is refused instead of being trusted.
	wsMaxFrame = 16 << 20
	// wsMaxHeaderLines bounds the upgrade response's header lines.
	wsMaxHeaderLines = 100
	// wsGUID is the fixed GUID of the Sec-WebSocket-Accept computation (RFC 6455 §1.3).
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// Frame opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// wsEndpoint is a parsed ws:// or wss:// URL: what every dial of it shares.
type wsEndpoint struct {
	addr    string      // host:port to dial
	tls     *tls.Config // nil for ws://; ServerName set for wss://
	request []byte      // the upgrade request up to the per-connection headers
}

// newWSEndpoint parses a ws:// or wss:// URL. tlsCfg (may be nil) is the TLS
// configuration for wss://; its ServerName defaults to the URL's host.
func newWSEndpoint(raw string, tlsCfg *tls.Config) (*wsEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse websocket url: %w", err)
	}
	e := &wsEndpoint{}
	port := u.Port()
	switch u.Scheme {
	case "ws", "http":
		if port == "" {
			port = "80"
		}
	case "wss", "https":
		if port == "" {
			port = "443"
		}
		if tlsCfg == nil {
			e.tls = &tls.Config{}
		} else {
			e.tls = tlsCfg.Clone()
		}
		if e.tls.ServerName == "" {
			e.tls.ServerName = u.Hostname()
		}
	default:
		return nil, fmt.Errorf("websocket url %q: scheme must be ws or wss", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("websocket url %q has no host", raw)
	}
	e.addr = net.JoinHostPort(u.Hostname(), port)
	e.request = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n", u.RequestURI(), u.Host)
	return e, nil
}

// wsConn is one client WebSocket carrying a byte stream in binary messages. It
// implements net.Conn: Read returns the payload bytes of the binary messages
// received, whatever their framing; Write sends each call as one binary
// message; the address and deadline methods are the socket's.
//
// One goroutine reads at a time and one writes at a time; the reader also
// writes (pong, close reply), so writes take wmu.
//
// A client's wsConn masks what it writes and refuses masked frames; a server's
// (server set) is the other way round (RFC 6455 §5.1).
type wsConn struct {
	net.Conn               // the TCP or TLS connection
	w        io.Writer     // where frames are written: the Conn (tests may differ)
	br       *bufio.Reader // the upgrade response, then the frames
	server   bool          // the server's side: frames read are masked, frames written are not

	// Reader state.
	remaining  int64  // unread payload bytes of the current data frame
	fragmented bool   // a binary message is open: continuation frames follow
	mask       uint32 // the current frame's masking key (server), little-endian
	maskPos    int64  // payload bytes of the current frame unmasked so far
	rerr       error  // sticky read error
	ctl        [125]byte

	wmu  sync.Mutex
	wbuf []byte
}

// dial opens a TCP (and for wss, TLS) connection with nd and performs the
// WebSocket upgrade with subprotocol mqtt, sending bearer (if not empty) as an
// Authorization: Bearer header. ctx bounds the whole handshake; the connection
// then lives until Close.
func (e *wsEndpoint) dial(ctx context.Context, nd *net.Dialer, bearer string) (*wsConn, error) {
	raw, err := nd.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	c, err := e.handshake(ctx, raw, bearer)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return c, nil
}

// handshake performs TLS (wss) and the upgrade on raw, under ctx.
func (e *wsEndpoint) handshake(ctx context.Context, raw net.Conn, bearer string) (*wsConn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// Cancellation interrupts blocked reads and writes through the deadline.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
	nc := raw
	if e.tls != nil {
		tc := tls.Client(raw, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			stop()
			return nil, fmt.Errorf("websocket tls handshake: %w", err)
		}
		nc = tc
	}
	c := &wsConn{Conn: nc, w: nc, br: bufio.NewReaderSize(nc, wsReadBufferSize)}
	err := c.upgrade(e.request, bearer)
	if !stop() {
		// ctx ended: the deadline may be set now or at any moment.
		return nil, fmt.Errorf("websocket upgrade: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("websocket upgrade: clear deadline: %w", err)
	}
	return c, nil
}

// upgrade writes the upgrade request (prefix, then a fresh key and the bearer)
// and checks the response: 101, the Accept value of the key, subprotocol mqtt.
func (c *wsConn) upgrade(prefix []byte, bearer string) error {
	var key [16]byte
	_, _ = rand.Read(key[:]) // never fails (crypto/rand)
	var k64 [24]byte
	base64.StdEncoding.Encode(k64[:], key[:])
	req := make([]byte, 0, len(prefix)+len(bearer)+80)
	req = append(req, prefix...)
	req = append(req, "Sec-WebSocket-Key: "...)
	req = append(req, k64[:]...)
	req = append(req, "\r\n"...)
	if bearer != "" {
		req = append(req, "Authorization: Bearer "...)
		req = append(req, bearer...)
		req = append(req, "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if _, err := c.w.Write(req); err != nil {
		return fmt.Errorf("websocket upgrade: write request: %w", err)
	}
	return c.readUpgradeResponse(acceptOf(k64[:]))
}

// acceptOf returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func acceptOf(key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	var sum [sha1.Size]byte
	out := make([]byte, base64.StdEncoding.EncodedLen(sha1.Size))
	base64.StdEncoding.Encode(out, h.Sum(sum[:0]))
	return out
}

// readUpgradeResponse reads the response head from br and checks it. Bytes after
// the head stay in br: the server may already have sent frames.
func (c *wsConn) readUpgradeResponse(accept []byte) error {
	line, err := readHeadLine(c.br)
	if err != nil {
		return fmt.Errorf("websocket upgrade: read status: %w", err)
	}
	// "HTTP/1.1 101 Switching Protocols"
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 {
		return fmt.Errorf("websocket upgrade: bad status line %q", truncate(line, 100))
	}
	if code, err := strconv.Atoi(string(rest[:3])); err != nil || code != 101 {
		return fmt.Errorf("websocket upgrade: %s: server did not switch protocols", truncate(rest, 100))
	}
	var upgrade, connection, acceptOK, proto2 bool
	for i := 0; ; i++ {
		if i == wsMaxHeaderLines {
			return errors.New("websocket upgrade: too many response header lines")
		}
		line, err := readHeadLine(c.br)
		if err != nil {
			return fmt.Errorf("websocket upgrade: read headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("websocket upgrade: bad header line %q", truncate(line, 100))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("Upgrade")) {
					connection = true
				}
			}
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			acceptOK = bytes.Equal(value, accept)
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			proto2 = string(value) == "mqtt"
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			// None was offered, so none may be in use (RFC 6455 §4.1).
			return fmt.Errorf("websocket upgrade: server chose extensions %q that were not offered", truncate(value, 100))
		}
	}
	switch {
	case !upgrade || !connection:
		return errors.New("websocket upgrade: 101 response without Upgrade: websocket and Connection: Upgrade")
	case !acceptOK:
		return errors.New("websocket upgrade: missing or wrong Sec-WebSocket-Accept")
	case !proto2:
		return errors.New("websocket upgrade: server did not select subprotocol mqtt")
	}
	return nil
}

// readHeadLine returns one line of an HTTP head without its CRLF; it aliases
// br's buffer until the next read. A line longer than the buffer is an error.
func readHeadLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// Read reads payload bytes of binary messages. It answers pings, and returns
// io.EOF once the server's close frame has been answered or the stream ends
// between frames. Any protocol violation by the server is an error, and every
// later Read returns it again.
func (c *wsConn) Read(p []byte) (int, error) {
	if c.rerr != nil {
		return 0, c.rerr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.remaining == 0 {
		if err := c.nextFrame(); err != nil {
			c.rerr = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	c.remaining -= int64(n)
	if c.server {
		c.unmask(p[:n])
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // inside a frame
		}
		c.rerr = err
	}
	return n, err
}

// nextFrame reads frame headers, handling control frames, until a data frame
// with a non-empty payload begins (c.remaining > 0) or an error occurs.
func (c *wsConn) nextFrame() error {
	h, err := c.br.Peek(2)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) == 0 {
			return io.EOF
		}
		return unexpectedEOF(err)
	}
	b0, b1 := h[0], h[1]
	fin, op := b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 {
		return errors.New("websocket: frame with reserved bits set (no extension was negotiated)")
	}
	masked := b1&0x80 != 0
	switch {
	case masked && !c.server:
		return errors.New("websocket: masked frame from the server")
	case !masked && c.server:
		return errors.New("websocket: unmasked frame from a client")
	}
	hlen, n := 2, int64(b1&0x7f)
	switch n {
	case 126:
		hlen = 4
	case 127:
		hlen = 10
	}
	lenEnd := hlen // where the masking key starts
	if masked {
		hlen += 4
	}
	if hlen > 2 {
		if h, err = c.br.Peek(hlen); err != nil {
			return unexpectedEOF(err)
		}
		switch lenEnd {
		case 4:
			n = int64(binary.BigEndian.Uint16(h[2:]))
		case 10:
			u := binary.BigEndian.Uint64(h[2:])
			if u > wsMaxFrame {
				return fmt.Errorf("websocket: frame of %d bytes exceeds the limit of %d", u, wsMaxFrame)
			}
			n = int64(u)
		}
		if masked {
			c.mask, c.maskPos = binary.LittleEndian.Uint32(h[lenEnd:]), 0
		}
	}
	if n > wsMaxFrame {
		return fmt.Errorf("websocket: frame of %d bytes exceeds the limit of %d", n, wsMaxFrame)
	}
	_, _ = c.br.Discard(hlen) // peeked
	switch op {
	case opBinary, opContinuation:
		if op == opBinary && c.fragmented {
			return errors.New("websocket: binary frame inside a fragmented message")
		}
		if op == opContinuation && !c.fragmented {
			return errors.New("websocket: continuation frame without a message")
		}
		c.fragmented = !fin
		c.remaining = n
		return nil
	case opText:
		return errors.New("websocket: text frame (MQTT uses binary messages)")
	case opClose, opPing, opPong:
		if !fin || n > 125 {
			return errors.New("websocket: fragmented or oversized control frame")
		}
		b := c.ctl[:n]
		if _, err := io.ReadFull(c.br, b); err != nil {
			return unexpectedEOF(err)
		}
		if masked {
			c.unmask(b)
		}
		switch op {
		case opPing:
			if err := c.writeFrame(opPong, b); err != nil {
				return fmt.Errorf("websocket: write pong: %w", err)
			}
		case opClose:
			// Echo the status code (RFC 6455 §5.5.1), then the stream ends.
			if len(b) > 2 {
				b = b[:2]
			}
			_ = c.writeFrame(opClose, b)
			return io.EOF
		}
		return nil
	default:
		return fmt.Errorf("websocket: unknown opcode %#x", op)
	}
}

// unexpectedEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Write sends p as one binary message of one frame.
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.writeFrame(opBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// unmask unmasks b, the next len(b) payload bytes of the current frame, in place.
func (c *wsConn) unmask(b []byte) {
	// The key's byte for payload offset i is byte i%4 of the key: rotate the key
	// so that its first byte is the one for the frame's offset maskPos.
	maskCopy(b, b, bits.RotateLeft32(c.mask, -8*int(c.maskPos&3)))
	c.maskPos += int64(len(b))
}

// writeFrame writes one final frame, header and payload (masked by a client) in
// one write from a buffer reused across writes.
func (c *wsConn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(p)
	need := 14 + n
	if cap(c.wbuf) < need {
		c.wbuf = make([]byte, need, max(need, 256))
	}
	b := c.wbuf[:need]
	b[0] = 0x80 | op
	var maskBit byte = 0x80
	if c.server {
		maskBit = 0
	}
	var h int
	switch {
	case n <= 125:
		b[1] = maskBit | byte(n)
		h = 2
	case n <= 0xffff:
		b[1] = maskBit | 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		h = 4
	default:
		b[1] = maskBit | 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
		h = 10
	}
	if c.server {
		h += copy(b[h:], p)
		_, err := c.w.Write(b[:h])
		return err
	}
	key := mrand.Uint32() // ChaCha8-based; clients must mask (RFC 6455 §5.3)
	binary.LittleEndian.PutUint32(b[h:], key)
	h += 4
	maskCopy(b[h:h+n], p, key)
	_, err := c.w.Write(b[:h+n])
	return err
}

// maskCopy sets dst to src XOR the masking key, whose bytes are key in
// little-endian order (the order they appear on the wire), eight bytes at a time.
func maskCopy(dst, src []byte, key uint32) {
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k8)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ byte(key>>(8*(i&3)))
	}
}
