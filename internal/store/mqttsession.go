package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// bucketMQTTSessions holds persistent MQTT sessions (VCD-COMPAT §6.6), one JSON
// MQTTSession per (principal, client id); see mqttSessionKey. A session is a cursor
// into the notification log, never a copy of its messages (ARCHITECTURE.md,
// decision 3). The bucket is not cached: a session is read once per resumption;
// only its keys are indexed (mqttsession_index.go).
const bucketMQTTSessions = "herald_mqtt_sessions"

// MQTTSession is the stored state of one persistent MQTT session.
type MQTTSession struct {
	PrincipalID    string             `json:"principalId"`
	ClientID       string             `json:"clientId"`
	Subscriptions  []MQTTSubscription `json:"subscriptions,omitempty"`
	AckFloor       uint64             `json:"ackFloor"`           // every matching log message ≤ it is acknowledged
	LogEpoch       string             `json:"logEpoch,omitempty"` // the LogInfo.Epoch AckFloor counts in
	Inflight       []MQTTFlight       `json:"inflight,omitempty"`
	ExpiryInterval time.Duration      `json:"expiryInterval"`
	DisconnectedAt time.Time          `json:"disconnectedAt,omitzero"` // zero while connected
	Updated        time.Time          `json:"updated"`
	Node           string             `json:"node,omitempty"`
	// Revision is the KV revision read, for PutMQTTSession's compare-and-set; it is
	// not stored.
	Revision uint64 `json:"-"`
}

// Expired reports whether the session has outlived its expiry interval at now,
// counted from the disconnect, or from the last save of a session whose node
// stopped without saving the disconnect.
func (s *MQTTSession) Expired(now time.Time) bool {
	from := s.DisconnectedAt
	if from.IsZero() {
		from = s.Updated
	}
	return !from.IsZero() && now.Sub(from) > s.ExpiryInterval
}

