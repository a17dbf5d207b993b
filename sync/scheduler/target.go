package scheduler

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/keysync/keysync/sync/runner"
)

// Targeted syncs: one account synced soon because something says its keys
// changed (an Event Grid event, POST /sync?account=). They go through the
// same queues as ticks, so they keep the concurrency bound, the
// subscription pauses, Retry-After and the no-overlap rule; they add
// nothing while the account is in backoff (its retry comes sooner than a
// tick anyway). Many requests for one account are at most two syncs, the
// leading edge and one trailing run:
//
//   - the first request makes the account due at once; requests while
//     that sync is queued are that sync;
//   - requests while a sync of the account runs make it run once more
//     after (the running one may have read the keys before the change),
//     however many came;
//   - the window (TargetWindow) is the least time from the end of a sync
//     a request touched to the start of the account's next targeted sync:
//     the trailing run, or a request within it, waits for its end. So a
//     steady stream of requests syncs an account at most once per sync
//     time plus window, never back to back.
//
// Memory is bounded by the queue length whatever arrives: one entry per
// account waiting, running or in its window, none per request.

// Targeting defaults; SetTargeting changes them.
const (
	DefaultTargetWindow = 500 * time.Millisecond
	DefaultTargetQueue  = 1024
)

// TargetResult says what a targeted sync request did.
type TargetResult string

// The results of Target.
const (
	// TargetQueued: a sync of the account is now queued.
	TargetQueued TargetResult = "queued"
	// TargetCoalesced: a sync already queued covers the request.
	TargetCoalesced TargetResult = "coalesced"
	// TargetBackoff: the account is backing off after a failure; its
	// retry covers the request.
	TargetBackoff TargetResult = "backoff"
)

// Errors of Target.
var (
	// ErrUnknownAccount: no scheduled account has that resource id or path.
	ErrUnknownAccount = errors.New("no scheduled account has that resource id or path")
	// ErrTargetQueueFull: as many accounts wait as the queue holds.
	ErrTargetQueueFull = errors.New("the targeted sync queue is full")
)

// TargetObserver hears each targeted sync that finished, when the
// scheduler's Observer implements it: since is the earliest request it covered
// (an event's time), res the sync's result.
type TargetObserver interface {
	Targeted(label string, since time.Time, res runner.Result, now time.Time)
}

// targetBacklog bounds the requests that wait for the loop to take them:
// beyond it Target answers ErrTargetQueueFull at once.
const targetBacklog = 256

// targetRequest is one Target call on its way to the loop.
type targetRequest struct {
	ref   string
	since time.Time
	reply chan targetReply // buffered: the loop never waits for the caller
}

type targetReply struct {
	label string
	res   TargetResult
	err   error
}

// targets is the scheduler's targeted-sync queue, the loop's own.
type targets struct {
	window time.Duration
	max    int
	// fifo holds the accounts in their window by when it ends: it starts
	// when a sync ends and is one length for all, so appending keeps it
	// in order. An entry whose account has moved on since is passed over.
	fifo []targetEntry
	// pending holds the accounts with a targeted sync not finished; cool
	// those in their window with none asked, by when it ends.
	pending map[*state]pendingTarget
	cool    map[*state]time.Time
	index   targetIndex
}

type targetEntry struct {
	st *state
	at time.Time
}

// targetPhase is where an account's targeted sync is.
type targetPhase uint8

const (
	// phaseWaiting: asked for within the window; due when it ends (at).
	phaseWaiting targetPhase = iota
	// phaseQueued: due (st.force), not started.
	phaseQueued
	// phaseRunning: a sync of the account runs.
	phaseRunning
)

// pendingTarget is an account with a targeted sync not finished.
type pendingTarget struct {
	// since is the earliest request the queued or running sync covers;
	// zero for a running sync no request asked for.
	since time.Time
	// next is the earliest request while the sync runs, which the
	// trailing run covers; zero if none.
	next  time.Time
	at    time.Time // phaseWaiting: when the window ends
	phase targetPhase
}

func newTargets(o Options) targets {
	return targets{window: cmp.Or(o.TargetWindow, DefaultTargetWindow), max: cmp.Or(o.TargetQueue, DefaultTargetQueue),
		pending: map[*state]pendingTarget{}, cool: map[*state]time.Time{}}
}

// held is how many accounts the queue holds: waiting, running or in
// their window.
func (t *targets) held() int { return len(t.pending) + len(t.cool) }

