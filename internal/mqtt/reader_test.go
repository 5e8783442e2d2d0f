package mqtt_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/mqtt"
)

// mustStream encodes the fixtures of one version back to back, preceded by a
// CONNECT of that version so that a Reader learns the version.
func mustStream(tb testing.TB, version byte) ([]byte, []mqtt.Packet) {
	tb.Helper()
	connect := &mqtt.Connect{ProtocolVersion: version, CleanStart: true, KeepAlive: 60, ClientID: "c"}
	b, err := connect.Append(nil, version)
	if err != nil {
		tb.Fatal(err)
	}
	want := []mqtt.Packet{connect}
	for _, tc := range fixtures {
		if tc.version != version {
			continue
		}
		if b, err = tc.pkt.Append(b, version); err != nil {
			tb.Fatalf("%s: %v", tc.name, err)
		}
		want = append(want, tc.pkt)
	}
	return b, want
}

// TestReader_Framing reads the same stream through readers that split it
// differently: all at once, one byte per read, half-full reads, and reads
// returning data together with io.EOF.
func TestReader_Framing(t *testing.T) {
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		stream, want := mustStream(t, v)
		tests := []struct {
			name string
			r    io.Reader
		}{
			{"one read", bytes.NewReader(stream)},
			{"one byte per read", iotest.OneByteReader(bytes.NewReader(stream))},
			{"half reads", iotest.HalfReader(bytes.NewReader(stream))},
			{"data with EOF", iotest.DataErrReader(bytes.NewReader(stream))},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := mqtt.NewReader(tc.r, 0)
				for i, w := range want {
					p, err := r.ReadPacket()
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					if diff := cmp.Diff(w, p); diff != "" {
						t.Fatalf("packet %d mismatch (-want +got):\n%s", i, diff)
					}
				}
				if r.Version() != v {
					t.Errorf("Version() = %d; want %d", r.Version(), v)
				}
				if p, err := r.ReadPacket(); err != io.EOF {
					t.Errorf("ReadPacket at end = %v, %v; want io.EOF", p, err)
				}
			})
		}
	}
}

// countingReader counts the bytes it hands out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReader_PacketTooLarge(t *testing.T) {
	const limit = 100
	pub := &mqtt.Publish{Topic: "t", Payload: make([]byte, 1<<20)}
	b, err := pub.Append(nil, mqtt.Version311)
	if err != nil {
		t.Fatal(err)
	}
	// Only the first 4 bytes (type and a three-byte length) may be read: the
	// reader must refuse the packet from its header alone.
	cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(b))}
	r := mqtt.NewReader(cr, limit)
	r.SetVersion(mqtt.Version311)
	p, err := r.ReadPacket()
	if !errors.Is(err, mqtt.ErrPacketTooLarge) || mqtt.ReasonOf(err) != mqtt.ReasonPacketTooLarge {
		t.Fatalf("ReadPacket = %v, %v; want ErrPacketTooLarge", p, err)
	}
	if cr.n != 4 {
		t.Errorf("read %d bytes before refusing; want 4", cr.n)
	}
	// The error is sticky: the stream cannot be resynchronised.
	if _, err2 := r.ReadPacket(); err2 != err {
		t.Errorf("second ReadPacket error = %v; want %v", err2, err)
	}
}

func TestReader_LimitCountsFixedHeader(t *testing.T) {
	pub := &mqtt.Publish{Topic: "t", Payload: make([]byte, 95)} // 2 + 98 bytes
	b, err := pub.Append(nil, mqtt.Version311)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		ok    bool
	}{{len(b), true}, {len(b) - 1, false}} {
		r := mqtt.NewReader(bytes.NewReader(b), tc.limit)
		r.SetVersion(mqtt.Version311)
		_, err := r.ReadPacket()
		if (err == nil) != tc.ok {
			t.Errorf("limit %d, packet %d bytes: error %v; want ok=%v", tc.limit, len(b), err, tc.ok)
		}
	}
}

func TestReader_UnexpectedEOF(t *testing.T) {
	b := mustHex(t, "30 07 0003 612f62 6869")
	for i := 1; i < len(b); i++ {
		r := mqtt.NewReader(bytes.NewReader(b[:i]), 0)
		r.SetVersion(mqtt.Version311)
		if p, err := r.ReadPacket(); err != io.ErrUnexpectedEOF {
			t.Errorf("ReadPacket on %d of %d bytes = %v, %v; want io.ErrUnexpectedEOF", i, len(b), p, err)
		}
	}
}

