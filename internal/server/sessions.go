package server

import (
	"context"

	"github.com/heraldmq/herald/internal/broker"
	"github.com/heraldmq/herald/internal/store"
	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

// sessionStore keeps the broker's persistent MQTT sessions in the store's
// herald_mqtt_sessions bucket (VCD-COMPAT §6.6).
type sessionStore struct{ db *store.DB }

func (s sessionStore) Load(ctx context.Context, principalID, clientID string, checked bool) (broker.SessionRecord, bool, error) {
	r, err := s.db.MQTTSession(ctx, principalID, clientID, checked)
	if vcd.CodeOf(err) == vcd.CodeNotFound {
		return broker.SessionRecord{}, false, nil
	}
	if err != nil {
		return broker.SessionRecord{}, false, err
	}
	rec := broker.SessionRecord{
		PrincipalID: r.PrincipalID, ClientID: r.ClientID, AckFloor: r.AckFloor, LogEpoch: r.LogEpoch,
		ExpiryInterval: r.ExpiryInterval, DisconnectedAt: r.DisconnectedAt, Updated: r.Updated,
		Node: r.Node, Revision: r.Revision,
	}
	for _, sub := range r.Subscriptions {
		rec.Subscriptions = append(rec.Subscriptions, broker.SessionSubscription(sub))
	}
	for _, f := range r.Inflight {
		rec.Inflight = append(rec.Inflight, broker.SessionFlight(f))
	}
	return rec, true, nil
}

func (s sessionStore) Save(ctx context.Context, rec broker.SessionRecord) (uint64, error) {
	r := store.MQTTSession{
		PrincipalID: rec.PrincipalID, ClientID: rec.ClientID, AckFloor: rec.AckFloor, LogEpoch: rec.LogEpoch,
		ExpiryInterval: rec.ExpiryInterval, DisconnectedAt: rec.DisconnectedAt, Updated: rec.Updated,
		Node: rec.Node, Revision: rec.Revision,
	}
	for _, sub := range rec.Subscriptions {
		r.Subscriptions = append(r.Subscriptions, store.MQTTSubscription(sub))
	}
	for _, f := range rec.Inflight {
		r.Inflight = append(r.Inflight, store.MQTTFlight(f))
	}
	return s.db.PutMQTTSession(ctx, r)
}

func (s sessionStore) Delete(ctx context.Context, principalID, clientID string) error {
	return s.db.DeleteMQTTSession(ctx, principalID, clientID)
}

// backlog reads the notification log for resuming sessions; it turns MQTT filters
// into log subject filters and subjects back into topics.
type backlog struct{ db *store.DB }

func (b backlog) Replay(ctx context.Context, filters []string, after uint64, fn func(broker.Message) error) (uint64, error) {
	var subjects []string
	for _, f := range filters {
		for _, sf := range topic.FilterSubjects(f) {
			subjects = append(subjects, store.NotifySubjectPrefix+sf)
		}
	}
	if len(subjects) == 0 {
		lb, err := b.Bounds(ctx)
		return max(lb.Last, after), err
	}
	return b.db.Replay(ctx, subjects, after, func(m store.Message) error {
		t, err := topicOf(m.Subject)
		if err != nil {
			return nil // a foreign subject: nothing to deliver
		}
		return fn(broker.Message{Seq: m.Seq, Topic: t, Payload: m.Payload, Time: m.Time})
	})
}

func (b backlog) Message(ctx context.Context, seq uint64) (broker.Message, error) {
	m, err := b.db.Message(ctx, seq)
	if err != nil {
		return broker.Message{}, err
	}
	t, err := topicOf(m.Subject)
	if err != nil {
		return broker.Message{}, err
	}
	return broker.Message{Seq: m.Seq, Topic: t, Payload: m.Payload, Time: m.Time}, nil
}

func (b backlog) Bounds(ctx context.Context) (broker.LogBounds, error) {
	info, err := b.db.LogInfo(ctx)
	if err != nil {
		return broker.LogBounds{}, err
	}
	return broker.LogBounds{First: info.First, Last: info.Last, Epoch: info.Epoch}, nil
}

// purgeMQTTSessions deletes the persistent sessions that have expired; the
// background housekeeping calls it.
func (s *Server) purgeMQTTSessions(ctx context.Context) {
	if n, err := s.db.PurgeExpiredMQTTSessions(ctx, s.now()); err != nil {
		s.logger.Warn("purge expired mqtt sessions", "err", err)
	} else if n > 0 {
		s.logger.Debug("purged expired mqtt sessions", "count", n)
	}
}
