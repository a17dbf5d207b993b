package discovery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// written puts in the sink the secret keysync writes for a found account.
func written(s *memsink.Sink, a sources.Account, path, block string) {
	s.Put(path, map[string]any{"primary": "k"}, map[string]string{plan.MetaManagedBy: plan.ManagedByValue,
		plan.MetaDiscoveredBy: block, plan.MetaDiscoveryScope: blockScope(block), plan.MetaResourceID: a.ResourceID()})
}

// writtenBy is a sink that holds, at azure/batch/{name}, the secret block
// wrote for each Batch account named, and the accounts.
func writtenBy(block string, names ...string) (*memsink.Sink, []sources.Found) {
	st := memsink.New()
	all := accounts("batch", names...)
	for _, f := range all {
		written(st, f.Account, "azure/batch/"+f.Account.Name, block)
	}
	return st, all
}

func blockScope(name string) string { return block(name, "batch", "").Scope() }

// TestRecallFindsWhatIsGone: a process that remembers nothing removes the
// accounts its block wrote before and no longer finds, and nothing else.
func TestRecallFindsWhatIsGone(t *testing.T) {
	ctx := context.Background()
	st, all := writtenBy("b", "acct1", "acct2", "acct3", "acct4", "acct5")
	st.Put("azure/batch/acct0-theirs", map[string]any{"x": "y"}, map[string]string{"team": "x"})
	written(st, sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: "other1"}, "azure/batch/other1", "another-block")
	st.Put("elsewhere/acct9", map[string]any{"x": "y"}, nil)
	// Another deployment's block of the same name, searching elsewhere.
	elsewhere := sources.Account{SubscriptionID: "99999999-2222-3333-4444-555555555555", ResourceGroup: "rg", Name: "acct7"}
	st.Put("azure/batch/acct7", map[string]any{"primary": "k"}, map[string]string{plan.MetaManagedBy: plan.ManagedByValue,
		plan.MetaDiscoveredBy: "b", plan.MetaDiscoveryScope: "0123456789abcdef", plan.MetaResourceID: elsewhere.ResourceID()})

	f := &finder{found: map[string][]sources.Found{"batch": all[:4]}}
	blocks := []Block{block("b", "batch", plan.RemoveMark)}
	memo := NewMemo(f)
	out, _ := Run(ctx, memo, blocks, nil, nil, opts)
	prev, err := Recall(ctx, st, blocks, out, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = Run(ctx, memo, blocks, nil, prev, opts)
	if got := paths(out.Removals); got != "azure/batch/acct5(mark)" {
		t.Fatalf("removals %s", got)
	}
	if f.calls != 1 {
		t.Fatalf("Azure asked %d times, want once", f.calls)
	}
	if len(out.Jobs) != 4 || len(out.Decision.Added) != 0 {
		t.Fatalf("jobs %d, added %d", len(out.Jobs), len(out.Decision.Added))
	}
}

// TestMemoMakesJobsOnce: a run decided twice through one Memo asks Azure
// once per block and makes each block's jobs once (both runs' jobs are
// the same, not copies: a start-up at 100,000 accounts held two sets),
// with the rows it skipped and a failed block's error.
func TestMemoMakesJobsOnce(t *testing.T) {
	ctx := context.Background()
	bad := sources.Found{Account: sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: "..", Type: "batch"}}
	f := &finder{found: map[string][]sources.Found{"batch": append(accounts("batch", "acct1", "acct2"), bad)},
		err: map[string]error{"redis": fmt.Errorf("the query failed")}}
	blocks := []Block{block("b", "batch", plan.RemoveMark), block("r", "redis", plan.RemoveMark)}
	memo := NewMemo(f)
	first, _ := Run(ctx, memo, blocks, nil, nil, opts)
	second, _ := Run(ctx, memo, blocks, nil, nil, opts)
	if f.calls != 2 {
		t.Fatalf("Azure asked %d times for two blocks, want 2", f.calls)
	}
	if len(first.Jobs) != 2 || len(second.Jobs) != 2 {
		t.Fatalf("jobs %d then %d, want 2", len(first.Jobs), len(second.Jobs))
	}
	for i := range first.Jobs {
		if first.Jobs[i].Job != second.Jobs[i].Job {
			t.Errorf("job %s was made again for the second run", first.Jobs[i].Job.Path)
		}
	}
	for _, out := range []Outcome{first, second} {
		if len(out.Skipped["b"]) != 1 || out.Failed["r"] == nil {
			t.Errorf("skipped %v, failed %v: want the bad row skipped and r failed in both runs", out.Skipped, out.Failed)
		}
	}
}