func TestReader_ReadError(t *testing.T) {
	boom := errors.New("boom")
	r := mqtt.NewReader(iotest.ErrReader(boom), 0)
	if _, err := r.ReadPacket(); !errors.Is(err, boom) {
		t.Errorf("ReadPacket error = %v; want it to wrap %v", err, boom)
	}
}

func TestReader_UnsupportedProtocolVersion(t *testing.T) {
	r := mqtt.NewReader(bytes.NewReader(mustHex(t, "10 10 0006 4d5149736470 03 02 003c 0002 6964")), 0)
	p, err := r.ReadPacket()
	if !errors.Is(err, mqtt.ErrUnsupportedProtocolVersion) {
		t.Fatalf("ReadPacket error = %v; want ErrUnsupportedProtocolVersion", err)
	}
	if c, ok := p.(*mqtt.Connect); !ok || c.ProtocolVersion != mqtt.Version31 {
		t.Errorf("ReadPacket packet = %#v; want *Connect level 3", p)
	}
	if r.Version() != 0 {
		t.Errorf("Version() = %d after a refused CONNECT; want 0", r.Version())
	}
}

// TestReader_PayloadAliasing pins the documented aliasing rule: a payload is
// valid until the next ReadPacket; a Clone stays valid.
func TestReader_PayloadAliasing(t *testing.T) {
	var b []byte
	for _, s := range []string{"first", "other"} {
		b, _ = (&mqtt.Publish{Topic: "t", Payload: []byte(s)}).Append(b, mqtt.Version311)
	}
	r := mqtt.NewReader(iotest.OneByteReader(bytes.NewReader(b)), 0)
	r.SetVersion(mqtt.Version311)
	p, err := r.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	first := p.(*mqtt.Publish)
	kept := first.Clone()
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if string(kept.Payload) != "first" {
		t.Errorf("cloned payload = %q; want %q", kept.Payload, "first")
	}
	if string(first.Payload) != "other" {
		t.Errorf("aliased payload = %q; want it overwritten by the next packet", first.Payload)
	}
}

// TestReader_ReleasesLargeBuffer checks that a large packet does not pin a
// large buffer: the next small packet is read into a small buffer, which is
// visible through the aliasing of the earlier payload (it is left intact).
func TestReader_ReleasesLargeBuffer(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10)
	b, _ := (&mqtt.Publish{Topic: "t", Payload: big}).Append(nil, mqtt.Version311)
	b, _ = (&mqtt.Publish{Topic: "t", Payload: []byte("small")}).Append(b, mqtt.Version311)
	r := mqtt.NewReader(iotest.HalfReader(bytes.NewReader(b)), 1<<20)
	r.SetVersion(mqtt.Version311)
	p, err := r.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	first := p.(*mqtt.Publish)
	if r.Buffered() != 0 {
		t.Fatalf("Buffered() = %d; want 0: the buffer is sized to the large packet", r.Buffered())
	}
	if p, err = r.ReadPacket(); err != nil || string(p.(*mqtt.Publish).Payload) != "small" {
		t.Fatalf("second ReadPacket = %v, %v", p, err)
	}
	if !bytes.Equal(first.Payload, big) {
		t.Errorf("large buffer reused for the next packet; want it released")
	}
}

// TestReader_Release gives the buffer back only between packets, and reading
// goes on afterwards.
func TestReader_Release(t *testing.T) {
	stream, want := mustStream(t, mqtt.Version311)
	// Two reads: the first ends inside the second packet.
	first := len(stream) / 2
	r := mqtt.NewReader(io.MultiReader(bytes.NewReader(stream[:first]), bytes.NewReader(stream[first:])), 0)
	if !r.Release() {
		t.Fatal("Release on a new Reader = false; want true")
	}
	for i, w := range want {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		// Compared before Release, which invalidates a payload.
		if diff := cmp.Diff(w, p); diff != "" {
			t.Fatalf("packet %d mismatch (-want +got):\n%s", i, diff)
		}
		if r.Buffered() > 0 && r.Release() {
			t.Fatal("Release with bytes pending = true; want false")
		}
		if r.Buffered() == 0 && !r.Release() {
			t.Fatal("Release between packets = false; want true")
		}
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Errorf("ReadPacket at end: %v; want io.EOF", err)
	}
}
