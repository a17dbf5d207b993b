package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// fakeClock is a Clock that moves only when a test advances it. It counts
// the loop's timer resets: the loop resets its timer at the end of every
// turn, just before it waits, so a new reset means a turn is complete.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	resets int
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.arm(d, false)
	return t
}

// Advance moves the clock by d and fires the timers that are due; it
// reports whether any fired.
func (c *fakeClock) Advance(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	fired := false
	for _, t := range c.timers {
		fired = t.fireIfDue() || fired
	}
	return fired
}

// state is the number of timer resets so far and whether a timer fired
// that its owner has not reset since.
func (c *fakeClock) state() (resets int, pending bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		pending = pending || t.fired
	}
	return c.resets, pending
}

type fakeTimer struct {
	clock *fakeClock
	c     chan time.Time
	// armed, at and fired are guarded by clock.mu.
	armed, fired bool
	at           time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) { t.arm(d, true) }

func (t *fakeTimer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.armed, t.fired = false, false
	t.discard()
}

func (t *fakeTimer) arm(d time.Duration, reset bool) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if reset {
		t.clock.resets++
	}
	t.discard()
	t.armed, t.fired, t.at = true, false, t.clock.now.Add(d)
	t.fireIfDue()
}

// fireIfDue sends the time if the timer is due; clock.mu is held.
func (t *fakeTimer) fireIfDue() bool {
	if !t.armed || t.at.After(t.clock.now) {
		return false
	}
	t.armed, t.fired = false, true
	t.c <- t.clock.now
	return true
}

func (t *fakeTimer) discard() {
	select {
	case <-t.c:
	default:
	}
}

// failure is a classified error, as a source or a sink returns one.
type failure fault.Class

func (f failure) Error() string      { return "fake failure " + f.Code }
func (f failure) Fault() fault.Class { return fault.Class(f) }

// call is one Sync the fakeSyncer holds until the test answers it.
type call struct {
	job    account.Job
	ctx    context.Context
	answer chan error
}

// fakeSyncer records every Sync and holds it until the test answers.
type fakeSyncer struct {
	calls   chan *call
	mu      sync.Mutex
	blocked int
	names   []string
}

func newFakeSyncer() *fakeSyncer { return &fakeSyncer{calls: make(chan *call, 1024)} }

func (f *fakeSyncer) Sync(ctx context.Context, job account.Job) runner.Result {
	c := &call{job: job, ctx: ctx, answer: make(chan error)}
	f.calls <- c
	// Counted only once the call is in the channel: a test that sees as
	// many held calls as syncs in flight can then read every one of them.
	f.mu.Lock()
	f.blocked++
	f.names = append(f.names, job.Account.Name)
	f.mu.Unlock()
	var err error
	select {
	case err = <-c.answer:
	case <-ctx.Done():
		err = ctx.Err()
	}
	f.mu.Lock()
	f.blocked--
	f.mu.Unlock()
	return runner.Result{Job: job, Err: err, Change: plan.Change{Action: plan.Unchanged}}
}

func (f *fakeSyncer) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked
}

func (f *fakeSyncer) started() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// recorder is an Observer that remembers what it heard.
type recorder struct {
	mu     sync.Mutex
	synced []string
	turns  []time.Duration
}

// Turned implements TurnObserver.
func (r *recorder) Turned(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.turns = append(r.turns, d)
}

func (r *recorder) turnList() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.turns...)
}

func newRecorder() *recorder { return &recorder{} }

func (r *recorder) Synced(label string, _ runner.Result, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.synced = append(r.synced, label)
}

// seriesOf is the series EachAccount gives of label's account.
func seriesOf(s *Scheduler, label string) (out AccountSeries, ok bool) {
	s.EachAccount(func(a *AccountSeries) {
		if a.Label == label {
			out, ok = *a, true
		}
	})
	return out, ok
}

func (r *recorder) syncedList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.synced...)
}

func (c *fakeClock) timerCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
