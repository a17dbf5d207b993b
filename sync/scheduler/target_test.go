package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/runner"
)

// target asks for a targeted sync of ref inside h.act, so the loop has
// turned on it when it returns.
func (h *harness) target(ref string, want TargetResult) {
	h.t.Helper()
	var got TargetResult
	var err error
	do := func() { _, got, err = h.s.Target(ref, time.Time{}) }
	if want == TargetQueued {
		h.act(do)
	} else {
		do()
	}
	if err != nil || got != want {
		h.t.Fatalf("Target(%q) = %q, %v; want %q", ref, got, err, want)
	}
}

// full fails unless a targeted request for ref is answered
// ErrTargetQueueFull.
func (h *harness) full(ref, why string) {
	h.t.Helper()
	if _, _, err := h.s.Target(ref, time.Time{}); !errors.Is(err, ErrTargetQueueFull) {
		h.t.Fatalf("%s: Target(%q) err %v, want ErrTargetQueueFull", why, ref, err)
	}
}

// TestTargetInBackoff: an account backing off is not synced sooner by a
// request: its retry covers it. Once recovered, a request syncs it at once.
func TestTargetInBackoff(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@every 1h"))
	h.answer(h.next(), failure{Transient: true, Code: "InternalServerError"})
	h.target("p/a", TargetBackoff)
	h.advance(29 * time.Second)
	h.none("before the backoff's 30s")
	h.advance(time.Second)
	h.answer(h.expect("the retry", "a")["a"], nil)
	h.target("p/a", TargetQueued)
	h.expect("a request after recovery, at once", "a")
}

// TestTargetQueueBounded: no more accounts wait, run or sit in their
// window than the queue holds, so a stream of events for ever new
// accounts holds no more; one whose window ended makes room.
func TestTargetQueueBounded(t *testing.T) {
	h := start(t, Options{TargetQueue: 2}, testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h"), testAccount("c", "s1", "@every 1h"))
	h.target("p/a", TargetQueued)
	h.target("p/b", TargetQueued)
	calls := h.expect("the two asked for, at once", "a", "b")
	h.full("p/c", "two accounts syncing, a queue of 2")
	h.answer(calls["a"], nil)
	h.full("p/c", "a in its window, b syncing")
	h.advance(DefaultTargetWindow)
	h.target("p/c", TargetQueued)
	h.expect("c, once a's window ended", "c")
}

// TestTargetLookup: a resource id matches without case, a path as it is;
// anything else is unknown.
func TestTargetLookup(t *testing.T) {
	a := testAccount("Acct1", "Sub-1", "@every 1h")
	h := start(t, Options{}, a)
	id := a.Job.Account.ResourceID()
	for _, ref := range []string{id, strings.ToUpper(id), strings.ToLower(id), "p/Acct1"} {
		label, _, err := h.s.Target(ref, time.Time{})
		if err != nil || label != "Acct1" {
			t.Fatalf("Target(%q) = %q, %v; want Acct1", ref, label, err)
		}
	}
	for _, ref := range []string{"p/acct1", id + "x", "", "/", fmt.Sprintf("%s/../x", id)} {
		if _, _, err := h.s.Target(ref, time.Time{}); !errors.Is(err, ErrUnknownAccount) {
			t.Fatalf("Target(%q): err %v, want ErrUnknownAccount", ref, err)
		}
	}
}

// TestTargetRemovedAccountFreesItsPlace: an account a reload removed
// while its trailing run waited is not synced, and its place in the
// queue goes to another.
func TestTargetRemovedAccountFreesItsPlace(t *testing.T) {
	a, b := testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h")
	h := start(t, Options{TargetQueue: 1}, a, b)
	h.target("p/a", TargetQueued)
	first := h.next()
	h.target("p/a", TargetQueued) // the trailing run
	h.answer(first, nil)
	h.full("p/b", "a's trailing run holds the one place")
	h.act(func() { _ = h.s.Reload(context.Background(), h.syncer, []Account{b}) })
	h.target("p/b", TargetQueued)
	h.answer(h.expect("only b", "b")["b"], nil)
	h.advance(DefaultTargetWindow)
	h.none("a was removed")
	if _, _, err := h.s.Target("p/a", time.Time{}); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("Target of a removed account: %v, want ErrUnknownAccount", err)
	}
}

// TestTargetWaitsForSubscriptionPause: a targeted sync of an account
// whose subscription is throttled waits for the pause, as a tick does:
// the leading edge is at once only when nothing holds the account.
func TestTargetWaitsForSubscriptionPause(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h"))
	calls := h.expect("the start", "a", "b")
	h.answer(calls["a"], failure{Transient: true, Code: throttleCode, RetryAfter: 90 * time.Second})
	h.answer(calls["b"], nil)
	h.target("p/b", TargetQueued)
	for range 19 {
		h.target("p/b", TargetCoalesced)
	}
	h.advance(89 * time.Second)
	h.none("b's subscription is paused")
	h.advance(time.Second)
	h.expect("after the pause, once", "a", "b")
}

