package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/runner"
)

// TestLoopStartsDueAccountsEarliestFirst: each account's tick is shifted
// by its own splay, nothing starts before it, and with one slot the due
// accounts start in the order they fell due.
func TestLoopStartsDueAccountsEarliestFirst(t *testing.T) {
	var accts []Account
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		accts = append(accts, testAccount(n, "s1", "@hourly"))
	}
	h := start(t, Options{Concurrency: 1, Splay: time.Hour}, accts...)
	accts = slices.Clone(accts) // the scheduler holds the slice it was given
	slices.SortFunc(accts, func(x, y Account) int {
		return cmp.Compare(splay(x.Key().String(), time.Hour), splay(y.Key().String(), time.Hour))
	})
	first := splay(accts[0].Key().String(), time.Hour)
	h.advance(first - time.Millisecond)
	h.none("before the earliest splayed tick")
	h.advance(time.Millisecond)
	c := h.next()
	if c.job.Account.Name != accts[0].Label {
		t.Fatalf("%s synced first, want %s (splay %v)", c.job.Account.Name, accts[0].Label, first)
	}
	h.advance(time.Hour) // every other account is due now
	h.none("while the only slot is taken")
	var order []string
	for range accts[1:] {
		h.answer(c, nil)
		c = h.next()
		order = append(order, c.job.Account.Name)
	}
	want := []string{}
	for _, a := range accts[1:] {
		want = append(want, a.Label)
	}
	if !slices.Equal(order, want) {
		t.Fatalf("due accounts started in order %v, want %v (by splayed tick)", order, want)
	}
}

// TestLoopConcurrencyBound: no more syncs run than there are slots; the
// others stay due and start as slots free.
func TestLoopConcurrencyBound(t *testing.T) {
	var accts []Account
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		accts = append(accts, testAccount(n, "s1", "@hourly"))
	}
	h := start(t, Options{Concurrency: 2, SyncOnStart: true}, accts...)
	first, _ := h.next(), h.next()
	h.none("with both slots taken")
	h.answer(first, nil)
	h.next()
	h.none("one slot freed, one more sync")
}

// TestLoopNoOverlapCountsSkippedTicks: a tick that finds the account
// still syncing starts nothing and is counted; the next sync comes at the
// next tick after the skipped one.
func TestLoopNoOverlapCountsSkippedTicks(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@every 1m"))
	c := h.next()
	for i := 1; i <= 2; i++ {
		h.advance(time.Minute)
		h.none("a tick during a sync")
		if a, _ := seriesOf(h.s, "a"); int(a.Skipped) != i {
			t.Fatalf("%d skipped ticks counted after %d, want %d", a.Skipped, i, i)
		}
	}
	h.answer(c, nil)
	h.none("right after the sync that outlived two ticks")
	h.advance(time.Minute)
	h.answer(h.next(), nil)
	if got := h.obs.syncedList(); len(got) != 2 {
		t.Fatalf("synced %v, want two syncs", got)
	}
}

// TestLoopTriggerDuringSyncRunsOnceMore: a trigger while the account
// syncs runs it once more afterwards, however many triggers came.
func TestLoopTriggerDuringSyncRunsOnceMore(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@hourly"))
	c := h.next()
	h.act(func() {
		if !h.s.TriggerAll() {
			t.Fatal("the first trigger was coalesced")
		}
	})
	for i := range 50 {
		if h.s.TriggerAll() {
			t.Fatalf("trigger %d during the full sync started another", i)
		}
	}
	h.none("while the account syncs")
	h.answer(c, nil)
	h.answer(h.next(), nil)
	h.none("after the one sync the triggers asked for")
	if h.s.fullActive.Load() {
		t.Fatal("the full sync is still marked active")
	}
	h.act(func() {
		if !h.s.TriggerAll() {
			t.Fatal("a trigger after the full sync was coalesced")
		}
	})
	h.next()
}

// TestLoopBackoffNeverSoonerThanRetryAfter: a transient failure retries
// after its backoff, never before the server's Retry-After, not even when
// a trigger asks for everything now.
func TestLoopBackoffNeverSoonerThanRetryAfter(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@hourly"))
	h.answer(h.next(), failure{Transient: true, RetryAfter: 2 * time.Minute, Code: "TooManyRequests"})
	if a, _ := seriesOf(h.s, "a"); a.Backoff != 2*time.Minute || !a.Finished {
		t.Fatalf("backoff reported %v, want Retry-After's 2m over the 30s backoff", a.Backoff)
	}
	h.advance(time.Minute)
	h.act(func() { h.s.TriggerAll() })
	h.advance(59 * time.Second)
	h.none("before Retry-After, trigger or not")
	h.advance(time.Second)
	c := h.next()
	// The second failure has no Retry-After: the backoff's own 1m.
	h.answer(c, failure{Transient: true})
	h.advance(59 * time.Second)
	h.none("before the second backoff")
	h.advance(time.Second)
	h.answer(h.next(), nil)
	h.advance(30 * time.Minute)
	h.none("after a success, before the next tick")
}

