package config

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is "i/n": this replica syncs the accounts whose stable hash, modulo
// n, is i (0 <= i < n). Replicas with the same config and shards 0/n ...
// (n-1)/n split the accounts between them with none left out or doubled.
type Shard struct {
	Index, Count int
}

// ParseShard reads "i/n"; "" means one shard of one.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("want i/n with 0 <= i < n (such as 0/3), got %q", s)
	}
	return Shard{i, n}, nil
}

// Owns reports whether the account with ARM resource id resourceID falls to
// this shard. The hash is FNV-1a of the lower-case resource id, which stays
// the same across releases, restarts and machines.
func (s Shard) Owns(resourceID string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(resourceID)))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index) //nolint:gosec // G115: validated, 0 <= Index < Count
}
