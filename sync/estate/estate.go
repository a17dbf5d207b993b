// Package estate is what the daemon syncs, and the loop that keeps it: the
// config's listed accounts and what its [[discover]] blocks found last,
// handed to the scheduler whole on every reload and every discovery. It
// holds the rules between them: a listed account wins over a discovered
// one at the same path; a block that failed, skipped rows or was held
// removes nothing and keeps what it found before; a discovery of a config
// a reload replaced is dropped; removals are run only once the discovery
// that decided them is handed over and no sync of a removed account runs
// any more.
//
// cmd/keysync wires it as external-dns's main wires its controller: it
// builds a Config and Parts from the file, calls New, then Run.
package estate

import (
	"context"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// Scheduler is what the estate needs of the scheduler: it hands it every
// account, reads back what it holds (the estate keeps no copy), and waits
// for the syncs of the accounts it removed before it removes their
// secrets.
type Scheduler interface {
	Reload(ctx context.Context, syncer scheduler.Syncer, accounts []scheduler.Account) error
	Kept(keep func(origin *account.Origin) bool) iter.Seq[scheduler.Account]
	AwaitRemoved(ctx context.Context) error
}

// Config is what one configuration says about discovery.
type Config struct {
	// Blocks are the [[discover]] blocks; none turns discovery off.
	Blocks []discovery.Block
	// Schedule is when a found account syncs, unless Schedules has its
	// block's own.
	Schedule  *scheduler.Schedule
	Schedules map[string]*scheduler.Schedule
	// APIVersion is the api-version a found account is asked with.
	APIVersion func(a sources.Account) string
	// Every is the time between two discoveries.
	Every time.Duration
	// MaxRemovedFraction, Window, CheckPath and Owns are discovery's
	// (discovery.Options).
	MaxRemovedFraction float64
	Window             time.Duration
	CheckPath          func(path string) error
	Owns               func(resourceID string) bool
}

// Runner syncs an account for the scheduler, and runs the removals of
// accounts discovery no longer finds; *runner.Runner is one.
type Runner interface {
	scheduler.Syncer
	Run(ctx context.Context, jobs []account.Job) []runner.Result
}

// Parts is what a configuration built: the runner that syncs and
// removes, the finder discovery asks, and the store it recalls from.
type Parts struct {
	Runner Runner
	Finder discovery.Finder
	Store  discovery.Store
}

// Observer counts discoveries; the metrics implement it.
type Observer interface {
	Discovered(byType map[string]int)
	DiscoveryRun(block, result string)
}

// Options are the estate's own settings.
type Options struct {
	Logger   *slog.Logger
	Observer Observer
	// Now is the clock: time.Now when nil.
	Now func() time.Time
	// Started, when set, is called once, when Run has handed its first
	// discovery to the scheduler (at once when there is no block): the
	// end of start-up, whose peak that discovery sets.
	Started func()
}

// Estate is the listed and the discovered accounts. Reloads and
// discoveries both change it; mu makes each hand-over to the scheduler
// whole. What discovery found is held once, by the scheduler: the estate
// keeps no copy, and the next discovery's State is made of the
// scheduler's.
type Estate struct {
	sched   Scheduler
	log     *slog.Logger
	obs     Observer
	now     func() time.Time
	started func() // Options.Started; Run's alone, so no lock

	mu    sync.Mutex
	cfg   Config
	parts Parts
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

// New is the estate of cfg and p, whose listed accounts sched was made
// with.
func New(sched Scheduler, cfg Config, p Parts, o Options) *Estate {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Estate{sched: sched, log: o.Logger, obs: o.Observer, now: o.Now, started: o.Started, cfg: cfg, parts: p, trigger: make(chan struct{}, 1)}
}

// Reload installs a new config's parts, hands the listed accounts to the
// scheduler, and asks for a discovery with the new config. The accounts
// found before stay until that discovery answers, unless the config has
// no [[discover]] block any more. The scheduler holds listed afterwards:
// the caller drops its slice.
func (e *Estate) Reload(ctx context.Context, cfg Config, p Parts, listed []scheduler.Account) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg, e.parts = cfg, p
	e.gen++
	var found []scheduler.Account
	if len(cfg.Blocks) == 0 {
		e.discovered, e.last = false, nil
	} else {
		found = notListed(kept(e.sched, isDiscovered), listed)
		e.ask()
	}
	return e.schedule(ctx, p.Runner, listed, found)
}

// schedule hands the listed accounts and found to the scheduler, in one
// slice (listed itself when nothing is found, found itself when nothing is
// listed); e.mu is held.
func (e *Estate) schedule(ctx context.Context, r Runner, listed, found []scheduler.Account) error {
	all := listed
	switch {
	case len(found) == 0:
	case len(all) == 0:
		all = found // nothing listed: no copy of a large estate
	default:
		all = append(slices.Clip(all), found...)
	}
	return e.sched.Reload(ctx, r, all)
}

// ask requests a discovery now; one already asked for covers it.
func (e *Estate) ask() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// Status is what the last discovery found, for GET /status; nil before
// the first.
func (e *Estate) Status() *server.DiscoveryStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

type nopObserver struct{}

func (nopObserver) Discovered(map[string]int)   {}
func (nopObserver) DiscoveryRun(string, string) {}