// TestLoopThrottledSubscriptionHoldsItsAccounts: a subscription throttled
// with Retry-After holds all of its accounts, and only them; Status shows
// the held account's next run at the end of the pause.
func TestLoopThrottledSubscriptionHoldsItsAccounts(t *testing.T) {
	h := start(t, Options{Concurrency: 1, SyncOnStart: true},
		testAccount("a", "S1", "@hourly"), testAccount("b", "s1", "@hourly"), testAccount("c", "s2", "@hourly"))
	c := h.next()
	// Accounts due at once go by id, a hash: the first is one of s1's
	// (S1 is s1: subscriptions compare without case), held the other.
	held := map[string]string{"a": "b", "b": "a"}[c.job.Account.Name]
	if held == "" {
		t.Fatalf("%s first, want a or b, of s1", c.job.Account.Name)
	}
	h.answer(c, failure{Transient: true, Code: throttleCode, RetryAfter: 90 * time.Second})
	c = h.next()
	if c.job.Account.Name != "c" {
		t.Fatalf("%s synced during its subscription's pause; want c of another subscription", c.job.Account.Name)
	}
	h.answer(c, nil)
	h.none("while s1 is paused")
	for _, as := range h.s.Status(t0) {
		if as.Account == held && !as.NextRun.Equal(t0.Add(90*time.Second)) {
			t.Errorf("status of %s: next run +%v, want the pause's end +1m30s", held, as.NextRun.Sub(t0))
		}
	}
	h.advance(89 * time.Second)
	h.none("before the pause ends")
	h.advance(time.Second)
	c = h.next()
	h.answer(c, nil)
	if got := []string{c.job.Account.Name, h.next().job.Account.Name}; !slices.Contains(got, "a") || !slices.Contains(got, "b") {
		t.Fatalf("after the pause %v synced, want a and b", got)
	}
}

// TestLoopCredentialFailureSharesOneRetry: accounts that a credential
// failure hit at different times retry together, at the first's time.
func TestLoopCredentialFailureSharesOneRetry(t *testing.T) {
	h := start(t, Options{SyncOnStart: true},
		testAccount("a", "s1", "@hourly"), testAccount("b", "s2", "@hourly"), testAccount("c", "s3", "@hourly"))
	calls := h.expect("on start", "a", "b", "c")
	cred := failure{Transient: true, Shared: true, Code: "AuthenticationFailed"}
	h.answer(calls["a"], cred)
	h.advance(10 * time.Second)
	h.answer(calls["b"], cred)
	h.answer(calls["c"], nil)
	h.advance(19 * time.Second)
	h.none("before the shared retry")
	h.advance(time.Second)
	h.expect("at the shared retry", "a", "b")
	h.none("only the two the credential failed")
}

// TestLoopReloadAddsAndRemoves: a reload starts a new account at once,
// drops a removed one (its sync in flight is not counted, and it is not
// scheduled again) and keeps the others on their schedule.
func TestLoopReloadAddsAndRemoves(t *testing.T) {
	a, b, c := testAccount("a", "s1", "@hourly"), testAccount("b", "s1", "@hourly"), testAccount("c", "s1", "@hourly")
	h := start(t, Options{SyncOnStart: true}, a, b)
	calls := h.expect("on start", "a", "b")
	h.act(func() {
		if err := h.s.Reload(context.Background(), h.syncer, []Account{a, c}); err != nil {
			t.Fatal(err)
		}
	})
	calls["c"] = h.expect("after the reload", "c")["c"]
	for _, x := range calls {
		h.answer(x, nil)
	}
	if got := h.obs.syncedList(); slices.Contains(got, "b") || len(got) != 2 {
		t.Fatalf("synced %v; the removed b must not count", got)
	}
	if _, ok := seriesOf(h.s, "b"); ok || len(h.s.Status(t0)) != 2 {
		t.Fatalf("b has series: %t, status of %d accounts; want b removed, two left", ok, len(h.s.Status(t0)))
	}
	h.advance(time.Hour)
	h.expect("at the next tick", "a", "c")
	h.none("the removed account")
}

