package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// wsPair returns a wsConn over one end of a loopback TCP connection and the
// other end, a raw client.
func wsPair(tb testing.TB) (*wsConn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	return &wsConn{nc: server}, client
}

// clientFrame encodes a client frame, masked unless unmasked.
func clientFrame(fin bool, op byte, payload []byte, unmasked bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	mask := byte(0x80)
	if unmasked {
		mask = 0
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n <= 0xFFFF:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if unmasked {
		return append(out, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(tb testing.TB, r io.Reader) (op byte, payload []byte) {
	tb.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		tb.Fatalf("read frame header: %v", err)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		_, _ = io.ReadFull(r, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, _ = io.ReadFull(r, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		tb.Fatalf("read frame payload: %v", err)
	}
	return h[0] & 0x0F, payload
}

// TestWSConn_Stream reads binary messages, fragmented and interleaved with a
// ping (answered with a pong), as one byte stream, and gives its buffer back
// between frames.
func TestWSConn_Stream(t *testing.T) {
	ws, client := wsPair(t)
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: a 64-bit length
	var in []byte
	in = append(in, clientFrame(false, opBinary, []byte("hel"), false)...)
	in = append(in, clientFrame(true, opPing, []byte("p"), false)...)
	in = append(in, clientFrame(true, opContinuation, []byte("lo "), false)...)
	in = append(in, clientFrame(true, opBinary, nil, false)...)
	in = append(in, clientFrame(true, opBinary, big, false)...)
	go func() { _, _ = client.Write(in) }()
	want := append([]byte("hello "), big...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(ws, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the payloads sent", len(got))
	}
	if !ws.release() || ws.rbuf != nil {
		t.Error("release after everything was read = false; want the buffer back")
	}
	if op, p := readServerFrame(t, client); op != opPong || string(p) != "p" {
		t.Errorf("answer to ping: opcode %#x %q; want pong \"p\"", op, p)
	}
	if _, err := ws.Write([]byte("out")); err != nil {
		t.Fatal(err)
	}
	if op, p := readServerFrame(t, client); op != opBinary || string(p) != "out" {
		t.Errorf("Write sent opcode %#x %q; want binary \"out\"", op, p)
	}
}

// TestWSConn_Refusals closes with 1002 on protocol errors and 1003 on text,
// and echoes a close.
func TestWSConn_Refusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		err   bool   // Read fails with a protocol error (else io.EOF)
		code  uint16 // status of the close frame sent
	}{
		{"Unmasked", clientFrame(true, opBinary, []byte("x"), true), true, wsStatusProtocolError},
		{"Text", clientFrame(true, opText, []byte("x"), false), true, wsStatusUnsupported},
		{"Reserved", append([]byte{0xC2}, clientFrame(true, opBinary, nil, false)[1:]...), true, wsStatusProtocolError},
		{"LoneContinuation", clientFrame(true, opContinuation, []byte("x"), false), true, wsStatusProtocolError},
		{"FragmentedPing", clientFrame(false, opPing, nil, false), true, wsStatusProtocolError},
		{"Close", clientFrame(true, opClose, []byte{0x03, 0xE8}, false), false, wsStatusNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, client := wsPair(t)
			go func() { _, _ = client.Write(tc.frame) }()
			_, err := ws.Read(make([]byte, 16))
			var we *wsError
			if tc.err != errors.As(err, &we) || (!tc.err && err != io.EOF) {
				t.Fatalf("Read error %v; want protocol error %v", err, tc.err)
			}
			op, p := readServerFrame(t, client)
			if op != opClose || len(p) < 2 || binary.BigEndian.Uint16(p) != tc.code {
				t.Errorf("sent opcode %#x %v; want close %d", op, p, tc.code)
			}
		})
	}
}

// chunkConn is a net.Conn whose reads return the input chunk bytes at a time (all
// of it with 0) and whose writes (pongs, close frames) are discarded.
type chunkConn struct {
	in    []byte
	chunk int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if c.chunk > 0 {
		n = min(n, c.chunk)
	}
	n = copy(p[:n], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *chunkConn) Close() error                     { return nil }
func (c *chunkConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *chunkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *chunkConn) SetDeadline(time.Time) error      { return nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzWSConnRead feeds a client's bytes to the server side of the WebSocket
// connection: it must not panic, must return no more payload than it was given,
// must keep returning its first error, and must read the same payload and stop
// the same way however the bytes arrive (all at once or one at a time) and
// however much the caller asks for per Read.
func FuzzWSConnRead(f *testing.F) {
	f.Add(clientFrame(true, opBinary, []byte("hello"), false))
	f.Add(append(clientFrame(false, opBinary, []byte("he"), false), clientFrame(true, opContinuation, []byte("llo"), false)...))
	f.Add(append(clientFrame(true, opPing, []byte("p"), false), clientFrame(true, opBinary, bytes.Repeat([]byte{7}, 300), false)...))
	f.Add(clientFrame(true, opBinary, bytes.Repeat([]byte{1}, 70000), false))
	f.Add(clientFrame(true, opBinary, []byte("unmasked"), true))
	f.Add(clientFrame(true, opClose, []byte{0x03, 0xE8}, false))
	f.Add(clientFrame(true, opText, []byte("text"), false))
	f.Add([]byte{0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		read := func(chunk, per int) ([]byte, error) {
			c := &wsConn{nc: &chunkConn{in: in, chunk: chunk}}
			defer c.release()
			var out []byte
			p := make([]byte, per)
			for {
				n, err := c.Read(p)
				out = append(out, p[:n]...)
				if err != nil {
					if n2, err2 := c.Read(p); n2 != 0 || err2 != err {
						t.Fatalf("Read after %v = %d, %v; want 0 and the same error", err, n2, err2)
					}
					return out, err
				}
				if n == 0 {
					t.Fatal("Read returned 0 bytes and no error")
				}
			}
		}
		whole, errWhole := read(0, 4096)
		if len(whole) > len(in) {
			t.Fatalf("read %d payload bytes from %d input bytes", len(whole), len(in))
		}
		bytewise, errBytewise := read(1, 3)
		if !bytes.Equal(whole, bytewise) || errors.Is(errWhole, io.EOF) != errors.Is(errBytewise, io.EOF) ||
			(errWhole == nil) != (errBytewise == nil) || fmt.Sprint(errWhole) != fmt.Sprint(errBytewise) {
			t.Fatalf("all at once: %d bytes, %v; one byte at a time: %d bytes, %v", len(whole), errWhole, len(bytewise), errBytewise)
		}
	})
}

// TestWSConn_CloseFrame checks Close's close frame: sent (status 1000) to a
// peer that is still there, and not sent to one whose FIN has arrived, which
// would answer it with a reset; and that data waiting before a FIN does not
// count as the peer gone.
func TestWSConn_CloseFrame(t *testing.T) {
	for _, shut := range []bool{false, true} {
		ws, client := wsPair(t)
		if shut {
			if err := client.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the client's FIN on the server's socket", ws.peerClosed)
		} else if ws.peerClosed() {
			t.Fatal("peerClosed with the peer open")
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{0x88, 0x02, 0x03, 0xe8}
		if shut {
			want = nil
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("peer shut down %v: client read % x after Close, want % x", shut, got, want)
		}
	}

	ws, client := wsPair(t)
	if _, err := client.Write([]byte{0xe0, 0x00}); err != nil {
		t.Fatal(err)
	}
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rc, err := ws.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client's bytes on the server's socket", func() bool {
		n := 0
		_ = rc.Control(func(fd uintptr) {
			var b [2]byte
			n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		})
		return n == 2
	})
	if ws.peerClosed() {
		t.Fatal("peerClosed with data waiting before the FIN")
	}

	// A peer that sends a close frame and then shuts down its sending side
	// still gets the answer RFC 6455 requires, though its FIN is waiting.
	ws, client = wsPair(t)
	if _, err := client.Write(clientFrame(true, opClose, []byte{0x03, 0xe9}, false)); err != nil {
		t.Fatal(err)
	}
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := ws.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer's close frame: %d, %v; want io.EOF", n, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(client); err != nil || !bytes.Equal(got, []byte{0x88, 0x02, 0x03, 0xe9}) {
		t.Fatalf("client read % x, %v; want the close frame echoing 1001", got, err)
	}
}

// waitFor waits until cond holds, failing the test after 5 s. On loopback what
// one end sends shows at the other within the sending call or very soon after.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("no sign of %s within 5 s", what)
		}
	}
}
