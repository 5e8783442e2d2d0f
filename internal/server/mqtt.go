package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// notifyLog stores the broker's accepted publishes in the store's notification log,
// under the subject that encodes their topic.
type notifyLog struct {
	db *store.DB
	m  *instruments
}

func (l notifyLog) Append(ctx context.Context, t, id string, payload []byte) (uint64, error) {
	start := time.Now()
	seq, _, err := l.db.Append(ctx, subjectOf(t), id, payload)
	if err == nil {
		l.m.appended(start)
	}
	return seq, err
}

// AppendAsync starts an append for the broker's pipelined publishes; wait reports
// the outcome once JetStream has stored the message (broker.AsyncLog).
func (l notifyLog) AppendAsync(t, id string, payload []byte) (func(context.Context) (uint64, error), error) {
	start := time.Now()
	w, err := l.db.AppendAsync(subjectOf(t), id, payload)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (uint64, error) {
		seq, _, err := w(ctx)
		if err == nil {
			l.m.appended(start)
		}
		return seq, err
	}, nil
}

// retainedStore keeps the broker's retained messages in the store, keyed by the
// escaped topic (VCD-COMPAT §6.4).
type retainedStore struct{ db *store.DB }

func (r retainedStore) SetRetained(ctx context.Context, t string, payload []byte, qos byte) error {
	return r.db.SetRetained(ctx, topic.EscapeSubject(t), payload, qos)
}

// Retained converts the store's retained messages; a key that is no escaped topic
// (written by something else) is skipped.
func (r retainedStore) Retained() []broker.Retained {
	ms := r.db.Retained()
	out := make([]broker.Retained, 0, len(ms))
	for _, m := range ms {
		t, err := topic.UnescapeSubject(m.Key)
		if err != nil {
			continue
		}
		out = append(out, broker.Retained{Topic: t, Payload: m.Payload, QoS: m.QoS})
	}
	return out
}

// subjectOf returns the log subject of an MQTT topic.
func subjectOf(t string) string { return store.NotifySubjectPrefix + topic.EscapeSubject(t) }

// topicOf returns the MQTT topic of a log subject.
func topicOf(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, store.NotifySubjectPrefix)
	if !ok {
		return "", fmt.Errorf("subject %q is outside the notification log", subject)
	}
	return topic.UnescapeSubject(rest)
}

// validateNotification checks a producer's envelope on a notification topic and
// appends it to dst in canonical layout (VCD-COMPAT §6.3, §8.1).
func validateNotification(dst []byte, t string, payload []byte) ([]byte, error) {
	if err := topic.ValidateNotification(t); err != nil {
		return dst, vcd.Wrap(vcd.CodeInvalid, err, "The topic is not a notification topic.")
	}
	// Straight from the producer's bytes to the canonical copy the log keeps, without
	// an Envelope: the same checks, errors and bytes as Canonical(ParseEnvelope(payload))
	// at a fraction of the cost (this runs for every message a producer publishes).
	return notify.AppendCanonicalEnvelope(dst, payload)
}

// runFeed delivers every message appended to the log from now on to the broker, in
// log order, until ctx ends. It is the node's one live feed.
func (s *Server) runFeed(ctx context.Context) {
	s.feedRunning.Store(true)
	defer s.feedRunning.Store(false)
	err := s.db.Feed(ctx, 0, func(m store.Message) {
		if prev := s.inst.fed.Swap(m.Seq); prev != 0 && m.Seq <= prev {
			s.broker.LogReset(prev, m.Seq) // the feed started over on a new log
		}
		t, err := topicOf(m.Subject)
		if err != nil {
			s.logger.Warn("skipping log message with a foreign subject", "seq", m.Seq, "err", err)
			return
		}
		s.broker.Deliver(broker.Message{Seq: m.Seq, Topic: t, Payload: m.Payload, Time: m.Time})
	})
	if err != nil && ctx.Err() == nil {
		s.logger.Error("notification feed stopped", "err", err)
	}
}

// onChange closes the MQTT connections that a directory change ends (VCD-COMPAT
// §2.3, §5.1, §5.2, §6.3, §6.7): a revoked or deleted session; a disabled or deleted
// user or org; any change to a service account (PUT, rotation, disable, delete).
// It runs on the store's watcher goroutines and reads only the store's caches.
func (s *Server) onChange(c store.Change) {
	ctx := context.Background()
	switch c.Kind {
	case store.ChangeSession:
		if c.Deleted {
			s.broker.CloseSessions(c.ID)
		} else if sess, err := s.db.Session(ctx, c.ID); err != nil || sess.Revoked {
			s.broker.CloseSessions(c.ID)
		}
	case store.ChangeUser:
		if c.Deleted {
			s.broker.CloseUser(c.ID)
		} else if u, err := s.db.User(ctx, c.ID); err != nil || !u.Enabled {
			s.broker.CloseUser(c.ID)
		}
	case store.ChangeOrg:
		if c.Deleted {
			s.broker.CloseOrg(c.ID)
		} else if o, err := s.db.Org(ctx, c.ID); err != nil || !o.Enabled {
			s.broker.CloseOrg(c.ID)
		}
	case store.ChangeServiceAccount:
		s.broker.ClosePrincipal(c.ID)
	}
}

// serveMQTT accepts plain MQTT connections (TLS when tlsCfg is set) for back-end
// services until the listener is closed; each connection runs in a goroutine that
// the server's wait group owns.
func (s *Server) serveMQTT(ctx context.Context, ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logger.Error("mqtt listener stopped", "err", err)
			}
			return
		}
		if ok, _ := s.connects.Allow(hostOf(c.RemoteAddr().String()), s.now()); !ok {
			s.logger.Debug("mqtt connect refused: rate limit", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.broker.ServeConn(ctx, c, nil)
		}()
	}
}

// limitConnects answers 429 TOO_MANY_REQUESTS, with Retry-After, to WebSocket
// upgrades beyond the per-address connect rate, before any authentication work.
func (s *Server) limitConnects(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.connects.Allow(hostOf(r.RemoteAddr), s.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			s.api.WriteError(w, r, vcd.Errorf(vcd.CodeTooManyRequests, "Too many connections from this address; retry later."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOf returns the host of a host:port address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// listenMQTT binds the optional MQTT listener.
func (s *Server) listenMQTT(tlsCfg *tls.Config) error {
	ln, err := net.Listen("tcp", s.cfg.MQTT.Addr)
	if err != nil {
		return fmt.Errorf("listen mqtt: %w", err)
	}
	scheme := "mqtt"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "mqtts"
	}
	s.mqttLn = ln
	s.logger.Info("listening", "url", scheme+"://"+displayAddr(ln.Addr()), "addr", ln.Addr().String())
	return nil
}

// MQTTAddr returns the address of the plain MQTT listener, or "" when there is none.
func (s *Server) MQTTAddr() string {
	if s.mqttLn == nil {
		return ""
	}
	return s.mqttLn.Addr().String()
}
