package discovery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// markedAt puts in the sink the secret of a found account that an earlier
// removal marked at at.
func markedAt(s *memsink.Sink, a sources.Account, path, block string, at time.Time) {
	written(s, a, path, block)
	data, meta, _ := s.Get(path)
	meta[plan.MetaSourceGone] = at.Format(time.RFC3339)
	s.Put(path, data, meta)
}

// TestRunCollisionKeepsTheAccountFoundBefore: with a template that has no
// {resource_group}, a neighbour's same-named account (another resource
// group, the block's tags) makes the path of an account found before: the
// account found before keeps syncing with its job, is not removed, and the
// conflict is reported; the neighbour's is never a job.
func TestRunCollisionKeepsTheAccountFoundBefore(t *testing.T) {
	victim := accounts("batch", "acct1")[0]
	neighbour := victim
	neighbour.Account.ResourceGroup = "rg-b"
	f := &finder{found: map[string][]sources.Found{"batch": {victim}}}
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	_, st := Run(context.Background(), f, blocks, nil, nil, opts)
	for _, answer := range [][]sources.Found{{victim, neighbour}, {neighbour, victim}} {
		f.found["batch"] = answer
		out, next := Run(context.Background(), f, blocks, nil, st, opts)
		if len(out.Removals) != 0 || len(out.Jobs) != 1 || out.Jobs[0].Job.Account.ResourceGroup != "rg" {
			t.Fatalf("removals %s, jobs %+v", paths(out.Removals), out.Jobs)
		}
		if len(out.Decision.Conflicts) != 1 || out.Decision.Conflicts[0].Kept != victim.Account.Key() || !strings.Contains(out.Summary(), "1 conflicts") {
			t.Fatalf("conflicts %v", out.Decision.Conflicts)
		}
		st = next
	}
}

// TestRecallMarkedDeletesOnlyWhenDue: a process that remembers nothing
// finds again, in Vault, the marked secrets of accounts gone before: a
// block that deletes gets a removal job for each (the plan deletes once
// the mark is delete_after old), one that marks gets none; a new removal
// is marked whatever the policy.
func TestRecallMarkedDeletesOnlyWhenDue(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []string{plan.RemoveDelete, plan.RemoveMark} {
		st := memsink.New()
		all := accounts("batch", "acct1", "acct2", "acct3", "acct4", "acct5", "acct6", "acct7", "acct8", "acct9", "acct10")
		for _, f := range all[:9] {
			written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
		}
		markedAt(st, all[9].Account, "azure/batch/acct10", "b", t0.Add(-30*24*time.Hour))
		blocks := []Block{block("b", "batch", policy)}
		o := Options{MaxRemovedFraction: 0.2, Now: t0, Window: 24 * time.Hour}
		memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:8]}})
		out, _ := Run(ctx, memo, blocks, nil, nil, o)
		prev, err := RecallMarked(ctx, st, blocks, out, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ = Run(ctx, memo, blocks, nil, prev, o)
		want := "azure/batch/acct9(" + policy + ")"
		if policy == plan.RemoveDelete {
			want += ",azure/batch/acct10(delete)"
		}
		if got := paths(out.Removals); got != want {
			t.Fatalf("%s: removals %s, want %s", policy, got, want)
		}
		if !strings.Contains(out.Summary(), "8 accounts, 0 added, 1 removed") {
			t.Fatalf("%s: %s", policy, out.Summary())
		}
	}
}

