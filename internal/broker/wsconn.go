package broker

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The broker's own server side of RFC 6455, for MQTT over WebSocket only:
// binary messages as one byte stream [MQTT-6.0.0-2], no extensions. It
// exists for memory and speed: an idle connection holds no read or write
// buffer (wsConn.release), and a Write is one frame sent with one writev,
// without copying the payload.

// wsGUID is the key suffix of the opening handshake (RFC 6455 §1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close status codes (RFC 6455 §7.4.1).
const (
	wsStatusNormal         = 1000
	wsStatusProtocolError  = 1002
	wsStatusUnsupported    = 1003
	wsStatusMessageTooBig  = 1009
	wsCloseWriteTimeout    = time.Second
	wsReadBufferSize       = 4096
	wsMaxControlPayload    = 125
	wsMaxFrameHeaderLength = 14
)

// wsReadBuffers pools the read buffers of active connections.
var wsReadBuffers = sync.Pool{New: func() any { b := make([]byte, wsReadBufferSize); return &b }}

// wsError is a protocol violation by the client; Read closes with its status.
type wsError struct {
	status uint16
	msg    string
}

func (e *wsError) Error() string { return "websocket: " + e.msg }

// wsAccept performs the opening handshake (RFC 6455 §4.2) on an HTTP/1.1
// request that passed the broker's origin, subprotocol and authorization
// checks, answering 101 with subprotocol (none when empty), and returns the
// connection. On failure it has written the HTTP error.
func wsAccept(w http.ResponseWriter, r *http.Request, subprotocol string) (*wsConn, error) {
	fail := func(status int, format string, args ...any) (*wsConn, error) {
		err := fmt.Errorf("websocket handshake: "+format, args...)
		http.Error(w, err.Error(), status)
		return nil, err
	}
	if !r.ProtoAtLeast(1, 1) {
		return fail(http.StatusUpgradeRequired, "HTTP/1.1 required, not %q", r.Proto)
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return fail(http.StatusUpgradeRequired, "not a WebSocket upgrade")
	}
	if r.Method != http.MethodGet {
		return fail(http.StatusMethodNotAllowed, "method %s, not GET", r.Method)
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return fail(http.StatusBadRequest, "unsupported version %q", r.Header.Get("Sec-WebSocket-Version"))
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	key := ""
	if len(keys) == 1 {
		key = strings.TrimSpace(keys[0])
	}
	if v, err := base64.StdEncoding.DecodeString(key); err != nil || len(v) != 16 {
		return fail(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fail(http.StatusInternalServerError, "hijack: %v", err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	var resp strings.Builder
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	resp.WriteString(base64.StdEncoding.EncodeToString(sum[:]))
	resp.WriteString("\r\n")
	if subprotocol != "" {
		resp.WriteString("Sec-WebSocket-Protocol: " + subprotocol + "\r\n")
	}
	// The headers the handlers before this one set go out with the 101, as
	// net/http sends them with any other answer: the request id of every
	// response (VCD-COMPAT §11.3) and its execution time.
	_ = w.Header().WriteSubset(&resp, wsOwnHeaders)
	resp.WriteString("\r\n")
	_ = nc.SetDeadline(time.Time{}) // the server's read and write timeouts end with the upgrade
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, resp.String()); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	c := &wsConn{nc: nc}
	if n := brw.Reader.Buffered(); n > 0 {
		// The client sent frames right behind its request.
		c.getBuf()
		c.rend, _ = brw.Reader.Read(c.rbuf[:min(n, len(c.rbuf))])
		if c.rend < n {
			_ = nc.Close()
			return nil, errors.New("websocket handshake: too much data behind the request")
		}
	}
	return c, nil
}

// wsOwnHeaders are the headers wsAccept writes itself into the 101, never
// copied from the ResponseWriter's.
var wsOwnHeaders = map[string]bool{"Upgrade": true, "Connection": true, "Sec-Websocket-Accept": true,
	"Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true, "Content-Length": true,
	"Content-Type": true, "Transfer-Encoding": true}

// headerHasToken reports whether a comma-separated header has token (ASCII
// case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsConn is a server WebSocket connection as a net.Conn: Read returns the
// payload of binary messages as one stream, Write sends one binary message.
// One goroutine reads at a time; Write and the control frames Read answers
// are serialised by wmu. Read answers ping with pong and close with close,
// and a text message closes the connection with 1003.
type wsConn struct {
	nc net.Conn

	// Read state; reader only.
	rbuf       []byte // pooled buffer, nil while idle (release)
	rpos, rend int    // rbuf[rpos:rend] holds raw bytes not yet parsed
	remain     uint64 // payload bytes of the current data frame still to read
	mask       [4]byte
	maskPos    int
	inMessage  bool // a data message is open (its last frame not yet read)
	rerr       error

	wmu    sync.Mutex
	hdr    [10]byte
	wv     [2][]byte   // header and payload for one writev, reused
	wbufs  net.Buffers // wv as WriteTo takes it (a field: a local would escape)
	closed bool        // a close frame was sent; guarded by wmu
}

// getBuf gives the reader a buffer. Reader only.
func (c *wsConn) getBuf() {
	if c.rbuf == nil {
		c.rbuf = *(wsReadBuffers.Get().(*[]byte))
		c.rpos, c.rend = 0, 0
	}
}

// release returns the read buffer to the pool when it holds nothing unread,
// and reports whether it did. Reader only.
func (c *wsConn) release() bool {
	if c.rpos != c.rend {
		return false
	}
	if c.rbuf != nil {
		b := c.rbuf
		c.rbuf = nil
		c.rpos, c.rend = 0, 0
		wsReadBuffers.Put(&b)
	}
	return true
}

// awaitData waits up to d for bytes from the client, into the read buffer,
// and reports whether any came. It reports true too when the read failed
// other than by timing out: the next Read meets the failure again. Reader
// only, between frames or packets.
func (c *wsConn) awaitData(d time.Duration) bool {
	if c.rend > c.rpos {
		return true
	}
	c.getBuf()
	c.rpos, c.rend = 0, 0
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	n, err := c.nc.Read(c.rbuf)
	_ = c.nc.SetReadDeadline(time.Time{})
	c.rend = n
	return n > 0 || err == nil || !isTimeout(err)
}

// isTimeout reports whether err is a net.Error timeout. (A function of its own:
// errors.As's target escapes, and declared in awaitData it was a heap allocation
// on every read of an active connection, 2 % of herald's CPU with QoS 1
// subscribers.)
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fill reads until at least need (≤ wsMaxFrameHeaderLength + wsMaxControlPayload)
// raw bytes are buffered.
func (c *wsConn) fill(need int) error {
	c.getBuf()
	if len(c.rbuf)-c.rpos < need {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < need {
		n, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if c.rend-c.rpos >= need {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && c.rend > c.rpos {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Read reads payload bytes of binary messages.
func (c *wsConn) Read(p []byte) (int, error) {
	if c.rerr != nil {
		return 0, c.rerr
	}
	n, err := c.read(p)
	if err != nil {
		var we *wsError
		if errors.As(err, &we) {
			c.writeClose(we.status)
		}
		c.rerr = err
	}
	return n, err
}

func (c *wsConn) read(p []byte) (int, error) {
	for c.remain == 0 {
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := uint64(len(p))
	if want > c.remain {
		want = c.remain
	}
	var n int
	if c.rend > c.rpos {
		n = copy(p[:want], c.rbuf[c.rpos:c.rend])
		c.rpos += n
	} else {
		// Nothing buffered: read the payload straight into p.
		var err error
		n, err = c.nc.Read(p[:want])
		if n == 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	for i := range p[:n] {
		p[i] ^= c.mask[c.maskPos&3]
		c.maskPos++
	}
	c.remain -= uint64(n)
	return n, nil
}

// nextFrame reads the next frame header, handles control frames, and leaves
// a data frame's payload to read (remain may be 0 for an empty frame).
func (c *wsConn) nextFrame() error {
	if err := c.fill(2); err != nil {
		return err
	}
	b0, b1 := c.rbuf[c.rpos], c.rbuf[c.rpos+1]
	fin, op, masked := b0&0x80 != 0, b0&0x0F, b1&0x80 != 0
	size := 2
	switch b1 & 0x7F {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if masked {
		size += 4
	}
	if err := c.fill(size); err != nil {
		return err
	}
	h := c.rbuf[c.rpos : c.rpos+size]
	length := uint64(b1 & 0x7F)
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		length = binary.BigEndian.Uint64(h[2:])
	}
	switch {
	case b0&0x70 != 0:
		return &wsError{wsStatusProtocolError, "reserved bits set"}
	case !masked:
		return &wsError{wsStatusProtocolError, "unmasked client frame"} // RFC 6455 §5.1
	case length > 1<<62:
		return &wsError{wsStatusMessageTooBig, "frame too large"}
	}
	copy(c.mask[:], h[size-4:])
	c.maskPos = 0
	c.rpos += size
	if op >= opClose {
		if !fin || length > wsMaxControlPayload {
			return &wsError{wsStatusProtocolError, "invalid control frame"}
		}
		if err := c.fill(int(length)); err != nil {
			return err
		}
		payload := c.rbuf[c.rpos : c.rpos+int(length)]
		c.rpos += int(length)
		for i := range payload {
			payload[i] ^= c.mask[i&3]
		}
		switch op {
		case opPing:
			return c.writeFrame(opPong, payload)
		case opPong:
			return nil
		case opClose:
			status := uint16(wsStatusNormal)
			if len(payload) >= 2 {
				status = binary.BigEndian.Uint16(payload)
			}
			c.writeClose(status)
			return io.EOF
		}
		return &wsError{wsStatusProtocolError, "unknown opcode"}
	}
	switch op {
	case opText:
		return &wsError{wsStatusUnsupported, "text message"}
	case opBinary:
		if c.inMessage {
			return &wsError{wsStatusProtocolError, "new message inside a fragmented one"}
		}
	case opContinuation:
		if !c.inMessage {
			return &wsError{wsStatusProtocolError, "continuation without a message"}
		}
	default:
		return &wsError{wsStatusProtocolError, "unknown opcode"}
	}
	c.inMessage = !fin
	c.remain = length
	return nil
}

// Write sends p as one binary message: one frame, header and payload in one
// writev, p not copied.
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.writeFrame(opBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFrame sends one unmasked frame.
func (c *wsConn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return c.writeFrameLocked(op, p)
}

// writeFrameLocked sends one frame. wmu held on entry.
func (c *wsConn) writeFrameLocked(op byte, p []byte) error {
	h := c.hdr[:2]
	h[0] = 0x80 | op
	switch n := len(p); {
	case n < 126:
		h[1] = byte(n)
	case n <= 0xFFFF:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	// WriteTo consumes its slice, not the array behind it.
	c.wv[0], c.wv[1] = h, p
	c.wbufs = c.wv[:]
	_, err := c.wbufs.WriteTo(c.nc)
	c.wv[0], c.wv[1] = nil, nil
	return err
}

// writeClose sends a close frame with status, once, best effort.
func (c *wsConn) writeClose(status uint16) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeCloseLocked(status)
}

// writeCloseLocked sends a close frame with status, once, best effort. The
// caller holds wmu.
func (c *wsConn) writeCloseLocked(status uint16) {
	if c.closed {
		return
	}
	c.closed = true
	_ = c.nc.SetWriteDeadline(time.Now().Add(wsCloseWriteTimeout))
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], status)
	_ = c.writeFrameLocked(opClose, b[:])
}

// peerClosed reports whether the peer's FIN is waiting on the socket with
// nothing before it, without reading or blocking (finWaiting); false when it
// cannot tell.
func (c *wsConn) peerClosed() bool {
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	return err == nil && finWaiting(rc)
}

// Close sends a normal close frame (best effort, without waiting for the
// peer's, and not at all while a Write is stuck) and closes the connection.
// It never blocks, so it unblocks a stuck Write.
//
// No frame goes to a peer that has closed its side of the connection without
// a close handshake: a client that sent DISCONNECT and closed at once (as MQTT
// asks [MQTT-3.14.4-1], and as paho and herald-bench do) would only answer it
// with a reset, and the write and the reset's handling cost about a tenth of
// a connect's CPU in a connect storm's profile. (A peer's close frame is
// answered in any case, by the reader: RFC 6455 §5.5.1.)
func (c *wsConn) Close() error {
	if c.wmu.TryLock() {
		if !c.closed && c.peerClosed() {
			c.closed = true
		}
		c.writeCloseLocked(wsStatusNormal)
		c.wmu.Unlock()
	}
	return c.nc.Close()
}

func (c *wsConn) LocalAddr() net.Addr                { return c.nc.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.nc.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error      { return c.nc.SetDeadline(t) }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }
