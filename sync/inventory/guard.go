package inventory

import (
	"fmt"
	"slices"
	"time"
)

// Ledger remembers the removals of recent decisions: which account, from
// which block, when. A decision keeps only those of its window; once made
// a Ledger is only read.
type Ledger struct{ removed map[id]removal }

type removal struct {
	block string
	at    time.Time
}

// Len is how many removals the ledger remembers.
func (l Ledger) Len() int { return len(l.removed) }

// guard bounds the removals of each block, and of all blocks together,
// by max_removed_fraction of a high-water mark: the accounts held before
// the window's removals, that is those held now plus those the window
// removed. A removal counts from the decision that made it (the ledger)
// or from its secret's mark (a Previous entry recalled from Vault), so
// that a process started anew weighs what its predecessors removed.
type guard struct {
	in     Input
	since  time.Time
	blocks map[string]bool
	ledger map[id]removal
	// live counts a block's Previous entries not marked; recent its
	// removals within the window that are still gone.
	live, recent map[string]int
}

func newGuard(in Input, kept map[id]*Entry) *guard {
	g := &guard{in: in, since: in.Now.Add(-in.Window), blocks: map[string]bool{}, ledger: map[id]removal{},
		live: map[string]int{}, recent: map[string]int{}}
	for _, b := range in.Blocks {
		g.blocks[b.Origin] = true
	}
	for k, r := range in.Ledger.removed {
		g.remember(k, r, kept)
	}
	for _, e := range in.Previous {
		switch {
		case !g.blocks[e.Origin]:
		case !e.Marked:
			g.live[e.Origin]++
		case e.GoneAt.IsZero():
			g.remember(e.id(), removal{e.Origin, in.Now}, kept)
		default:
			g.remember(e.id(), removal{e.Origin, e.GoneAt}, kept)
		}
	}
	for _, r := range g.ledger {
		g.recent[r.block]++
	}
	return g
}

// remember adds a removal to the ledger when it is within the window, of
// a block still configured, and its account is not back.
func (g *guard) remember(k id, r removal, kept map[id]*Entry) {
	if _, back := kept[k]; back || !g.blocks[r.block] || !r.at.After(g.since) {
		return
	}
	if _, ok := g.ledger[k]; !ok {
		g.ledger[k] = r
	}
}

// hold holds back the removals of each block over its bound, then, if
// the rest together are over the file's, every block's: a held block's
// removed entries are kept (they go on syncing) and its gone ones are not
// deleted this time. The holds are recorded in d.
func (g *guard) hold(removed, gone []Entry, kept map[id]*Entry, d *Decision) ([]Entry, []Entry) {
	held := g.holdBlocks(removed, d)
	if len(held) == 0 {
		return removed, gone
	}
	isHeld := func(e Entry) bool { return held[e.Origin] }
	var out []Entry
	for i, e := range removed {
		if isHeld(e) {
			kept[e.id()] = &removed[i]
		} else {
			out = append(out, e)
		}
	}
	return out, slices.DeleteFunc(gone, isHeld)
}

// holdBlocks weighs each block's removals against its bound, then the
// others' together against the file's, and returns the blocks held.
func (g *guard) holdBlocks(removed []Entry, d *Decision) map[string]bool {
	n := map[string]int{}
	for _, e := range removed {
		if g.blocks[e.Origin] {
			n[e.Origin]++
		}
	}
	held := map[string]bool{}
	var total, recent, live int
	for _, b := range g.in.Blocks {
		f := g.in.MaxRemovedFraction
		if b.MaxRemovedFraction != nil {
			f = *b.MaxRemovedFraction
		}
		if reason, over := g.over(b.Origin+": ", n[b.Origin], g.recent[b.Origin], g.live[b.Origin], f, "from this block"); over {
			held[b.Origin] = true
			d.Holds = append(d.Holds, Hold{Block: b.Origin, Reason: reason})
		} else {
			total += n[b.Origin]
		}
		recent, live = recent+g.recent[b.Origin], live+g.live[b.Origin]
	}
	if reason, over := g.over("discovery ", total, recent, live, g.in.MaxRemovedFraction, "from any block"); over {
		d.Holds = append(d.Holds, Hold{Reason: reason})
		for b := range g.blocks {
			held[b] = true
		}
	}
	return held
}

// over says whether removing n more, after recent within the window, out
// of live held now, exceeds fraction f of the high-water mark, and why.
func (g *guard) over(who string, n, recent, live int, f float64, where string) (string, bool) {
	high := live + recent
	if n == 0 || float64(n+recent) <= f*float64(high)+1e-9 {
		return "", false
	}
	pct := 100 * float64(n+recent) / float64(high)
	why := fmt.Sprintf("%swould remove %d of %d accounts (%.0f%%)", who, n, live, pct)
	if recent > 0 {
		why = fmt.Sprintf("%swould remove %d of %d accounts after %d within removal_window %s: %d of a high-water mark of %d (%.0f%%)",
			who, n, live, recent, g.in.Window, n+recent, high, pct)
	}
	return why + fmt.Sprintf(", more than max_removed_fraction %.0f%%: nothing removed %s", 100*f, where), true
}

// record is the ledger of the window with this decision's removals.
func (g *guard) record(removed []Entry) Ledger {
	if g.in.Window <= 0 {
		return Ledger{}
	}
	for _, e := range removed {
		if g.blocks[e.Origin] {
			g.ledger[e.id()] = removal{e.Origin, g.in.Now}
		}
	}
	return Ledger{removed: g.ledger}
}
