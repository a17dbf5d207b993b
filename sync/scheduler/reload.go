package scheduler

import (
	"slices"
	"time"

	"github.com/keysync/keysync/sync/account"
)

// apply installs a reload; see Reload.
func (s *Scheduler) apply(r reload, now time.Time) {
	s.syncer = r.syncer
	s.install(r.accounts, now, true)
	if r.done != nil {
		close(r.done)
	}
	s.log.Info("configuration reloaded", "accounts", len(s.accounts))
}

// install makes accounts the scheduled ones: those that stay keep their
// state, new ones sync at once if syncNow, removed ones leave every
// queue; the loop calls it. The accounts are kept packed, not the slice.
func (s *Scheduler) install(accounts []Account, now time.Time, syncNow bool) {
	next := make([]*state, 0, len(accounts))
	// given is this install's accounts by id, for one given twice and for
	// the removals; it is dropped after.
	given := make(map[account.ID]*state, len(accounts))
	slab := holdAll(accounts)
	for i := range accounts {
		k := accounts[i].Key()
		id := k.ID()
		a := &slab[i]
		st, again := given[id]
		if !again {
			st = s.lookup(id)
		}
		if st != nil {
			s.update(st, a, splay(k.String(), s.opts.Splay), now)
		} else {
			st = s.add(a, id, splay(k.String(), s.opts.Splay), now, syncNow)
		}
		if !again {
			next = append(next, st)
		}
		given[id] = st
	}
	for _, st := range s.accounts {
		if given[st.id] != st {
			s.remove(st)
		}
	}
	slices.SortFunc(next, func(a, b *state) int { return a.id.Compare(b.id) })
	s.accounts = next
	s.fullDone()
	s.late.relabel()
	s.publishListing()
	s.tgt.index.forget()
}

// lookup is the account of that id, nil if none; the loop calls it.
func (s *Scheduler) lookup(id account.ID) *state {
	i, ok := slices.BinarySearchFunc(s.accounts, id, func(st *state, id account.ID) int { return st.id.Compare(id) })
	if !ok {
		return nil
	}
	return s.accounts[i]
}

// add starts scheduling a new account of that id and splay offset; the
// loop calls it.
func (s *Scheduler) add(a *held, id account.ID, offset time.Duration, now time.Time, syncNow bool) *state {
	st := &state{held: a, id: id, offset: offset, ref: stampOf(now), force: syncNow, lateIndex: -1}
	st.sched.index, st.watch.index = -1, -1
	st.nextTick = stampOf(st.next(now))
	s.idle.add(st, st.due(s.paused[st.sub()]))
	s.late.track(st)
	s.publishStatus(st)
	return st
}

// update gives a kept account its new settings; a new schedule or splay
// offset moves its next tick. The loop calls it.
func (s *Scheduler) update(st *state, a *held, offset time.Duration, now time.Time) {
	moved := st.Schedule.Spec != a.Schedule.Spec || st.offset != offset
	st.held = a
	if moved {
		st.offset = offset
		st.nextTick = stampOf(st.next(now))
		switch st.sched.q {
		case &s.idle:
			s.idle.add(st, st.due(s.paused[st.sub()]))
		case &s.busy:
			s.busy.add(st, after(st.nextTick.time(), now))
		}
		s.late.track(st)
	}
	s.publishStatus(st)
}

// remove stops scheduling an account. A sync of its in flight finishes
// but is not counted; the loop calls it.
func (s *Scheduler) remove(st *state) {
	st.removed = true
	s.orphaned(st)
	delete(s.full, st)
	leave(&st.sched)
	s.late.drop(st)
}
