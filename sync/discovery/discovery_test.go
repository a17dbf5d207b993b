package discovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

const sub = "11111111-2222-3333-4444-555555555555"

// finder answers each selector type with a fixed list and the rows it
// skipped, or an error.
type finder struct {
	found   map[string][]sources.Found
	skipped map[string][]sources.Skipped
	err     map[string]error
	calls   int
}

func (f *finder) Discover(_ context.Context, sel sources.Selector, _ string) ([]sources.Found, []sources.Skipped, error) {
	f.calls++
	if err := f.err[sel.Type]; err != nil {
		return nil, nil, err
	}
	return f.found[sel.Type], f.skipped[sel.Type], nil
}

func accounts(typ string, names ...string) []sources.Found {
	var out []sources.Found
	for _, n := range names {
		out = append(out, sources.Found{Account: sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: n, Type: typ}, Tags: map[string]string{"owner": "team-" + n}})
	}
	return out
}

func block(name, typ, onRemoved string) Block {
	return Block{Name: name, Selector: sources.Selector{Type: typ}, Path: "azure/{type}/{name}", OnRemoved: onRemoved,
		Job: account.Job{Adopt: true, Account: sources.Account{APIVersion: "2024-02-01"}}}
}

func paths(jobs []account.Job) string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Path+"("+j.Remove+")")
	}
	return strings.Join(out, ",")
}

func foundPaths(fs []Found) string {
	jobs := make([]account.Job, len(fs))
	for i, f := range fs {
		jobs[i] = *f.Job
	}
	return paths(jobs)
}

var opts = Options{MaxRemovedFraction: 0.5}

func TestRunTurnsFoundResourcesIntoJobs(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "acct1", "acct2")}}
	b := block("discover[0]", "batch", plan.RemoveKeep)
	b.Selector.KeepTags = []string{"owner"}
	b.Job.Account.Rule = "ignored-for-batch"
	out, _ := Run(context.Background(), f, []Block{b}, nil, nil, opts)
	if got := foundPaths(out.Jobs); got != "azure/batch/acct1(),azure/batch/acct2()" {
		t.Fatalf("jobs %s", got)
	}
	j := *out.Jobs[0].Job
	if out.Jobs[0].Block != "discover[0]" {
		t.Fatalf("block %q", out.Jobs[0].Block)
	}
	if !j.Adopt || j.Account.APIVersion != "2024-02-01" || j.Tags["owner"] != "team-acct1" || j.Account.Rule != "ignored-for-batch" {
		t.Fatalf("settings not carried: %+v", j)
	}
	if out.Found["discover[0]"] != 2 || len(out.Decision.Added) != 2 || !strings.Contains(out.Summary(), "2 accounts, 2 added, 0 removed") {
		t.Fatalf("%v %s", out.Found, out.Summary())
	}
}

func TestRunRemovesAsEachBlockSays(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{
		"batch":   accounts("batch", "acct1", "acct2", "acct3", "acct4"),
		"storage": accounts("storage", "store1", "store2", "store3", "store4")}}
	blocks := []Block{block("b", "batch", plan.RemoveMark), block("s", "storage", plan.RemoveDelete)}
	_, st := Run(context.Background(), f, blocks, nil, nil, opts)
	f.found["batch"] = accounts("batch", "acct1", "acct2", "acct3")
	f.found["storage"] = accounts("storage", "store1", "store2", "store3")
	out, _ := Run(context.Background(), f, blocks, nil, st, opts)
	if got := paths(out.Removals); got != "azure/batch/acct4(mark),azure/storage/store4(delete)" {
		t.Fatalf("removals %s", got)
	}
	if len(out.Jobs) != 6 {
		t.Fatalf("%d jobs", len(out.Jobs))
	}
}