// TestLoopReloadReturnsInstalled: once Reload returns, Kept lists the new
// accounts, packed and unpacked back to what was given; the caller's
// slice is not what the scheduler keeps.
func TestLoopReloadReturnsInstalled(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@hourly"))
	c := testAccount("c", "s2", "@every 1m")
	c.Job.Adopt, c.Job.Fields, c.Label = true, map[string]string{"primary": "key"}, "labelled-c"
	given := []Account{testAccount("b", "s1", "@hourly"), c}
	h.act(func() {
		if err := h.s.Reload(context.Background(), h.syncer, given); err != nil {
			t.Fatal(err)
		}
		all := func(*account.Origin) bool { return true }
		kept := slices.Collect(h.s.Kept(all))
		if len(kept) != 2 {
			t.Fatalf("Kept lists %d accounts after the reload, want 2", len(kept))
		}
		for i, got := range kept {
			if !reflect.DeepEqual(got.Job, given[i].Job) || got.Label != given[i].Label || got.Schedule != given[i].Schedule {
				t.Errorf("kept %+v, given %+v", got, given[i])
			}
		}
		given[1].Job.Path = "changed/by/the/caller"
		if slices.Collect(h.s.Kept(all))[1].Job.Path != "p/c" {
			t.Error("the scheduler kept the caller's slice")
		}
	})
}

// TestLoopReloadNewScheduleMovesTheTick: a kept account whose schedule
// changed syncs on the new one.
func TestLoopReloadNewScheduleMovesTheTick(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@hourly"))
	h.act(func() { _ = h.s.Reload(context.Background(), h.syncer, []Account{testAccount("a", "s1", "@every 1m")}) })
	h.none("a kept account does not sync on reload")
	h.advance(time.Minute)
	h.next()
}

// TestLoopShutdownDrain: a stop waits for the sync in flight and counts
// it; after the grace it cancels the sync instead.
func TestLoopShutdownDrain(t *testing.T) {
	t.Run("sync ends within the grace", func(t *testing.T) {
		h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@hourly"))
		c := h.next()
		h.stop()
		h.poll("the drain's grace timer", func() bool { return h.clock.timerCount() == 2 })
		h.clock.Advance(59 * time.Second)
		if c.ctx.Err() != nil {
			t.Fatal("the sync was cancelled within the grace")
		}
		c.answer <- nil
		h.poll("the loop to return", func() bool { return isClosed(h.ran) })
		if got := h.obs.syncedList(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("synced %v, want the drained a", got)
		}
	})
	t.Run("grace runs out", func(t *testing.T) {
		h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@hourly"))
		c := h.next()
		h.stop()
		h.poll("the drain's grace timer", func() bool { return h.clock.timerCount() == 2 })
		h.clock.Advance(time.Minute)
		h.poll("the loop to return", func() bool { return isClosed(h.ran) })
		if c.ctx.Err() == nil {
			t.Fatal("the loop returned without cancelling the sync")
		}
	})
}

// TestLoopOverdueFollowsTheClock: an account that misses two scheduled
// syncs is overdue once the second interval has passed, and no longer
// after a success; the loop wakes for it on its own.
func TestLoopOverdueFollowsTheClock(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@every 10m"), testAccount("b", "s1", "@every 10m"))
	denied := failure{Code: "AuthorizationFailed"}
	for i := 0; i < 3; i++ {
		for _, c := range h.drainCalls() {
			h.answer(c, map[bool]error{true: denied, false: nil}[c.job.Account.Name == "a"])
		}
		h.advance(10 * time.Minute)
	}
	if got := h.s.Overdue(t0); len(got) != 0 {
		t.Fatalf("overdue %v at +30m, want none yet", got)
	}
	h.advance(time.Nanosecond)
	if got := h.s.Overdue(t0); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("overdue %v after +30m, want [a]", got)
	}
	for _, c := range h.drainCalls() {
		h.answer(c, nil)
	}
	if got := h.s.Overdue(t0); len(got) != 0 {
		t.Fatalf("overdue %v after a success", got)
	}
}

// drainCalls reads every sync the loop has started.
func (h *harness) drainCalls() []*call {
	var out []*call
	for {
		select {
		case c := <-h.syncer.calls:
			out = append(out, c)
		default:
			return out
		}
	}
}

// holdingObserver holds the loop in its first Synced until released.
type holdingObserver struct {
	entered, release chan struct{}
	once             sync.Once
}

