package notify_test

import (
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/notify"
)

func BenchmarkAppendEvent(b *testing.B) {
	e := loginEvent(b)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = notify.AppendEvent(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEvent(b *testing.B) {
	e := loginEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := notify.Event(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTask(b *testing.B) {
	t := runningTask(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = notify.AppendTask(buf[:0], t); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkTaskChanged(b *testing.B) {
	t := runningTask(b)
	at := time.Date(2025, 3, 14, 9, 31, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := notify.TaskChanged(t, "id", at); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvelopeCanonical(b *testing.B) {
	benchmarkParseCanonical(b, MustGolden(b, "task.golden"))
}

// benchmarkParseCanonical parses msg and re-encodes it canonically.
func benchmarkParseCanonical(b *testing.B, msg []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		e, err := notify.ParseEnvelope(msg)
		if err != nil {
			b.Fatal(err)
		}
		_ = notify.Canonical(e)
	}
}

// producerEvent returns an EVENT envelope of about 830 bytes, the size herald's bench
// producer sends (internal/bench/envelope.go), built with the package's constructors.
func producerEvent(b *testing.B) []byte {
	b.Helper()
	e := loginEvent(b)
	e.Type = notify.EventTypePrefix + "user/modify"
	e.EntityName = "~bench~01~000001~0000000001~1732786013000000000~xxxxxxxxxx"
	n, err := notify.Event(e)
	if err != nil {
		b.Fatal(err)
	}
	return n.Envelope
}

// BenchmarkParseEnvelopeCanonicalEvent is BenchmarkParseEnvelopeCanonical with the
// ~830-byte EVENT envelope a producer typically sends.
func BenchmarkParseEnvelopeCanonicalEvent(b *testing.B) {
	benchmarkParseCanonical(b, producerEvent(b))
}

func benchmarkCanonicalEnvelope(b *testing.B, msg []byte) {
	buf := make([]byte, 0, 2*len(msg))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var err error
		if buf, err = notify.AppendCanonicalEnvelope(buf[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendCanonicalEnvelope measures the broker's path for a producer's
// envelope: validate and canonicalize into a reused buffer (2 KB TASK envelope).
func BenchmarkAppendCanonicalEnvelope(b *testing.B) {
	benchmarkCanonicalEnvelope(b, MustGolden(b, "task.golden"))
}

// BenchmarkAppendCanonicalEnvelopeEvent is BenchmarkAppendCanonicalEnvelope with the
// ~830-byte EVENT envelope a producer typically sends.
func BenchmarkAppendCanonicalEnvelopeEvent(b *testing.B) {
	benchmarkCanonicalEnvelope(b, producerEvent(b))
}

// BenchmarkCanonicalEnvelopeEvent is what validateNotification runs: the result is a
// new slice the log keeps.
func BenchmarkCanonicalEnvelopeEvent(b *testing.B) {
	msg := producerEvent(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := notify.CanonicalEnvelope(msg); err != nil {
			b.Fatal(err)
		}
	}
}
