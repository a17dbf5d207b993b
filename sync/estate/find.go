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
	// Outcome is the whole outcome but its Jobs, which Found holds.
	Outcome discovery.Outcome
	// ByType counts Found by account type.
	ByType map[string]int
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
	out := run(ctx, cfg, memo, listed, m.Known, m)
	recall := m.Known == nil && len(cfg.Blocks) > 0 || removes(cfg, plan.RemoveDelete)
	claims := m.Known == nil && len(out.Decision.Conflicts) > 0
	if !recall && !claims {
		return resultOf(cfg, out)
	}
	prev, err := m.Known, error(nil)
	var more *discovery.State
	if recall {
		if more, err = discovery.RecallMarked(ctx, p.Store, cfg.Blocks, out, maxRecall, cfg.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if claims && err == nil {
		if more, err = discovery.RecallClaims(ctx, p.Store, cfg.Blocks, out, cfg.Owns); err == nil {
			prev = prev.With(more)
		}
	}
	if err != nil {
		log.Warn("cannot tell which discovered accounts are gone: removing nothing this run", "err", err)
		return resultOf(cfg, out)
	}
	// The first run's jobs and decision are dropped before the second
	// run makes its own: at start-up, with 100,000 accounts found, the two
	// together would be most of the daemon's peak.
	out = discovery.Outcome{}
	r := resultOf(cfg, run(ctx, cfg, memo, listed, prev, m))
	for _, l := range r.Outcome.Left {
		log.Warn("left a secret that carries a block's marks but that the block could not have written", "block", l.Block, "path", l.Path, "reason", l.Reason)
	}
	if r.Outcome.MoreLeft > 0 {
		log.Warn("left more secrets that carry a block's marks", "count", r.Outcome.MoreLeft)
	}
	return r
}

// run runs the blocks once and decides on what they found, and on the
// accounts gone since prev (what an earlier run found: nil for none),
// weighed with m's ledger.
func run(ctx context.Context, cfg Config, f discovery.Finder, listed []account.Job, prev *discovery.State, m Memory) discovery.Outcome {
	out, _ := discovery.Run(ctx, f, cfg.Blocks, listed, prev, discovery.Options{
		MaxRemovedFraction: cfg.MaxRemovedFraction, Now: m.Now, Window: cfg.Window, Ledger: m.Ledger,
		CheckPath: cfg.CheckPath, Owns: cfg.Owns,
	})
	return out
}

// resultOf makes the accounts out found ready to schedule, each with its
// block's schedule, and then drops out's copy of their jobs (Result.Found
// holds them; ByType counts them): the scheduler packs them while both
// would otherwise be live.
func resultOf(cfg Config, out discovery.Outcome) Result {
	accts := make([]scheduler.Account, 0, len(out.Jobs))
	byType := map[string]int{}
	for i := range out.Jobs {
		f := &out.Jobs[i]
		j := *f.Job
		byType[j.Account.Type]++
		if cfg.APIVersion != nil {
			j.Account.APIVersion = cfg.APIVersion(j.Account)
		}
		sched := cfg.Schedule
		if s := cfg.Schedules[f.Block]; s != nil {
			sched = s
		}
		accts = append(accts, scheduler.Account{Job: j, Label: j.Account.Name, Schedule: sched})
	}
	out.Jobs = nil
	return Result{Found: accts, Removals: out.Removals, Outcome: out, ByType: byType}
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