func (o *holdingObserver) Synced(string, runner.Result, time.Time) {
	o.once.Do(func() { close(o.entered); <-o.release })
}

// TestReadersDoNotWaitForTheLoop: Overdue and Status answer while the
// loop is in the middle of settling a sync, and a targeted request that
// finds the backlog full is answered at once, busy.
func TestReadersDoNotWaitForTheLoop(t *testing.T) {
	obs := &holdingObserver{entered: make(chan struct{}), release: make(chan struct{})}
	s := New(Options{SyncOnStart: true, Concurrency: 1, ShutdownGrace: time.Minute, Clock: newFakeClock(t0), Observer: obs},
		&instantSyncer{}, []Account{testAccount("a", "s1", "@hourly"), testAccount("b", "s1", "@hourly")})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	<-obs.entered
	defer close(obs.release)
	for range targetBacklog {
		s.targets <- targetRequest{ref: "p/a", reply: make(chan targetReply, 1)}
	}
	done := make(chan error)
	go func() {
		n := len(s.Overdue(t0)) + len(s.Status(t0))
		_, _, err := s.Target("p/a", time.Time{})
		if n != 2 {
			err = fmt.Errorf("readers saw %d entries, want the two accounts' status", n)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTargetQueueFull) {
			t.Fatalf("%v, want ErrTargetQueueFull", err)
		}
	case <-time.After(patience): // waiting for the loop would be forever
		t.Fatal("Overdue, Status or Target waited for the loop")
	}
}

// TestLoopHeartbeat: the loop turns at least every heartbeat, so liveness
// stays fresh with nothing to do.
func TestLoopHeartbeat(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@hourly"))
	for range 10 {
		h.advance(heartbeat)
	}
	now := h.clock.Now()
	if !h.s.Alive(now) || h.s.Alive(now.Add(3*heartbeat)) {
		t.Fatal("liveness does not follow the loop's turns")
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var _ fault.Error = failure{}

// TestLoopAwaitRemovedWaitsForTheRemovedSync: AwaitRemoved returns only
// once the sync of an account a reload removed while it ran has ended;
// the syncs of accounts still scheduled do not hold it, and with none
// removed it returns at once.
func TestLoopAwaitRemovedWaitsForTheRemovedSync(t *testing.T) {
	a, b := testAccount("a", "s1", "@hourly"), testAccount("b", "s1", "@hourly")
	h := start(t, Options{SyncOnStart: true}, a, b)
	calls := h.expect("on start", "a", "b")
	h.act(func() {
		if err := h.s.Reload(context.Background(), h.syncer, []Account{a}); err != nil {
			t.Fatal(err)
		}
	})
	// The loop takes one request at a time: once the second is taken,
	// it has answered the first as it will.
	w := make(chan struct{})
	h.s.awaits <- w
	h.s.awaits <- make(chan struct{})
	h.answer(calls["a"], nil)
	select {
	case <-w:
		t.Fatal("AwaitRemoved returned while the removed account's sync ran")
	default:
	}
	h.answer(calls["b"], nil)
	select {
	case <-w:
	case <-time.After(patience):
		t.Fatal("AwaitRemoved did not return once the removed account's sync ended")
	}
	if err := h.s.AwaitRemoved(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStatusAtMostListsTroubleFirst: a bounded status lists the accounts
// in trouble (here, failing) before the others, each part by label, and
// counts every account; unbounded, it lists them all.
func TestStatusAtMostListsTroubleFirst(t *testing.T) {
	h := start(t, Options{Concurrency: 1, SyncOnStart: true},
		testAccount("a", "s1", "@hourly"), testAccount("b", "s2", "@hourly"), testAccount("c", "s3", "@hourly"), testAccount("d", "s4", "@hourly"))
	for range 4 {
		c := h.next()
		var err error
		if n := c.job.Account.Name; n == "b" || n == "d" {
			err = failure{Code: "Boom"}
		}
		h.answer(c, err)
	}
	h.none("after the first syncs")
	labels := func(list []AccountStatus) (out []string) {
		for _, a := range list {
			out = append(out, a.Account)
		}
		return out
	}
	for _, tt := range []struct {
		limit int
		want  []string
	}{{3, []string{"b", "d", "a"}}, {10, []string{"b", "d", "a", "c"}}, {0, nil}} {
		got, total := h.s.StatusAtMost(t0, tt.limit)
		if !slices.Equal(labels(got), tt.want) || total != 4 {
			t.Errorf("limit %d: %v of %d, want %v of 4", tt.limit, labels(got), total, tt.want)
		}
	}
}
