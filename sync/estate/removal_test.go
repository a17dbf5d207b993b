package estate

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/memsource"
	"github.com/keysync/keysync/sync/plan"
)

// awaiting is the scheduler, telling the test when the estate waits for
// the syncs of the accounts it removed.
type awaiting struct {
	Scheduler
	called chan struct{}
}

func (a *awaiting) AwaitRemoved(ctx context.Context) error {
	select {
	case a.called <- struct{}{}:
	default:
	}
	return a.Scheduler.AwaitRemoved(ctx)
}

// TestRemovalWaitsForTheRemovedAccountsSync: a sync of an account that
// runs when a discovery removes it ends before the removal marks its
// secret. Ended after, it would find the mark of on_removed = "delete"
// and write the secret back as found again: the next discovery would
// remove it anew, and delete_after would start over at every reload.
func TestRemovalWaitsForTheRemovedAccountsSync(t *testing.T) {
	h := newHarness(t, oneBlock(plan.RemoveDelete))
	sched := &awaiting{Scheduler: h.sched, called: make(chan struct{}, 1)}
	cfg := oneBlock(plan.RemoveDelete)
	cfg.Schedule = h.hourly
	h.e = New(sched, cfg, h.parts(), Options{Now: h.clock.Now})
	src, sink := h.run.Source.(*memsource.Source), h.run.Sink.(*memsink.Sink)
	const path = "azure/batch/b"
	// Once armed, b's next sync waits for release after it has fetched
	// the keys, before it reads the secret: as a sync does whose answer
	// from Azure is slow.
	var armed atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	src.Hook = func(_ context.Context, op string, a sources.Account) error {
		if op == "fetch" && a.Name == "b" && armed.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
		return nil
	}
	for _, n := range []string{"a", "b"} {
		src.Add(testAccount("batch", n), "key1", "key2")
	}
	h.find.set("batch", "a", "b")
	h.discover("a@azure/batch/a<all>,b@azure/batch/b<all>", "")
	h.waitFor("the found accounts' secrets", func() bool { return written(sink, "azure/batch/a") && written(sink, path) })

	armed.Store(true)
	h.sched.TriggerAll()
	<-held
	h.find.set("batch", "a")
	done := make(chan struct{})
	go func() { h.e.Discover(h.ctx); close(done) }()
	select {
	case <-done: // removed while b's sync ran: it ends after the mark
	case <-sched.called:
	}
	close(release)
	<-done
	if err := h.sched.AwaitRemoved(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.run.takeRemoved(); got != path+"(delete)" {
		t.Fatalf("removed %q", got)
	}
	data, meta, _ := sink.Get(path)
	if data[plan.FieldGoneAt] == nil || meta[plan.MetaSourceGone] == "" {
		t.Fatalf("the mark is gone: %s = %v, metadata %s = %q", plan.FieldGoneAt, data[plan.FieldGoneAt], plan.MetaSourceGone, meta[plan.MetaSourceGone])
	}
}

// written says whether the sink holds a version at path.
func written(sink *memsink.Sink, path string) bool {
	_, _, versions := sink.Get(path)
	return versions > 0
}

// waitFor waits for cond, against a deadline far beyond what a busy
// machine needs.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
