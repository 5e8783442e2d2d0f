package store

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// mqttSessionIndex knows which persistent-session keys exist, so that the common
// connect, a clean session of a client that has nothing stored, answers "not found"
// without a JetStream request. Each such request went through the JetStream API and
// the connection's one NATS socket: under a connect storm, half the handshakes
// queued there (issue 7).
//
// It holds keys only, never sessions (a session is read from the stream leader when
// it exists; see MQTTSession). A wrong "exists" costs one request; a wrong
// "absent" would drop a stored session, so:
//   - this node's own writes are applied as they return, before anything that
//     depends on them (a taken-over connection saves before its successor loads);
//   - other nodes' writes arrive through a watch of the bucket, milliseconds after
//     them. A connect that will keep a session asks for a checked answer
//     (DB.MQTTSession): a miss then waits for the watch to catch up with the bucket as
//     it is (catchUp). A clean session that keeps nothing does not wait: a session
//     another node saved for its client id within those milliseconds is the one
//     case answered "absent" while it exists, and is not discarded then
//     (docs/CLUSTER.md);
//   - until the watch has loaded the bucket, every key may exist.
type mqttSessionIndex struct {
	mu    sync.Mutex
	ready bool
	keys  map[string]uint64 // key → revision of its last put seen
	gone  map[string]uint64 // deleted key → revision of the delete seen
	pos   watchPos          // the watch's position in the bucket
	kv    jetstream.KeyValue
	last  lastRev // catchUp's requests for the bucket's last revision
}

// mayExist reports whether key may have a stored session.
func (x *mqttSessionIndex) mayExist(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return true
	}
	_, ok := x.keys[key]
	return ok
}

// catchUp returns once the watch has delivered every write acknowledged anywhere
// before the call (the function catchUp).
func (x *mqttSessionIndex) catchUp(ctx context.Context) error {
	x.mu.Lock()
	kv := x.kv
	x.mu.Unlock()
	return catchUp(ctx, kv, &x.last, &x.mu, &x.pos)
}

// put records key as stored at rev, unless a delete at a later revision was seen.
func (x *mqttSessionIndex) put(key string, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g, ok := x.gone[key]; ok {
		if g >= rev {
			return
		}
		delete(x.gone, key)
	}
	if old, ok := x.keys[key]; !ok || rev > old {
		x.keys[key] = rev
	}
}

// remove records key as deleted at rev (0: by this node, revision unknown, after
// every put it has seen). A later put wins; an older one seen afterwards may add
// the key back, which is only a wasted request.
func (x *mqttSessionIndex) remove(key string, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, ok := x.keys[key]
	if rev == 0 {
		rev = old
	} else if ok && old > rev {
		return
	}
	delete(x.keys, key)
	if rev > x.gone[key] {
		x.gone[key] = rev
	}
}

// watch loads the bucket's keys and keeps them current until watchCtx ends; the
// watcher goroutine is owned by wg. It returns once the keys are loaded.
func (x *mqttSessionIndex) watch(ctx, watchCtx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup) error {
	x.mu.Lock()
	x.keys, x.gone, x.kv = make(map[string]uint64), make(map[string]uint64), kv
	x.mu.Unlock()
	setReady := func(ready bool) {
		x.mu.Lock()
		x.ready = ready
		x.mu.Unlock()
	}
	return watchBucket(ctx, watchCtx, kv, wg, bucketWatch{
		apply: func(e jetstream.KeyValueEntry, _ bool) {
			if e.Operation() == jetstream.KeyValuePut {
				x.put(e.Key(), e.Revision())
			} else {
				x.remove(e.Key(), e.Revision())
			}
			x.mu.Lock()
			x.pos.advance(e.Revision())
			x.mu.Unlock()
		},
		loaded: func() { setReady(true) },
		// The watch ended (Close, or the connection closed): from now on every key
		// may exist.
		stopped: func() { setReady(false) },
	}, jetstream.MetaOnly())
}