// Target asks for a sync of the account whose resource id (compared
// without case) or Vault path is ref; since is when the change happened,
// for the latency metric (zero: now). It returns the label of the account
// (the first, when a resource is synced to several paths). The request
// goes to the loop, as Reload's does, and Target waits for its answer,
// which the loop gives before its next turn; when as many requests wait
// for the loop as it takes (targetBacklog), it answers ErrTargetQueueFull
// at once.
func (s *Scheduler) Target(ref string, since time.Time) (string, TargetResult, error) {
	req := targetRequest{ref: ref, since: since, reply: make(chan targetReply, 1)}
	select {
	case s.targets <- req:
	default:
		return "", "", ErrTargetQueueFull
	}
	select {
	case r := <-req.reply:
		return r.label, r.res, r.err
	case <-s.stopped:
		return "", "", ErrTargetQueueFull
	}
}

// answer queues a targeted request's syncs and answers it; it reports
// whether it queued one, so that the loop turns to plan its sleep anew.
// The loop calls it.
func (s *Scheduler) answer(req targetRequest) bool {
	defer s.publishTargets()
	sts := s.findTargets(req.ref)
	if len(sts) == 0 {
		req.reply <- targetReply{err: ErrUnknownAccount}
		return false
	}
	now := s.clock.Now()
	res, err := s.targetAll(sts, cmp.Or(req.since, now), now)
	req.reply <- targetReply{label: sts[0].Label(), res: res, err: err}
	return res == TargetQueued
}

// targetAll queues a targeted sync of each of sts; the loop calls it. Any
// account queued makes the result TargetQueued, not only the first: the
// others may be coalesced or backing off, and the loop must wake for it.
// An account a reload removed since the lookup is skipped while another
// remains.
func (s *Scheduler) targetAll(sts []*state, since, now time.Time) (TargetResult, error) {
	var res TargetResult
	var err error
	for _, st := range sts {
		r, e := s.targetOne(st, since, now)
		if r == TargetQueued || res == "" {
			res = cmp.Or(r, res)
		}
		if !errors.Is(e, ErrUnknownAccount) {
			err = cmp.Or(err, e)
		}
	}
	if res == "" && err == nil {
		err = ErrUnknownAccount
	}
	return res, err
}

// targetOne queues a targeted sync of st; the loop calls it.
func (s *Scheduler) targetOne(st *state, since, now time.Time) (TargetResult, error) {
	if st.removed {
		return "", ErrUnknownAccount // removed by a reload since the lookup
	}
	if p, ok := s.tgt.pending[st]; ok {
		return s.coalesce(st, p, since), nil
	}
	if st.retryAt != 0 && !st.running {
		return TargetBackoff, nil
	}
	if at, ok := s.tgt.cool[st]; ok {
		delete(s.tgt.cool, st) // one entry either way: the bound holds
		s.tgt.pending[st] = pendingTarget{since: since, at: at}
		return TargetQueued, nil
	}
	if s.tgt.held() >= s.tgt.max && !s.sweepTargets(now) {
		return "", ErrTargetQueueFull
	}
	if st.running { // a tick's sync, which may have read the keys before the change
		s.tgt.pending[st] = pendingTarget{next: since, phase: phaseRunning}
		return TargetQueued, nil
	}
	s.promote(st, pendingTarget{since: since}, now) // the leading edge
	return TargetQueued, nil
}

// coalesce adds a request to st's targeted sync p: to the queued or
// waiting one, which has not read the keys yet, else to the trailing run
// after the running one; the loop calls it.
func (s *Scheduler) coalesce(st *state, p pendingTarget, since time.Time) TargetResult {
	res := TargetCoalesced
	switch {
	case p.phase != phaseRunning:
		p.since = earliest(p.since, since)
	case p.next.IsZero():
		p.next, res = since, TargetQueued
	default:
		p.next = earliest(p.next, since)
	}
	s.tgt.pending[st] = p
	return res
}

