package store

import (
	"fmt"
	"log/slog"
	"strings"
)

// natsLogger routes the embedded nats-server's log to slog. Its notices are lifecycle
// chatter of a component the operator did not configure, so they go to Debug; warnings
// and errors keep their level. The text is an attribute, not the message, because it
// carries variable data.
type natsLogger struct {
	l *slog.Logger
	// streamFailed, if not nil, is told of a stream the server could not write
	// (streamWriteErr).
	streamFailed func(stream string, err error)
}

// streamWriteErr is how nats-server reports a stream's first write error (stream.go,
// setWriteErr): the stream takes no more messages until the server restarts.
const streamWriteErr = "JetStream stream '%s > %s' critical write error: %v"

func (n natsLogger) Noticef(format string, v ...any) {
	n.l.Debug("nats server", "detail", fmt.Sprintf(format, v...))
}

func (n natsLogger) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, "Plaintext passwords detected") {
		// The only password is the one generated per process for herald's own
		// connection on a loopback port (listenLoopback): nothing to act on.
		n.l.Debug("nats server", "detail", fmt.Sprintf(format, v...))
		return
	}
	n.l.Warn("nats server", "detail", fmt.Sprintf(format, v...))
}

func (n natsLogger) Fatalf(format string, v ...any) {
	n.l.Error("nats server fatal", "detail", fmt.Sprintf(format, v...))
}

func (n natsLogger) Errorf(format string, v ...any) {
	n.l.Error("nats server", "detail", fmt.Sprintf(format, v...))
	if format == streamWriteErr && len(v) == 3 && n.streamFailed != nil {
		stream, _ := v[1].(string)
		err, _ := v[2].(error)
		n.streamFailed(stream, err)
	}
}

func (n natsLogger) Debugf(format string, v ...any) {
	n.l.Debug("nats server", "detail", fmt.Sprintf(format, v...))
}

func (n natsLogger) Tracef(format string, v ...any) {
	n.l.Debug("nats server trace", "detail", fmt.Sprintf(format, v...))
}
