package scheduler

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/runner"
)

// state is what the scheduler knows of one account.
type state struct {
	// held is the account, which a reload replaces, never changes.
	*held
	id account.ID // of Account.Key(), which stays across reloads
	// sched places the account in the idle or the busy queue; watch in the
	// overdue watch, and lateIndex (-1 if not) in the overdue list.
	sched, watch slot
	lateIndex    int32
	failures     int32
	// view is what Status shows, republished when the state changes.
	view     atomic.Pointer[view]
	offset   time.Duration
	nextTick stamp
	// retryAt is a pending retry after a transient failure; zero if none.
	// While it is pending, cron ticks do not add attempts of their own.
	retryAt stamp
	// notBefore is the server's Retry-After: nothing, not even a forced
	// sync, goes out before it.
	notBefore stamp
	// succeeded says whether ref is the last success; else it is when the
	// account was added. Overdue counts from it. (One field, not two: the
	// state then fits a smaller size class.)
	ref       stamp
	succeeded bool
	running   bool
	force     bool
	removed   bool // by a reload
	counts    counts
	// failure names the current failure (nil when healthy), so that a
	// failure is logged when it starts or changes, not at every tick. A
	// pointer, not a string, keeps the state in a smaller size class
	// (TestPackedSizes).
	failure *string
}

// condition is the current failure's name, "" when healthy.
func (st *state) condition() string {
	if st.failure == nil {
		return ""
	}
	return *st.failure
}

// sub is the account's subscription as pauses are keyed.
func (st *state) sub() string { return subOf(st.held) }

// next is the account's first tick after now, shifted by its splay.
func (st *state) next(now time.Time) time.Time {
	return st.Schedule.Next(now.Add(-st.offset)).Add(st.offset)
}

// due is when the account should sync next.
func (st *state) due(pausedUntil time.Time) time.Time {
	var t stamp
	switch {
	case st.force:
		t = st.notBefore
	case st.retryAt != 0:
		t = st.retryAt
	default:
		t = max(st.nextTick, st.notBefore)
	}
	return later(t.time(), pausedUntil)
}

// overdue reports whether two scheduled syncs have passed since the last
// success (or since the account was added) without a new one.
func (st *state) overdue(now time.Time) bool { return now.After(st.overdueAt()) }

// overdueAt is the time after which the account is overdue: two scheduled
// syncs, and one interval more, after its last success or its start.
func (st *state) overdueAt() time.Time {
	first := st.next(st.ref.time())
	second := st.next(first)
	return second.Add(second.Sub(first))
}

// lastSuccess is when the account last synced successfully; zero if never.
func (st *state) lastSuccess() time.Time {
	if st.succeeded {
		return st.ref.time()
	}
	return time.Time{}
}

func schedSlot(st *state) *slot { return &st.sched }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// throttleCode is ARM's code for a subscription over its request budget.
const throttleCode = "SubscriptionRequestsThrottled"

// settle records a finished sync, settles the full sync it may have been
// part of, and decides what comes next.
func (s *Scheduler) settle(f finished, now time.Time) {
	s.running--
	s.inFlight.Store(int64(s.running))
	st := f.st
	st.running = false
	leave(&st.sched)
	if s.full[st] == fullRunning {
		delete(s.full, st)
		s.fullDone()
	}
	s.settleTarget(st, f.res, now)
	if st.removed {
		s.orphanDone() // removed by a reload while it ran
		return
	}
	last := record(st, f.res, now)
	st.counts.synced(f.res)
	s.opts.Observer.Synced(st.Label(), f.res, now)
	s.decide(st, f.res, now)
	s.idle.add(st, st.due(s.paused[st.sub()]))
	s.publishWith(st, last)
}

// decide sets the account's next attempt from its sync's result; the
// loop calls it.
func (s *Scheduler) decide(st *state, res runner.Result, now time.Time) {
	log := s.log.With("account", st.Label(), "path", st.Path())
	switch {
	case res.Err == nil:
		if st.failure != nil {
			log.Info("account recovered", "after", st.condition())
		}
		st.failures, st.failure, st.retryAt = 0, nil, 0
		st.ref, st.succeeded = stampOf(now), true
		delete(s.paused, credentialKey)
		s.late.track(st)
		st.counts.setBackoff(0)
		logSuccess(log, res)
	case fault.Transient(res.Err):
		s.backoff(st, res, now, log)
	default:
		st.failures, st.retryAt = 0, 0
		st.counts.setBackoff(0)
		s.changeCondition(st, "permanent "+errorCode(res.Err), func() {
			log.Error("sync failed; waiting for the next scheduled tick", "err", res.Err, "next", st.nextTick.time().Format(time.RFC3339))
		})
	}
}

// backoff schedules the retry after a transient failure; the loop calls it.
func (s *Scheduler) backoff(st *state, res runner.Result, now time.Time, log *slog.Logger) {
	st.failures++
	ra := fault.RetryAfter(res.Err)
	if s.opts.Backoff.Max > 0 {
		// A Retry-After past backoff_max (an absurd one included) waits
		// backoff_max: the server's hint, never its hostage.
		ra = min(ra, s.opts.Backoff.Max)
	}
	wait := max(s.opts.Backoff.Backoff(int(st.failures)), ra)
	if fault.Shared(res.Err) {
		wait = s.credentialBackoff(now, wait)
	}
	st.retryAt, st.notBefore = stampOf(now.Add(wait)), stampOf(now.Add(ra))
	st.counts.setBackoff(wait)
	code := errorCode(res.Err)
	if code == throttleCode && ra > 0 {
		k := st.sub()
		if until := now.Add(ra); until.After(s.paused[k]) {
			s.paused[k] = until
			s.publishPauses()
			log.Warn("subscription throttled: pausing all of its accounts", "subscription", st.Shared().Account.SubscriptionID, "until", until.Format(time.RFC3339))
		}
	}
	s.changeCondition(st, "transient "+code, func() {
		log.Warn("transient failure; backing off", "err", res.Err, "retry_in", wait.Round(time.Millisecond), "failures", st.failures)
	})
	log.Debug("retry scheduled", "retry_in", wait.Round(time.Millisecond), "failures", st.failures)
}

// credentialKey holds, in s.paused, when the failed credential is tried
// again; no subscription id can be it.
const credentialKey = "\x00credential" //nolint:gosec // G101: a map key, not a credential

// credentialBackoff makes every account that the credential failed retry
// at one shared time, the first failure's, so the token endpoint is asked
// once per backoff, not once per account; the loop calls it.
func (s *Scheduler) credentialBackoff(now time.Time, wait time.Duration) time.Duration {
	if until := s.paused[credentialKey]; until.After(now) {
		return until.Sub(now)
	}
	s.paused[credentialKey] = now.Add(wait)
	return wait
}

// changeCondition runs logIt only when the account's condition changes.
func (s *Scheduler) changeCondition(st *state, cond string, logIt func()) {
	if st.condition() != cond {
		st.failure = &cond
		logIt()
	}
}

func logSuccess(log *slog.Logger, res runner.Result) {
	if res.Change.HasChanges() {
		log.Info("synced", "action", res.Change.Action.String(), "fields", res.Change.Describe())
		return
	}
	log.Debug("unchanged")
}

func errorCode(err error) string {
	if errors.Is(err, runner.ErrRefused) {
		return "Refused"
	}
	return fault.Code(err)
}
