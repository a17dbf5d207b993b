package inventory

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// TestGuardPerBlock: each block is held to the fraction of its own
// accounts, so that a small block emptied beside a large one (a renamed
// tag, a broken query) removes nothing, while the large one's small drop
// goes ahead; a block's own bound may be looser than the file's.
func TestGuardPerBlock(t *testing.T) {
	small, large := n("small", 3), prefixed("large", 30)
	loose := 1.0
	tests := []struct {
		name     string
		in       Input
		rm, held string
	}{
		{name: "a block of 3 beside one of 30 goes empty: held, nothing removed",
			in:   Input{Previous: cat(small, large), Blocks: []Block{{Origin: "small"}, {Origin: "large", Found: large}}},
			held: "small"},
		{name: "the large block's own small drop still goes",
			in: Input{Previous: cat(small, large), Blocks: []Block{{Origin: "small"}, {Origin: "large", Found: large[:28]}}},
			rm: "large/28,large/29", held: "small"},
		{name: "a block's own looser bound lets it go",
			in: Input{Previous: cat(small, large), Blocks: []Block{{Origin: "small", MaxRemovedFraction: &loose}, {Origin: "large", Found: large}}},
			rm: "p/0,p/1,p/2"},
		{name: "blocks each within bound, together over the file's: all held",
			in: Input{Previous: cat(small, large), Blocks: []Block{{Origin: "small", MaxRemovedFraction: &loose, Found: small[:1]},
				{Origin: "large", MaxRemovedFraction: &loose, Found: large[:22]}}},
			held: "(all)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.MaxRemovedFraction, tt.in.Now, tt.in.Window = 0.2, t0, 24*time.Hour
			d := Decide(tt.in)
			same(t, "removed", paths(d.Removed), tt.rm)
			var held []string
			for _, h := range d.Holds {
				held = append(held, cmpOr(h.Block, "(all)"))
			}
			if got := strings.Join(held, ","); got != tt.held {
				t.Errorf("held %q (%s), want %q", got, d.Held, tt.held)
			}
			if len(d.Discovered)+len(d.Removed) != 33 {
				t.Errorf("%d discovered + %d removed, want all 33 accounted for", len(d.Discovered), len(d.Removed))
			}
			if tt.held == "small" && (!d.HeldBlock("small") || d.HeldBlock("large") || !strings.Contains(d.Held, "small: would remove 3 of 3")) {
				t.Errorf("holds %+v", d.Holds)
			}
		})
	}
}

// TestGuardDrip: an account source that loses 15% of what is left every
// hour, for a week, loses at most max_removed_fraction of the high-water
// mark within any removal_window: in a daemon that remembers its ledger,
// and in processes started anew each hour that know only what Vault's
// marks say (a --run-now from cron, a restarted daemon).
func TestGuardDrip(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%t", restart), func(t *testing.T) {
			s := newDrip(100)
			for hour := range 7 * 24 {
				s.run(t0.Add(time.Duration(hour)*time.Hour), restart)
			}
			if s.total() == 0 {
				t.Fatal("nothing was ever removed: the guard must let a slow decline through")
			}
			for i, at := range s.marks {
				within := 0
				for _, b := range s.marks[i:] {
					if b.Sub(at) < 24*time.Hour {
						within++
					}
				}
				if high := s.heldAt(at); float64(within) > 0.2*float64(high) {
					t.Fatalf("%d removed within a day from %s, of a high-water mark of %d", within, at.Format(time.RFC3339), high)
				}
			}
			if first := s.removedBy(t0.Add(24 * time.Hour)); first > 20 {
				t.Fatalf("%d of 100 removed on the first day", first)
			}
		})
	}
}

// drip is an estate that loses 15% an hour, and what keysync did to it.
type drip struct {
	present []Entry              // what Azure still answers with
	vault   map[string]time.Time // path -> mark; zero: live
	prev    []Entry
	ledger  Ledger
	marks   []time.Time // when each removal was made
	counts  map[time.Time]int
}

func newDrip(size int) *drip {
	s := &drip{present: n("b", size), vault: map[string]time.Time{}, counts: map[time.Time]int{}}
	for _, e := range s.present {
		s.vault[e.Path] = time.Time{}
	}
	return s
}

func (s *drip) run(now time.Time, restart bool) {
	s.present = s.present[:len(s.present)*85/100]
	in := Input{Blocks: []Block{{Origin: "b", Found: s.present}}, MaxRemovedFraction: 0.2, Now: now, Window: 24 * time.Hour}
	if restart {
		in.Previous = s.recalled()
	} else {
		in.Previous, in.Ledger = s.prev, s.ledger
	}
	d := Decide(in)
	s.prev, s.ledger = d.Discovered, d.Ledger
	s.counts[now] = len(d.Discovered) + len(d.Removed)
	for _, e := range d.Removed {
		s.vault[e.Path] = now
		s.marks = append(s.marks, now)
	}
}

