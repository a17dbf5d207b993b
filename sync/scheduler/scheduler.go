// Package scheduler is keysync's daemon loop. It keeps per-account state and
// decides when each account syncs: on its cron schedule (shifted by a stable
// splay), at once on start and on demand, after a transient failure on an
// exponential backoff that never comes sooner than Retry-After, and never
// while the account's subscription is throttled. The work itself is done by
// a Syncer, the same runner the one-shot path uses.
//
// Accounts wait in min-heaps by the time the loop must look at them next,
// so a turn costs O(log n) per account whose time has come and nothing for
// the others. What /readyz and /status read is published by the loop as
// immutable snapshots, so those never wait for a turn.
package scheduler

import (
	"context"
	"hash/fnv"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/runner"
)

// Syncer syncs one job to the end; *runner.Runner is one.
type Syncer interface {
	Sync(ctx context.Context, job account.Job) runner.Result
}

// Account is one account to keep in sync.
type Account struct {
	Job   account.Job
	Label string
	// Schedule is when it syncs, shared by the accounts of one spec.
	Schedule *Schedule
}

// Schedule is a parsed cron schedule and the expression it came from.
type Schedule struct {
	Spec string
	cron.Schedule
}

// Key identifies the account across reloads.
func (a Account) Key() account.Key { return account.KeyOf(a.Job.Account, a.Job.Path) }

// subOf is the account's subscription as pauses are keyed: lower case.
func subOf(h *held) string { return strings.ToLower(h.Shared().Account.SubscriptionID) }

// Observer hears each finished sync; the metrics implement it (their
// per-account series come from EachAccount).
type Observer interface {
	Synced(label string, res runner.Result, now time.Time)
}

// Options configures a Scheduler.
type Options struct {
	Concurrency int
	SyncOnStart bool
	Splay       time.Duration
	// Backoff's Base, Max and Jitter shape the retry delay after a
	// transient failure.
	Backoff       runner.RetryPolicy
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	Observer      Observer
	// Clock is the system's when nil.
	Clock Clock
	// TargetWindow is the least time from the end of an account's sync a
	// targeted request touched to the start of its next targeted sync;
	// TargetQueue bounds the accounts with a targeted sync waiting,
	// running or in that window (target.go). Zero takes
	// DefaultTargetWindow and DefaultTargetQueue.
	TargetWindow time.Duration
	TargetQueue  int
}

// Scheduler runs the daemon loop.
type Scheduler struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	trigger chan struct{}
	reloads chan reload
	done    chan finished
	beat    atomic.Int64 // unix nanoseconds of the loop's last turn
	// fullActive is set from an accepted TriggerAll until every account
	// has finished the sync it asked for.
	fullActive atomic.Bool

	// targets takes targeted requests to the loop (target.go); stopped
	// is closed when the loop ends, so that none waits for it then.
	targets chan targetRequest
	stopped chan struct{}
	// awaits takes AwaitRemoved calls to the loop (removed.go).
	awaits chan chan struct{}

	// The fields below are the loop's: only its goroutine touches them
	// (New, before it runs, too).
	syncer Syncer
	// accounts are every account, by id: a sorted slice, where a map took
	// some 40 bytes more per account.
	accounts []*state
	// idle holds the accounts not syncing, by when they are due (a lower
	// bound: a subscription pause is applied when one comes to the top);
	// busy holds those syncing, by their next tick, to count it skipped.
	idle, busy queue
	paused     map[string]time.Time // subscription (lower case) -> until
	running    int
	// full holds the accounts that still owe the requested full sync.
	full map[*state]fullStep
	late lateSet
	// tgt holds the targeted syncs (target.go).
	tgt targets
	// orphans counts the syncs running of accounts a reload removed;
	// awaiting are the AwaitRemoved calls that wait for them (removed.go).
	orphans  int
	awaiting []chan struct{}
	// woke is when the event that called for the coming turn arrived
	// (zero before the first), for TurnObserver.
	woke time.Time

	// Published for readers that must not wait for the loop.
	listing atomic.Pointer[[]*state] // every account, by label
	// inFlight is running, pending the accounts with a targeted sync not
	// finished (TargetsPending).
	inFlight, pending atomic.Int64
	pauses            atomic.Pointer[map[string]time.Time]
	overdue           atomic.Pointer[[]string]
}

