package scheduler

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/keysync/keysync/sync/account"
)

// targetIndex finds accounts by resource id or path for Target; it is the
// loop's own. It is
// built from the published listing the first time it is asked after a
// reload, so a daemon that never receives a targeted request holds none of
// it, and it keeps 8 bytes per account and reference (two, three for a
// rule): the first 32 bits of the reference's account.ID and the
// account's place in the listing, which a reload replaces rather than
// changes; not the lower-cased id (about 140 bytes). Bits shared by chance
// cost one more comparison, never a wrong match.
type targetIndex struct {
	of   *[]*state // the listing it was built from
	ents []indexEntry
}

type indexEntry struct {
	h uint32 // refHash
	i uint32 // in *of
}

// build indexes list's accounts by the ID of their resource id key, of
// their path and of their parent's key.
func (x *targetIndex) build(list *[]*state) {
	x.of = list
	x.ents = make([]indexEntry, 0, 2*len(*list))
	for i, st := range *list {
		id, path, parent := keyOf(st)
		n := uint32(i)
		x.ents = append(x.ents, indexEntry{refHash(id), n}, indexEntry{refHash(path), n})
		if parent != "" {
			x.ents = append(x.ents, indexEntry{refHash(parent), n})
		}
	}
	slices.SortFunc(x.ents, func(a, b indexEntry) int { return cmp.Compare(a.h, b.h) })
}

// find is the accounts whose resource id key, parent's key or path is ref:
// the hash finds candidates, the full comparison decides.
func (x *targetIndex) find(ref string) []*state {
	h, key := refHash(ref), indexKey(ref)
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

// refHash is the first 32 bits of a reference's account.ID: a resource
// id's (compared without case) is the ID of a key with no path, a path's
// the ID of a key with no resource.
func refHash(ref string) uint32 {
	k := account.Key{Path: ref}
	if strings.HasPrefix(ref, "/") {
		k = account.Key{Resource: strings.ToLower(ref)}
	}
	id := k.ID()
	return binary.BigEndian.Uint32(id[:4])
}

// forget drops the index, so that it does not keep the accounts of a
// listing a reload replaced (and the slab they point into) until the next
// targeted request; that request builds it again.
func (x *targetIndex) forget() { x.of, x.ents = nil, nil }

// findTargets is the accounts whose resource id (without case) or path
// is ref; the loop calls it.
func (s *Scheduler) findTargets(ref string) []*state {
	list := s.listing.Load()
	if s.tgt.index.of != list {
		s.tgt.index.build(list)
	}
	return s.tgt.index.find(ref)
}

// indexKey is the form a reference is looked up in: resource ids compare
// without case (as ARM's do), paths as they are.
func indexKey(ref string) string {
	if strings.HasPrefix(ref, "/") {
		return strings.ToLower(ref)
	}
	return ref
}

// keyOf is st's resource id key, path and, for an account of a type with
// a child (an Event Hubs or Service Bus rule), the key of its parent (the
// namespace, whose writes concern every rule), from its published view.
func keyOf(st *state) (id, path, parent string) {
	h := st.view.Load().acct
	acct := h.Shared().Account
	acct.Name = h.Name()
	id = acct.Key()
	if acct.Spec().Child != "" {
		parent = ParentKey(id)
	}
	return id, h.Path(), parent
}

// ParentKey is a child's resource id key without its last two segments
// (/{child}/{name}): the key of the resource it belongs to.
func ParentKey(key string) string {
	for range 2 {
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			key = key[:i]
		}
	}
	return key
}
