package mqtt

import (
	"bytes"
	"unicode/utf8"
)

// This file holds the data representations of MQTT 5.0 §1.5 (3.1.1 §1.5):
// two- and four-byte integers, Variable Byte Integers, UTF-8 strings, binary
// data and string pairs.

// varintLen returns how many bytes the Variable Byte Integer v takes.
func varintLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

// appendVarint appends v (at most MaxRemainingLength) as a Variable Byte
// Integer, using the minimum number of bytes [MQTT-1.5.5-1].
func appendVarint(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// AppendRemainingLength appends n, which must be between 0 and
// MaxRemainingLength, as a Variable Byte Integer (MQTT 5.0 §1.5.5, 3.1.1
// §2.2.3) and reports whether n was in range; out of range, dst is returned
// unchanged.
func AppendRemainingLength(dst []byte, n int) ([]byte, bool) {
	if n < 0 || n > MaxRemainingLength {
		return dst, false
	}
	return appendVarint(dst, n), true
}

// ParseRemainingLength decodes the Variable Byte Integer at the start of b. It
// returns the value and the number of bytes it took. n is 0 when b ends before
// the integer does (read more and retry); err is a *ProtocolError with
// ReasonMalformedPacket when the integer is longer than four bytes or not in
// its shortest form.
func ParseRemainingLength(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		c := b[i]
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			// [MQTT-1.5.5-1] The encoded value MUST use the minimum number of
			// bytes necessary: a last byte of zero after the first is padding.
			if c == 0 && i > 0 {
				return 0, 0, malformed("variable byte integer not in shortest form")
			}
			return v, i + 1, nil
		}
		shift += 7
	}
	// At most four bytes (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3).
	return 0, 0, malformed("variable byte integer longer than four bytes")
}

// validUTF8 reports whether b is a well-formed UTF-8 string without U+0000.
// [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]) Ill-formed UTF-8, including encoded
// surrogates (which utf8.Valid rejects), makes the packet malformed.
// [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2]) So does the null character U+0000.
func validUTF8(b []byte) bool {
	for i, c := range b {
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.Valid(b[i:]) && bytes.IndexByte(b[i:], 0) < 0
		}
	}
	return true
}

// decoder reads MQTT data representations from a packet body. Byte slices it
// returns alias the body.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

var (
	errShort  = &ProtocolError{Reason: ReasonMalformedPacket, Msg: "packet shorter than its fields"}
	errString = &ProtocolError{Reason: ReasonMalformedPacket, Msg: "invalid UTF-8 string"}
)

func (d *decoder) byte() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errShort
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) uint16() (uint16, error) {
	if len(d.b)-d.off < 2 {
		return 0, errShort
	}
	v := uint16(d.b[d.off])<<8 | uint16(d.b[d.off+1])
	d.off += 2
	return v, nil
}

func (d *decoder) uint32() (uint32, error) {
	if len(d.b)-d.off < 4 {
		return 0, errShort
	}
	b := d.b[d.off:]
	d.off += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

func (d *decoder) varint() (int, error) {
	v, n, err := ParseRemainingLength(d.b[d.off:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errShort
	}
	d.off += n
	return v, nil
}

// binary reads two-byte-length-prefixed binary data; the result aliases the
// body.
func (d *decoder) binary() ([]byte, error) {
	n, err := d.uint16()
	if err != nil {
		return nil, err
	}
	if len(d.b)-d.off < int(n) {
		return nil, errShort
	}
	b := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// binaryCopy reads binary data into a new slice, or nil when it is empty.
func (d *decoder) binaryCopy() ([]byte, error) {
	b, err := d.binary()
	if len(b) == 0 {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// string reads a UTF-8 encoded string and copies it.
func (d *decoder) string() (string, error) {
	b, err := d.binary()
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		return "", errString
	}
	return string(b), nil
}

// rest returns the unread bytes, or nil when there are none.
func (d *decoder) rest() []byte {
	if d.off == len(d.b) {
		return nil
	}
	b := d.b[d.off:]
	d.off = len(d.b)
	return b
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends a two-byte length and s; the caller has checked that
// len(s) <= MaxStringLength.
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// encoder builds one packet: it reserves room for the fixed header, lets the
// packet append its body, and then writes the header in front of the body.
// It records the first error so packet encoders can append unconditionally.
type encoder struct {
	t     Type
	dst   []byte
	start int // len(dst) on entry, returned on error
	err   error
}

// maxHeader is the largest fixed header: one type byte and four length bytes.
const maxHeader = 5

func newEncoder(dst []byte, t Type) encoder {
	e := encoder{t: t, start: len(dst)}
	e.dst = append(dst, 0, 0, 0, 0, 0)
	return e
}

func (e *encoder) fail(msg string) {
	if e.err == nil {
		e.err = &EncodeError{Type: e.t, Msg: msg}
	}
}

func (e *encoder) string(s string) {
	if len(s) > MaxStringLength {
		e.fail("string longer than 65535 bytes")
		return
	}
	e.dst = appendString(e.dst, s)
}

func (e *encoder) binary(b []byte) {
	if len(b) > MaxStringLength {
		e.fail("binary data longer than 65535 bytes")
		return
	}
	e.dst = appendBinary(e.dst, b)
}

// finish writes the fixed header with the given flags in front of the body and
// closes the gap left by the reserved bytes.
func (e *encoder) finish(flags byte) ([]byte, error) {
	n := len(e.dst) - e.start - maxHeader
	if n > MaxRemainingLength {
		e.fail("packet longer than the maximum remaining length")
	}
	if e.err != nil {
		return e.dst[:e.start], e.err
	}
	var hdr [maxHeader]byte
	hdr[0] = byte(e.t)<<4 | flags
	h := appendVarint(hdr[:1], n)
	gap := maxHeader - len(h)
	copy(e.dst[e.start+gap:], h)
	if gap > 0 {
		copy(e.dst[e.start:], e.dst[e.start+gap:])
		e.dst = e.dst[:len(e.dst)-gap]
	}
	return e.dst, nil
}
