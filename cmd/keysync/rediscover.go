package main

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// estate is what the daemon syncs: the config's listed accounts and what
// its [[discover]] blocks found last. Reloads and discoveries both change
// it; mu makes each hand-over to the scheduler whole. What discovery found
// is held once, by the scheduler (scheduler.Kept): the estate keeps no
// copy, and the next discovery's State is made of the scheduler's.
type estate struct {
	mu     sync.Mutex
	cfg    *config.Config
	parts  *parts
	runner *runner.Runner
	// discovered: a discovery has been handed to the scheduler since the
	// start (until then, what earlier processes found is recalled).
	discovered bool
	gen        int // bumped by every reload: a discovery of an older config is dropped
	last       *server.DiscoveryStatus
	// ledger is the removals of the last discovery's window, for the
	// next (inventory.Input.Ledger).
	ledger  inventory.Ledger
	trigger chan struct{}
}

// isDiscovered says whether a job is a discovered account's.
func isDiscovered(shared *runner.Job) bool { return shared.Origin != nil }

// isListed says whether a job is a listed ([[account]]) account's.
func isListed(shared *runner.Job) bool { return shared.Origin == nil }

// kept is what the scheduler holds of the accounts keep accepts, unpacked:
// the daemon hands them back on a reload or a discovery instead of
// keeping a copy of its own.
func kept(sched *scheduler.Scheduler, keep func(*runner.Job) bool) []scheduler.Account {
	ks := sched.Kept(keep)
	out := make([]scheduler.Account, len(ks))
	for i, k := range ks {
		out[i] = k.Account()
	}
	return out
}

// foundState is the State of what the scheduler holds of what discovery
// found, for the next discovery of cfg.
func foundState(sched *scheduler.Scheduler, cfg *config.Config) *discovery.State {
	kept := sched.Kept(isDiscovered)
	jobs := make([]*runner.Packed, len(kept))
	for i, k := range kept {
		jobs[i] = k.Packed
	}
	return discovery.StateOf(jobs, blocks(cfg))
}

// newEstate makes the estate of cfg and the parts built from it.
func newEstate(cfg *config.Config, p *parts, r *runner.Runner) *estate {
	forgetListed(cfg)
	return &estate{cfg: cfg, parts: p, runner: r, trigger: make(chan struct{}, 1)}
}

// schedule hands the listed accounts and found to the scheduler, in one
// slice (listed itself when nothing is found, found itself when nothing is
// listed); e.mu is held.
func (e *estate) schedule(ctx context.Context, sched *scheduler.Scheduler, r *runner.Runner, listed, found []scheduler.Account) error {
	all := listed
	switch {
	case len(found) == 0:
	case len(all) == 0:
		all = found // nothing listed: no copy of a large estate
	default:
		all = append(slices.Clip(all), found...)
	}
	return sched.Reload(ctx, r, all)
}

// reload installs a new config's parts, hands the accounts to the
// scheduler, and asks for a discovery with the new config. The accounts
// found before stay until that discovery answers, unless the config has no
// [[discover]] block any more.
func (e *estate) reload(ctx context.Context, sched *scheduler.Scheduler, cfg *config.Config, p *parts, r *runner.Runner) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	forgetListed(cfg)
	e.cfg, e.parts, e.runner = cfg, p, r
	e.gen++
	var found []scheduler.Account
	if len(cfg.Discover) == 0 {
		e.discovered, e.last = false, nil
	} else {
		found = notListed(kept(sched, isDiscovered), p.accounts)
		e.ask()
	}
	listed := p.accounts
	p.accounts = nil // the scheduler holds them now
	return e.schedule(ctx, sched, r, listed, found)
}

// notListed is found without the accounts listed holds too (the same
// resource at the same path), in place: an account a reload lists is the
// listed one, as discovery decides. Handed both, the scheduler would keep
// the found one, and the next discovery, which reads the listed accounts
// back from it, would keep it found.
func notListed(found, listed []scheduler.Account) []scheduler.Account {
	if len(found) == 0 || len(listed) == 0 {
		return found
	}
	ids := make(map[string]struct{}, len(listed))
	for _, a := range listed {
		ids[a.Job.Account.Key()+"|"+a.Job.Path] = struct{}{}
	}
	return slices.DeleteFunc(found, func(a scheduler.Account) bool {
		_, ok := ids[a.Job.Account.Key()+"|"+a.Job.Path]
		return ok
	})
}

// forgetListed drops the config's [[account]] tables once build has made
// the parts' accounts of them: the estate keeps the config for its other
// settings, and the tables would hold every listed account a second time.
func forgetListed(cfg *config.Config) { cfg.Accounts = nil }

