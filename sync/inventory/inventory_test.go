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
			if got := paths(d.Discovered); got != tt.discovered {
				t.Errorf("discovered %q, want %q", got, tt.discovered)
			}
			if got := paths(d.Added); got != tt.add {
				t.Errorf("added %q, want %q", got, tt.add)
			}
			if got := paths(d.Removed); got != tt.rm {
				t.Errorf("removed %q, want %q", got, tt.rm)
			}
			if len(d.Conflicts) != tt.conflicts {
				t.Errorf("conflicts %v, want %d", d.Conflicts, tt.conflicts)
			}
			if (d.Held != "") != tt.held {
				t.Errorf("held %q, want held %t", d.Held, tt.held)
			}
		})
	}
}