// countingStore counts the lists and reads a Recall makes.
type countingStore struct {
	Store
	lists, reads int
}

func (c *countingStore) List(ctx context.Context, prefix string, limit int) ([]string, error) {
	c.lists++
	return c.Store.List(ctx, prefix, limit)
}

func (c *countingStore) Read(ctx context.Context, path string) (sinks.State, error) {
	c.reads++
	return c.Store.Read(ctx, path)
}

// TestRecallKeepBlock: a process that remembers nothing recalls a keep
// block's accounts too, so that what it finds again is not added anew at
// every run, and one it no longer finds counts as removed, with nothing
// to do to its secret. It costs one list of the prefix and a read of each
// secret not found again; recalled accounts are not synced.
func TestRecallKeepBlock(t *testing.T) {
	ctx := context.Background()
	mem, all := writtenBy("b", "acct1", "acct2", "acct3", "acct4")
	for _, policy := range []string{"", plan.RemoveKeep} {
		st := &countingStore{Store: mem}
		memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:3]}})
		blocks := []Block{block("b", "batch", policy)}
		out, _ := Run(ctx, memo, blocks, nil, nil, opts)
		prev, err := Recall(ctx, st, blocks, out, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ = Run(ctx, memo, blocks, nil, prev, opts)
		d := out.Decision
		if len(d.Added) != 0 || len(d.Removed) != 1 || len(out.Removals) != 0 {
			t.Fatalf("on_removed %q: %d added, %d removed, removals %s", policy, len(d.Added), len(d.Removed), paths(out.Removals))
		}
		if st.lists != 1 || st.reads != 1 {
			t.Fatalf("on_removed %q: %d lists and %d reads, want 1 and 1 (acct4's)", policy, st.lists, st.reads)
		}
		if got := foundPaths(out.Jobs); got != "azure/batch/acct1(),azure/batch/acct2(),azure/batch/acct3()" {
			t.Fatalf("on_removed %q: synced %s", policy, got)
		}
	}
}

// TestRecallKeepsTheGuard: a query that finds almost nothing removes
// nothing after a recall either.
func TestRecallKeepsTheGuard(t *testing.T) {
	ctx := context.Background()
	st, all := writtenBy("b", "acct1", "acct2", "acct3", "acct4", "acct5")
	memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:1]}})
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	out, _ := Run(ctx, memo, blocks, nil, nil, opts)
	prev, err := Recall(ctx, st, blocks, out, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = Run(ctx, memo, blocks, nil, prev, opts)
	if len(out.Removals) != 0 || out.Decision.Held == "" {
		t.Fatalf("removals %s, held %q", paths(out.Removals), out.Decision.Held)
	}
	// Held, not synced: only what this run found is, since the recalled
	// marks are metadata a writer of the metadata alone can forge.
	if got := foundPaths(out.Jobs); got != "azure/batch/acct1()" {
		t.Fatalf("synced %s, want only what the run found", got)
	}
}

