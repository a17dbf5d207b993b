package inventory

import (
	"fmt"
	"slices"
	"strings"
)

// Conflict is a path or a resource claimed by more than one block.
type Conflict struct {
	What  string // "path" or "resource"
	Value string
	// Origins are the claimants' blocks ("a listed [[account]]" for a
	// listed one), Keys their resources, in the same order ("" for a
	// listed one).
	Origins []string
	Keys    []string
	// Kept, when set, is the claimant found there before: it keeps
	// syncing as it did, and only the others are left out.
	Kept string
}

// maxClaimants bounds the claimants a conflict's message names: a
// neighbour may make many resources of one name.
const maxClaimants = 4

// Error says which blocks claim the same thing, and which account, if
// any, keeps it.
func (c Conflict) Error() string {
	var who []string
	for i, o := range c.Origins {
		if i == maxClaimants {
			who = append(who, fmt.Sprintf("and %d more", len(c.Origins)-i))
			break
		}
		if i < len(c.Keys) && c.Keys[i] != "" {
			o += " (" + c.Keys[i] + ")"
		}
		who = append(who, o)
	}
	claimed := fmt.Sprintf("%s %s is claimed by %s", c.What, c.Value, strings.Join(who, ", "))
	if c.Kept != "" {
		return claimed + ": " + c.Kept + ", found there before, keeps syncing as it did; the others are left out until the names or one block change"
	}
	return claimed + ": none of them syncs it until one block is changed"
}

// claim collects what the blocks found, less the listed accounts, and
// records every path or resource that two claim. Of a conflict's
// claimants, the one found there before keeps syncing (a newcomer never
// pushes an account out of its path, nor makes it count as removed); the
// others are left out. Where a listed account claims the path, or more
// than one claimant was found before, none is kept and none is removed.
func (dc *decider) claim() {
	listedKeys := map[string]bool{}
	for _, e := range dc.in.Listed {
		listedKeys[e.Key] = true
	}
	// Pointers into the blocks' entries, not copies: a discovery of
	// 100,000 accounts would otherwise hold three.
	byPath, byKey := map[string][]*Entry{}, map[string][]*Entry{}
	for _, b := range dc.in.Blocks {
		for i := range b.Found {
			e := &b.Found[i]
			if listedKeys[e.Key] {
				continue // a listed account wins over a found one
			}
			if e.Origin != b.Origin {
				c := *e
				c.Origin = b.Origin
				e = &c
			}
			for _, p := range e.paths() {
				byPath[p] = append(byPath[p], e)
			}
			byKey[e.Key] = append(byKey[e.Key], e)
		}
	}
	bad, held := map[id]bool{}, map[id]*Entry{}
	dc.conflicts("path", byPath, bad, held)
	dc.conflicts("resource", byKey, bad, held)
	for _, es := range byPath {
		for _, e := range es {
			if !bad[e.id()] {
				dc.kept[e.id()] = e
			}
		}
	}
	for k, e := range held {
		if !dc.spared[k] {
			dc.kept[k] = e
		}
	}
}

// conflicts records a conflict for each value of m that more than one
// entry claims (or, for a path, that a listed account claims too), marks
// its claimants bad, and the one found there before held.
func (dc *decider) conflicts(what string, m map[string][]*Entry, bad map[id]bool, held map[id]*Entry) {
	// Only the values in conflict are sorted (for a stable report), not
	// every path of the estate.
	var vs []string
	for v, es := range m {
		if len(es) > 1 || what == "path" && dc.listedPaths[v] {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	for _, v := range vs {
		es := m[v]
		listed := what == "path" && dc.listedPaths[v]
		c := Conflict{What: what, Value: v}
		if listed {
			c.Origins, c.Keys = append(c.Origins, "a listed [[account]]"), append(c.Keys, "")
		}
		var before []*Entry
		for _, e := range es {
			c.Origins, c.Keys = append(c.Origins, e.Origin), append(c.Keys, e.Key)
			bad[e.id()] = true
			if _, ok := dc.prev[e.id()]; ok {
				before = append(before, e)
			}
		}
		switch {
		case len(before) == 1 && !listed:
			held[before[0].id()], c.Kept = before[0], before[0].Key
		default:
			for _, e := range before {
				dc.spared[e.id()] = true
			}
		}
		dc.d.Conflicts = append(dc.d.Conflicts, c)
	}
}

// exclusive leaves out an account found for the first time at a path that
// an account found there before keeps (its block failed, or its removal
// was held): one path, one account, and the one it was.
func (dc *decider) exclusive() {
	holders := map[string]*Entry{}
	for k, e := range dc.kept {
		if _, ok := dc.prev[k]; ok {
			for _, p := range e.paths() {
				holders[p] = e
			}
		}
	}
	var out []Conflict
	for k, e := range dc.kept {
		if _, before := dc.prev[k]; before {
			continue
		}
		for _, p := range e.paths() {
			if h, ok := holders[p]; ok {
				delete(dc.kept, k)
				out = append(out, Conflict{What: "path", Value: p, Origins: []string{h.Origin, e.Origin}, Keys: []string{h.Key, e.Key}, Kept: h.Key})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Conflict) int { return strings.Compare(a.Value+a.Keys[1], b.Value+b.Keys[1]) })
	dc.d.Conflicts = append(dc.d.Conflicts, out...)
}