// TestRunFailureRemovesNothing: a block whose query fails keeps syncing
// what it found before, and says why.
func TestRunFailureRemovesNothing(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "acct1", "acct2")}}
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	_, st := Run(context.Background(), f, blocks, nil, nil, opts)
	f.err = map[string]error{"batch": errors.New("HTTP 500")}
	out, st := Run(context.Background(), f, blocks, nil, st, opts)
	if len(out.Removals) != 0 || len(out.Jobs) != 2 || out.Failed["b"] == nil || !strings.Contains(out.Summary(), "1 blocks failed") {
		t.Fatalf("removals %s, jobs %d, %s", paths(out.Removals), len(out.Jobs), out.Summary())
	}
	// and the state still remembers them, for the run after.
	f.err = nil
	f.found["batch"] = accounts("batch", "acct1")
	if out, _ = Run(context.Background(), f, blocks, nil, st, opts); paths(out.Removals) != "azure/batch/acct2(delete)" {
		t.Fatalf("removals after recovery %s", paths(out.Removals))
	}
}

// TestRunImplausibleDropIsHeld: a query that suddenly finds almost nothing
// removes nothing.
func TestRunImplausibleDropIsHeld(t *testing.T) {
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("acct%02d", i))
	}
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", names...)}}
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	_, st := Run(context.Background(), f, blocks, nil, nil, Options{MaxRemovedFraction: 0.2})
	f.found["batch"] = accounts("batch", names[:2]...)
	out, _ := Run(context.Background(), f, blocks, nil, st, Options{MaxRemovedFraction: 0.2})
	if len(out.Removals) != 0 || len(out.Jobs) != 10 || out.Decision.Held == "" {
		t.Fatalf("removals %d, jobs %d, held %q", len(out.Removals), len(out.Jobs), out.Decision.Held)
	}
}

func TestRunListedAccountsWin(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "acct1", "acct2")}}
	listed := []account.Job{{Account: sources.Account{SubscriptionID: sub, ResourceGroup: "RG", Name: "ACCT1"}, Path: "mine/acct1"}}
	out, _ := Run(context.Background(), f, []Block{block("b", "batch", "")}, listed, nil, opts)
	if got := foundPaths(out.Jobs); got != "azure/batch/acct2()" {
		t.Fatalf("jobs %s", got)
	}
}

// TestRunSkipsBadPaths: an account whose path the sink would refuse, or
// whose values are not one path segment each, is skipped and reported;
// the block's other accounts sync.
func TestRunSkipsBadPaths(t *testing.T) {
	found := accounts("batch", "acct1", "acct2", "acct3")
	found[2].Account.ResourceGroup = "team-b/prod"
	f := &finder{found: map[string][]sources.Found{"batch": found}}
	o := opts
	o.CheckPath = func(p string) error {
		if strings.Contains(p, "acct1") {
			return errors.New("no")
		}
		return nil
	}
	b := block("b", "batch", "")
	b.Path = "azure/{resource_group}/{name}"
	out, _ := Run(context.Background(), f, []Block{b}, nil, nil, o)
	if len(out.Failed) != 0 || foundPaths(out.Jobs) != "azure/rg/acct2()" || len(out.Skipped["b"]) != 2 {
		t.Fatalf("failed %v jobs %s skipped %v", out.Failed, foundPaths(out.Jobs), out.Skipped)
	}
}

// TestRunSkippedRowsRemoveNothing: a block that skipped rows adds what
// it found and removes nothing, though it no longer finds two accounts
// and may; the run after, complete, removes them.
func TestRunSkippedRowsRemoveNothing(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "acct1", "acct2", "acct3")}}
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	all := Options{MaxRemovedFraction: 1}
	_, st := Run(context.Background(), f, blocks, nil, nil, all)
	f.found["batch"] = accounts("batch", "acct1", "acct4")
	f.skipped = map[string][]sources.Skipped{"batch": {{Row: "/subscriptions/x/acct3", Reason: "hostile"}}}
	out, st := Run(context.Background(), f, blocks, nil, st, all)
	if len(out.Removals) != 0 || len(out.Jobs) != 4 || len(out.Skipped["b"]) != 1 || !strings.Contains(out.Summary(), "1 rows skipped") {
		t.Fatalf("removals %s, jobs %d, %s", paths(out.Removals), len(out.Jobs), out.Summary())
	}
	f.skipped = nil
	if out, _ = Run(context.Background(), f, blocks, nil, st, all); paths(out.Removals) != "azure/batch/acct2(delete),azure/batch/acct3(delete)" {
		t.Fatalf("removals once complete %s", paths(out.Removals))
	}
}

