// Package ratelimit bounds how often one key (a client address) may do something:
// logins per minute for the API, connects per second for MQTT. It counts in fixed
// windows, which is cheap and good enough to stop floods; it is per node, since a
// flood hits the node it reaches.
package ratelimit

import (
	"sync"
	"time"
)

// maxKeys bounds the keys tracked before finished windows are swept, so a flood from
// many addresses cannot grow memory without bound between sweeps.
const maxKeys = 10000

// Limiter allows at most Limit events per key in each Window. It is safe for
// concurrent use.
type Limiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	start time.Time
	count int
}

// New returns a Limiter of limit events per window for each key.
func New(limit int, window time.Duration) *Limiter {
	return &Limiter{limit: limit, window: window, buckets: make(map[string]*bucket)}
}

// Allow counts one event for key at now. Past the limit it reports false and how long
// until the key's window ends.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) >= maxKeys {
		for k, b := range l.buckets {
			if now.Sub(b.start) >= l.window {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[key]
	if b == nil || now.Sub(b.start) >= l.window || now.Before(b.start) {
		if b == nil && len(l.buckets) >= maxKeys {
			// Every tracked key is inside its window: refuse new keys rather than grow.
			return false, l.window
		}
		b = &bucket{start: now}
		l.buckets[key] = b
	}
	b.count++
	if b.count > l.limit {
		return false, b.start.Add(l.window).Sub(now)
	}
	return true, 0
}
