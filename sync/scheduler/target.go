package scheduler

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/sync/runner"
)

// Targeted syncs: one account synced soon because something says its keys
// changed (an Event Grid event, POST /sync?account=). They go through the
// same queues as ticks, so they keep the concurrency bound, the
// subscription pauses, Retry-After and the no-overlap rule; they add
// nothing while the account is in backoff (its retry comes sooner than a
// tick anyway), and many requests for one account are one sync:
//
//   - requests within the window after the first, or while the account's
//     sync is queued, are that sync;
//   - a request while its sync runs makes it run once more after, since the
//     running one may have read the keys before the change.
//
// Memory is bounded by the queue length whatever arrives: one entry per
// account waiting, none per request.

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
	// fifo holds accounts by when their window ends; the window is one
	// length for all, so appending keeps it in order.
	fifo    []targetEntry
	pending map[*state]pendingTarget
	index   targetIndex
}

type targetEntry struct {
	st *state
	at time.Time
}

// pendingTarget is an account with a targeted sync not finished yet.
type pendingTarget struct {
	since time.Time
	// inFIFO: its window has not ended; else it is forced (queued or
	// running).
	inFIFO bool
}

func newTargets(o Options) targets {
	return targets{window: cmp.Or(o.TargetWindow, DefaultTargetWindow), max: cmp.Or(o.TargetQueue, DefaultTargetQueue),
		pending: map[*state]pendingTarget{}}
}

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
	p, ok := s.tgt.pending[st]
	switch {
	case ok && (p.inFIFO || st.force):
		p.since = earliest(p.since, since)
		s.tgt.pending[st] = p
		return TargetCoalesced, nil
	case st.retryAt != 0 && !st.running:
		return TargetBackoff, nil
	case !ok && len(s.tgt.pending) >= s.tgt.max && !s.sweepTargets():
		return "", ErrTargetQueueFull
	}
	if ok {
		since = earliest(p.since, since)
	}
	s.tgt.pending[st] = pendingTarget{since: since, inFIFO: true}
	s.tgt.fifo = append(s.tgt.fifo, targetEntry{st: st, at: now.Add(s.tgt.window)})
	return TargetQueued, nil
}

// promoteTargets forces the accounts whose window has ended, and returns
// wake, or the end of the next window if sooner; the loop calls it.
func (s *Scheduler) promoteTargets(now, wake time.Time) time.Time {
	n := 0
	for _, e := range s.tgt.fifo {
		if e.at.After(now) {
			break
		}
		n++
		s.promote(e.st, now)
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

// promote makes st's targeted sync due; the loop calls it. A running account
// syncs once more when it finishes, as with TriggerAll.
func (s *Scheduler) promote(st *state, now time.Time) {
	p := s.tgt.pending[st]
	if st.removed || (st.retryAt != 0 && !st.running) {
		s.dropTarget(st) // removed, or backing off since
		return
	}
	p.inFIFO = false
	s.tgt.pending[st] = p
	st.force = true
	if st.sched.q == &s.idle {
		s.idle.add(st, st.due(s.paused[st.sub()]))
	}
	s.publishStatus(st)
	s.log.Debug("targeted sync queued", "account", st.Label(), "waited", now.Sub(p.since).Round(time.Millisecond))
}

// settleTarget ends st's targeted sync when the sync that finished was
// it, or st was removed; the loop calls it.
func (s *Scheduler) settleTarget(st *state, res runner.Result, now time.Time) {
	p, ok := s.tgt.pending[st]
	removed := st.removed
	if !ok || (!removed && (p.inFIFO || st.force)) {
		return
	}
	s.dropTarget(st)
	if o, ok := s.opts.Observer.(TargetObserver); ok && !removed {
		o.Targeted(st.Label(), p.since, res, now)
	}
}

// dropTarget forgets st's targeted sync; the loop calls it.
func (s *Scheduler) dropTarget(st *state) {
	delete(s.tgt.pending, st)
	if len(s.tgt.pending) == 0 {
		s.tgt.pending = map[*state]pendingTarget{} // a map keeps its largest size
	}
}

// sweepTargets forgets the targeted syncs of accounts a reload removed
// while they waited, and reports whether that made room; the loop calls it.
func (s *Scheduler) sweepTargets() bool {
	for st := range s.tgt.pending {
		if st.removed && !st.running {
			delete(s.tgt.pending, st)
		}
	}
	return len(s.tgt.pending) < s.tgt.max
}

// TargetsPending is how many accounts have a targeted sync not finished,
// as of the loop's last turn or answer.
func (s *Scheduler) TargetsPending() int { return int(s.pending.Load()) }

// publishTargets publishes how many accounts have a targeted sync not
// finished; the loop calls it.
func (s *Scheduler) publishTargets() { s.pending.Store(int64(len(s.tgt.pending))) }

// findTargets is the accounts whose resource id (without case) or path
// is ref; the loop calls it.
func (s *Scheduler) findTargets(ref string) []*state {
	list := s.listing.Load()
	if s.tgt.index.of != list {
		s.tgt.index.build(list)
	}
	return s.tgt.index.find(ref)
}

// indexKey is the form a reference is looked up in: resource ids compare
// without case (as ARM's do), paths as they are.
func indexKey(ref string) string {
	if strings.HasPrefix(ref, "/") {
		return strings.ToLower(ref)
	}
	return ref
}

// keyOf is st's resource id key, path and, for an account of a type with
// a child (an Event Hubs or Service Bus rule), the key of its parent (the
// namespace, whose writes concern every rule), from its published view.
func keyOf(st *state) (id, path, parent string) {
	h := st.view.Load().acct
	acct := h.Shared().Account
	acct.Name = h.Name()
	id = acct.Key()
	if acct.Spec().Child != "" {
		parent = ParentKey(id)
	}
	return id, h.Path(), parent
}

// ParentKey is a child's resource id key without its last two segments
// (/{child}/{name}): the key of the resource it belongs to.
func ParentKey(key string) string {
	for range 2 {
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			key = key[:i]
		}
	}
	return key
}