// TestRecallMarkedKeepsTheGuardAfterARestart: the accounts marked gone
// within the window by processes before count against the fraction, so a
// process started anew cannot remove a little more each time.
func TestRecallMarkedKeepsTheGuardAfterARestart(t *testing.T) {
	ctx := context.Background()
	st := memsink.New()
	all := accounts("batch", "acct1", "acct2", "acct3", "acct4", "acct5", "acct6", "acct7", "acct8", "acct9", "acct10")
	for _, f := range all[:8] {
		written(st, f.Account, "azure/batch/"+f.Account.Name, "b")
	}
	for _, f := range all[8:] {
		markedAt(st, f.Account, "azure/batch/"+f.Account.Name, "b", t0.Add(-time.Hour))
	}
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	decide := func(found int, now time.Time) Outcome {
		o := Options{MaxRemovedFraction: 0.2, Now: now, Window: 24 * time.Hour}
		memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:found]}})
		out, _ := Run(ctx, memo, blocks, nil, nil, o)
		prev, err := RecallMarked(ctx, st, blocks, out, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ = Run(ctx, memo, blocks, nil, prev, o)
		return out
	}
	// 2 marked an hour ago, of 10: one more would make 3 of 10.
	if out := decide(7, t0); len(out.Removals) != 0 || !out.Decision.HeldBlock("b") || !strings.Contains(out.Summary(), "after 2 within removal_window") {
		t.Fatalf("removals %s, %s", paths(out.Removals), out.Summary())
	}
	// A day later, the marks are out of the window: acct8 goes (and the
	// marked two get their jobs, which delete once delete_after passes).
	if out := decide(7, t0.Add(25*time.Hour)); len(out.Decision.Removed) != 1 || len(out.Removals) != 3 || out.Decision.Held != "" {
		t.Fatalf("removals %s, %s", paths(out.Removals), out.Summary())
	}
}

// TestStateWith: the daemon's State, completed by a recall, keeps its own
// jobs and gains the recalled accounts it lacks, with their marks.
func TestStateWith(t *testing.T) {
	ctx := context.Background()
	st := memsink.New()
	all := accounts("batch", "acct1", "acct2", "acct3")
	markedAt(st, all[2].Account, "azure/batch/acct3", "b", t0)
	blocks := []Block{block("b", "batch", plan.RemoveDelete)}
	memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": all[:2]}})
	out, held := Run(ctx, memo, blocks, nil, nil, opts)
	recalled, err := RecallMarked(ctx, st, blocks, out, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := held.With(recalled).entries()
	if len(es) != 3 || !es[2].Marked || !es[2].GoneAt.Equal(t0) || es[0].Marked {
		t.Fatalf("%+v", es)
	}
	if held.With(nil) != held || (*State)(nil).With(recalled) != recalled {
		t.Fatal("With of nothing is not the other")
	}
}

// TestRecallClaims: a process that remembers nothing, whose block keeps
// what it no longer finds (so Recall reads nothing), learns from the
// secret at a contested path which claimant was there before, and keeps
// that one syncing; a secret of another block, or of neither claimant,
// holds nothing.
func TestRecallClaims(t *testing.T) {
	ctx := context.Background()
	victim := accounts("batch", "acct1")[0]
	neighbour := victim
	neighbour.Account.ResourceGroup = "rg-b"
	stranger := victim
	stranger.Account.ResourceGroup = "rg-c"
	tests := []struct {
		name    string
		writer  sources.Account
		byBlock string
		kept    string
	}{
		{"the account written there keeps it", victim.Account, "b", victim.Account.Key()},
		{"another block's secret holds nothing", victim.Account, "other", ""},
		{"a secret of neither claimant holds nothing", stranger.Account, "b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memsink.New()
			written(st, tt.writer, "azure/batch/acct1", tt.byBlock)
			blocks := []Block{block("b", "batch", plan.RemoveKeep)}
			memo := NewMemo(&finder{found: map[string][]sources.Found{"batch": {neighbour, victim}}})
			out, _ := Run(ctx, memo, blocks, nil, nil, opts)
			prev, err := RecallClaims(ctx, st, blocks, out, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, _ = Run(ctx, memo, blocks, nil, prev, opts)
			if len(out.Decision.Conflicts) != 1 || out.Decision.Conflicts[0].Kept != tt.kept || len(out.Removals) != 0 {
				t.Fatalf("conflicts %+v removals %s", out.Decision.Conflicts, paths(out.Removals))
			}
			if want := map[bool]int{true: 1, false: 0}[tt.kept != ""]; len(out.Jobs) != want || want == 1 && out.Jobs[0].Job.Account.ResourceGroup != "rg" {
				t.Fatalf("jobs %+v", out.Jobs)
			}
		})
	}
}
