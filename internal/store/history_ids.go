package store

import "hash/maphash"

// idTable finds an audit index entry by record id: an open-addressing hash table of
// arena positions, 4 bytes a slot and at most two thirds full, so about 6 bytes a
// record where a Go map keyed by the 16-byte id would take about 30. The index's
// (time, seq) lists cannot answer "is this id stored" on their own: records of one
// millisecond are scanned one by one there, and a producer whose events all carry the
// same timestamp (a fixed one, or many in one millisecond) made every de-duplication
// check a scan of all of them, quadratic in the records (issue 7: a third of herald's
// CPU at 5,000 events/s). The hash is seeded per process, so ids chosen to collide do
// not make the probes long either.
//
// A zero idTable is empty. Positions are stored plus one (0 marks an empty slot); the
// auditIndex's lock guards it.
type idTable struct {
	seed  maphash.Seed
	slots []uint32
	n     int // occupied slots
}

// slot returns where the probe for id starts.
func (t *idTable) slot(id *uuid) int {
	return int(maphash.Bytes(t.seed, id[:]) & uint64(len(t.slots)-1))
}

// find returns the position of the entry whose id is id and for which match holds,
// probing past entries of the same id that it refuses.
func (t *idTable) find(id *uuid, at func(pos uint32) *entry, match func(*entry) bool) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := t.slot(id); t.slots[i] != 0; i = (i + 1) & mask {
		pos := t.slots[i] - 1
		if e := at(pos); e.id == *id && match(e) {
			return pos, true
		}
	}
	return 0, false
}

// add records that the entry at pos has id id, growing the table when two thirds full.
func (t *idTable) add(id *uuid, pos uint32, at func(pos uint32) *entry) {
	if (t.n+1)*3 > len(t.slots)*2 {
		t.rebuild(max(64, 2*len(t.slots)), at)
	}
	t.put(id, pos)
}

// put stores pos in the first empty slot of id's probe sequence.
func (t *idTable) put(id *uuid, pos uint32) {
	mask := len(t.slots) - 1
	i := t.slot(id)
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = pos + 1
	t.n++
}

// rebuild makes a table of size slots (a power of two) holding the positions of the
// old one, when it grows.
func (t *idTable) rebuild(size int, at func(pos uint32) *entry) {
	old := t.reset(size)
	for _, s := range old {
		if s != 0 {
			t.put(&at(s-1).id, s-1)
		}
	}
}

// fill makes a table of size slots (a power of two) holding arena, whose first entry
// is at position base: after pruning, which removes positions (and may renumber them)
// and so cannot leave holes in the probe sequences.
func (t *idTable) fill(size int, arena []entry, base uint32) {
	t.reset(size)
	for i := range arena {
		t.put(&arena[i].id, base+uint32(i))
	}
}

// reset empties the table, with size slots, and returns the old slots.
func (t *idTable) reset(size int) []uint32 {
	old := t.slots
	if t.seed == (maphash.Seed{}) {
		t.seed = maphash.MakeSeed()
	}
	t.slots, t.n = make([]uint32, size), 0
	return old
}
