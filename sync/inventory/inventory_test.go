package inventory

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func e(key, path, origin string) Entry { return Entry{Key: key, Path: path, Origin: origin} }

func n(origin string, count int) []Entry {
	out := make([]Entry, count)
	for i := range out {
		out[i] = e(fmt.Sprintf("r%d", i), fmt.Sprintf("p/%d", i), origin)
	}
	return out
}

func paths(es []Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return strings.Join(out, ",")
}

func TestDecide(t *testing.T) {
	d0 := "discover[0]"
	tests := []struct {
		name                string
		in                  Input
		discovered, add, rm string
		conflicts           int
		held                bool
	}{
		{name: "first discovery adds everything",
			in:         Input{Blocks: []Block{{Origin: d0, Found: []Entry{e("a", "p/a", ""), e("b", "p/b", "")}}}, MaxRemovedFraction: 0.2},
			discovered: "p/a,p/b", add: "p/a,p/b"},
		{name: "a listed account wins over a found one",
			in:         Input{Listed: []Entry{e("a", "listed/a", "account[0]")}, Blocks: []Block{{Origin: d0, Found: []Entry{e("a", "p/a", ""), e("b", "p/b", "")}}}},
			discovered: "p/b", add: "p/b"},
		{name: "two blocks claiming one path: an error for those accounts only",
			in: Input{Blocks: []Block{{Origin: d0, Found: []Entry{e("a", "p/x", ""), e("b", "p/b", "")}},
				{Origin: "discover[1]", Found: []Entry{e("c", "p/x", "")}}}},
			discovered: "p/b", add: "p/b", conflicts: 1},
		{name: "a found path equal to a listed one is a conflict",
			in:         Input{Listed: []Entry{e("z", "p/a", "account[0]")}, Blocks: []Block{{Origin: d0, Found: []Entry{e("a", "p/a", "")}}}},
			discovered: "", conflicts: 1},
		{name: "a small drop removes",
			in:         Input{Previous: n(d0, 10), Blocks: []Block{{Origin: d0, Found: n(d0, 9)}}, MaxRemovedFraction: 0.2},
			discovered: paths(n(d0, 9)), rm: "p/9"},
		{name: "an implausible drop removes nothing",
			in:         Input{Previous: n(d0, 10), Blocks: []Block{{Origin: d0, Found: n(d0, 2)}}, MaxRemovedFraction: 0.2},
			discovered: paths(n(d0, 10)), held: true},
		{name: "an empty answer removes nothing",
			in:         Input{Previous: n(d0, 10), Blocks: []Block{{Origin: d0}}, MaxRemovedFraction: 0.2},
			discovered: paths(n(d0, 10)), held: true},
		{name: "a failed block keeps what it found before",
			in:         Input{Previous: n(d0, 3), Blocks: []Block{{Origin: d0, Err: errors.New("HTTP 500")}}, MaxRemovedFraction: 0.2},
			discovered: paths(n(d0, 3))},
		{name: "a partial block adds what it found and removes nothing",
			in: Input{Previous: n(d0, 3), Blocks: []Block{{Origin: d0, Partial: "1 row skipped", Found: []Entry{e("r0", "p/0", ""), e("new", "p/new", "")}}},
				MaxRemovedFraction: 1},
			discovered: "p/new,p/0,p/1,p/2", add: "p/new"},
		{name: "the same block complete removes what it no longer finds",
			in: Input{Previous: n(d0, 3), Blocks: []Block{{Origin: d0, Found: []Entry{e("r0", "p/0", ""), e("new", "p/new", "")}}},
				MaxRemovedFraction: 1},
			discovered: "p/new,p/0", add: "p/new", rm: "p/1,p/2"},
		{name: "a block taken out of the config removes its accounts",
			in:         Input{Previous: n("discover[1]", 5), Blocks: []Block{{Origin: d0, Found: []Entry{e("a", "p/a", "")}}}, MaxRemovedFraction: 0.2},
			discovered: "p/a", add: "p/a", rm: paths(n("discover[1]", 5))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			same(t, "discovered", paths(d.Discovered), tt.discovered)
			same(t, "added", paths(d.Added), tt.add)
			same(t, "removed", paths(d.Removed), tt.rm)
			if len(d.Conflicts) != tt.conflicts {
				t.Errorf("conflicts %v, want %d", d.Conflicts, tt.conflicts)
			}
			if (d.Held != "") != tt.held {
				t.Errorf("held %q, want held %t", d.Held, tt.held)
			}
		})
	}
}

