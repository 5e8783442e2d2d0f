package store

import (
	"sync"
	"sync/atomic"
)

// Change kinds, the values of Change.Kind.
const (
	ChangeOrg     = "org"
	ChangeUser    = "user"
	ChangeSession = "session"
	ChangeToken   = "token"
	ChangeKey     = "key" // a signing key
	// ChangeServiceAccount: an MQTT service account was written (grants, enabled,
	// secret rotation) or deleted; the broker re-checks or closes its connections.
	ChangeServiceAccount = "serviceAccount"
)

// Change says that an entity was written or deleted, on this node or another one.
type Change struct {
	Kind    string // ChangeOrg, ChangeUser, ChangeSession, ChangeToken, ChangeKey or ChangeServiceAccount
	ID      string // the entity's id (for a signing key, its KID)
	Deleted bool
}

// feed fans changes out to the functions registered with DB.Watch.
//
// Lock order: deliverMu before mu. fn runs with deliverMu held but not mu, so fn may
// call stop (its own or another's) or Watch.
type feed struct {
	deliverMu sync.Mutex // serialises delivery across buckets
	mu        sync.RWMutex
	next      int
	subs      map[int]*subscriber
}

type subscriber struct {
	fn      func(Change)
	stopped atomic.Bool
}

// Watch registers fn to receive a Change for every write and delete of an org, user,
// session, API token, signing key or service account made from now on, by this node or any other node
// sharing the NATS cluster, typically within milliseconds. Changes arrive in revision
// order per kind and one at a time; a write by this node is delivered when the watcher
// sees it, shortly after the writing method returned. fn runs on the store's watcher
// goroutines and must not block: hand slow work to a goroutine of your own.
//
// stop unregisters fn; after stop returns fn is not called again, except that a call
// already under way completes. stop may be called more than once, also from fn.
func (db *DB) Watch(fn func(Change)) (stop func()) {
	s := &subscriber{fn: fn}
	f := &db.feed
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[int]*subscriber)
	}
	id := f.next
	f.next++
	f.subs[id] = s
	f.mu.Unlock()
	return func() {
		s.stopped.Store(true)
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}

// publish delivers c to every registered function.
func (f *feed) publish(c Change) {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.RLock()
	subs := make([]*subscriber, 0, len(f.subs))
	for _, s := range f.subs {
		subs = append(subs, s)
	}
	f.mu.RUnlock()
	for _, s := range subs {
		if !s.stopped.Load() {
			s.fn(c)
		}
	}
}
