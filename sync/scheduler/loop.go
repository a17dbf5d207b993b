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
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := s.opts.Now()
		s.beat.Store(now.UnixNano())
		timer.Reset(s.turn(jobCtx, now))
		select {
		case <-ctx.Done():
			s.drain(cancelJobs)
			return nil
		case <-timer.C:
		case <-s.trigger:
			s.forceAll()
		case r := <-s.reloads:
			s.apply(r, s.opts.Now())
		case f := <-s.done:
			now := s.opts.Now()
			s.record(f, now)
			s.settle(f, now)
		}
	}
}

// turn dispatches accounts that are due, as many as there are free slots,
// and returns how long to sleep. Due accounts beyond the slots stay due
// (not running), and the next finished sync starts another turn: ten
// thousand due accounts cost no goroutine each.
func (s *Scheduler) turn(ctx context.Context, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	wake := now.Add(heartbeat)
	slots := max(s.opts.Concurrency, 1) - s.running
	for _, st := range s.accounts {
		if st.running {
			if !st.nextTick.After(now) {
				// A tick found the account still syncing: skip it.
				st.nextTick = st.next(now)
				s.opts.Observer.Skipped(st.Label)
				s.log.Debug("tick skipped: previous sync still running", "account", st.Label)
			}
			wake = earliest(wake, st.nextTick)
			continue
		}
		due := st.due(s.paused[sub(st)])
		if due.After(now) {
			wake = earliest(wake, due)
			continue
		}
		if slots <= 0 {
			continue
		}
		slots--
		s.dispatch(ctx, st, now)
		wake = earliest(wake, st.nextTick)
	}
	return max(wake.Sub(now), 0)
}

// dispatch starts one sync; s.mu is held.
func (s *Scheduler) dispatch(ctx context.Context, st *state, now time.Time) {
	if st.force && s.full[st] == fullOwed {
		s.full[st] = fullRunning
	}
	st.running, st.force = true, false
	st.retryAt = time.Time{}
	st.nextTick = st.next(now)
	s.running++
	syncer := s.syncer
	go func() { s.done <- finished{st: st, res: syncer.Sync(ctx, st.Job)} }()
}

// forceAll marks every account due now. An account that is syncing
// already runs once more when it finishes: its sync may have read the
// keys before whatever prompted the request.
func (s *Scheduler) forceAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.accounts {
		st.force = true
		s.full[st] = fullOwed
	}
	s.log.Info("sync of every account requested")
	s.fullDone()
}

// apply installs a reload; see Reload.
func (s *Scheduler) apply(r reload, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncer = r.syncer
	next := make(map[string]*state, len(r.accounts))
	for _, a := range r.accounts {
		st, ok := s.accounts[a.key()]
		switch {
		case !ok:
			st = s.newState(a, now, true)
		case st.Spec != a.Spec || st.offset != splay(a.key(), s.opts.Splay):
			st.Account, st.offset = a, splay(a.key(), s.opts.Splay)
			st.nextTick = st.next(now)
		default:
			st.Account = a
		}
		next[a.key()] = st
	}
	for k, st := range s.accounts {
		if _, ok := next[k]; !ok {
			s.opts.Observer.Removed(st.Label)
			delete(s.full, st)
			delete(s.last, st)
		}
	}
	s.accounts = next
	s.fullDone()
	s.log.Info("configuration reloaded", "accounts", len(next))
}

// drain waits for in-flight syncs: up to the grace period, then cancels
// them and waits for them to return.
func (s *Scheduler) drain(cancel context.CancelFunc) {
	s.mu.Lock()
	n := s.running
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("stopping: waiting for in-flight syncs", "in_flight", n, "grace", s.opts.ShutdownGrace)
	}
	grace := time.NewTimer(s.opts.ShutdownGrace)
	defer grace.Stop()
	for n > 0 {
		select {
		case f := <-s.done:
			now := s.opts.Now()
			s.record(f, now)
			s.settle(f, now)
			n--
		case <-grace.C:
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