// TestTargetIndexSmall: the index keeps 8 bytes per account and key, two
// keys per account (resource id, path), and finds each account by both.
func TestTargetIndexSmall(t *testing.T) {
	var accts []Account
	for i := range 1000 {
		accts = append(accts, testAccount(fmt.Sprint("acct", i), "s1", "@every 1h"))
	}
	h := start(t, Options{}, accts...)
	for i, a := range accts {
		if sts := h.s.findTargets(a.Job.Account.ResourceID()); len(sts) != 1 || sts[0].Label() != a.Label {
			t.Fatalf("account %d by resource id: %d found", i, len(sts))
		}
		if sts := h.s.findTargets(a.Job.Path); len(sts) != 1 || sts[0].Label() != a.Label {
			t.Fatalf("account %d by path: %d found", i, len(sts))
		}
	}
	if n, size := len(h.s.tgt.index.ents), unsafe.Sizeof(indexEntry{}); n != 2*len(accts) || size != 8 {
		t.Fatalf("%d entries of %d bytes for %d accounts, want 2 of 8 each", n, size, len(accts))
	}
}

// TestTargetSeveralAccountsOneInBackoff: a reference that names several
// accounts (a resource synced to two paths, a namespace's rules) queues
// those not backing off and wakes the loop for them, whatever the order
// the index returns them in; the result says a sync was queued.
func TestTargetSeveralAccountsOneInBackoff(t *testing.T) {
	a, b := testAccount("a", "s1", "@every 1h"), testAccount("a", "s1", "@every 1h")
	b.Job.Path = "p/a2"
	h := start(t, Options{SyncOnStart: true}, a, b)
	id := a.Job.Account.ResourceID()
	order := h.s.findTargets(id)
	if len(order) != 2 {
		t.Fatalf("%d accounts for %s, want 2", len(order), id)
	}
	calls := map[string]*call{}
	for range 2 {
		c := h.next()
		calls[c.job.Path] = c
	}
	h.answer(calls[order[0].Path()], failure{Transient: true, Code: "InternalServerError"})
	h.answer(calls[order[1].Path()], nil)
	h.target(id, TargetQueued)
	if c := h.next(); c.job.Path != order[1].Path() {
		t.Fatalf("%s synced, want %s", c.job.Path, order[1].Path())
	}
	h.none("the other backs off")
}

// gateSyncer's syncs wait for release and share nothing else with the
// loop, so the race detector sees what a sync reads of its account.
type gateSyncer struct{ release chan struct{} }

func (g gateSyncer) Sync(context.Context, account.Job) runner.Result {
	<-g.release
	return runner.Result{}
}

// TestSyncReadsItsJobBeforeAReload: a sync takes its job when it is
// dispatched, in the loop, not later in its goroutine where
// a reload (SIGHUP, discovery) replacing the account's settings at the
// same time races with it (go test -race).
func TestSyncReadsItsJobBeforeAReload(t *testing.T) {
	a := testAccount("a", "s1", "@every 1h")
	g := gateSyncer{release: make(chan struct{})}
	s := New(Options{SyncOnStart: true, Concurrency: 1, ShutdownGrace: time.Minute, Clock: newFakeClock(t0)}, g, []Account{a})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	for _, spec := range []string{"@every 2h", "@every 3h"} {
		b := testAccount("a", "s1", spec)
		if err := s.Reload(context.Background(), g, []Account{b}); err != nil {
			t.Fatal(err)
		}
	}
	close(g.release)
	cancel()
	<-ran
}

// TestTargetIndexLetsAReloadGo: the index built for a targeted request
// does not keep the accounts of the listing a reload replaced (and the
// slab they point into) until the next targeted request.
func TestTargetIndexLetsAReloadGo(t *testing.T) {
	a, b := testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h")
	h := start(t, Options{}, a, b)
	h.target("p/a", TargetQueued)
	h.act(func() { _ = h.s.Reload(context.Background(), h.syncer, []Account{b}) })
	of, n := h.s.tgt.index.of, len(h.s.tgt.index.ents) // the loop waits: Reload returned after install
	if of != nil || n != 0 {
		t.Fatalf("after a reload the index still holds a listing of %d accounts (%d entries)", len(*of), n)
	}
	h.target("p/b", TargetQueued)
	if _, _, err := h.s.Target("p/a", time.Time{}); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("removed account: %v, want ErrUnknownAccount", err)
	}
}
