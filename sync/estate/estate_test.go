package estate

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
)

// TestListedWinsOverDiscovered: an account listed at the path a block
// finds it at is the listed one, whether it was listed first or a reload
// lists it after discovery found it; and no longer being found removes
// nothing at a listed path.
func TestListedWinsOverDiscovered(t *testing.T) {
	h := newHarness(t, oneBlock(plan.RemoveMark), listedAccount("alpha", "alpha-listed"))
	h.find.set("batch", "alpha", "beta")
	h.discover("alpha-listed@azure/batch/alpha,beta@azure/batch/beta<all>", "")

	h.reload(oneBlock(plan.RemoveMark), listedAccount("alpha", "alpha-listed"), listedAccount("beta", "beta-listed"))
	if got, want := h.held(), "alpha-listed@azure/batch/alpha,beta-listed@azure/batch/beta"; got != want {
		t.Fatalf("after the reload: %s, want %s", got, want)
	}
	h.find.set("batch")
	h.discover("alpha-listed@azure/batch/alpha,beta-listed@azure/batch/beta", "")
}

// TestFailedOrPartialDiscoveryRemovesNothing: a block whose query fails,
// or whose answer skipped a row, keeps every account it found before and
// hands over no removal.
func TestFailedOrPartialDiscoveryRemovesNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		breaks func(f *finder)
	}{
		{"failed", func(f *finder) { f.err["batch"] = errors.New("HTTP 500") }},
		{"partial", func(f *finder) {
			f.found["batch"] = []string{"a"}
			f.skipped["batch"] = []sources.Skipped{{Row: "/subscriptions/x/row", Reason: "hostile"}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, oneBlock(plan.RemoveDelete))
			h.find.set("batch", "a", "b", "c")
			const all = "a@azure/batch/a<all>,b@azure/batch/b<all>,c@azure/batch/c<all>"
			h.discover(all, "")
			h.find.mu.Lock()
			tt.breaks(h.find)
			h.find.mu.Unlock()
			h.clock.advance(time.Minute)
			h.discover(all, "")
			if st := h.e.Status(); st == nil || st.Removed != 0 || st.Accounts != 3 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestConflictKeepsPreviousJob: when a second block claims the path an
// account found before syncs to, the account keeps that path with the
// job of the block that found it first, and the conflict is reported.
func TestConflictKeepsPreviousJob(t *testing.T) {
	cfg := oneBlock(plan.RemoveMark)
	cfg.Blocks = []discovery.Block{block("one", "batch", plan.RemoveMark), block("two", "storage", plan.RemoveMark)}
	for i := range cfg.Blocks {
		cfg.Blocks[i].Path = "azure/{name}"
	}
	h := newHarness(t, cfg)
	h.find.set("batch", "alpha")
	h.discover("alpha@azure/alpha<one>", "")
	h.find.set("storage", "alpha")
	h.discover("alpha@azure/alpha<one>", "")
	if st := h.e.Status(); st == nil || len(st.Conflicts) == 0 {
		t.Fatalf("status %+v: want the conflict", st)
	}
}

// TestHeldRemovalsWaitForTheWindow: removals past max_removed_fraction
// of the high-water mark within removal_window are held (the account goes
// on syncing with its job) until the window has passed: the estate
// carries the window's removals from one discovery to the next.
func TestHeldRemovalsWaitForTheWindow(t *testing.T) {
	cfg := oneBlock(plan.RemoveMark)
	cfg.MaxRemovedFraction, cfg.Window = 0.5, time.Hour
	h := newHarness(t, cfg)
	h.find.set("batch", "a", "b", "c", "d")
	h.discover("a@azure/batch/a<all>,b@azure/batch/b<all>,c@azure/batch/c<all>,d@azure/batch/d<all>", "")

	h.clock.advance(time.Minute)
	h.find.set("batch", "a", "b")
	h.discover("a@azure/batch/a<all>,b@azure/batch/b<all>", "azure/batch/c(mark),azure/batch/d(mark)")

	h.clock.advance(time.Minute)
	h.find.set("batch", "a")
	h.discover("a@azure/batch/a<all>,b@azure/batch/b<all>", "")
	if st := h.e.Status(); st == nil || st.Held == "" {
		t.Fatalf("status %+v: want the hold", st)
	}

	h.clock.advance(time.Hour)
	h.discover("a@azure/batch/a<all>", "azure/batch/b(mark)")
}

// TestDiscoveryOfAReplacedConfigIsDropped: a discovery that was running
// when a reload came hands nothing over (its config is gone), and the
// reload has asked for a discovery of the new config, which does.
func TestDiscoveryOfAReplacedConfigIsDropped(t *testing.T) {
	h := newHarness(t, oneBlock(plan.RemoveMark))
	h.find.set("batch", "old")
	h.find.gate, h.find.asked = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { h.e.Discover(h.ctx); close(done) }()
	<-h.find.asked

	cfg := oneBlock(plan.RemoveMark)
	cfg.Blocks[0].Name = "new"
	h.reload(cfg)
	h.find.set("batch", "fresh")
	h.find.gate <- struct{}{}
	<-done
	if got := h.held(); got != "" {
		t.Fatalf("held after the dropped discovery: %s", got)
	}
	if h.e.Status() != nil {
		t.Fatal("the dropped discovery set the status")
	}
	select {
	case <-h.e.trigger:
	default:
		t.Fatal("the reload asked for no discovery")
	}
	go func() { <-h.find.asked; h.find.gate <- struct{}{} }()
	h.discover("fresh@azure/batch/fresh<new>", "")
}

// TestRunDiscoversAtStartAndOnReload: the loop discovers at once, then
// again as soon as a reload asks, long before discover_every.
func TestRunDiscoversAtStartAndOnReload(t *testing.T) {
	h := newHarness(t, oneBlock(plan.RemoveMark))
	cancel := h.runGated()
	h.find.set("batch", "a")
	<-h.find.asked
	h.find.gate <- struct{}{}
	h.find.set("batch", "a", "b")
	h.reload(oneBlock(plan.RemoveMark))
	<-h.find.asked
	h.find.gate <- struct{}{}
	// A third discovery asked for starts once the second has handed over.
	h.e.ask()
	<-h.find.asked
	if got := h.held(); got != "a@azure/batch/a<all>,b@azure/batch/b<all>" {
		t.Errorf("held %s", got)
	}
	cancel()
	h.find.gate <- struct{}{}
}

// TestDiscoveryResultPerBlock: keysync_discovery_runs_total counts a run
// held for the block whose removals were held, ok for the others; a hold
// of every block counts held for each.
func TestDiscoveryResultPerBlock(t *testing.T) {
	out := discovery.Outcome{Failed: map[string]error{"broken": errors.New("HTTP 500")},
		Decision: inventory.Decision{Holds: []inventory.Hold{{Block: "small", Reason: "small: would remove 3 of 3"}}}}
	for block, want := range map[string]string{"small": "held", "large": "ok", "broken": "failed"} {
		if got := result(out, block); got != want {
			t.Errorf("%s: %s, want %s", block, got, want)
		}
	}
	out.Decision.Holds = append(out.Decision.Holds, inventory.Hold{Reason: "discovery would remove"})
	if got := result(out, "large"); got != "held" {
		t.Errorf("large under a hold of all: %s", got)
	}
}

func skippedRows(n int) []sources.Skipped {
	out := make([]sources.Skipped, n)
	for i := range out {
		out[i] = sources.Skipped{Row: fmt.Sprintf("/subscriptions/s/row%02d", i), Reason: "hostile"}
	}
	return out
}

// TestSkippedRowsAreBounded: the report and the log name at most 10 rows
// of a block, and say how many there were.
func TestSkippedRowsAreBounded(t *testing.T) {
	out := discovery.Outcome{Skipped: map[string][]sources.Skipped{"tagged": skippedRows(12)}}
	var w bytes.Buffer
	WriteOutcome(&w, out)
	report := w.String()
	if !strings.Contains(report, "12 rows skipped") || !strings.Contains(report, "tagged skipped 12 rows and removed nothing") ||
		!strings.Contains(report, "row09: hostile") || strings.Contains(report, "row10") || !strings.Contains(report, "and 2 more") {
		t.Fatalf("report:\n%s", report)
	}
	var logs bytes.Buffer
	e := New(nil, Config{}, Parts{}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	e.logSkipped("tagged", out.Skipped["tagged"])
	if lines := strings.Count(logs.String(), "\n"); lines != 11 || !strings.Contains(logs.String(), "count=12") || strings.Contains(logs.String(), "row10") {
		t.Fatalf("%d log lines:\n%s", lines, logs.String())
	}
}

// TestRunCallsStartedOnceAfterTheFirstHandOver: Started comes once the
// first discovery's accounts are with the scheduler, not before, and not
// again for later discoveries.
func TestRunCallsStartedOnceAfterTheFirstHandOver(t *testing.T) {
	h := newHarness(t, oneBlock(plan.RemoveMark))
	started := make(chan string, 2)
	h.e.started = func() { started <- h.held() }
	cancel := h.runGated()
	h.find.set("batch", "a")
	<-h.find.asked
	select {
	case held := <-started:
		t.Fatalf("Started before the first discovery answered (held %s)", held)
	default:
	}
	h.find.gate <- struct{}{}
	if held := <-started; held != "a@azure/batch/a<all>" {
		t.Errorf("at Started the scheduler held %q, want the first discovery's account", held)
	}
	h.reload(oneBlock(plan.RemoveMark))
	<-h.find.asked
	h.find.gate <- struct{}{}
	// A third discovery asked for starts once the second has handed over.
	h.e.ask()
	<-h.find.asked
	if n := len(started); n != 0 {
		t.Errorf("Started called %d more times after later discoveries", n)
	}
	cancel()
	h.find.gate <- struct{}{}
}
