// Package inventory decides which accounts keysync keeps in sync when some
// are listed in the config and others are found by discovery: listed ones
// win, two discoveries that claim one path are an error for those accounts
// (an account found there before keeps it), and a discovery that failed or
// lost too much within a window removes nothing. It is pure: what was
// found, what was found before and the removals of the window go in, the
// decision comes out.
package inventory

import (
	"cmp"
	"slices"
	"strings"
	"time"
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
	// Also are the paths of the account's derived values that have their
	// own: the account claims each as it claims Path.
	Also []string
	// Marked says the entry's secret carries the mark of an earlier
	// removal (plan.MetaSourceGone), made at GoneAt; a zero GoneAt is a
	// mark that could not be read, taken as made now. Only a Previous
	// entry has it.
	Marked bool
	GoneAt time.Time
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
	// MaxRemovedFraction, when set, bounds the block's own removals in
	// place of Input.MaxRemovedFraction.
	MaxRemovedFraction *float64
}

// Input is everything the decision needs.
type Input struct {
	Listed []Entry
	Blocks []Block
	// Previous is the discovered set of the last decision, with the
	// marked secrets of accounts removed before (Entry.Marked).
	Previous []Entry
	// MaxRemovedFraction bounds how much of its high-water mark a block,
	// and all blocks together, may lose within Window: the removals of
	// the window, this decision's included, over the accounts held before
	// them. Above it that block (or every block) removes nothing.
	MaxRemovedFraction float64
	// Now is the decision's time; Window how far back removals count.
	Now    time.Time
	Window time.Duration
	// Ledger is the last decision's Decision.Ledger: the removals it
	// remembers.
	Ledger Ledger
}

// Decision is the discovered set to sync and how it changed.
type Decision struct {
	// Discovered are the accounts to sync besides the listed ones.
	Discovered []Entry
	// Added and Removed compare Discovered with Previous; Removed are new
	// removals, whose secrets get the mark.
	Added, Removed []Entry
	// Gone are Previous entries whose secrets carry the mark and whose
	// accounts are still not found: a policy that deletes deletes them
	// once the mark is old enough.
	Gone []Entry
	// Conflicts are paths or resources two blocks claim.
	Conflicts []Conflict
	// Holds say which blocks removed nothing, and why.
	Holds []Hold
	// Held is the holds' reasons in one line; "" for none.
	Held string
	// Ledger is the removals of the window, this decision's included, for
	// the next decision's Input.
	Ledger Ledger
}

// Hold is a block whose removals were held back: Block "" holds every
// block's.
type Hold struct {
	Block, Reason string
}

// HeldBlock reports whether the decision held back the block's removals.
func (d Decision) HeldBlock(block string) bool {
	for _, h := range d.Holds {
		if h.Block == "" || h.Block == block {
			return true
		}
	}
	return false
}

// Decide merges what the blocks found with the listed accounts, and
// decides what is removed.
func Decide(in Input) Decision {
	dc := newDecider(in)
	dc.claim()
	dc.keepFailed()
	removed, gone := dc.departed()
	g := newGuard(in, dc.kept)
	removed, gone = g.hold(removed, gone, dc.kept, &dc.d)
	dc.exclusive()
	d := dc.d
	d.Discovered = sorted(dc.kept)
	d.Removed = removed
	d.Gone = unclaimed(gone, d.Discovered)
	d.Added = missing(d.Discovered, dc.prev)
	d.Ledger = g.record(removed)
	if len(d.Holds) > 0 {
		reasons := make([]string, len(d.Holds))
		for i, h := range d.Holds {
			reasons[i] = h.Reason
		}
		d.Held = strings.Join(reasons, "; ")
	}
	return d
}

// decider holds a decision while it is made.
type decider struct {
	in   Input
	d    Decision
	prev map[id]*Entry
	// kept is what syncs: found this time, or kept from before.
	kept map[id]*Entry
	// spared are Previous entries neither kept nor removed.
	spared map[id]bool
	// blocks are the configured blocks, failed the ones whose query
	// failed.
	blocks, failed map[string]bool
	listedPaths    map[string]bool
}

func newDecider(in Input) *decider {
	dc := &decider{in: in, prev: index(in.Previous), kept: map[id]*Entry{}, spared: map[id]bool{},
		blocks: map[string]bool{}, failed: map[string]bool{}, listedPaths: map[string]bool{}}
	for _, b := range in.Blocks {
		dc.blocks[b.Origin] = true
		// A partial answer (skipped rows) removes nothing, as a failed
		// one: what it found is added all the same.
		if b.Err != nil || b.Partial != "" {
			dc.failed[b.Origin] = true
		}
	}
	for _, e := range in.Listed {
		for _, p := range e.paths() {
			dc.listedPaths[p] = true
		}
	}
	return dc
}

// keepFailed adds back what a failed block found last time (not what it
// removed before: a marked entry stays gone).
func (dc *decider) keepFailed() {
	for i, e := range dc.in.Previous {
		if dc.failed[e.Origin] && !e.Marked {
			dc.kept[e.id()] = &dc.in.Previous[i]
		}
	}
}

// departed sorts the Previous entries not kept: a marked one of a block
// still configured, whose query answered, is gone; a live one is removed,
// unless spared or at a path a listed account writes (the listed account
// owns that path now: removing would mark or delete its secret).
func (dc *decider) departed() (removed, gone []Entry) {
	for _, e := range dc.in.Previous {
		if _, ok := dc.kept[e.id()]; ok || dc.spared[e.id()] {
			continue
		}
		switch {
		case e.Marked:
			if dc.blocks[e.Origin] && !dc.failed[e.Origin] {
				gone = append(gone, e)
			}
		case !dc.listedPaths[e.Path]:
			removed = append(removed, e)
		}
	}
	return removed, gone
}

// unclaimed is gone without the entries at a path something syncs to now:
// a secret written this run is not deleted for an account gone before.
func unclaimed(gone, kept []Entry) []Entry {
	paths := make(map[string]bool, len(kept))
	for _, e := range kept {
		for _, p := range e.paths() {
			paths[p] = true
		}
	}
	return slices.DeleteFunc(gone, func(e Entry) bool { return paths[e.Path] })
}

// missing lists the entries of from that are not in set, in order.
func missing(from []Entry, set map[id]*Entry) []Entry {
	n := 0
	for _, e := range from {
		if _, ok := set[e.id()]; !ok {
			n++
		}
	}
	out := make([]Entry, 0, n)
	for _, e := range from {
		if _, ok := set[e.id()]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// paths are every path the entry's account writes: Path, then Also.
func (e Entry) paths() []string {
	if len(e.Also) == 0 {
		return []string{e.Path}
	}
	return append([]string{e.Path}, e.Also...)
}

func index(es []Entry) map[id]*Entry {
	m := make(map[id]*Entry, len(es))
	for i := range es {
		m[es[i].id()] = &es[i]
	}
	return m
}

// sorted lists the entries by key, then path.
func sorted(m map[id]*Entry) []Entry {
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Path, b.Path)) })
	return out
}
