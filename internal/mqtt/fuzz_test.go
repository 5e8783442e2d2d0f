package mqtt

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzLimit is the packet size limit of the Reader under fuzzing.
const fuzzLimit = 4096

// FuzzDecode feeds arbitrary bytes to a Reader. It checks that decoding never
// panics; that the Reader never buffers more than the limit however large the
// declared length; that errors are *ProtocolError values or I/O errors; and
// that every packet decoded re-encodes to bytes that decode to the same
// packet and re-encode to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0, 0xc0, 0}, byte(0))
	f.Add([]byte{0x30, 0x07, 0, 3, 'a', '/', 'b', 'h', 'i'}, byte(4))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, byte(5))
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		r := NewReader(bytes.NewReader(data), fuzzLimit)
		switch version % 3 {
		case 1:
			r.SetVersion(Version311)
		case 2:
			r.SetVersion(Version5)
		}
		for {
			p, err := r.ReadPacket()
			if cap(r.buf) > max(fuzzLimit, readBufferSize) {
				t.Fatalf("reader buffer grew to %d bytes; limit %d", cap(r.buf), fuzzLimit)
			}
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("ReadPacket error %v (%T); want a *ProtocolError or EOF", err, err)
				}
				if p != nil && !errors.Is(err, ErrUnsupportedProtocolVersion) {
					t.Fatalf("ReadPacket = %#v with error %v; want no packet", p, err)
				}
				return
			}
			checkRoundTrip(t, p, r.Version())
		}
	})
}

// checkRoundTrip encodes p, decodes the result and compares.
func checkRoundTrip(t *testing.T, p Packet, version byte) {
	t.Helper()
	enc, err := p.Append(nil, version)
	if err != nil {
		t.Fatalf("Append(%#v, %d) error: %v", p, version, err)
	}
	q, n, err := Decode(enc, version)
	if err != nil || n != len(enc) {
		t.Fatalf("Decode(Append(%#v)) = %d of %d bytes, %v", p, n, len(enc), err)
	}
	if diff := cmp.Diff(p, q); diff != "" {
		t.Fatalf("decode(encode(p)) != p (-p +got):\n%s", diff)
	}
	enc2, err := q.Append(nil, version)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding not canonical:\n%x\n%x (%v)", enc, enc2, err)
	}
}

// FuzzRemainingLength checks that ParseRemainingLength accepts exactly the
// minimal encodings of 0..MaxRemainingLength and inverts
// AppendRemainingLength.
func FuzzRemainingLength(f *testing.F) {
	for _, s := range [][]byte{{0}, {0x7f}, {0x80, 1}, {0xff, 0x7f}, {0x80, 0x80, 1}, {0xff, 0xff, 0xff, 0x7f},
		{0x80, 0}, {0xff, 0xff, 0xff, 0xff, 0x7f}, {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := ParseRemainingLength(b)
		switch {
		case err != nil:
			return
		case n == 0:
			if len(b) >= 4 {
				t.Fatalf("ParseRemainingLength(%x) incomplete with %d bytes", b, len(b))
			}
			return
		}
		if v < 0 || v > MaxRemainingLength || n > 4 {
			t.Fatalf("ParseRemainingLength(%x) = %d, %d", b, v, n)
		}
		enc, ok := AppendRemainingLength(nil, v)
		if !ok || !bytes.Equal(enc, b[:n]) || len(enc) != varintLen(v) {
			t.Fatalf("AppendRemainingLength(%d) = %x; parsed from %x", v, enc, b[:n])
		}
	})
}
