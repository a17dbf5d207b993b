package scheduler

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/keysync/keysync/sync/runner"
)

// counts are an account's tallies for its metrics, kept beside its state
// (a map of them by label took ~115 bytes more per account): the loop adds
// to them and a scrape reads them, both atomically, so that a scrape never
// waits for a turn.
type counts struct {
	syncs   [len(runner.Outcomes)]atomic.Uint32
	skipped atomic.Uint32
	backoff atomic.Uint32 // the current retry delay in seconds, as float32 bits
}

// synced counts a finished sync of res.
func (c *counts) synced(res runner.Result) {
	if i := runner.OutcomeIndex(runner.Outcome(res)); i >= 0 {
		c.syncs[i].Add(1)
	}
}

// setBackoff records the current retry delay; 0 when healthy.
func (c *counts) setBackoff(wait time.Duration) {
	c.backoff.Store(math.Float32bits(float32(wait.Seconds())))
}

// AccountSeries is one account's per-account metrics.
type AccountSeries struct {
	Label string
	// Syncs counts finished syncs by outcome, indexed like runner.Outcomes.
	Syncs   [len(runner.Outcomes)]uint32
	Skipped uint32
	// Finished says a sync of the account has finished: only then is its
	// Backoff (the current retry delay, 0 when healthy) known.
	Finished                  bool
	Backoff                   time.Duration
	LastSuccess, LastRotation time.Time
}

// EachAccount calls f with every account's series, by label (two accounts
// may share one: they come one after the other). It reads the published
// listing and atomics, and never waits for the loop; f must not keep the
// pointer.
func (s *Scheduler) EachAccount(f func(*AccountSeries)) {
	var a AccountSeries
	for _, st := range *s.listing.Load() {
		v := st.view.Load()
		a = AccountSeries{Label: v.acct.Label(), Skipped: st.counts.skipped.Load(), Finished: v.at != 0,
			Backoff:     time.Duration(float64(math.Float32frombits(st.counts.backoff.Load())) * float64(time.Second)),
			LastSuccess: v.lastSuccess.time(), LastRotation: v.lastRotation.time()}
		for i := range a.Syncs {
			a.Syncs[i] = st.counts.syncs[i].Load()
		}
		f(&a)
	}
}
