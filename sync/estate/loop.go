package estate

import (
	"context"
	"time"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/discovery"
)

// Run runs the [[discover]] blocks now and then every Config.Every, or
// sooner when a reload asks, until ctx ends.
func (e *Estate) Run(ctx context.Context) {
	for first := true; ; first = false {
		e.Discover(ctx)
		if first && e.started != nil {
			e.started()
		}
		e.mu.Lock()
		every := e.cfg.Every
		e.mu.Unlock()
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.trigger:
			t.Stop()
		}
	}
}

// Discover runs one discovery without holding the estate (it talks to
// Azure), then hands what it found to the scheduler, and runs the removals
// of accounts gone since the last one, once no sync of theirs runs any
// more. A discovery of a config a reload has replaced meanwhile is
// dropped: the reload asked for another.
func (e *Estate) Discover(ctx context.Context) {
	e.mu.Lock()
	cfg, p, again, gen, ledger := e.cfg, e.parts, e.discovered, e.gen, e.ledger
	e.mu.Unlock()
	if len(cfg.Blocks) == 0 {
		return
	}
	var known *discovery.State
	listed := kept(e.sched, isListed)
	if again {
		known = foundState(e.sched, cfg)
	}
	now := e.now()
	r := Find(ctx, cfg, p, Jobs(listed), Memory{Known: known, Ledger: ledger, Now: now}, e.log)
	e.observe(cfg, r)
	e.mu.Lock()
	if e.gen != gen || ctx.Err() != nil {
		e.mu.Unlock()
		return
	}
	e.discovered, e.last, e.ledger = true, statusOf(r.Outcome, now), r.Outcome.Decision.Ledger
	// What is left of the outcome is not needed any more: its lists are
	// as long as the estate, and would be live while the scheduler packs.
	found, removals := r.Found, r.Removals
	r = Result{}
	err := e.schedule(ctx, p.Runner, listed, found)
	e.mu.Unlock()
	if err != nil || len(removals) == 0 {
		return
	}
	// A sync of a removed account that ran at the hand-over would, ending
	// after the removal, find the mark and write the secret back as found
	// again (plan.Calculate drops it): the next discovery would remove
	// it anew, and delete_after would start over.
	if e.sched.AwaitRemoved(ctx) != nil {
		return
	}
	e.log.Info("discovery: handling accounts no longer found", "count", len(removals))
	p.Runner.Run(ctx, removals)
}

// foundState is the State of what the scheduler holds of what discovery
// found, for the next discovery of cfg.
func foundState(sched Scheduler, cfg Config) *discovery.State {
	var jobs []account.Job
	for a := range sched.Kept(isDiscovered) {
		jobs = append(jobs, a.Job)
	}
	return discovery.StateOf(jobs, cfg.Blocks)
}
