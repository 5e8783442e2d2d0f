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
	msg := MustGolden(b, "task.golden")
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
