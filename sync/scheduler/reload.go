package scheduler

import "time"

// apply installs a reload; see Reload.
func (s *Scheduler) apply(r reload, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncer = r.syncer
	s.install(r.accounts, now, true)
	s.log.Info("configuration reloaded", "accounts", len(s.accounts))
}

// install makes accounts the scheduled ones: those that stay keep their
// state, new ones sync at once if syncNow, removed ones leave every
// queue; s.mu is held. The states point into accounts.
func (s *Scheduler) install(accounts []Account, now time.Time, syncNow bool) {
	next := make(map[string]*state, len(accounts))
	for i := range accounts {
		a := &accounts[i]
		k := a.key()
		st, ok := next[k]
		if !ok {
			st, ok = s.accounts[k]
		}
		if ok {
			s.update(st, a, now)
		} else {
			st = s.add(a, k, now, syncNow)
		}
		next[k] = st
	}
	for k, st := range s.accounts {
		if _, ok := next[k]; !ok {
			s.remove(st)
		}
	}
	s.accounts = next
	s.fullDone()
	s.late.relabel()
	s.publishListing()
}

// add starts scheduling a new account, whose key is id; s.mu is held.
func (s *Scheduler) add(a *Account, id string, now time.Time, syncNow bool) *state {
	st := &state{Account: a, id: id, offset: splay(id, s.opts.Splay), since: now, force: syncNow, lateIndex: -1}
	st.sched.index, st.watch.index = -1, -1
	st.sub = subOf(a)
	st.nextTick = st.next(now)
	s.idle.add(st, st.due(s.paused[st.sub]))
	s.late.track(st)
	s.publishStatus(st)
	return st
}

// update gives a kept account its new settings; a new schedule or splay
// moves its next tick. s.mu is held.
func (s *Scheduler) update(st *state, a *Account, now time.Time) {
	offset := splay(st.id, s.opts.Splay)
	moved := st.Spec != a.Spec || st.offset != offset
	st.Account, st.sub = a, subOf(a)
	if moved {
		st.offset = offset
		st.nextTick = st.next(now)
		switch st.sched.q {
		case &s.idle:
			s.idle.add(st, st.due(s.paused[st.sub]))
		case &s.busy:
			s.busy.add(st, after(st.nextTick, now))
		}
		s.late.track(st)
	}
	s.publishStatus(st)
}

// remove stops scheduling an account. A sync of its in flight finishes
// but is not counted; s.mu is held.
func (s *Scheduler) remove(st *state) {
	s.opts.Observer.Removed(st.Label)
	delete(s.full, st)
	leave(&st.sched)
	s.late.drop(st)
}
