package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/vcd"
)

// bucketRetained holds MQTT retained messages; doc.go describes its values.
const bucketRetained = "herald_retained"

// retainedVersion is the first byte of a retained value, the format of what follows.
const retainedVersion = 1

// retainedHeader is the size of the metadata before the payload: version, QoS and the
// time in Unix nanoseconds (big endian).
const retainedHeader = 1 + 1 + 8

// RetainedMessage is the retained message of one topic.
type RetainedMessage struct {
	Key     string    // the caller's escaped topic, as given to SetRetained
	Payload []byte    // never empty; shared, must not be modified
	QoS     byte      // QoS of the PUBLISH that retained it
	Time    time.Time // when it was retained
}

// retained is the in-memory copy of herald_retained, kept current by a KV watcher
// with the same revision rules as table (doc.go, Cache).
type retained struct {
	kv     jetstream.KeyValue
	logger *slog.Logger

	mu    sync.RWMutex
	items map[string]retainedItem
	tombs tombstones        // the watcher's position and the local deletes it has not passed
	snap  []RetainedMessage // sorted copy of items for Retained; nil after a change
}

type retainedItem struct {
	rev uint64
	m   RetainedMessage
}

// SetRetained makes payload the retained message of key (the caller's escaped topic,
// a valid KV key: tokens of [-/_=a-zA-Z0-9] separated by dots) with the given QoS,
// replacing any earlier one; an empty payload deletes it. The change is visible to
// Retained on this node when SetRetained returns, and on others when their watcher
// delivers it. A bad key or a QoS over 2 is vcd.CodeInvalid; a failure to reach
// JetStream is vcd.CodeUnavailable.
func (db *DB) SetRetained(ctx context.Context, key string, payload []byte, qos byte) error {
	if !validKey(key) {
		return vcd.Errorf(vcd.CodeInvalid, "invalid retained key %q", key)
	}
	if qos > 2 {
		return vcd.Errorf(vcd.CodeInvalid, "invalid qos %d", qos)
	}
	r := &db.retained
	if len(payload) == 0 {
		// KeyValue.Delete does not return the delete marker's revision, which the
		// cache needs to order a local delete against watch events; the marker is
		// published here exactly as Delete would (KV-Operation: DEL, ADR-8).
		m := &nats.Msg{
			Subject: "$KV." + bucketRetained + "." + key,
			Header:  nats.Header{"KV-Operation": []string{"DEL"}},
		}
		ack, err := db.js.PublishMsg(ctx, m)
		if err != nil {
			return unavailable("delete retained", err)
		}
		r.remove(key, ack.Sequence, false)
		return nil
	}
	now := db.now()
	value := make([]byte, retainedHeader+len(payload))
	value[0] = retainedVersion
	value[1] = qos
	binary.BigEndian.PutUint64(value[2:], uint64(now.UnixNano()))
	copy(value[retainedHeader:], payload)
	rev, err := r.kv.Put(ctx, key, value)
	if err != nil {
		return unavailable("put retained", err)
	}
	r.put(rev, RetainedMessage{Key: key, Payload: value[retainedHeader:], QoS: qos, Time: time.Unix(0, now.UnixNano())}, false)
	return nil
}

// Retained returns every retained message, sorted by key, from memory: no round trip.
// The slice and payloads are shared between callers until the next change and must not
// be modified.
func (db *DB) Retained() []RetainedMessage {
	r := &db.retained
	r.mu.RLock()
	snap := r.snap
	r.mu.RUnlock()
	if snap != nil {
		return snap
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap == nil {
		r.snap = make([]RetainedMessage, 0, len(r.items))
		for _, it := range r.items {
			r.snap = append(r.snap, it.m)
		}
		slices.SortFunc(r.snap, func(a, b RetainedMessage) int { return cmp.Compare(a.Key, b.Key) })
	}
	return r.snap
}

// validKey reports whether key can be a KV key and a subject token sequence.
func validKey(key string) bool {
	if len(key) > 1024 || !validSubject(key, false) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '/', c == '_', c == '=', c == '.':
		default:
			return false
		}
	}
	return true
}

// watchRetained loads herald_retained and starts its watcher, owned by wg, which
// applies changes until watchCtx ends or the connection closes.
func (db *DB) watchRetained(ctx, watchCtx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup) error {
	r := &db.retained
	r.kv = kv
	r.logger = db.logger.With("bucket", bucketRetained)
	r.items = make(map[string]retainedItem)
	return watchBucket(ctx, watchCtx, kv, wg, bucketWatch{apply: func(e jetstream.KeyValueEntry, _ bool) { r.apply(e) }})
}

// apply puts a watch event into the cache.
func (r *retained) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		r.remove(e.Key(), e.Revision(), true)
		return
	}
	v := e.Value()
	if len(v) <= retainedHeader || v[0] != retainedVersion {
		r.logger.Warn("ignoring undecodable value", "key", e.Key(), "revision", e.Revision())
		r.mu.Lock()
		r.tombs.advance(e.Revision())
		r.mu.Unlock()
		return
	}
	r.put(e.Revision(), RetainedMessage{
		Key:     e.Key(),
		Payload: v[retainedHeader:],
		QoS:     v[1],
		Time:    time.Unix(0, int64(binary.BigEndian.Uint64(v[2:]))),
	}, true)
}

// put caches m at rev unless the cache holds rev or newer, or m's key was deleted
// locally at rev or later. watched marks events from the watcher.
func (r *retained) put(rev uint64, m RetainedMessage, watched bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if watched {
		defer r.tombs.advance(rev)
	}
	if old, ok := r.items[m.Key]; ok && old.rev >= rev {
		return
	}
	if r.tombs.buries(m.Key, rev) {
		return
	}
	r.items[m.Key] = retainedItem{rev: rev, m: m}
	r.snap = nil
}

// remove applies a delete of key at rev. A local delete (not watched) leaves a
// tombstone until the watcher passes rev, so that it cannot deliver an older value
// after it.
func (r *retained) remove(key string, rev uint64, watched bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if watched {
		defer r.tombs.advance(rev)
	} else {
		r.tombs.bury(key, rev)
	}
	if old, ok := r.items[key]; ok && old.rev < rev {
		delete(r.items, key)
		r.snap = nil
	}
}
