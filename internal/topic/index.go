package topic

import (
	"strings"
	"sync"
)

// Index is a subscription index for fan-out: a trie keyed by topic levels that maps
// filters to values (typically a session's subscription) and finds, for a topic, every
// value whose filter matches it, with Match's semantics. A whole-level '*' is indexed
// as '+'.
//
// An Index holds a set of (filter, value) pairs: the filter is kept as sent, so the same
// value under "a/*" and "a/+" is two pairs, each removed by its own string, and Match
// reports the value once per matching pair. The zero Index is empty and ready to use.
//
// Index is safe for concurrent use: a sync.RWMutex lets any number of Match calls run
// together while Add and Remove take it exclusively. Match calls fn with the read lock
// held, so fn must not call Add or Remove on the same Index.
type Index[T comparable] struct {
	mu   sync.RWMutex
	root node[T] // guarded by mu
	n    int     // number of pairs; guarded by mu
}

type entry[T comparable] struct {
	filter string
	v      T
}

// node is one level of the trie: the pairs whose filter ends at this level (exact) or
// continues with a final '#' (hash), and the next levels, literal or single-level
// wildcard.
type node[T comparable] struct {
	children map[string]*node[T]
	single   *node[T]
	hash     []entry[T]
	exact    []entry[T]
}

func (n *node[T]) empty() bool {
	return len(n.children) == 0 && n.single == nil && len(n.hash) == 0 && len(n.exact) == 0
}

// Add adds the pair (filter, v); adding a pair already present changes nothing. It
// returns ValidateFilter's error for an invalid filter.
func (x *Index[T]) Add(filter string, v T) error {
	if err := ValidateFilter(filter); err != nil {
		return err
	}
	e := entry[T]{filter, v}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := &x.root
	f := filter
	for {
		level, rest, more := strings.Cut(f, "/")
		if level == "#" {
			x.insert(&n.hash, e)
			return nil
		}
		var next *node[T]
		if isSingle(level) {
			if n.single == nil {
				n.single = new(node[T])
			}
			next = n.single
		} else {
			next = n.children[level]
			if next == nil {
				if n.children == nil {
					n.children = make(map[string]*node[T])
				}
				next = new(node[T])
				n.children[level] = next
			}
		}
		n = next
		if !more {
			x.insert(&n.exact, e)
			return nil
		}
		f = rest
	}
}

// insert appends e to *s unless present. Lock held on entry.
func (x *Index[T]) insert(s *[]entry[T], e entry[T]) {
	for _, have := range *s {
		if have == e {
			return
		}
	}
	*s = append(*s, e)
	x.n++
}

// Remove removes the pair (filter, v), and reports whether it was present. Nodes left
// empty are freed.
func (x *Index[T]) Remove(filter string, v T) bool {
	if checkFilter(filter).err != nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.root.remove(filter, entry[T]{filter, v}) {
		return false
	}
	x.n--
	return true
}

// remove removes e, whose filter continues at n with f. Lock held on entry.
func (n *node[T]) remove(f string, e entry[T]) bool {
	level, rest, more := strings.Cut(f, "/")
	if level == "#" {
		return deleteEntry(&n.hash, e)
	}
	child := n.children[level]
	if isSingle(level) {
		child = n.single
	}
	if child == nil {
		return false
	}
	var removed bool
	if more {
		removed = child.remove(rest, e)
	} else {
		removed = deleteEntry(&child.exact, e)
	}
	if removed && child.empty() {
		if isSingle(level) {
			n.single = nil
		} else {
			delete(n.children, level)
		}
	}
	return removed
}

// deleteEntry removes e from *s by moving the last entry into its place; the order of
// entries is not kept.
func deleteEntry[T comparable](s *[]entry[T], e entry[T]) bool {
	for i, have := range *s {
		if have == e {
			last := len(*s) - 1
			(*s)[i] = (*s)[last]
			(*s)[last] = entry[T]{} // drop the reference held by the backing array
			*s = (*s)[:last]
			if len(*s) == 0 {
				*s = nil
			}
			return true
		}
	}
	return false
}

// Len returns the number of (filter, value) pairs in the index.
func (x *Index[T]) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Match calls fn with the value of every pair whose filter matches topic, in no
// particular order, once per pair. It calls nothing for an invalid topic. It does not
// allocate.
func (x *Index[T]) Match(topic string, fn func(v T)) {
	if checkTopic(topic).err != nil {
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	// A wildcard first level never matches a '$' topic [MQTT-4.7.2-1].
	x.root.match(topic, false, topic[0] != '$', fn)
}

// AppendMatches appends to dst the values Match would report and returns the extended
// slice; with enough capacity in dst it does not allocate.
func (x *Index[T]) AppendMatches(dst []T, topic string) []T {
	x.Match(topic, func(v T) { dst = append(dst, v) })
	return dst
}

// match reports the pairs reachable from n, where rest is the rest of the topic and
// done says that no level is left. wild is false only at the first level of a '$'
// topic. Lock held on entry.
func (n *node[T]) match(rest string, done, wild bool, fn func(v T)) {
	// A final '#' matches what is left, including nothing: "a/#" matches "a".
	if wild {
		for i := range n.hash {
			fn(n.hash[i].v)
		}
	}
	if done {
		for i := range n.exact {
			fn(n.exact[i].v)
		}
		return
	}
	level, r, more := strings.Cut(rest, "/")
	if c := n.children[level]; c != nil {
		c.match(r, !more, true, fn)
	}
	if n.single != nil && wild {
		n.single.match(r, !more, true, fn)
	}
}