// ask requests a discovery now; one already asked for covers it.
func (e *estate) ask() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// rediscover runs the [[discover]] blocks now and then every
// discover_every, or sooner when a reload asks, until ctx ends.
func (d *keysyncd) rediscover(ctx context.Context) {
	for {
		d.discoverOnce(ctx)
		d.estate.mu.Lock()
		every := d.estate.cfg.DiscoverEvery.Duration
		d.estate.mu.Unlock()
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-d.estate.trigger:
			t.Stop()
		}
	}
}

// discoverOnce runs one discovery without holding the estate (it talks to
// Azure), then hands what it found to the scheduler, and runs the removals
// of accounts gone since the last one.
func (d *keysyncd) discoverOnce(ctx context.Context) {
	e := d.estate
	e.mu.Lock()
	cfg, p, r, again, gen, ledger := e.cfg, e.parts, e.runner, e.discovered, e.gen, e.ledger
	e.mu.Unlock()
	if len(cfg.Discover) == 0 {
		return
	}
	var known *discovery.State
	listed := kept(d.sched, isListed)
	if again {
		known = foundState(d.sched, cfg)
	}
	accts, removals, out := discoveredAfresh(ctx, cfg, p.source, p.sink, listed, known, ledger, d.log)
	d.observeDiscovery(cfg, out)
	e.mu.Lock()
	if e.gen != gen || ctx.Err() != nil {
		e.mu.Unlock()
		return // a reload came meanwhile and asked for another
	}
	e.discovered, e.last, e.ledger = true, discoveryStatus(out, time.Now()), out.Decision.Ledger
	err := e.schedule(ctx, d.sched, r, listed, accts)
	e.mu.Unlock()
	if err != nil || len(removals) == 0 {
		return
	}
	d.log.Info("discovery: handling accounts no longer found", "count", len(removals))
	r.Run(ctx, removals)
}

// observeDiscovery logs and counts a discovery.
func (d *keysyncd) observeDiscovery(cfg *config.Config, out discovery.Outcome) {
	byType := map[string]int{}
	for _, f := range out.Jobs {
		byType[f.Job.Account.Type]++
	}
	d.metrics.Discovered(byType)
	for i, b := range cfg.Discover {
		name := b.BlockName(i)
		if err := out.Failed[name]; err != nil {
			d.log.Error("discovery failed: keeping the accounts it found before", "block", name, "err", err)
		}
		d.logSkipped(name, out.Skipped[name])
		d.metrics.DiscoveryRun(name, discoveryResult(out, name))
	}
	for _, c := range out.Decision.Conflicts {
		d.log.Error("discovery conflict", "err", c.Error())
	}
	if out.Decision.Held != "" {
		d.log.Warn("discovery held back its removals", "reason", out.Decision.Held)
	}
	d.log.Info("discovery done", "accounts", len(out.Decision.Discovered), "added", len(out.Decision.Added),
		"removed", len(out.Decision.Removed), "failed_blocks", len(out.Failed), "conflicts", len(out.Decision.Conflicts))
}

// logSkipped logs the rows a block skipped: one line with the count, then
// at most maxSkippedShown rows.
func (d *keysyncd) logSkipped(block string, skipped []sources.Skipped) {
	if len(skipped) == 0 {
		return
	}
	d.log.Warn("discovery skipped rows of the answer: the block removes nothing this run", "block", block, "count", len(skipped))
	for _, s := range skipped[:min(len(skipped), maxSkippedShown)] {
		d.log.Warn("discovery skipped a row", "block", block, "row", s.Row, "reason", s.Reason)
	}
}

// discoveryResult is a block's run as keysync_discovery_runs_total counts
// it: failed, held (the block's removals, or all blocks', went past
// max_removed_fraction within removal_window and nothing was removed) or
// ok.
func discoveryResult(out discovery.Outcome, block string) string {
	switch {
	case out.Failed[block] != nil:
		return "failed"
	case out.Decision.HeldBlock(block):
		return "held"
	}
	return "ok"
}

// status is what the last discovery found, for GET /status; nil before
// the first.
func (e *estate) status() *server.DiscoveryStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func discoveryStatus(out discovery.Outcome, at time.Time) *server.DiscoveryStatus {
	d := out.Decision
	st := &server.DiscoveryStatus{At: at.UTC(), Accounts: len(d.Discovered), Added: len(d.Added), Removed: len(d.Removed), Held: d.Held}
	for name, err := range out.Failed {
		if st.Failed == nil {
			st.Failed = map[string]string{}
		}
		st.Failed[name] = err.Error()
	}
	for _, c := range d.Conflicts {
		st.Conflicts = append(st.Conflicts, c.Error())
	}
	return st
}
