// Package inventory decides which accounts keysync keeps in sync when some
// are listed in the config and others are found by discovery: listed ones
// win, two discoveries that claim one path are an error for those accounts,
// and a discovery that failed or lost too much at once removes nothing. It
// is pure: what was found goes in, the decision comes out.
package inventory

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// id identifies an entry by resource and path: a map key of the entry's
// own strings, so a decision allocates no key per account.
type id struct{ key, path string }

func (e Entry) id() id { return id{e.Key, e.Path} }

// Entry is one account: its resource identity, where it syncs, and which
// config block it came from.
type Entry struct {
	// Key is the resource's case-insensitive identity (sources.Account.Key).
	Key string
	// Path is the Vault path it syncs to.
	Path string
	// Origin names the block: "account[3]", "discover[0]".
	Origin string
}

// Block is what one [[discover]] block found this time.
type Block struct {
	Origin string
	Found  []Entry
	// Err is why the discovery failed; what it found before is kept.
	Err error
	// Partial, when set, says why Found may lack accounts that exist
	// (rows of the answer were skipped): what it found is added, and what
	// it found before is kept, so that it removes nothing.
	Partial string
}

// Input is everything the decision needs.
type Input struct {
	Listed []Entry
	Blocks []Block
	// Previous is the discovered set of the last decision.
	Previous []Entry
	// MaxRemovedFraction bounds how much of Previous one decision may
	// remove; above it nothing is removed.
	MaxRemovedFraction float64
}

// Conflict is a path or a resource claimed by more than one block.
type Conflict struct {
	What    string // "path" or "resource"
	Value   string
	Origins []string
}

// Error says which blocks claim the same thing.
func (c Conflict) Error() string {
	return fmt.Sprintf("%s %s is claimed by %v: none of them syncs it until one block is changed", c.What, c.Value, c.Origins)
}

// Decision is the discovered set to sync and how it changed.
type Decision struct {
	// Discovered are the accounts to sync besides the listed ones.
	Discovered []Entry
	// Added and Removed compare Discovered with Previous.
	Added, Removed []Entry
	// Conflicts are accounts left out because two blocks claim them.
	Conflicts []Conflict
	// Held says why nothing was removed, when something would have been.
	Held string
}

// Decide merges what the blocks found with the listed accounts.
func Decide(in Input) Decision {
	var d Decision
	found := claimed(in, &d)
	kept := keepFailed(in, found)
	removed := gone(in.Previous, kept)
	if n := foundAgainCount(in, removed); n > 0 {
		if frac := float64(n) / float64(len(in.Previous)); frac > in.MaxRemovedFraction {
			d.Held = fmt.Sprintf("discovery would remove %d of %d accounts (%.0f%%), more than max_removed_fraction %.0f%%: nothing removed",
				n, len(in.Previous), 100*frac, 100*in.MaxRemovedFraction)
			for _, e := range removed {
				kept[e.id()] = e
			}
			removed = nil
		}
	}
	d.Discovered = sorted(kept)
	d.Removed = removed
	d.Added = gone(d.Discovered, index(in.Previous))
	return d
}

// claimed collects what the blocks found, less the listed accounts, and
// records every path or resource that two blocks claim.
func claimed(in Input, d *Decision) map[id]Entry {
	listedKeys, listedPaths := map[string]bool{}, map[string]bool{}
	for _, e := range in.Listed {
		listedKeys[e.Key], listedPaths[e.Path] = true, true
	}
	byPath, byKey := map[string][]Entry{}, map[string][]Entry{}
	for _, b := range in.Blocks {
		for _, e := range b.Found {
			if listedKeys[e.Key] {
				continue // a listed account wins over a found one
			}
			e.Origin = b.Origin
			byPath[e.Path] = append(byPath[e.Path], e)
			byKey[e.Key] = append(byKey[e.Key], e)
		}
	}
	bad := map[id]bool{}
	for _, what := range []struct {
		name string
		m    map[string][]Entry
	}{{"path", byPath}, {"resource", byKey}} {
		for _, v := range slices.Sorted(maps.Keys(what.m)) {
			es := what.m[v]
			listed := what.name == "path" && listedPaths[v]
			if len(es) < 2 && !listed {
				continue
			}
			c := Conflict{What: what.name, Value: v}
			if what.name == "path" && listedPaths[v] {
				c.Origins = append(c.Origins, "a listed [[account]]")
			}
			for _, e := range es {
				c.Origins = append(c.Origins, e.Origin)
				bad[e.id()] = true
			}
			d.Conflicts = append(d.Conflicts, c)
		}
	}
	out := map[id]Entry{}
	for _, es := range byPath {
		for _, e := range es {
			if !bad[e.id()] {
				out[e.id()] = e
			}
		}
	}
	return out
}

// foundAgainCount counts the removals a discovery caused: those of blocks
// still in the config. A block taken out of the config removes its
// accounts by the user's own hand, and that is no sign of a broken query.
func foundAgainCount(in Input, removed []Entry) int {
	blocks := map[string]bool{}
	for _, b := range in.Blocks {
		blocks[b.Origin] = true
	}
	n := 0
	for _, e := range removed {
		if blocks[e.Origin] {
			n++
		}
	}
	return n
}

// keepFailed adds back what a failed or partial block found last time.
func keepFailed(in Input, found map[id]Entry) map[id]Entry {
	failed := map[string]bool{}
	for _, b := range in.Blocks {
		if b.Err != nil || b.Partial != "" {
			failed[b.Origin] = true
		}
	}
	for _, e := range in.Previous {
		if failed[e.Origin] {
			found[e.id()] = e
		}
	}
	return found
}

// gone lists the entries of from that are not in set, in order.
func gone(from []Entry, set map[id]Entry) []Entry {
	var out []Entry
	for _, e := range from {
		if _, ok := set[e.id()]; !ok {
			out = append(out, e)
		}
	}
	return out
}

func index(es []Entry) map[id]Entry {
	m := make(map[id]Entry, len(es))
	for _, e := range es {
		m[e.id()] = e
	}
	return m
}

// sorted lists the entries by key, then path.
func sorted(m map[id]Entry) []Entry {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Path, b.Path)) })
	return out
}
