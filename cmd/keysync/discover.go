package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// blocks turns the file's [[discover]] blocks into discovery's.
func blocks(cfg *config.Config) []discovery.Block {
	out := make([]discovery.Block, len(cfg.Discover))
	for i, d := range cfg.Discover {
		out[i] = discovery.Block{Name: d.BlockName(i), Selector: d.Selector(), Engine: d.Engine(cfg.Discovery), Path: d.Path,
			OnRemoved: d.OnRemoved, MaxRemovedFraction: d.MaxRemovedFraction,
			Job: job(sources.Account{Type: d.Type, Rule: d.Rule, APIVersion: d.APIVersion}, "", d.Settings)}
	}
	return out
}

// discovered runs the blocks and returns the accounts of this shard they
// found, ready to schedule, and the removals of accounts gone since prev
// (what an earlier run found: nil for none), weighed with the removals
// ledger remembers (the last outcome's Decision.Ledger; zero for none).
func discovered(ctx context.Context, cfg *config.Config, f discovery.Finder, listed []scheduler.Account, prev *discovery.State, ledger inventory.Ledger) ([]scheduler.Account, []runner.Job, discovery.Outcome) {
	shard, _ := config.ParseShard(cfg.Shard)
	out, _ := discovery.Run(ctx, f, blocks(cfg), jobs(listed), prev, discovery.Options{
		MaxRemovedFraction: cfg.MaxRemovedFraction, Now: time.Now(), Window: cfg.RemovalWindow.Duration, Ledger: ledger,
		CheckPath: func(p string) error { return config.CheckVaultPath(cfg.Vault.Mount, p) },
		Owns:      shard.Owns,
	})
	schedules := map[string]string{}
	for i, d := range cfg.Discover {
		schedules[d.BlockName(i)] = d.Schedule
	}
	accts := make([]scheduler.Account, 0, len(out.Jobs))
	parsed := scheduleCache{}
	for _, f := range out.Jobs {
		j := f.Job
		j.Account.APIVersion = sources.APIVersionFor(j.Account, cfg.Azure.APIVersion)
		spec := cfg.Schedule
		if s := schedules[f.Block]; s != "" {
			spec = s
		}
		accts = append(accts, scheduler.Account{Job: j, Label: j.Account.Name, Schedule: parsed.parse(spec)})
	}
	return accts, out.Removals, out
}

// maxRecall bounds the secrets listed under one block's path prefix when a
// process recalls what an earlier one found.
const maxRecall = 1_000_000

// discoveredAfresh is discovered, completed from Vault where memory is not
// enough. A process that remembers no earlier run (known nil: a
// --run-now, the daemon's first discovery) recalls the secrets of
// accounts every block found before (a keep block's too, so that what it
// finds again is not reported as added), and reads, at each path two
// resources claim, which one was there before (so that it keeps
// syncing); a daemon that remembers (known: what its scheduler
// holds) recalls only when a block deletes, to find again the secrets
// marked gone by earlier runs and delete them once delete_after has
// passed. Recalled secrets marked within removal_window count against
// max_removed_fraction. Azure is asked once. If Vault cannot answer, the
// run decides without it (nothing that only Vault knows of is removed),
// and the log says why.
func discoveredAfresh(ctx context.Context, cfg *config.Config, f discovery.Finder, st discovery.Store, listed []scheduler.Account,
	known *discovery.State, ledger inventory.Ledger, log *slog.Logger) ([]scheduler.Account, []runner.Job, discovery.Outcome) {
	memo := discovery.NewMemo(f)
	accts, removals, out := discovered(ctx, cfg, memo, listed, known, ledger)
	recall := known == nil && len(cfg.Discover) > 0 || known != nil && removes(cfg, plan.RemoveDelete)
	claims := known == nil && len(out.Decision.Conflicts) > 0
	if !recall && !claims {
		return accts, removals, out
	}
	shard, _ := config.ParseShard(cfg.Shard)
	prev, err := known, error(nil)
	var more *discovery.State
	if recall {
		if more, err = discovery.RecallMarked(ctx, st, blocks(cfg), out, maxRecall, shard.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if claims && err == nil {
		if more, err = discovery.RecallClaims(ctx, st, blocks(cfg), out, shard.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if err != nil {
		log.Warn("cannot tell which discovered accounts are gone: removing nothing this run", "err", err)
		return accts, removals, out
	}
	accts, removals, out = discovered(ctx, cfg, memo, listed, prev, ledger)
	for _, l := range out.Left {
		log.Warn("left a secret that carries a block's marks but that the block could not have written", "block", l.Block, "path", l.Path, "reason", l.Reason)
	}
	if out.MoreLeft > 0 {
		log.Warn("left more secrets that carry a block's marks", "count", out.MoreLeft)
	}
	return accts, removals, out
}

// removes reports whether a block's on_removed is one of policies.
func removes(cfg *config.Config, policies ...string) bool {
	for _, d := range cfg.Discover {
		if slices.Contains(policies, d.OnRemoved) {
			return true
		}
	}
	return false
}

// writeDiscovery prints what discovery found, and why a block failed or
// an account was left out, for --run-now and --dry-run.
func writeDiscovery(w io.Writer, out discovery.Outcome) {
	fmt.Fprintln(w, out.Summary())
	for name, err := range out.Failed {
		fmt.Fprintf(w, "  %s failed: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	for _, name := range slices.Sorted(maps.Keys(out.Skipped)) {
		skipped := out.Skipped[name]
		fmt.Fprintf(w, "  %s skipped %d rows and removed nothing:\n", name, len(skipped))
		for _, s := range skipped[:min(len(skipped), maxSkippedShown)] {
			fmt.Fprintf(w, "    %s: %s\n", s.Row, s.Reason)
		}
		if len(skipped) > maxSkippedShown {
			fmt.Fprintf(w, "    and %d more\n", len(skipped)-maxSkippedShown)
		}
	}
	for _, c := range out.Decision.Conflicts {
		fmt.Fprintf(w, "  conflict: %s\n", c.Error())
	}
	for _, l := range out.Left {
		fmt.Fprintf(w, "  %s left %q: %s\n", l.Block, l.Path, l.Reason)
	}
	if out.MoreLeft > 0 {
		fmt.Fprintf(w, "  ... and %d more secrets left\n", out.MoreLeft)
	}
}

// maxSkippedShown bounds the skipped rows of one block that a report or
// the log names; the count says how many there were.
const maxSkippedShown = 10

// logWarnings logs what config.Warnings finds in cfg (--validate prints it).
func logWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn("config: a path template may give two resources one path", "key", w.Key, "reason", w.Msg)
	}
}