// MQTTSubscription is one stored filter and its options.
type MQTTSubscription struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"noLocal,omitempty"`
	RetainAsPublished bool   `json:"retainAsPublished,omitempty"`
	RetainHandling    byte   `json:"retainHandling,omitempty"`
	SubID             uint32 `json:"subId,omitempty"`
}

// MQTTFlight is an outbound message awaiting acknowledgement.
type MQTTFlight struct {
	PacketID uint16 `json:"packetId"`
	Seq      uint64 `json:"seq"`
	QoS      byte   `json:"qos"`
	Released bool   `json:"released,omitempty"` // QoS 2: PUBREL sent, awaiting PUBCOMP
}

// mqttSessionKey is the KV key of a session: both parts base32hex-encoded, so any
// principal id and client id (UTF-8, up to 128 bytes) make a valid key.
func mqttSessionKey(principalID, clientID string) string {
	return "p" + nameEncoding.EncodeToString([]byte(principalID)) + ".c" + nameEncoding.EncodeToString([]byte(clientID))
}

// openMQTTSessions creates or updates the sessions bucket.
func (db *DB) openMQTTSessions(ctx context.Context) error {
	kv, err := db.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucketMQTTSessions, Description: "herald persistent mqtt sessions",
		History: 1, Replicas: db.cfg.Replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return unavailable("bucket "+bucketMQTTSessions, err)
	}
	db.mqttSessions = kv
	return nil
}

// MQTTSession returns the stored session of (principalID, clientID) with its
// Revision, or a vcd.CodeNotFound error. Without checked, the not-found answer comes
// from this node's index of stored keys, which learns another node's saves
// milliseconds late; with it, such an answer also covers every save acknowledged
// anywhere before the call, at the price of a JetStream request (shared by
// concurrent calls) when the index does not know the key.
func (db *DB) MQTTSession(ctx context.Context, principalID, clientID string, checked bool) (MQTTSession, error) {
	key := mqttSessionKey(principalID, clientID)
	exists := db.mqttIndex.mayExist(key)
	if !exists && checked {
		if err := db.mqttIndex.catchUp(ctx); err != nil {
			return MQTTSession{}, unavailable("check mqtt session", err)
		}
		exists = db.mqttIndex.mayExist(key)
	}
	if !exists {
		return MQTTSession{}, notFound("mqtt session", clientID)
	}
	// From the stream leader (cluster.go): a replica may not hold the last save yet,
	// and a record read there would lose its next compare-and-set.
	value, rev, err := db.leaderGet(ctx, bucketMQTTSessions, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return MQTTSession{}, notFound("mqtt session", clientID)
	}
	if err != nil {
		return MQTTSession{}, unavailable("get mqtt session", err)
	}
	var s MQTTSession
	if err := json.Unmarshal(value, &s); err != nil {
		return MQTTSession{}, fmt.Errorf("decode mqtt session: %w", err)
	}
	s.Revision = rev
	return s, nil
}

// PutMQTTSession writes s with compare-and-set: Revision 0 creates it (and fails if it
// exists), otherwise it must be the stored revision. It returns the new revision. A
// lost race is vcd.CodeConflict.
func (db *DB) PutMQTTSession(ctx context.Context, s MQTTSession) (uint64, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("encode mqtt session: %w", err)
	}
	key := mqttSessionKey(s.PrincipalID, s.ClientID)
	var rev uint64
	if s.Revision == 0 {
		rev, err = db.mqttSessions.Create(ctx, key, b)
	} else {
		rev, err = db.mqttSessions.Update(ctx, key, b, s.Revision)
	}
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		db.mqttIndex.put(key, rev)
		return rev, nil
	case errors.Is(err, jetstream.ErrKeyExists),
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return 0, vcd.Errorf(vcd.CodeConflict, "mqtt session %q changed concurrently", s.ClientID)
	}
	return 0, unavailable("put mqtt session", err)
}

// DeleteMQTTSession removes the session; a missing one is not an error.
func (db *DB) DeleteMQTTSession(ctx context.Context, principalID, clientID string) error {
	key := mqttSessionKey(principalID, clientID)
	if err := db.mqttSessions.Purge(ctx, key); err != nil {
		return unavailable("delete mqtt session", err)
	}
	db.mqttIndex.remove(key, 0)
	return nil
}

// MQTTSessions lists every stored session, in no particular order.
func (db *DB) MQTTSessions(ctx context.Context) ([]MQTTSession, error) {
	lister, err := db.mqttSessions.ListKeys(ctx)
	if err != nil {
		return nil, unavailable("list mqtt sessions", err)
	}
	var out []MQTTSession
	for key := range lister.Keys() {
		e, err := db.mqttSessions.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, unavailable("get mqtt session", err)
		}
		var s MQTTSession
		if json.Unmarshal(e.Value(), &s) == nil {
			s.Revision = e.Revision()
			out = append(out, s)
		}
	}
	return out, nil
}

// PurgeExpiredMQTTSessions deletes the sessions expired at now and returns how many.
// A session saved again meanwhile (resumed) is left alone.
func (db *DB) PurgeExpiredMQTTSessions(ctx context.Context, now time.Time) (int, error) {
	all, err := db.MQTTSessions(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range all {
		if !s.Expired(now) {
			continue
		}
		key := mqttSessionKey(s.PrincipalID, s.ClientID)
		err := db.mqttSessions.Delete(ctx, key, jetstream.LastRevision(s.Revision))
		if err == nil {
			db.mqttIndex.remove(key, 0)
			n++
		}
	}
	return n, nil
}

// Message reads one message of the notification log by sequence (a JetStream direct
// get, answered by any replica). A sequence not stored (never, or gone to retention)
// is vcd.CodeNotFound.
func (db *DB) Message(ctx context.Context, seq uint64) (Message, error) {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	req := []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `}`)
	resp, err := db.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+streamNotify, req)
	if err != nil {
		return Message{}, unavailable("get message", err)
	}
	if st := resp.Header.Get("Status"); st != "" {
		if st == "404" {
			return Message{}, notFound("message", strconv.FormatUint(seq, 10))
		}
		return Message{}, unavailable("get message", fmt.Errorf("status %s %s", st, resp.Header.Get("Description")))
	}
	return directMessage(resp)
}

// directMessage converts a direct get reply.
func directMessage(m *nats.Msg) (Message, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("direct get: bad sequence header: %w", err)
	}
	t, _ := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	return Message{Seq: seq, Subject: m.Header.Get(jetstream.SubjectHeader), Payload: m.Data, Time: t,
		Origin: originOf(m.Header)}, nil
}