type reload struct {
	syncer   Syncer
	accounts []Account
	done     chan struct{} // closed once installed
}

type finished struct {
	st  *state
	res runner.Result
}

// heartbeat bounds how long the loop sleeps, so liveness stays fresh.
const heartbeat = 5 * time.Second

// New returns a scheduler for accounts. Nothing runs until Run. The
// scheduler keeps the accounts packed (packed.go), not the slice.
func New(opts Options, syncer Syncer, accounts []Account) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	s := &Scheduler{
		opts: opts, log: opts.Logger, clock: opts.Clock, syncer: syncer,
		trigger: make(chan struct{}, 1), reloads: make(chan reload), done: make(chan finished),
		paused: map[string]time.Time{}, full: map[*state]fullStep{},
		idle: newQueue(schedSlot), busy: newQueue(schedSlot), late: newLateSet(), tgt: newTargets(opts),
		targets: make(chan targetRequest, targetBacklog), stopped: make(chan struct{}), awaits: make(chan chan struct{}),
	}
	now := s.clock.Now()
	s.install(accounts, now, opts.SyncOnStart)
	s.publishPauses()
	s.late.publish(now, &s.overdue)
	s.beat.Store(now.UnixNano())
	return s
}

// splay is a stable offset in [0, spread) for key, so an account keeps its
// place across restarts and replicas.
func splay(key string, spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(key)))
	return time.Duration(h.Sum64() % uint64(spread)) //nolint:gosec // G115: the remainder is below spread, an int64
}

// TriggerAll asks for every account to sync now (SIGUSR1, POST /sync);
// one that is syncing syncs again when it finishes. Backoff is skipped;
// Retry-After and a throttled subscription are not. While a full sync so
// requested is pending or running, another request adds nothing: it
// returns false (coalesced), and true when it started one.
func (s *Scheduler) TriggerAll() bool {
	if !s.fullActive.CompareAndSwap(false, true) {
		return false
	}
	// The flag stays set until the loop has taken this one and seen it
	// through, so the buffer of one is always free here.
	s.trigger <- struct{}{}
	return true
}

// Reload replaces the accounts and the syncer. Accounts that stay keep their
// state; new ones sync at once; removed ones are dropped, and a sync of
// theirs that is in flight finishes but is not counted (AwaitRemoved
// waits for it). It returns once the loop has installed them, so that
// Kept then lists them.
func (s *Scheduler) Reload(ctx context.Context, syncer Syncer, accounts []Account) error {
	r := reload{syncer, accounts, make(chan struct{})}
	select {
	case s.reloads <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kept yields the scheduled accounts whose origin keep accepts (nil for a
// listed account, the [[discover]] block's for a found one), as of the
// last reload, each unpacked as it is yielded. It reads a snapshot and
// never waits for the loop.
func (s *Scheduler) Kept(keep func(origin *account.Origin) bool) iter.Seq[Account] {
	list := s.listing.Load()
	return func(yield func(Account) bool) {
		for _, st := range *list {
			h := st.view.Load().acct // the view's: st.held is the loop's
			if keep(h.shared.Origin) && !yield(Account{Job: h.Job(), Label: h.Label(), Schedule: h.Schedule}) {
				return
			}
		}
	}
}

// Alive reports whether the loop has turned recently.
func (s *Scheduler) Alive(now time.Time) bool {
	return now.Sub(time.Unix(0, s.beat.Load())) < 3*heartbeat
}

// Overdue lists the accounts that have missed two scheduled syncs in a row
// since their last success (or since they were added), as of the loop's
// last turn: the loop turns when the next account becomes overdue. It
// reads a snapshot and never waits for the loop; the list is the caller's.
func (s *Scheduler) Overdue(time.Time) []string {
	return slices.Clone(*s.overdue.Load())
}

type nopObserver struct{}

func (nopObserver) Synced(string, runner.Result, time.Time) {}