// recalled is what a process started anew reads back from Vault.
func (s *drip) recalled() []Entry {
	var out []Entry
	for i := range 100 {
		e := e(fmt.Sprintf("r%d", i), fmt.Sprintf("p/%d", i), "b")
		if at, ok := s.vault[e.Path]; ok {
			e.Marked, e.GoneAt = !at.IsZero(), at
			out = append(out, e)
		}
	}
	return out
}

// heldAt is the most accounts keysync synced in the day after at.
func (s *drip) heldAt(at time.Time) int {
	high := 0
	for when, c := range s.counts {
		if !when.Before(at) && when.Sub(at) < 24*time.Hour {
			high = max(high, c)
		}
	}
	return high
}

func (s *drip) removedBy(t time.Time) int {
	k := 0
	for _, at := range s.marks {
		if at.Before(t) {
			k++
		}
	}
	return k
}

func (s *drip) total() int { return len(s.marks) }

// TestGuardRecallsMarks: after a start, secrets marked within the window
// count as removals of the window; those marked before it, and those of
// accounts found again, do not; and marked secrets still gone are listed
// for deletion, unless their block is held or failed.
func TestGuardRecallsMarks(t *testing.T) {
	prev := n("b", 10)
	for i := range 2 {
		prev[i].Marked, prev[i].GoneAt = true, t0.Add(-time.Hour) // within the window
	}
	prev[2].Marked, prev[2].GoneAt = true, t0.Add(-48*time.Hour) // before it
	in := func(found []Entry, err error) Input {
		return Input{Previous: prev, Blocks: []Block{{Origin: "b", Found: found, Err: err}}, MaxRemovedFraction: 0.2, Now: t0, Window: 24 * time.Hour}
	}
	// 7 live, 2 recent: a high-water mark of 9; one more makes 3/9.
	d := Decide(in(prev[2:9], nil))
	if paths(d.Removed) != "" || !d.HeldBlock("b") || paths(d.Gone) != "" {
		t.Fatalf("removed %q gone %q held %q", paths(d.Removed), paths(d.Gone), d.Held)
	}
	// prev[2] found again: its mark is not counted, and it syncs again.
	d = Decide(in(prev[2:10], nil))
	if paths(d.Removed) != "" || d.Held != "" || paths(d.Gone) != "p/0,p/1" || !strings.Contains(paths(d.Discovered), "p/2") {
		t.Fatalf("removed %q gone %q held %q", paths(d.Removed), paths(d.Gone), d.Held)
	}
	if d.Ledger.Len() != 2 {
		t.Fatalf("ledger holds %d, want the 2 recent marks", d.Ledger.Len())
	}
	d = Decide(in(nil, fmt.Errorf("HTTP 500")))
	if paths(d.Gone) != "" || len(d.Discovered) != 7 {
		t.Fatalf("a failed block: gone %q, discovered %d", paths(d.Gone), len(d.Discovered))
	}
}

// TestGuardWindowPasses: removals older than the window no longer count.
func TestGuardWindowPasses(t *testing.T) {
	all := n("b", 10)
	in := Input{Previous: all, Blocks: []Block{{Origin: "b", Found: all[:8]}}, MaxRemovedFraction: 0.2, Now: t0, Window: 24 * time.Hour}
	d := Decide(in)
	if len(d.Removed) != 2 {
		t.Fatalf("removed %q", paths(d.Removed))
	}
	next := func(at time.Time) Decision {
		return Decide(Input{Previous: d.Discovered, Ledger: d.Ledger, Blocks: []Block{{Origin: "b", Found: all[:7]}},
			MaxRemovedFraction: 0.2, Now: at, Window: 24 * time.Hour})
	}
	if got := next(t0.Add(23 * time.Hour)); len(got.Removed) != 0 || got.Held == "" {
		t.Fatalf("within the window: removed %q held %q", paths(got.Removed), got.Held)
	}
	if got := next(t0.Add(25 * time.Hour)); len(got.Removed) != 1 || got.Ledger.Len() != 1 {
		t.Fatalf("after the window: removed %q, ledger %d", paths(got.Removed), got.Ledger.Len())
	}
}

func prefixed(origin string, count int) []Entry {
	out := make([]Entry, count)
	for i := range out {
		out[i] = e(fmt.Sprintf("%s-r%d", origin, i), fmt.Sprintf("%s/%d", origin, i), origin)
	}
	return out
}

func cat(a, b []Entry) []Entry { return append(append([]Entry{}, a...), b...) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