// TestRunPartialAnswerRemovesNothing: a block whose answer covered part
// of its scope adds what it found and removes nothing, and the summary
// and the decision say why.
func TestRunPartialAnswerRemovesNothing(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "acct1", "acct2", "acct3")}}
	blocks := []Block{block("b", "batch", plan.RemoveMark)}
	all := Options{MaxRemovedFraction: 1}
	_, st := Run(context.Background(), f, blocks, nil, nil, all)
	f.found["batch"] = accounts("batch", "acct1", "acct4")
	f.skipped = map[string][]sources.Skipped{"batch": {
		{Row: "(the answer for management group mg)", Reason: "first subscriptions only", Partial: true},
		{Row: "/subscriptions/x/odd", Reason: "hostile"},
	}}
	out, _ := Run(context.Background(), f, blocks, nil, st, all)
	if len(out.Removals) != 0 || len(out.Decision.Removed) != 0 || len(out.Jobs) != 4 ||
		!strings.Contains(out.Summary(), ", 1 rows skipped (their blocks removed nothing), 1 answers covered part of their scope (their blocks removed nothing)") {
		t.Fatalf("removals %s, jobs %d, %s", paths(out.Removals), len(out.Jobs), out.Summary())
	}
	if got := partialReason(f.skipped["batch"]); got != "1 rows skipped; (the answer for management group mg): first subscriptions only" {
		t.Fatalf("partial reason %q", got)
	}
}

// TestStateOf: a State made of the jobs a holder keeps (the daemon's
// scheduler: here with their api-version settled) keeps and removes with
// those jobs, under the policy their block has now; a job without an
// origin (a listed account) is not one, and a block no longer configured
// removes nothing.
func TestStateOf(t *testing.T) {
	f := &finder{found: map[string][]sources.Found{"batch": accounts("batch", "a", "b")}}
	blocks := []Block{block("d", "batch", plan.RemoveDelete)}
	out, _ := Run(context.Background(), f, blocks, nil, nil, Options{MaxRemovedFraction: 1})
	if len(out.Jobs) != 2 {
		t.Fatalf("found %d jobs, want 2", len(out.Jobs))
	}
	var held []account.Job
	for _, fj := range out.Jobs {
		j := *fj.Job
		j.Account.APIVersion = "settled"
		held = append(held, j)
	}
	held = append(held, account.Job{Account: sources.Account{SubscriptionID: "s", ResourceGroup: "rg", Name: "listed"}, Path: "listed"})
	f.err = map[string]error{"batch": errors.New("down")}
	out, _ = Run(context.Background(), f, blocks, nil, StateOf(held, blocks), Options{MaxRemovedFraction: 1})
	for _, fj := range out.Jobs {
		if fj.Job.Account.APIVersion != "settled" {
			t.Errorf("kept job %s has api-version %q, want the holder's", fj.Job.Path, fj.Job.Account.APIVersion)
		}
	}
	if len(out.Jobs) != 2 {
		t.Fatalf("kept %d jobs, want 2 (the listed account is not one)", len(out.Jobs))
	}
	f.err, f.found = nil, map[string][]sources.Found{"batch": accounts("batch", "a")}
	out, _ = Run(context.Background(), f, blocks, nil, StateOf(held, blocks), Options{MaxRemovedFraction: 1})
	if len(out.Removals) != 1 || out.Removals[0].Account.APIVersion != "settled" || out.Removals[0].Remove != plan.RemoveDelete {
		t.Fatalf("removals %+v, want b's held job, to delete", out.Removals)
	}
	renamed := []Block{block("e", "batch", plan.RemoveDelete)}
	out, _ = Run(context.Background(), f, renamed, nil, StateOf(held, renamed), Options{MaxRemovedFraction: 1})
	if len(out.Removals) != 0 {
		t.Fatalf("removals %+v by a block no longer configured", out.Removals)
	}
}
