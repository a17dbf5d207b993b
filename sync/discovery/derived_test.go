package discovery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// derivedBlock is a storage block at keys/{name} whose SAS goes to a
// path of its own made from tmpl.
func derivedBlock(name, onRemoved, tmpl string) Block {
	b := block(name, "storage", onRemoved)
	b.Path = "keys/{name}"
	b.Job.Derived = []spec.Spec{{Name: "sas", Kind: spec.StorageAccountSAS, Path: tmpl}}
	return b
}

// TestRunRendersDerivedPaths: each account found gets its derived value
// at the block's derived template made from its own names.
func TestRunRendersDerivedPaths(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"storage": accounts("storage", "store1", "store2")}}
	out, _ := Run(context.Background(), f, []Block{derivedBlock("b", "", "apps/{resource_group}/{name}/sas")}, nil, nil, opts)
	var got []string
	for _, fj := range out.Jobs {
		p, err := fj.Job.DerivedPaths()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fj.Job.Path+">"+strings.Join(p, ","))
	}
	if strings.Join(got, " ") != "keys/store1>apps/rg/store1/sas keys/store2>apps/rg/store2/sas" || len(out.Decision.Conflicts) != 0 {
		t.Fatalf("jobs %v conflicts %v", got, out.Decision.Conflicts)
	}
}

// TestRunHostileDerivedPaths: names an ARM answer chooses never move a
// derived value out of its template, nor onto another account's path.
// A resource group that is more than one segment, or one the sink's path
// check refuses, skips the account (and the block removes nothing); an
// account whose derived path is another's key path, or two accounts of
// one derived path, are a conflict: the account found there before keeps
// its path, and the newcomer syncs nothing.
func TestRunHostileDerivedPaths(t *testing.T) {
	check := func(p string) error {
		if strings.Contains(p, "..") || strings.Contains(p, "//") {
			return errors.New("not a normal path")
		}
		return nil
	}
	o := opts
	o.CheckPath = check
	tests := []struct {
		name, tmpl   string
		before, now  []sources.Found
		wantJobs     string
		wantConflict string
		wantSkipped  int
	}{
		{"a resource group of two segments", "apps/{resource_group}/{name}", nil, withGroup(accounts("storage", "store1"), "../../sys"), "", "", 1},
		{"a resource group of '..'", "apps/{resource_group}/{name}", nil, withGroup(accounts("storage", "store1"), ".."), "", "", 1},
		{"an empty resource group", "apps/{resource_group}/{name}", nil, withGroup(accounts("storage", "store1"), ""), "", "", 1},
		{"a derived path on its own key path", "keys/{name}", nil, accounts("storage", "store1"), "", "", 1},
		{"a name made to take another's key path", "{name}/sas", accounts("storage", "sas"), accounts("storage", "sas", "keys"),
			"keys/sas()", "storageaccounts/keys): /subscriptions/" + sub + "/resourcegroups/rg/providers/microsoft.storage/storageaccounts/sas, found there before, keeps syncing", 0},
		{"two accounts of one derived path", "apps/{name}", nil, append(accounts("storage", "store1"), withGroup(accounts("storage", "store1"), "rg2")...),
			"", "path apps/store1 is claimed by", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := derivedBlock("b", plan.RemoveDelete, tt.tmpl)
			if tt.name == "two accounts of one derived path" {
				b.Path = "keys/{resource_group}/{name}"
			}
			var prev *State
			if tt.before != nil {
				_, prev = Run(context.Background(), &finder{found: map[string][]sources.Found{"storage": tt.before}}, []Block{b}, nil, nil, o)
			}
			out, _ := Run(context.Background(), &finder{found: map[string][]sources.Found{"storage": tt.now}}, []Block{b}, nil, prev, o)
			if got := foundPaths(out.Jobs); got != tt.wantJobs || len(out.Skipped["b"]) != tt.wantSkipped || len(out.Removals) != 0 {
				t.Fatalf("jobs %q skipped %v removals %v", got, out.Skipped, out.Removals)
			}
			var conflicts []string
			for _, c := range out.Decision.Conflicts {
				conflicts = append(conflicts, c.Error())
			}
			if tt.wantConflict == "" && len(conflicts) > 0 || !strings.Contains(strings.Join(conflicts, "\n"), tt.wantConflict) {
				t.Fatalf("conflicts %q, want %q", conflicts, tt.wantConflict)
			}
		})
	}
}

func withGroup(fs []sources.Found, rg string) []sources.Found {
	for i := range fs {
		fs[i].Account.ResourceGroup = rg
	}
	return fs
}

// TestRemovalLeavesDerivedPathsInUse: when a found account is gone, its
// removal marks and deletes its derived value's own path, unless a listed
// account (the same one, listed now) or a kept one still writes that
// path: the removal leaves that value out. It used to act on every
// derived path of the gone job, marking (and in time deleting) a live
// secret the listed account writes.
func TestRemovalLeavesDerivedPathsInUse(t *testing.T) {
	b := derivedBlock("b", plan.RemoveDelete, "apps/{name}/sas")
	_, prev := Run(context.Background(), &finder{found: map[string][]sources.Found{"storage": accounts("storage", "store1", "store2")}}, []Block{b}, nil, nil, opts)
	listed := account.Job{Path: "listed/store1", Account: accounts("storage", "store1")[0].Account,
		Derived: []spec.Spec{{Name: "sas", Kind: spec.StorageAccountSAS, Path: "apps/store1/sas"}}}
	for _, tt := range []struct {
		name   string
		listed []account.Job
		want   string
	}{
		{"nobody writes it now", nil, "apps/store1/sas"},
		{"the account is listed now, its SAS at the same path", []account.Job{listed}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := Run(context.Background(), &finder{found: map[string][]sources.Found{"storage": accounts("storage", "store2")}}, []Block{b}, tt.listed, prev, opts)
			if len(out.Removals) != 1 {
				t.Fatalf("removals %s, want store1's", paths(out.Removals))
			}
			got, err := out.Removals[0].DerivedPaths()
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Fatalf("the removal's derived paths %v (%v), want %q", got, err, tt.want)
			}
		})
	}
}
