package estate

import (
	"context"
	"log/slog"
	"time"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/scheduler"
)

// maxRecall bounds the secrets listed under one block's path prefix when a
// process recalls what an earlier one found.
const maxRecall = 1_000_000

// Memory is what a discovery is told of the runs before it.
type Memory struct {
	// Known is what an earlier run of this process found (what its
	// scheduler holds); nil when it remembers none.
	Known *discovery.State
	// Ledger is the removals of the last run's window (its
	// Outcome.Decision.Ledger); zero for none.
	Ledger inventory.Ledger
	// Now is the run's time.
	Now time.Time
}

// Result is one discovery: the accounts found, ready to schedule, the
// removals of accounts gone, and the whole outcome.
type Result struct {
	Found    []scheduler.Account
	Removals []account.Job
	Outcome  discovery.Outcome
}

// Find runs the blocks, completed from the store where memory is not
// enough. A process that remembers no earlier run (m.Known nil: a
// --run-now, the daemon's first discovery) recalls the secrets of
// accounts every block found before (a keep block's too, so that what it
// finds again is not reported as added), and reads, at each path two
// resources claim, which one was there before (so that it keeps syncing);
// a daemon that remembers recalls only when a block deletes, to find
// again the secrets marked gone by earlier runs and delete them once
// delete_after has passed. Recalled secrets marked within the window
// count against max_removed_fraction. The finder is asked once. If the
// store cannot answer, the run decides without it (nothing that only the
// store knows of is removed), and the log says why.
func Find(ctx context.Context, cfg Config, p Parts, listed []account.Job, m Memory, log *slog.Logger) Result {
	memo := discovery.NewMemo(p.Finder)
	r := find(ctx, cfg, memo, listed, m.Known, m)
	recall := m.Known == nil && len(cfg.Blocks) > 0 || removes(cfg, plan.RemoveDelete)
	claims := m.Known == nil && len(r.Outcome.Decision.Conflicts) > 0
	if !recall && !claims {
		return r
	}
	prev, err := m.Known, error(nil)
	var more *discovery.State
	if recall {
		if more, err = discovery.RecallMarked(ctx, p.Store, cfg.Blocks, r.Outcome, maxRecall, cfg.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if claims && err == nil {
		if more, err = discovery.RecallClaims(ctx, p.Store, cfg.Blocks, r.Outcome, cfg.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if err != nil {
		log.Warn("cannot tell which discovered accounts are gone: removing nothing this run", "err", err)
		return r
	}
	r = find(ctx, cfg, memo, listed, prev, m)
	for _, l := range r.Outcome.Left {
		log.Warn("left a secret that carries a block's marks but that the block could not have written", "block", l.Block, "path", l.Path, "reason", l.Reason)
	}
	if r.Outcome.MoreLeft > 0 {
		log.Warn("left more secrets that carry a block's marks", "count", r.Outcome.MoreLeft)
	}
	return r
}

// find runs the blocks once and returns the accounts they found, ready
// to schedule, and the removals of accounts gone since prev (what an
// earlier run found: nil for none), weighed with m's ledger.
func find(ctx context.Context, cfg Config, f discovery.Finder, listed []account.Job, prev *discovery.State, m Memory) Result {
	out, _ := discovery.Run(ctx, f, cfg.Blocks, listed, prev, discovery.Options{
		MaxRemovedFraction: cfg.MaxRemovedFraction, Now: m.Now, Window: cfg.Window, Ledger: m.Ledger,
		CheckPath: cfg.CheckPath, Owns: cfg.Owns,
	})
	accts := make([]scheduler.Account, 0, len(out.Jobs))
	for _, f := range out.Jobs {
		j := f.Job
		if cfg.APIVersion != nil {
			j.Account.APIVersion = cfg.APIVersion(j.Account)
		}
		sched := cfg.Schedule
		if s := cfg.Schedules[f.Block]; s != nil {
			sched = s
		}
		accts = append(accts, scheduler.Account{Job: j, Label: j.Account.Name, Schedule: sched})
	}
	return Result{Found: accts, Removals: out.Removals, Outcome: out}
}

// removes reports whether a block's on_removed is policy.
func removes(cfg Config, policy string) bool {
	for _, b := range cfg.Blocks {
		if b.OnRemoved == policy {
			return true
		}
	}
	return false
}