// TestRecalledAccountsAreNeverSynced: a secret recalled from Vault (its
// marks may be forged onto the path the template makes for any account of
// the block's scope) decides removals only. Held by the guard, or kept
// because the block failed or skipped rows, it is not synced until a run
// finds it; an account this process found itself and holds still is.
func TestRecalledAccountsAreNeverSynced(t *testing.T) {
	ctx := context.Background()
	all := accounts("batch", "acct1", "acct2")
	for _, tt := range []struct {
		name string
		f    *finder
	}{
		{"held by the guard", &finder{found: map[string][]sources.Found{"batch": all[:1]}}},
		{"its block failed", &finder{err: map[string]error{"batch": fmt.Errorf("boom")}}},
		{"its block skipped rows", &finder{found: map[string][]sources.Found{"batch": all[:1]},
			skipped: map[string][]sources.Skipped{"batch": {{Row: "x", Reason: "y"}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{MaxRemovedFraction: 0.2}
			st := memsink.New()
			for _, f := range all {
				written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
			}
			blocks := []Block{block("b", "batch", plan.RemoveMark)}
			memo := NewMemo(tt.f)
			out, _ := Run(ctx, memo, blocks, nil, nil, o)
			prev, err := Recall(ctx, st, blocks, out, 100, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, _ = Run(ctx, memo, blocks, nil, prev, o)
			if got := foundPaths(out.Jobs); strings.Contains(got, "acct2") {
				t.Fatalf("synced %s: a recalled account was synced", got)
			}
			if len(out.Removals) != 0 {
				t.Fatalf("removed %s", paths(out.Removals))
			}
			// What this process found itself stays synced while held.
			_, mine := Run(ctx, &finder{found: map[string][]sources.Found{"batch": all}}, blocks, nil, nil, o)
			out, _ = Run(ctx, tt.f, blocks, nil, mine, o)
			if got := foundPaths(out.Jobs); !strings.Contains(got, "acct2") {
				t.Fatalf("synced %s: an account this process found was dropped while held", got)
			}
		})
	}
}

// TestRecallBounded: more secrets under the prefix than the bound is an
// error (the caller then removes nothing), never a short list.
func TestRecallBounded(t *testing.T) {
	st := memsink.New()
	for _, f := range accounts("batch", "acct1", "acct2", "acct3") {
		written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
	}
	_, err := Recall(context.Background(), st, []Block{block("b", "batch", plan.RemoveMark)}, Outcome{}, 2, nil)
	if err == nil || !strings.Contains(err.Error(), "more secrets") {
		t.Fatalf("err %v", err)
	}
}

func TestFixedPrefix(t *testing.T) {
	for tmpl, want := range map[string]string{"azure/{type}/{name}": "azure", "a/b/c-{name}": "a/b", "{name}": "", "/x/{name}/": "x"} {
		if got := fixedPrefix(tmpl); got != want {
			t.Errorf("fixedPrefix(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

// TestShardOwnsItsOwn: a shard finds, recalls and removes only the
// accounts it owns: another shard's are neither jobs here nor removals,
// and do not count towards the guard's fraction.
func TestShardOwnsItsOwn(t *testing.T) {
	ctx := context.Background()
	st, all := writtenBy("b", "acct1", "acct2", "acct3", "acct4")
	mine := func(id string) bool { return !strings.HasSuffix(id, "/acct3") && !strings.HasSuffix(id, "/acct4") }
	o := opts
	o.Owns = mine
	// acct2 is gone from Azure; acct4, another shard's, is gone too.
	memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": {all[0], all[2]}}})
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	out, _ := Run(ctx, memo, blocks, nil, nil, o)
	if len(out.Jobs) != 1 || out.Jobs[0].Job.Account.Name != "acct1" {
		t.Fatalf("jobs %+v, want this shard's acct1 only", out.Jobs)
	}
	prev, err := Recall(ctx, st, blocks, out, 100, mine)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = Run(ctx, memo, blocks, nil, prev, o)
	if got := paths(out.Removals); got != "azure/batch/acct2(delete)" {
		t.Fatalf("removals %s, want this shard's acct2 only", got)
	}
}

// TestClaim: a recalled secret is a block's only when the account its
// resource-id names is one the block could find (type, subscriptions,
// resource groups without case, rule) and its path is exactly the one the
// template makes for it.
func TestClaim(t *testing.T) {
	const tmpl = "azure/{type}/{subscription}/{resource_group}/{name}"
	const hexSub = "abcdef01-2222-3333-4444-555555555555"
	batch := Block{Name: "b", Path: tmpl, Selector: sources.Selector{Type: "batch", Subscriptions: []string{sub, hexSub}, ResourceGroups: []string{"RG-One"}}}
	eh := Block{Name: "e", Path: tmpl + "/{rule}", Selector: sources.Selector{Type: "eventhubs"}, Job: account.Job{Account: sources.Account{Rule: "Send"}}}
	acct := func(typ, s, rg, name, rule string) string {
		return sources.Account{Type: typ, SubscriptionID: s, ResourceGroup: rg, Name: name, Rule: rule}.ResourceID()
	}
	other := "99999999-2222-3333-4444-555555555555"
	tests := []struct {
		name, id, path string
		b              Block
		why            string
	}{
		{"the template's path", acct("batch", sub, "RG-One", "acct1", ""), "azure/batch/" + sub + "/RG-One/acct1", batch, ""},
		{"a resource group compares without case", acct("batch", sub, "rg-one", "acct1", ""), "azure/batch/" + sub + "/rg-one/acct1", batch, ""},
		{"a subscription compares without case", acct("batch", strings.ToUpper(hexSub), "RG-One", "acct1", ""), "azure/batch/" + hexSub + "/RG-One/acct1", batch, ""},
		{"another path under the prefix", acct("batch", sub, "RG-One", "acct1", ""), "azure/team-b/db", batch, "its path is not"},
		{"the path of another name", acct("batch", sub, "RG-One", "acct1", ""), "azure/batch/" + sub + "/RG-One/acct2", batch, "its path is not"},
		{"a path that differs in case", acct("batch", sub, "RG-One", "acct1", ""), "azure/batch/" + sub + "/rg-one/acct1", batch, "its path is not"},
		{"another subscription", acct("batch", other, "RG-One", "acct1", ""), "azure/batch/" + other + "/RG-One/acct1", batch, "subscription"},
		{"another resource group", acct("batch", sub, "rg-two", "acct1", ""), "azure/batch/" + sub + "/rg-two/acct1", batch, "resource group"},
		{"another type", acct("storage", sub, "RG-One", "store1", ""), "azure/storage/" + sub + "/RG-One/store1", batch, "type"},
		{"not a resource id", "/subscriptions/x", "azure/batch/x", batch, "not one keysync could have written"},
		{"the block's rule", acct("eventhubs", sub, "rg", "ns-one", "send"), "azure/eventhubs/" + sub + "/rg/ns-one/Send", eh, ""},
		{"another rule", acct("eventhubs", sub, "rg", "ns-one", "Listen"), "azure/eventhubs/" + sub + "/rg/ns-one/Listen", eh, "authorization rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, why := tt.b.claim(tt.id, tt.path)
			if tt.why == "" && why != "" || !strings.Contains(why, tt.why) {
				t.Fatalf("claim: %q, want %q", why, tt.why)
			}
		})
	}
}

// TestRecallLeavesForgedMarks: managed-by, discovered-by and
// discovery-scope are custom_metadata, which whoever may write a secret's
// metadata can copy. Copied onto secrets the block could not have written
// (another path, an account it does not search), they make no removal, and
// the run says which secrets it left and why. A listed account's secret
// is never a removal either.
func TestRecallLeavesForgedMarks(t *testing.T) {
	ctx := context.Background()
	st := memsink.New()
	b := block("b", "batch", plan.RemoveDelete)
	b.Path, b.Selector.Subscriptions = "azure/{type}/{subscription}/{name}", []string{sub}
	at := func(a sources.Account) string {
		p, err := sources.ExpandPath(b.Path, a)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := accounts("batch", "acct1", "acct2", "acct3", "acct4", "acct5")
	for _, f := range all {
		forge(st, f.Account, at(f.Account), b)
	}
	elsewhere := sources.Account{SubscriptionID: "99999999-2222-3333-4444-555555555555", ResourceGroup: "rg", Name: "victim1", Type: "batch"}
	forge(st, all[0].Account, "azure/team-b/db", b)
	forge(st, elsewhere, at(elsewhere), b)
	listed := account.Job{Account: all[4].Account, Path: at(all[4].Account)}
	memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:3]}})
	o := opts
	o.MaxRemovedFraction = 1
	out, _ := Run(ctx, memo, []Block{b}, []account.Job{listed}, nil, o)
	prev, err := Recall(ctx, st, []Block{b}, out, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = Run(ctx, memo, []Block{b}, []account.Job{listed}, prev, o)
	if got := paths(out.Removals); got != at(all[3].Account)+"(delete)" {
		t.Fatalf("removals %s", got)
	}
	var left []string
	for _, l := range out.Left {
		left = append(left, l.Path+": "+l.Reason)
	}
	want := "azure/batch/99999999-2222-3333-4444-555555555555/victim1: its resource-id names a subscription the block does not search," +
		"azure/team-b/db: its path is not the one the block's template makes for its resource-id"
	if strings.Join(left, ",") != want || out.MoreLeft != 0 {
		t.Fatalf("left %q (+%d)", left, out.MoreLeft)
	}
}

// forge puts at path a secret whose metadata carries b's marks for a.
func forge(s *memsink.Sink, a sources.Account, path string, b Block) {
	s.Put(path, map[string]any{"password": "theirs"}, map[string]string{plan.MetaManagedBy: plan.ManagedByValue,
		plan.MetaDiscoveredBy: b.Name, plan.MetaDiscoveryScope: b.Scope(), plan.MetaResourceID: a.ResourceID()})
}

// TestRecallBoundsWhatItLeaves: a flood of forged marks is listed up to a
// bound and counted past it.
func TestRecallBoundsWhatItLeaves(t *testing.T) {
	st := memsink.New()
	b := block("b", "batch", plan.RemoveMark)
	for i := range maxLeft + 5 {
		forge(st, sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: "victim", Type: "batch"}, fmt.Sprintf("azure/x/%d", i), b)
	}
	prev, err := Recall(context.Background(), st, []Block{b}, Outcome{}, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prev.left) != maxLeft || prev.moreLeft != 5 || len(prev.jobs) != 0 {
		t.Fatalf("left %d, more %d, jobs %d", len(prev.left), prev.moreLeft, len(prev.jobs))
	}
}
