package scheduler

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
)

// targetIndex finds accounts by resource id or path for Target. It is
// built from the published listing the first time it is asked after a
// reload, so a daemon that never receives a targeted request holds none of
// it, and it keeps 8 bytes per account and key (two, three for a rule): a
// 32-bit hash and the account's place in the listing, which a reload
// replaces rather than changes; not the lower-cased id (about 140 bytes).
// A hash shared by chance costs one more comparison, never a wrong match.
type targetIndex struct {
	mu   sync.Mutex
	of   *[]*state // the listing it was built from
	seed maphash.Seed
	ents []indexEntry // by hash
}

type indexEntry struct {
	h uint32
	i uint32 // in *of
}

// build indexes list's accounts by the hash of their resource id key, of
// their path and of their parent's key.
func (x *targetIndex) build(list *[]*state) {
	if x.of == nil {
		x.seed = maphash.MakeSeed()
	}
	x.of = list
	x.ents = make([]indexEntry, 0, 2*len(*list))
	for i, st := range *list {
		id, path, parent := keyOf(st)
		n := uint32(i)
		x.ents = append(x.ents, indexEntry{x.hashOf(id), n}, indexEntry{x.hashOf(path), n})
		if parent != "" {
			x.ents = append(x.ents, indexEntry{x.hashOf(parent), n})
		}
	}
	slices.SortFunc(x.ents, func(a, b indexEntry) int { return cmp.Compare(a.h, b.h) })
}

// find is the accounts whose resource id key, parent's key or path is ref:
// the hash finds candidates, the full comparison decides.
func (x *targetIndex) find(ref string) []*state {
	h := x.hashOf(ref)
	key := indexKey(ref)
	i, _ := slices.BinarySearchFunc(x.ents, h, func(e indexEntry, h uint32) int { return cmp.Compare(e.h, h) })
	var out []*state
	for ; i < len(x.ents) && x.ents[i].h == h; i++ {
		st := (*x.of)[x.ents[i].i]
		if id, path, parent := keyOf(st); (id == key || path == key || parent == key) && !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

// hashOf is a reference's 32-bit hash under the index's seed.
func (x *targetIndex) hashOf(ref string) uint32 {
	return uint32(maphash.String(x.seed, indexKey(ref))) //nolint:gosec // G115: the low 32 bits, on purpose
}

// forget drops the index, so that it does not keep the accounts of a
// listing a reload replaced (and the slab they point into) until the next
// targeted request; that request builds it again. The caller may hold
// the scheduler's mu (the index's lock is always taken after it).
func (x *targetIndex) forget() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.of, x.ents = nil, nil
}
