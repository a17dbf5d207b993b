package server

import (
	"hash/maphash"
	"sync"
)

// recentIDs remembers the last n event ids it was given, as 64-bit hashes
// under a per-process random seed: Event Grid delivers at least once, and
// a redelivered event must sync nothing. Memory is fixed (about 40 bytes
// an id), whatever arrives; the oldest id is forgotten first.
type recentIDs struct {
	mu   sync.Mutex
	seed maphash.Seed
	ring []uint64
	next int
	set  map[uint64]int // hash -> how many times it is in ring
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{seed: maphash.MakeSeed(), ring: make([]uint64, 0, n), set: make(map[uint64]int, n)}
}

func (r *recentIDs) has(id string) bool {
	h := maphash.String(r.seed, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set[h] > 0
}

func (r *recentIDs) add(id string) {
	h := maphash.String(r.seed, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, h)
	} else {
		old := r.ring[r.next]
		if r.set[old]--; r.set[old] <= 0 {
			delete(r.set, old)
		}
		r.ring[r.next] = h
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[h]++
}
