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
// it, and it keeps 16 bytes per account and key: a hash and a pointer, not
// the lower-cased id (about 140 bytes).
type targetIndex struct {
	mu   sync.Mutex
	of   *[]*state // the listing it was built from
	seed maphash.Seed
	ents []indexEntry // by hash
}

type indexEntry struct {
	h  uint64
	st *state
}

// build indexes list's accounts by the hash of their resource id key, of
// their path and of their parent's key.
func (x *targetIndex) build(list *[]*state) {
	if x.of == nil {
		x.seed = maphash.MakeSeed()
	}
	x.of = list
	x.ents = make([]indexEntry, 0, 2*len(*list))
	for _, st := range *list {
		id, path, parent := keyOf(st)
		x.ents = append(x.ents, indexEntry{x.hashOf(id), st}, indexEntry{x.hashOf(path), st})
		if parent != "" {
			x.ents = append(x.ents, indexEntry{x.hashOf(parent), st})
		}
	}
	slices.SortFunc(x.ents, func(a, b indexEntry) int { return cmp.Compare(a.h, b.h) })
}

// find is the accounts whose resource id key, parent's key or path is ref: the hash
// finds candidates, the full comparison decides.
func (x *targetIndex) find(ref string) []*state {
	h := x.hashOf(ref)
	key := indexKey(ref)
	i, _ := slices.BinarySearchFunc(x.ents, h, func(e indexEntry, h uint64) int { return cmp.Compare(e.h, h) })
	var out []*state
	for ; i < len(x.ents) && x.ents[i].h == h; i++ {
		st := x.ents[i].st
		if id, path, parent := keyOf(st); (id == key || path == key || parent == key) && !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}
