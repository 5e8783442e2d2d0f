package mqtt

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxPacketSize is the packet size limit NewReader uses when given 0:
// 1 MiB.
const DefaultMaxPacketSize = 1 << 20

// Buffer sizes of a Reader. An idle connection holds one small buffer; a
// packet larger than it gets a buffer of exactly its size, which is dropped
// again once it is consumed.
const (
	readBufferSize = 4096
	keepBufferSize = 64 << 10
)

// readBuffers pools the small buffers of Readers, so that a Release'd idle
// Reader holds none.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// Release gives the Reader's buffer back to a pool shared by all Readers when
// it holds no unread bytes, so that an idle connection holds no buffer, and
// reports whether it did (false: bytes are pending). The payload of the last
// packet read is invalid afterwards. The next ReadPacket takes a buffer again.
func (r *Reader) Release() bool {
	if r.start != r.end {
		return false
	}
	if cap(r.buf) == readBufferSize {
		b := r.buf[:readBufferSize]
		readBuffers.Put(&b)
	}
	r.buf, r.start, r.end = nil, 0, 0
	return true
}

// Reader reads MQTT packets from a byte stream, one at a time, whatever the
// framing of the underlying reads: a read may hold several packets or part of
// one ([MQTT-6.0.0-2] for WebSocket). It is not safe for concurrent use.
//
// After an error other than one from the underlying io.Reader's very first
// byte of a packet, the stream cannot be resynchronised; every later call
// returns the same error and the caller closes the connection.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int // buf[start:end] holds bytes read but not yet decoded
	max        int
	version    byte
	err        error
}

// NewReader returns a Reader that reads from r and refuses packets larger than
// maxPacketSize bytes, counting the fixed header as MQTT 5.0's Maximum Packet
// Size does (§3.1.2.11.4); 0 means DefaultMaxPacketSize. Its protocol version
// is unset until it decodes a CONNECT or SetVersion is called; until then it
// decodes only CONNECT.
func NewReader(r io.Reader, maxPacketSize int) *Reader {
	if maxPacketSize <= 0 {
		maxPacketSize = DefaultMaxPacketSize
	}
	return &Reader{r: r, max: min(maxPacketSize, MaxPacketSize)}
}

// SetVersion sets the protocol level used to decode packets other than
// CONNECT: Version311 or Version5. A client sets it after sending CONNECT.
func (r *Reader) SetVersion(v byte) { r.version = v }

// Version returns the protocol level in use: the level of the last CONNECT
// decoded successfully, or the one set with SetVersion, or 0.
func (r *Reader) Version() byte { return r.version }

// Buffered returns the number of bytes read from the underlying reader but
// not yet decoded.
func (r *Reader) Buffered() int { return r.end - r.start }

// ReadPacket reads and decodes the next packet.
//
// It returns io.EOF when the stream ends between packets and
// io.ErrUnexpectedEOF when it ends inside one. A packet larger than the limit
// yields an error wrapping ErrPacketTooLarge, before its body is read. A
// packet that breaks the specification yields a *ProtocolError (see
// ReasonOf). A CONNECT for an unsupported protocol level yields the *Connect
// together with an error wrapping ErrUnsupportedProtocolVersion. A CONNECT
// that decodes sets the Reader's version.
//
// A returned Publish's Payload aliases the Reader's buffer and is valid only
// until the next call to ReadPacket; use Publish.Clone to keep it.
func (r *Reader) ReadPacket() (Packet, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.readPacket()
	if err != nil {
		r.err = err
		return p, err
	}
	if c, ok := p.(*Connect); ok {
		r.version = c.ProtocolVersion
	}
	return p, nil
}

func (r *Reader) readPacket() (Packet, error) {
	if r.start == r.end {
		// Nothing pending: reuse the buffer from its start. This overwrites
		// the previous packet, which is why payloads alias only until the
		// next call.
		r.start, r.end = 0, 0
		if cap(r.buf) > keepBufferSize {
			// The last packet needed a large buffer; do not keep it for
			// an idle connection.
			r.buf = nil
		}
	}
	// The fixed header: one byte and a Remaining Length of up to four.
	var rl, n int
	for {
		var err error
		if r.end-r.start >= 2 {
			rl, n, err = ParseRemainingLength(r.buf[r.start+1 : r.end])
			if err != nil {
				return nil, err
			}
			if n > 0 {
				break
			}
		}
		if err := r.fill(r.end - r.start + 1); err != nil {
			return nil, err
		}
	}
	size := 1 + n + rl
	if size > r.max {
		return nil, fmt.Errorf("mqtt: %s of %d bytes exceeds the limit of %d: %w",
			Type(r.buf[r.start]>>4), size, r.max, ErrPacketTooLarge)
	}
	if err := r.fill(size); err != nil {
		return nil, err
	}
	first, body := r.buf[r.start], r.buf[r.start+1+n:r.start+size:r.start+size]
	r.start += size
	return decodePacket(first, body, r.version)
}

// fill reads until at least need bytes are buffered, growing the buffer to
// exactly need bytes if it is too small (need is at most the size limit).
func (r *Reader) fill(need int) error {
	if r.end-r.start >= need {
		return nil
	}
	if len(r.buf)-r.start < need {
		if need <= len(r.buf) {
			// Move the pending bytes to the front of the buffer.
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		} else {
			var b []byte
			if need <= readBufferSize {
				b = *(readBuffers.Get().(*[]byte))
			} else {
				b = make([]byte, need)
			}
			r.end = copy(b, r.buf[r.start:r.end])
			if cap(r.buf) == readBufferSize {
				old := r.buf[:readBufferSize]
				readBuffers.Put(&old)
			}
			r.buf, r.start = b, 0
		}
	}
	for empty := 0; r.end-r.start < need; {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if r.end-r.start >= need {
			return nil
		}
		switch {
		case errors.Is(err, io.EOF) && r.end == r.start:
			return io.EOF
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		case err != nil:
			return fmt.Errorf("mqtt: read: %w", err)
		case m == 0:
			if empty++; empty >= 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}