// promoteTargets ends the windows that have ended, forcing the accounts
// asked for within them, and returns wake, or the end of the next window
// if sooner; the loop calls it.
func (s *Scheduler) promoteTargets(now, wake time.Time) time.Time {
	n := 0
	for _, e := range s.tgt.fifo {
		if e.at.After(now) {
			break
		}
		n++
		s.windowEnds(e, now)
	}
	if n > 0 {
		s.tgt.fifo = slices.Delete(s.tgt.fifo, 0, n)
		if len(s.tgt.fifo) == 0 {
			s.tgt.fifo = nil // let a burst's backing array go
		}
	}
	if len(s.tgt.fifo) > 0 {
		wake = earliest(wake, s.tgt.fifo[0].at)
	}
	return wake
}

// windowEnds ends the window of e's account: it forgets one asked for in
// it by no one, and forces one that was; the loop calls it.
func (s *Scheduler) windowEnds(e targetEntry, now time.Time) {
	st := e.st
	if at, ok := s.tgt.cool[st]; ok && at.Equal(e.at) {
		s.dropTarget(st)
		return
	}
	p, ok := s.tgt.pending[st]
	switch {
	case !ok || p.phase != phaseWaiting || !p.at.Equal(e.at):
		// an entry the account has moved on from
	case st.removed || (st.retryAt != 0 && !st.running):
		s.dropTarget(st) // removed, or backing off since: its retry covers it
	default:
		s.promote(st, p, now)
	}
}

// promote makes st's targeted sync p due; the loop calls it. A running
// account syncs once more when it finishes, as with TriggerAll.
func (s *Scheduler) promote(st *state, p pendingTarget, now time.Time) {
	p.phase = phaseQueued
	s.tgt.pending[st] = p
	st.force = true
	if st.sched.q == &s.idle {
		s.idle.add(st, st.due(s.paused[st.sub()]))
	}
	s.publishStatus(st)
	s.log.Debug("targeted sync queued", "account", st.Label(), "waited", now.Sub(p.since).Round(time.Millisecond))
}

// startTarget marks st's queued targeted sync running as the loop
// dispatches st: a request from now on needs one more sync.
func (s *Scheduler) startTarget(st *state) {
	if p, ok := s.tgt.pending[st]; ok && p.phase == phaseQueued {
		p.phase = phaseRunning
		s.tgt.pending[st] = p
	}
}

// settleTarget ends st's targeted sync when the sync that finished was
// it, or st was removed; the account's window starts, with the trailing
// run waiting for its end if a request came while it ran. The loop calls
// it.
func (s *Scheduler) settleTarget(st *state, res runner.Result, now time.Time) {
	if st.removed {
		s.dropTarget(st)
		return
	}
	p, ok := s.tgt.pending[st]
	if !ok || p.phase != phaseRunning {
		return
	}
	if o, ok := s.opts.Observer.(TargetObserver); ok && !p.since.IsZero() {
		o.Targeted(st.Label(), p.since, res, now)
	}
	at := now.Add(s.tgt.window)
	s.tgt.fifo = append(s.tgt.fifo, targetEntry{st: st, at: at})
	if p.next.IsZero() {
		delete(s.tgt.pending, st)
		s.tgt.cool[st] = at
		return
	}
	s.tgt.pending[st] = pendingTarget{since: p.next, at: at}
}

// dropTarget forgets st's targeted sync and window; the loop calls it.
func (s *Scheduler) dropTarget(st *state) {
	delete(s.tgt.pending, st)
	delete(s.tgt.cool, st)
	// a map keeps its largest size
	if len(s.tgt.pending) == 0 {
		s.tgt.pending = map[*state]pendingTarget{}
	}
	if len(s.tgt.cool) == 0 {
		s.tgt.cool = map[*state]time.Time{}
	}
}

// sweepTargets forgets the targeted syncs of accounts a reload removed
// while they waited, and the windows that have ended but the loop has not
// yet turned on, and reports whether that made room; the loop calls it.
func (s *Scheduler) sweepTargets(now time.Time) bool {
	for st := range s.tgt.pending {
		if st.removed && !st.running {
			delete(s.tgt.pending, st)
		}
	}
	for st, at := range s.tgt.cool {
		if st.removed || !at.After(now) {
			delete(s.tgt.cool, st)
		}
	}
	return s.tgt.held() < s.tgt.max
}

// TargetsPending is how many accounts have a targeted sync not finished,
// as of the loop's last turn or answer.
func (s *Scheduler) TargetsPending() int { return int(s.pending.Load()) }

// publishTargets publishes how many accounts have a targeted sync not
// finished; the loop calls it.
func (s *Scheduler) publishTargets() { s.pending.Store(int64(len(s.tgt.pending))) }
