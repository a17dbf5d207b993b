package scheduler

import (
	"testing"
	"time"
)

// TestTargetLeadingEdgeRunsAtOnce: the first request for an account syncs
// it at once, with no window before, and that is the only sync.
func TestTargetLeadingEdgeRunsAtOnce(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@every 1h"))
	h.target("p/a", TargetQueued)
	h.lastSync("the first request, at once", "after the one sync")
	if n, held := h.s.TargetsPending(), h.s.tgt.held(); n != 0 || held != 0 {
		t.Fatalf("%d targeted syncs pending, %d accounts held after the sync and its window", n, held)
	}
}

// TestTargetWhileQueuedIsThatSync: requests while the account's sync
// waits for a slot are that sync: it has not read the keys yet.
func TestTargetWhileQueuedIsThatSync(t *testing.T) {
	h := start(t, Options{Concurrency: 1}, testAccount("a", "s1", "@every 1h"), testAccount("b", "s1", "@every 1h"))
	h.target("p/b", TargetQueued)
	b := h.expect("b, at once", "b")["b"]
	h.target("p/a", TargetQueued)
	h.none("a waits for the one slot")
	for range 20 {
		h.target("p/a", TargetCoalesced)
	}
	h.answer(b, nil)
	h.lastSync("a, once the slot is free", "the requests while a was queued were that sync")
}

// TestTargetBurstDuringSyncOneTrailing: a burst of 20 requests while the
// leading sync runs is one trailing run, which starts when the window
// after the leading sync ends: 20 requests, 2 syncs.
func TestTargetBurstDuringSyncOneTrailing(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@every 1h"))
	first := h.leadAndTrail()
	for range 19 {
		h.target("p/a", TargetCoalesced)
	}
	h.advance(DefaultTargetWindow)
	h.none("while the leading sync runs")
	h.answer(first, nil)
	h.advance(DefaultTargetWindow - time.Millisecond)
	h.none("inside the window after the leading sync")
	h.advance(time.Millisecond)
	h.lastSync("the one trailing run", "after the trailing run")
	if got := h.syncer.started(); len(got) != 2 {
		t.Fatalf("a burst of 20 requests: syncs %v, want 2", got)
	}
}

// TestTargetDuringTickRunsOnceMore: a request while a sync no request
// asked for runs (a tick's, the start's) makes the account sync once more
// after it, when the window after it ends: that sync may have read the
// keys before the change.
func TestTargetDuringTickRunsOnceMore(t *testing.T) {
	h := start(t, Options{SyncOnStart: true}, testAccount("a", "s1", "@every 1h"))
	tick := h.next()
	h.target("p/a", TargetQueued)
	for range 5 {
		h.target("p/a", TargetCoalesced)
	}
	h.answer(tick, nil)
	h.none("the window after the tick's sync")
	h.advance(DefaultTargetWindow)
	h.lastSync("the one more sync", "after it")
}

// TestTargetAfterTrailingNewLeading: a request after the trailing run
// ended starts a new run: at the end of the trailing run's window when
// it comes within it (the spacing), at once when it comes after.
func TestTargetAfterTrailingNewLeading(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@every 1h"))
	first := h.leadAndTrail()
	h.answer(first, nil)
	h.advance(DefaultTargetWindow)
	h.answer(h.expect("the trailing run", "a")["a"], nil)
	h.advance(100 * time.Millisecond)
	h.target("p/a", TargetQueued)
	h.none("within the window after the trailing run")
	h.advance(DefaultTargetWindow - 100*time.Millisecond)
	h.answer(h.expect("at the window's end", "a")["a"], nil)
	h.advance(DefaultTargetWindow)
	h.target("p/a", TargetQueued)
	h.lastSync("a new leading run, at once", "after the new leading run")
}

// TestTargetSteadyStreamSpaced: requests every 50 ms for 10 s, each sync
// taking 20 ms, sync the account again and again but never back to back:
// each sync starts at least the window after the one before ended, and
// the last request is covered by a sync that started after it.
func TestTargetSteadyStreamSpaced(t *testing.T) {
	const step, took, every, steps = 10 * time.Millisecond, 20 * time.Millisecond, 5, 1000
	h := start(t, Options{}, testAccount("a", "s1", "@every 1h"))
	var running *call
	var starts, ends []time.Time
	collect := func() {
		select {
		case c := <-h.syncer.calls:
			running, starts = c, append(starts, h.clock.Now())
		default:
		}
	}
	for i := range steps + 200 {
		if running != nil && h.clock.Now().Sub(starts[len(starts)-1]) >= took {
			h.answer(running, nil)
			running, ends = nil, append(ends, h.clock.Now())
		}
		if i < steps && i%every == 0 {
			h.request("p/a")
		}
		collect()
		h.advance(step)
		collect()
	}
	last := t0.Add((steps - every) * step)
	if running != nil || len(starts) < 2 || !starts[len(starts)-1].After(last) {
		t.Fatalf("syncs started at %v; want the last after the last request at %v, none running", starts, last)
	}
	for k := 1; k < len(starts); k++ {
		if gap := starts[k].Sub(ends[k-1]); gap < DefaultTargetWindow {
			t.Fatalf("sync %d started %v after the one before ended, want at least %v", k, gap, DefaultTargetWindow)
		}
	}
	n, end := 0, t0.Add(steps*step)
	for _, s := range starts {
		if s.Before(end) {
			n++
		}
	}
	if most := int(steps*step/(DefaultTargetWindow+took)) + 1; n > most {
		t.Fatalf("%d syncs started in the %v of requests, want at most %d", n, steps*step, most)
	}
}

// TestTargetTrailingRunYieldsToBackoff: when the leading sync fails and
// the account backs off, the trailing run its requests asked for is not
// run at the window's end: the retry covers it.
func TestTargetTrailingRunYieldsToBackoff(t *testing.T) {
	h := start(t, Options{}, testAccount("a", "s1", "@every 1h"))
	first := h.leadAndTrail()
	h.answer(first, failure{Transient: true, Code: "InternalServerError"})
	h.advance(DefaultTargetWindow)
	h.none("backing off at the window's end")
	h.target("p/a", TargetBackoff)
	h.advance(30*time.Second - DefaultTargetWindow)
	h.lastSync("the retry", "after the retry")
	if n := h.s.TargetsPending(); n != 0 {
		t.Fatalf("%d targeted syncs pending after the retry", n)
	}
}

// request asks for a targeted sync of ref, whatever the answer, and waits
// for the loop's turn when it queued one.
func (h *harness) request(ref string) {
	h.t.Helper()
	resets, _ := h.clock.state()
	_, res, err := h.s.Target(ref, time.Time{})
	if err != nil {
		h.t.Fatalf("Target(%q): %v", ref, err)
	}
	if res == TargetQueued {
		h.waitTurn(resets)
	}
}

// leadAndTrail asks for a sync of p/a, which starts at once, and for one
// more while it runs; it returns the running sync.
func (h *harness) leadAndTrail() *call {
	h.t.Helper()
	h.target("p/a", TargetQueued)
	first := h.next()
	h.target("p/a", TargetQueued)
	return first
}

// lastSync answers the sync of a that has started, what, and checks that
// none follows within the window after it (why).
func (h *harness) lastSync(what, why string) {
	h.t.Helper()
	h.answer(h.expect(what, "a")["a"], nil)
	h.advance(DefaultTargetWindow)
	h.none(why)
}
