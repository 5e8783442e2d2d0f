package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watchPos is a bucket watcher's position: the highest revision it has delivered.
// Its owner's lock guards it.
type watchPos struct {
	seen  uint64
	moved chan struct{} // closed when seen advances; nil while nobody waits
}

// advance records that the watcher has delivered rev and wakes those waiting for
// it; it reports whether the position moved.
func (p *watchPos) advance(rev uint64) bool {
	if rev <= p.seen {
		return false
	}
	p.seen = rev
	if p.moved != nil {
		close(p.moved)
		p.moved = nil
	}
	return true
}

// waitFor waits until the position, guarded by mu, reaches rev; false if ctx ends
// first.
func (p *watchPos) waitFor(ctx context.Context, mu sync.Locker, rev uint64) bool {
	for {
		mu.Lock()
		if p.seen >= rev {
			mu.Unlock()
			return true
		}
		if p.moved == nil {
			p.moved = make(chan struct{})
		}
		moved := p.moved
		mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			return false
		}
	}
}

// catchUpWait bounds a catch-up: the request for the bucket's last revision and the
// wait for the watcher to deliver it, milliseconds on a healthy cluster.
const catchUpWait = 2 * time.Second

// catchUp returns once the watcher at pos (guarded by mu) has delivered the last
// revision kv holds now, or an error if that takes longer than catchUpWait or ctx
// allows. Every write acknowledged anywhere before the call has then been delivered.
// The request for the last revision is shared by concurrent callers (lastRev).
func catchUp(ctx context.Context, kv jetstream.KeyValue, last *lastRev, mu sync.Locker, pos *watchPos) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	rev, err := last.get(ctx, func(ctx context.Context) (uint64, error) { return lastRevision(ctx, kv) })
	if err != nil {
		return err
	}
	if !pos.waitFor(ctx, mu, rev) {
		mu.Lock()
		seen := pos.seen
		mu.Unlock()
		return fmt.Errorf("watcher of %s at revision %d, bucket at %d: %w", kv.Bucket(), seen, rev, ctx.Err())
	}
	return nil
}

// lastRevision asks JetStream for kv's last revision: its stream's last sequence,
// which every write, delete and purge advances.
func lastRevision(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, unavailable("status of "+kv.Bucket(), err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("status of %s: %T has no stream state", kv.Bucket(), st)
	}
	return bs.StreamInfo().State.LastSeq, nil
}

// lastRev shares one request for a bucket's last revision among the callers that
// arrive while it is pending, so that a burst of index misses (bad credentials among
// them) costs JetStream one request at a time. A caller only ever joins a request
// sent after it arrived: the answer then covers every write acknowledged before.
type lastRev struct {
	mu      sync.Mutex
	running bool     // a goroutine is sending requests
	next    *revCall // the request it sends next, nil if nobody waits for one
}

type revCall struct {
	waiters int // callers sharing it; guarded by lastRev.mu
	done    chan struct{}
	rev     uint64
	err     error
}

// get returns the answer of a request of fetch sent after the call, shared with the
// callers that arrived while the request before it was pending. Every call on one
// lastRev passes the same fetch (one bucket's); the first caller's is used.
func (l *lastRev) get(ctx context.Context, fetch func(context.Context) (uint64, error)) (uint64, error) {
	l.mu.Lock()
	if l.next == nil {
		l.next = &revCall{done: make(chan struct{})}
	}
	c := l.next
	c.waiters++
	if !l.running {
		l.running = true
		go l.run(fetch)
	}
	l.mu.Unlock()
	select {
	case <-c.done:
		return c.rev, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run sends the requests that callers wait for, one at a time, until none is wanted.
// Each is bounded by catchUpWait on its own: no caller's context ends it for the
// others.
func (l *lastRev) run(fetch func(context.Context) (uint64, error)) {
	for {
		l.mu.Lock()
		c := l.next
		l.next = nil
		if c == nil {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), catchUpWait)
		c.rev, c.err = fetch(ctx)
		cancel()
		close(c.done)
	}
}
