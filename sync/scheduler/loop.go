package scheduler

import (
	"context"
	"time"
)

// Run is the loop. It returns when ctx ends, after in-flight syncs have
// finished or the shutdown grace has run out; syncs run on a context of
// their own so that a stop request lets them complete their writes.
func (s *Scheduler) Run(ctx context.Context) error {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	timer := s.clock.NewTimer(heartbeat)
	defer timer.Stop()
	defer close(s.stopped)
	turned, _ := s.opts.Observer.(TurnObserver)
	for {
		now := s.clock.Now()
		s.beat.Store(now.UnixNano())
		sleep := s.turn(jobCtx, now)
		if turned != nil && !s.woke.IsZero() {
			turned.Turned(time.Since(s.woke))
		}
		timer.Reset(sleep)
		if !s.wait(ctx, timer) {
			s.drain(cancelJobs)
			return nil
		}
	}
}

// wait takes the loop's events until one calls for a turn: the timer, a
// trigger, a reload, a finished sync, or a targeted request that queued
// a sync. It reports false when ctx ends. Only the loop's goroutine
// changes the scheduler's state: every other reaches it through these
// channels.
func (s *Scheduler) wait(ctx context.Context, timer Timer) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C():
			s.woke = time.Now()
		case <-s.trigger:
			s.woke = time.Now()
			s.forceAll()
		case req := <-s.targets:
			s.woke = time.Now()
			if !s.answer(req) {
				continue
			}
		case r := <-s.reloads:
			s.woke = time.Now()
			s.apply(r, s.clock.Now())
		case f := <-s.done:
			s.woke = time.Now()
			s.settle(f, s.clock.Now())
		case w := <-s.awaits:
			s.await(w)
			continue
		}
		return true
	}
}

// TurnObserver hears how long each of the loop's turns took, when the
// scheduler's Observer implements it: from the event that woke the loop
// (its timer, a finished sync, a trigger, a reload, a targeted request
// that queued a sync) to the end of the turn it called for, its handling
// included: the real time the loop was busy, whatever the scheduler's
// clock. Every account's start waits while a turn runs.
type TurnObserver interface {
	Turned(d time.Duration)
}

// turn dispatches accounts that are due, as many as there are free slots,
// and returns how long to sleep. It looks only at the tops of its queues:
// accounts whose time has not come cost nothing. Due accounts beyond the
// slots stay due (not running), and the next finished sync starts another
// turn: ten thousand due accounts cost no goroutine each.
func (s *Scheduler) turn(ctx context.Context, now time.Time) time.Duration {
	s.skipTicks(now)
	wake := s.promoteTargets(now, now.Add(heartbeat))
	s.dispatchDue(ctx, now)
	s.publishTargets()
	s.late.advance(now)
	s.late.publish(now, &s.overdue)
	if st := s.busy.top(); st != nil {
		wake = earliest(wake, st.sched.at.time())
	}
	if st := s.idle.top(); st != nil && st.sched.at.time().After(now) {
		wake = earliest(wake, st.sched.at.time())
	}
	return max(s.late.wake(wake).Sub(now), 0)
}

// skipTicks counts a skipped tick for each syncing account whose tick has
// come: its previous sync is still running; the loop calls it.
func (s *Scheduler) skipTicks(now time.Time) {
	for st := s.busy.top(); st != nil && st.sched.at <= stampOf(now); st = s.busy.top() {
		st.nextTick = stampOf(st.next(now))
		s.busy.add(st, after(st.nextTick.time(), now))
		st.counts.skipped.Add(1)
		s.log.Debug("tick skipped: previous sync still running", "account", st.Label())
		s.publishStatus(st)
	}
}

// dispatchDue starts the due accounts, earliest first, while there are
// free slots; the loop calls it.
func (s *Scheduler) dispatchDue(ctx context.Context, now time.Time) {
	for slots := max(s.opts.Concurrency, 1) - s.running; slots > 0; {
		st := s.idle.top()
		if st == nil || st.sched.at > stampOf(now) {
			return
		}
		if due := st.due(s.paused[st.sub()]); due.After(now) {
			s.idle.add(st, due) // a subscription pause set since it was queued
			continue
		}
		s.dispatch(ctx, st, now)
		slots--
	}
}

// dispatch starts one sync; the loop calls it.
func (s *Scheduler) dispatch(ctx context.Context, st *state, now time.Time) {
	if st.force && s.full[st] == fullOwed {
		s.full[st] = fullRunning
	}
	s.startTarget(st)
	st.running, st.force = true, false
	st.retryAt = 0
	st.nextTick = stampOf(st.next(now))
	s.busy.add(st, after(st.nextTick.time(), now))
	s.running++
	s.inFlight.Store(int64(s.running))
	s.publishStatus(st)
	// The job is taken here, in the loop: a reload may replace st.held
	// while the sync runs.
	syncer, job := s.syncer, st.Job()
	go func() { s.done <- finished{st: st, res: syncer.Sync(ctx, job)} }()
}

// forceAll marks every account due now. An account that is syncing
// already runs once more when it finishes: its sync may have read the
// keys before whatever prompted the request.
func (s *Scheduler) forceAll() {
	for _, st := range s.accounts {
		st.force = true
		s.full[st] = fullOwed
		if st.sched.q == &s.idle {
			st.sched.at = stampOf(st.due(s.paused[st.sub()]))
		}
		s.publishStatus(st)
	}
	s.idle.init()
	s.log.Info("sync of every account requested")
	s.fullDone()
}

// drain waits for in-flight syncs: up to the grace period, then cancels
// them and waits for them to return.
func (s *Scheduler) drain(cancel context.CancelFunc) {
	n := s.running
	if n > 0 {
		s.log.Info("stopping: waiting for in-flight syncs", "in_flight", n, "grace", s.opts.ShutdownGrace)
	}
	grace := s.clock.NewTimer(s.opts.ShutdownGrace)
	defer grace.Stop()
	for n > 0 {
		select {
		case f := <-s.done:
			s.settle(f, s.clock.Now())
			n--
		case req := <-s.targets:
			req.reply <- targetReply{err: ErrTargetQueueFull} // stopping: busy
		case <-grace.C():
			s.log.Warn("shutdown grace expired: cancelling in-flight syncs", "in_flight", n)
			cancel()
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// after is t, or a heartbeat from now when t is not after now (a schedule
// that never fires again), so that a queue never holds a time already
// past for an account it cannot start.
func after(t, now time.Time) time.Time {
	if t.After(now) {
		return t
	}
	return now.Add(heartbeat)
}