// TestDecideCollision: a newcomer that makes the path of an account found
// before (a same-named resource in another resource group, where the
// template has no {resource_group}) neither removes that account nor
// takes its path: the account found before keeps syncing, the newcomer is
// left out, and the conflict says so. A collision of two newcomers keeps
// neither.
func TestDecideCollision(t *testing.T) {
	d0 := "discover[0]"
	victim, neighbour := e("/rg-a/acct1", "azure/acct1", d0), e("/rg-b/acct1", "azure/acct1", d0)
	tests := []struct {
		name       string
		in         Input
		discovered string
		kept       string
		rm         string
	}{
		{name: "the account found before keeps its path",
			in:         Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Found: []Entry{victim, neighbour}}}, MaxRemovedFraction: 0.2},
			discovered: "/rg-a/acct1", kept: "/rg-a/acct1"},
		{name: "whichever order the answer lists them in",
			in:         Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Found: []Entry{neighbour, victim}}}, MaxRemovedFraction: 0.2},
			discovered: "/rg-a/acct1", kept: "/rg-a/acct1"},
		{name: "across blocks too",
			in: Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Found: []Entry{victim}},
				{Origin: "discover[1]", Found: []Entry{neighbour}}}, MaxRemovedFraction: 0.2},
			discovered: "/rg-a/acct1", kept: "/rg-a/acct1"},
		{name: "two newcomers: neither",
			in:         Input{Blocks: []Block{{Origin: d0, Found: []Entry{victim, neighbour}}}, MaxRemovedFraction: 0.2},
			discovered: ""},
		{name: "a listed account at the path: the one found before is neither kept nor removed",
			in: Input{Listed: []Entry{e("/rg-z/mine", "azure/acct1", "account[0]")}, Previous: []Entry{victim},
				Blocks: []Block{{Origin: d0, Found: []Entry{victim}}}, MaxRemovedFraction: 1},
			discovered: ""},
		{name: "a newcomer at the path of an account whose block failed is left out",
			in: Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Err: errors.New("HTTP 500")},
				{Origin: "discover[1]", Found: []Entry{neighbour}}}, MaxRemovedFraction: 0.2},
			discovered: "/rg-a/acct1", kept: "/rg-a/acct1"},
		{name: "a newcomer at the path of an account whose removal is held is left out",
			in:         Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Found: []Entry{neighbour}}}, MaxRemovedFraction: 0.2},
			discovered: "/rg-a/acct1", kept: "/rg-a/acct1"},
		{name: "a newcomer at the path of an account gone for good takes it",
			in:         Input{Previous: []Entry{victim}, Blocks: []Block{{Origin: d0, Found: []Entry{neighbour}}}, MaxRemovedFraction: 1},
			discovered: "/rg-b/acct1", rm: "azure/acct1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			same(t, "discovered", keys(d.Discovered), tt.discovered)
			same(t, "removed", paths(d.Removed), tt.rm)
			var kept []string
			for _, c := range d.Conflicts {
				if c.Kept != "" {
					kept = append(kept, c.Kept)
					if !strings.Contains(c.Error(), c.Kept+", found there before, keeps syncing") {
						t.Errorf("conflict says %q", c.Error())
					}
				}
			}
			if got := strings.Join(kept, ","); got != tt.kept {
				t.Errorf("kept by conflicts %q, want %q", got, tt.kept)
			}
			if tt.rm == "" && len(d.Conflicts) == 0 {
				t.Error("no conflict reported")
			}
		})
	}
}

// TestConflictMessageBounded: a conflict names a few claimants, not every
// one of a neighbour's many.
func TestConflictMessageBounded(t *testing.T) {
	var found []Entry
	for i := range 50 {
		found = append(found, e(fmt.Sprintf("/rg-%d/acct1", i), "azure/acct1", ""))
	}
	d := Decide(Input{Blocks: []Block{{Origin: "b", Found: found}}})
	if len(d.Conflicts) != 1 || !strings.Contains(d.Conflicts[0].Error(), "and 46 more") || len(d.Conflicts[0].Error()) > 400 {
		t.Fatalf("%v", d.Conflicts)
	}
}

// same reports a list that is not the one wanted.
func same(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s %q, want %q", what, got, want)
	}
}

func keys(es []Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	return strings.Join(out, ",")
}
