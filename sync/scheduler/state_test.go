package scheduler

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testAccount(name, sub, spec string) Account {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		panic(err)
	}
	return Account{Label: name, Schedule: &Schedule{Spec: spec, Schedule: s},
		Job: account.Job{Account: sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: name}, Path: "p/" + name}}
}

// newTestScheduler has a backoff whose jitter always picks the ceiling.
func newTestScheduler(accts ...Account) *Scheduler {
	return New(Options{
		Backoff: runner.RetryPolicy{Base: 30 * time.Second, Max: 4 * time.Minute, Jitter: func(n int64) int64 { return n - 1 }},
		Clock:   newFakeClock(t0),
	}, nil, accts)
}

func finish(s *Scheduler, name string, err error, now time.Time) *state {
	for _, st := range s.accounts {
		if st.Label() == name {
			st.running = true
			s.running++
			s.settle(finished{st: st, res: runner.Result{Job: st.Job(), Err: err, Change: plan.Change{Action: plan.Unchanged}}}, now)
			return st
		}
	}
	panic(name)
}

func TestTransientBackoffGrowsAndRespectsRetryAfter(t *testing.T) {
	s := newTestScheduler(testAccount("a", "s1", "@every 1m"))
	st := finish(s, "a", &sources.Error{StatusCode: 503, Transient: true}, t0)
	if st.retryAt != stampOf(t0.Add(30*time.Second)) || st.failures != 1 {
		t.Fatalf("first retry at %v, failures %d", st.retryAt.time().Sub(t0), st.failures)
	}
	st = finish(s, "a", &sources.Error{StatusCode: 503, Transient: true}, t0)
	if st.retryAt != stampOf(t0.Add(time.Minute)) {
		t.Fatalf("second retry after %v, want 1m", st.retryAt.time().Sub(t0))
	}
	st = finish(s, "a", &sources.Error{StatusCode: 429, Transient: true, RetryAfter: 210 * time.Second}, t0)
	if st.retryAt != stampOf(t0.Add(210*time.Second)) || st.notBefore != stampOf(t0.Add(210*time.Second)) {
		t.Fatalf("Retry-After 3m30s gave a retry after %v", st.retryAt.time().Sub(t0))
	}
	// A cron tick does not come before a pending retry.
	if due := st.due(time.Time{}); !due.Equal(st.retryAt.time()) {
		t.Fatalf("due %v, want the pending retry", due.Sub(t0))
	}
	// A forced sync skips backoff but not Retry-After.
	st.force = true
	if due := st.due(time.Time{}); !due.Equal(st.notBefore.time()) {
		t.Fatalf("forced due %v, want Retry-After", due.Sub(t0))
	}
	st.force = false
	st = finish(s, "a", nil, t0.Add(11*time.Minute))
	if !st.retryAt.time().IsZero() || st.failures != 0 || st.condition() != "" || !st.lastSuccess().Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("success did not reset: %+v", st)
	}
}

func TestPermanentFailureWaitsForTheTick(t *testing.T) {
	s := newTestScheduler(testAccount("a", "s1", "@every 1h"))
	st := finish(s, "a", &sources.Error{StatusCode: 403, Code: "AuthorizationFailed"}, t0)
	if !st.retryAt.time().IsZero() || !st.due(time.Time{}).Equal(st.nextTick.time()) {
		t.Fatalf("permanent failure scheduled a retry at %v", st.retryAt.time())
	}
	if st.condition() != "permanent AuthorizationFailed" {
		t.Fatalf("condition %q", st.condition())
	}
}

func TestThrottlePausesTheSubscription(t *testing.T) {
	s := newTestScheduler(testAccount("a", "S1", "@every 1m"), testAccount("b", "s1", "@every 1m"), testAccount("c", "s2", "@every 1m"))
	finish(s, "a", &sources.Error{StatusCode: 429, Code: throttleCode, Transient: true, RetryAfter: 90 * time.Second}, t0)
	if got := s.paused["s1"]; got != t0.Add(90*time.Second) {
		t.Fatalf("s1 paused until %v", got)
	}
	for _, st := range s.accounts {
		due := st.due(s.paused[st.sub()])
		switch st.Label() {
		case "b":
			if due.Before(t0.Add(90 * time.Second)) {
				t.Errorf("b in the throttled subscription is due at %v", due.Sub(t0))
			}
		case "c":
			if due.After(t0.Add(time.Minute)) {
				t.Errorf("c in another subscription is due at %v", due.Sub(t0))
			}
		}
	}
	// A 429 with another code pauses only its own account.
	finish(s, "c", &sources.Error{StatusCode: 429, Code: "TooManyRequests", Transient: true, RetryAfter: time.Hour}, t0)
	if !s.paused["s2"].IsZero() {
		t.Error("a non-subscription 429 paused the subscription")
	}
}

