package discovery

import (
	"context"
	"strings"
	"testing"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// written puts in the sink the secret keysync writes for a found account.
func written(s *memsink.Sink, a sources.Account, path, block string) {
	s.Put(path, map[string]any{"primary": "k"}, map[string]string{plan.MetaManagedBy: plan.ManagedByValue,
		plan.MetaDiscoveredBy: block, plan.MetaDiscoveryScope: blockScope(block), plan.MetaResourceID: a.ResourceID()})
}

func blockScope(name string) string { return block(name, "batch", "").Scope() }

// TestRecallFindsWhatIsGone: a process that remembers nothing removes the
// accounts its block wrote before and no longer finds, and nothing else.
func TestRecallFindsWhatIsGone(t *testing.T) {
	ctx := context.Background()
	st := memsink.New()
	all := accounts("batch", "acct1", "acct2", "acct3", "acct4", "acct5")
	for _, f := range all {
		written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
	}
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

// TestRecallKeepsTheGuard: a query that finds almost nothing removes
// nothing after a recall either.
func TestRecallKeepsTheGuard(t *testing.T) {
	ctx := context.Background()
	st := memsink.New()
	all := accounts("batch", "acct1", "acct2", "acct3", "acct4", "acct5")
	for _, f := range all {
		written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
	}
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
	st := memsink.New()
	all := accounts("batch", "acct1", "acct2", "acct3", "acct4")
	for _, f := range all {
		written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
	}
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
