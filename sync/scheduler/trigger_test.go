package scheduler

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// gatedSyncer counts syncs and holds each until the gate opens.
type gatedSyncer struct {
	calls atomic.Int64
	gate  chan struct{}
	err   error
}

func (g *gatedSyncer) Sync(ctx context.Context, job account.Job) runner.Result {
	g.calls.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	return runner.Result{Job: job, Err: g.err, Change: plan.Change{Action: plan.Unchanged}}
}

// runScheduler runs s until the test ends.
func runScheduler(t *testing.T, s *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTriggersCoalesce: triggers while a requested full sync runs add
// nothing; once it is over, a trigger starts a new one.
func TestTriggersCoalesce(t *testing.T) {
	h := start(t, Options{Concurrency: 8}, testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h"), testAccount("c", "s2", "@every 1h"))
	h.act(func() {
		if !h.s.TriggerAll() {
			t.Fatal("the first trigger was coalesced")
		}
	})
	calls := h.expect("the full sync", "a", "b", "c")
	for i := range 100 {
		if h.s.TriggerAll() {
			t.Fatalf("trigger %d during the full sync started another", i)
		}
	}
	for _, c := range calls {
		h.answer(c, nil)
	}
	if h.s.fullActive.Load() {
		t.Fatal("the full sync is still marked active after every account synced")
	}
	h.none("after 101 triggers during one full sync")
	h.act(func() {
		if !h.s.TriggerAll() {
			t.Fatal("a trigger after the full sync ended was coalesced")
		}
	})
	h.expect("the second full sync", "a", "b", "c")
}

// TestTriggerDuringScheduledSyncRunsAgain: an account that a tick is
// syncing when the trigger comes syncs once more afterwards, and the full
// sync is pending until then.
func TestTriggerDuringScheduledSyncRunsAgain(t *testing.T) {
	g := &gatedSyncer{gate: make(chan struct{})}
	s := New(Options{Concurrency: 8, SyncOnStart: true, ShutdownGrace: time.Second}, g, []Account{testAccount("a", "s1", "@every 1h")})
	runScheduler(t, s)
	waitUntil(t, "the start-up sync", func() bool { return g.calls.Load() == 1 })
	if !s.TriggerAll() {
		t.Fatal("trigger coalesced with a scheduled sync")
	}
	close(g.gate)
	waitUntil(t, "the requested sync", func() bool { return g.calls.Load() == 2 })
	waitUntil(t, "the full sync to end", func() bool { return !s.fullActive.Load() })
}

// TestStatus: Status reports results, failures and codes, never a key.
func TestStatus(t *testing.T) {
	g := &gatedSyncer{gate: make(chan struct{}), err: &sources.Error{StatusCode: 429, Code: "Too\nMany Requests", Transient: true}}
	close(g.gate)
	rot := testAccount("b", "s1", "@every 1h")
	rot.Job.Rotate = &plan.Rotation{Every: 24 * time.Hour, Grace: time.Hour}
	s := New(Options{Concurrency: 8, SyncOnStart: true, ShutdownGrace: time.Second,
		Backoff: runner.RetryPolicy{Base: time.Hour, Max: time.Hour}}, g, []Account{testAccount("a", "s1", "@every 1h"), rot})
	runScheduler(t, s)
	waitUntil(t, "two failures", func() bool {
		st := s.Status(time.Now())
		return st[0].ConsecutiveFailures == 1 && st[1].ConsecutiveFailures == 1
	})
	got := s.Status(time.Now())
	if got[0].Account != "a" || got[0].LastResult != "failed" || got[0].ErrorCode != "Too_Many_Requests" ||
		got[0].LastRun.IsZero() || !got[0].LastSuccess.IsZero() || got[0].NextRun.IsZero() || got[0].Type != "batch" {
		t.Fatalf("status a = %+v", got[0])
	}
	if !got[1].Rotation.Enabled || got[1].Rotation.Every != "24h0m0s" || got[0].Rotation.Enabled {
		t.Fatalf("rotation status: %+v / %+v", got[1].Rotation, got[0].Rotation)
	}
}

// TestTurnObserved: each event that wakes the loop is one observed turn,
// timed from the event (the start's own turn has no event and is not
// observed); a request for a full sync and each finished sync are one
// each.
func TestTurnObserved(t *testing.T) {
	h := start(t, Options{Concurrency: 8}, testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h"))
	if got := h.obs.turnList(); len(got) != 0 {
		t.Fatalf("turns before any event: %v", got)
	}
	h.act(func() {
		if !h.s.TriggerAll() {
			t.Fatal("the trigger was coalesced")
		}
	})
	if got := h.obs.turnList(); len(got) != 1 || got[0] < 0 {
		t.Fatalf("turns after a trigger: %v, want one", got)
	}
	calls := h.expect("the full sync", "a", "b")
	h.answer(calls["a"], nil)
	if got := h.obs.turnList(); len(got) != 2 {
		t.Fatalf("turns after a finished sync: %v, want two", got)
	}
}