func TestOverdue(t *testing.T) {
	s := newTestScheduler(testAccount("a", "s1", "@every 10m"))
	st := s.lookup(testAccount("a", "s1", "@every 10m").Key().ID())
	for d, want := range map[time.Duration]bool{0: false, 25 * time.Minute: false, 31 * time.Minute: true} {
		if got := st.overdue(t0.Add(d)); got != want {
			t.Errorf("overdue after %v = %t, want %t", d, got, want)
		}
	}
	st.ref, st.succeeded = stampOf(t0.Add(20*time.Minute)), true
	if st.overdue(t0.Add(31 * time.Minute)) {
		t.Error("a recent success does not count")
	}
}

func TestSplayIsStableAndBounded(t *testing.T) {
	seen := map[time.Duration]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		d := splay(k, time.Minute)
		if d < 0 || d >= time.Minute || d != splay(k, time.Minute) || d != splay(stringsUpper(k), time.Minute) {
			t.Fatalf("splay(%s) = %v", k, d)
		}
		seen[d] = true
	}
	if len(seen) < 5 {
		t.Errorf("splay spreads six accounts over only %d offsets", len(seen))
	}
	if splay("a", 0) != 0 {
		t.Error("no splay configured, yet an offset")
	}
}

func stringsUpper(s string) string { return string(s[0]-32) + s[1:] }

func TestReloadKeepsStateAndAddsNew(t *testing.T) {
	a, b := testAccount("a", "s1", "@every 1m"), testAccount("b", "s1", "@every 1m")
	s := newTestScheduler(a)
	st := finish(s, "a", &sources.Error{StatusCode: 503, Transient: true}, t0)
	s.apply(reload{accounts: []Account{a, b}}, t0)
	if s.lookup(a.Key().ID()) != st || st.failures != 1 {
		t.Fatal("the kept account lost its state")
	}
	if nb := s.lookup(b.Key().ID()); nb == nil || !nb.force {
		t.Fatal("the new account is not due at once")
	}
	s.apply(reload{accounts: []Account{b}}, t0)
	if s.lookup(a.Key().ID()) != nil || len(s.accounts) != 1 || !st.removed {
		t.Fatal("the removed account is still scheduled")
	}
	c := testAccount("c", "s2", "@every 1m")
	s.apply(reload{accounts: []Account{c, b, c}}, t0)
	if len(s.accounts) != 2 || len(s.Status(t0)) != 2 || s.lookup(c.Key().ID()) == nil || s.lookup(b.Key().ID()) == nil {
		t.Fatalf("an account given twice: %d scheduled, want 2", len(s.accounts))
	}
}

func TestTriggerDuringASyncRunsAgainAfterIt(t *testing.T) {
	a := testAccount("a", "s1", "@hourly")
	s := newTestScheduler(a)
	st := s.lookup(a.Key().ID())
	st.force = false
	st.running = true
	s.forceAll()
	st.running = false
	if due := st.due(time.Time{}); due.After(t0) {
		t.Fatalf("a trigger during a sync was lost: due in %v", due.Sub(t0))
	}
}

// TestRetryAfterBeyondBackoffMaxWaitsBackoffMax: a Retry-After longer than
// backoff_max, an absurd one included, waits backoff_max, never the short
// backoff that an overflowed value used to give.
func TestRetryAfterBeyondBackoffMaxWaitsBackoffMax(t *testing.T) {
	for _, ra := range []time.Duration{10 * time.Minute, azure.RetryAfterCap} {
		s := newTestScheduler(testAccount("a", "s1", "@every 1m"))
		st := finish(s, "a", &sources.Error{StatusCode: 503, Transient: true, RetryAfter: ra}, t0)
		if st.retryAt != stampOf(t0.Add(4*time.Minute)) || st.notBefore != stampOf(t0.Add(4*time.Minute)) {
			t.Errorf("Retry-After %v: retry after %v, not before %v; want backoff_max 4m", ra, st.retryAt.time().Sub(t0), st.notBefore.time().Sub(t0))
		}
	}
}

// TestCredentialFailureSharesOneBackoff: accounts that the credential
// failed retry together at the first failure's time, and a success ends
// the shared backoff.
func TestCredentialFailureSharesOneBackoff(t *testing.T) {
	s := newTestScheduler(testAccount("a", "s1", "@every 1h"), testAccount("b", "s2", "@every 1h"), testAccount("c", "s1", "@every 1h"))
	cred := &sources.Error{Code: "AuthenticationFailed", Transient: true, Credential: true}
	a := finish(s, "a", cred, t0)
	b := finish(s, "b", cred, t0.Add(2*time.Second))
	c := finish(s, "c", &sources.Error{StatusCode: 503, Transient: true}, t0.Add(2*time.Second))
	if a.retryAt != stampOf(t0.Add(30*time.Second)) || b.retryAt != a.retryAt {
		t.Fatalf("credential retries at %v and %v, want both at 30s", a.retryAt.time().Sub(t0), b.retryAt.time().Sub(t0))
	}
	if c.retryAt == a.retryAt {
		t.Error("an account's own 503 joined the credential's backoff")
	}
	finish(s, "c", nil, t0.Add(3*time.Second))
	if _, ok := s.paused[credentialKey]; ok {
		t.Error("a success left the credential backoff in place")
	}
}
