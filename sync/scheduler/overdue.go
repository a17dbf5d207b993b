package scheduler

import (
	"sync/atomic"
	"time"
)

// Publishing the overdue list copies it; when it is long (Vault down for
// all accounts) and shrinking by one per finished sync, it is published at
// most every lateEvery, so recovery does not cost O(n) per account.
const (
	lateBatch = 1024
	lateEvery = time.Second
)

// lateSet knows which accounts are overdue without asking each: watch
// holds the others by when they become overdue, and the loop moves them
// over when that time passes.
type lateSet struct {
	watch     queue
	members   []*state // overdue; state.lateIndex is the place in it
	dirty     bool     // members changed since the last publish
	published time.Time
}

func newLateSet() lateSet {
	return lateSet{watch: newQueue(func(st *state) *slot { return &st.watch })}
}

// track (re)computes when st becomes overdue, from its last success or
// when it was added, and watches for that time.
func (l *lateSet) track(st *state) {
	l.drop(st)
	l.watch.add(st, st.overdueAt())
}

// drop stops tracking st.
func (l *lateSet) drop(st *state) {
	leave(&st.watch)
	if i := st.lateIndex; i >= 0 {
		last := len(l.members) - 1
		l.members[i] = l.members[last]
		l.members[i].lateIndex = i
		l.members[last] = nil
		l.members = l.members[:last]
		st.lateIndex = -1
		l.dirty = true
	}
}

// advance moves the accounts that are overdue at now into the set.
func (l *lateSet) advance(now time.Time) {
	for st := l.watch.top(); st != nil && now.After(st.watch.at.time()); st = l.watch.top() {
		leave(&st.watch)
		st.lateIndex = int32(len(l.members)) //nolint:gosec // G115: fewer accounts than 2^31
		l.members = append(l.members, st)
		l.dirty = true
	}
}

// wake is when the loop must turn next for the set: when the next account
// becomes overdue, or when a held-back publish is due.
func (l *lateSet) wake(wake time.Time) time.Time {
	if st := l.watch.top(); st != nil {
		wake = earliest(wake, st.watch.at.time().Add(time.Nanosecond))
	}
	if l.dirty {
		wake = earliest(wake, l.published.Add(lateEvery))
	}
	return wake
}

// publish stores the labels of the overdue accounts in to, if they
// changed and the last publish is not too recent for a long list.
func (l *lateSet) publish(now time.Time, to *atomic.Pointer[[]string]) {
	if to.Load() != nil && (!l.dirty || len(l.members) > lateBatch && now.Sub(l.published) < lateEvery) {
		return
	}
	labels := make([]string, len(l.members))
	for i, st := range l.members {
		labels[i] = st.Label()
	}
	to.Store(&labels)
	l.dirty, l.published = false, now
}

// relabel marks the list for a publish: a reload may have renamed some.
func (l *lateSet) relabel() { l.dirty = true }
