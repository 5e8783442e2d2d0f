package store

import (
	"hash/maphash"
	"unsafe"
)

// symTable numbers the texts of the audit index's fields (0 is ""), counting the uses
// of each so that a text no entry names any more is freed and its number reused.
//
// It keeps no pointer per symbol: the texts lie back to back in one byte slice and a
// hash table of symbol numbers finds them. A map[string]uint32 and a []string, which
// it replaces, hold two pointers per symbol, and the collector visits every one of
// them in every cycle: an index of a million records whose entity names are unique
// (a timestamp or a counter in them) cost each collection two million pointers to
// follow, on a server whose latency under load is set by how long its collections
// take (docs/PERFORMANCE.md).
//
// The texts are never written in place (add appends after the last one; compact
// copies the live ones into a new slice), so that a string text returns stays valid
// after the symbol is freed or the table compacted. Not safe for concurrent use: the
// index's lock guards it.
type symTable struct {
	seed    maphash.Seed
	text    []byte
	spans   []symSpan // by symbol number; a freed number's is zero
	refs    []uint32  // uses of each number; 0 for a freed one
	free    []uint32  // freed numbers, for reuse
	slots   []uint32  // open addressing with linear probing: symbol numbers, 0 empty
	live    int       // symbols in slots
	garbage int       // bytes of text that freed symbols left behind
}

// symSpan locates a symbol's text in symTable.text.
type symSpan struct {
	off uint64
	n   uint32
}

// symCompactMin is how much freed text compact waits for: below it, or below half
// of the text, freed bytes stay where they are.
const symCompactMin = 1 << 20

// str returns symbol n's text. n must be a number add returned.
func (t *symTable) str(n uint32) string {
	if n == 0 || int(n) >= len(t.spans) {
		return ""
	}
	sp := t.spans[n]
	if sp.n == 0 {
		return ""
	}
	return unsafe.String(&t.text[sp.off], int(sp.n))
}

// numbers returns one more than the highest symbol number given out: the size of a
// slice indexed by symbol.
func (t *symTable) numbers() int { return max(len(t.spans), 1) }

// count returns how many symbols are live, "" not counted.
func (t *symTable) count() int { return t.live }

// find returns the number of s and whether it is a symbol, and the slot where it is
// or would go.
func (t *symTable) find(s string) (n uint32, slot int, ok bool) {
	if len(t.slots) == 0 {
		return 0, 0, false
	}
	mask := len(t.slots) - 1
	i := int(maphash.String(t.seed, s)) & mask
	for {
		n := t.slots[i]
		if n == 0 {
			return 0, i, false
		}
		if t.str(n) == s {
			return n, i, true
		}
		i = (i + 1) & mask
	}
}

// lookup returns the number of s without adding it.
func (t *symTable) lookup(s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	n, _, ok := t.find(s)
	return n, ok
}

// add returns the number of s, adding it or counting one more use.
func (t *symTable) add(s string) uint32 {
	if s == "" {
		return 0
	}
	n, slot, ok := t.find(s)
	if ok {
		t.refs[n]++
		return n
	}
	if len(t.spans) == 0 {
		t.seed = maphash.MakeSeed()
		t.spans, t.refs = make([]symSpan, 1), make([]uint32, 1) // 0 is ""
	}
	if (t.live+1)*4 > len(t.slots)*3 {
		t.rehash(max(16, 2*len(t.slots)))
		_, slot, _ = t.find(s)
	}
	sp := symSpan{off: uint64(len(t.text)), n: uint32(len(s))}
	t.text = append(t.text, s...)
	if k := len(t.free); k > 0 {
		n, t.free = t.free[k-1], t.free[:k-1]
		t.spans[n], t.refs[n] = sp, 1
	} else {
		n = uint32(len(t.spans))
		t.spans, t.refs = append(t.spans, sp), append(t.refs, 1)
	}
	t.slots[slot] = n
	t.live++
	return n
}

// release counts one use of n less, freeing it at none.
func (t *symTable) release(n uint32) {
	if n == 0 || int(n) >= len(t.refs) || t.refs[n] == 0 {
		return
	}
	if t.refs[n]--; t.refs[n] > 0 {
		return
	}
	_, slot, ok := t.find(t.str(n))
	if ok {
		t.remove(slot)
	}
	t.garbage += int(t.spans[n].n)
	t.spans[n] = symSpan{}
	t.free = append(t.free, n)
	t.live--
	if len(t.slots) > 64 && t.live*8 < len(t.slots) {
		t.rehash(len(t.slots) / 2) // an eighth full: half the slots, a quarter full
	}
	if t.garbage >= symCompactMin && t.garbage*2 >= len(t.text) {
		t.compact()
	}
}

// remove empties slot i, moving later entries of its probe run back so that every
// symbol stays reachable from its hash's slot (deletion without tombstones).
func (t *symTable) remove(i int) {
	mask := len(t.slots) - 1
	t.slots[i] = 0
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(maphash.String(t.seed, t.str(t.slots[j]))) & mask
		// The entry at j may move to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i], t.slots[j] = t.slots[j], 0
			i = j
		}
	}
}

// rehash rebuilds the slots with size entries, a power of two.
func (t *symTable) rehash(size int) {
	t.slots = make([]uint32, size)
	mask := size - 1
	for n := 1; n < len(t.spans); n++ {
		if t.refs[n] == 0 {
			continue
		}
		i := int(maphash.String(t.seed, t.str(uint32(n)))) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint32(n)
	}
}

// compact copies the live symbols' texts into a new slice, dropping freed ones.
func (t *symTable) compact() {
	text := make([]byte, 0, len(t.text)-t.garbage)
	for n := range t.spans {
		sp := &t.spans[n]
		if sp.n == 0 {
			continue
		}
		off := uint64(len(text))
		text = append(text, t.text[sp.off:sp.off+uint64(sp.n)]...)
		sp.off = off
	}
	t.text, t.garbage = text, 0
}
