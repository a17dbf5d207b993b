package estate

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/memsource"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

const sub = "11111111-2222-3333-4444-555555555555"

// finder answers each selector type with the resources of that name in
// found, or err; gate, when set, holds an answer until the test sends.
type finder struct {
	mu      sync.Mutex
	found   map[string][]string
	skipped map[string][]sources.Skipped
	err     map[string]error
	gate    chan struct{}
	asked   chan struct{}
}

func (f *finder) Discover(_ context.Context, sel sources.Selector, _ string) ([]sources.Found, []sources.Skipped, error) {
	if f.gate != nil {
		f.asked <- struct{}{}
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err[sel.Type]; err != nil {
		return nil, nil, err
	}
	var out []sources.Found
	for _, n := range f.found[sel.Type] {
		out = append(out, sources.Found{Account: testAccount(sel.Type, n)})
	}
	return out, f.skipped[sel.Type], nil
}

// set makes the finder answer typ with names from now on.
func (f *finder) set(typ string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.found[typ] = names
}

func testAccount(typ, name string) sources.Account {
	return sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: name, Type: typ}
}

// recorder is the real runner, recording the removals handed to it.
type recorder struct {
	*runner.Runner
	mu      sync.Mutex
	removed []string // path(policy)
}

func (r *recorder) Run(ctx context.Context, jobs []account.Job) []runner.Result {
	r.mu.Lock()
	for _, j := range jobs {
		r.removed = append(r.removed, j.Path+"("+j.Remove+")")
	}
	r.mu.Unlock()
	return r.Runner.Run(ctx, jobs)
}

// takeRemoved returns the removals recorded since the last call, sorted.
func (r *recorder) takeRemoved() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.removed
	r.removed = nil
	sort.Strings(out)
	return strings.Join(out, ",")
}

// clock is the estate's fake time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is an estate on a fake clock over a running scheduler (whose
// syncs go to an in-memory source and sink), a finder the test sets, and
// a runner that records removals.
type harness struct {
	t      testing.TB
	ctx    context.Context
	e      *Estate
	sched  *scheduler.Scheduler
	find   *finder
	run    *recorder
	clock  *clock
	hourly *scheduler.Schedule
}

func newHarness(t testing.TB, cfg Config, listed ...scheduler.Account) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	spec, err := cron.ParseStandard("@hourly")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, find: &finder{found: map[string][]string{}, skipped: map[string][]sources.Skipped{}, err: map[string]error{}},
		run:   &recorder{Runner: &runner.Runner{Source: memsource.New(), Sink: memsink.New()}},
		clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, hourly: &scheduler.Schedule{Spec: "@hourly", Schedule: spec}}
	for i := range listed {
		listed[i].Schedule = h.hourly
	}
	cfg.Schedule = h.hourly
	h.sched = scheduler.New(scheduler.Options{Concurrency: 1}, h.run, listed)
	done := make(chan struct{})
	go func() { _ = h.sched.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.e = New(h.sched, cfg, h.parts(), Options{Now: h.clock.Now})
	return h
}

// runGated runs the estate's loop with the finder gated: each discovery
// says so on find.asked, then waits for find.gate. The test ends the loop
// with the cancel returned, then lets the discovery it waits in through;
// the test's cleanup waits for the loop to end.
func (h *harness) runGated() context.CancelFunc {
	h.find.gate, h.find.asked = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { h.e.Run(ctx); close(done) }()
	h.t.Cleanup(func() { <-done })
	return cancel
}

func (h *harness) parts() Parts {
	return Parts{Runner: h.run, Finder: h.find, Store: h.run.Sink.(*memsink.Sink)}
}

// held lists the accounts the scheduler holds, as label@path, discovered
// ones marked with their block, sorted.
func (h *harness) held() string {
	var out []string
	for a := range h.sched.Kept(func(*account.Origin) bool { return true }) {
		s := a.Label + "@" + a.Job.Path
		if o := a.Job.Origin; o != nil {
			s += "<" + o.Block + ">"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// discover runs one discovery, and checks what the scheduler then holds
// and which removals were handed over.
func (h *harness) discover(wantHeld, wantRemoved string) {
	h.t.Helper()
	h.e.Discover(h.ctx)
	if got := h.held(); got != wantHeld {
		h.t.Errorf("held %s, want %s", got, wantHeld)
	}
	if got := h.run.takeRemoved(); got != wantRemoved {
		h.t.Errorf("removed %q, want %q", got, wantRemoved)
	}
}

// reload reloads cfg with listed, on the harness's schedule.
func (h *harness) reload(cfg Config, listed ...scheduler.Account) {
	h.t.Helper()
	cfg.Schedule = h.hourly
	for i := range listed {
		listed[i].Schedule = h.hourly
	}
	if err := h.e.Reload(h.ctx, cfg, h.parts(), listed); err != nil {
		h.t.Fatal(err)
	}
}

func block(name, typ, onRemoved string) discovery.Block {
	return discovery.Block{Name: name, Selector: sources.Selector{Type: typ}, Path: "azure/{type}/{name}", OnRemoved: onRemoved}
}

func oneBlock(onRemoved string) Config {
	return Config{Blocks: []discovery.Block{block("all", "batch", onRemoved)}, MaxRemovedFraction: 1, Every: time.Hour}
}

func listedAccount(name, label string) scheduler.Account {
	return scheduler.Account{Label: label, Job: account.Job{Account: testAccount("batch", name), Path: "azure/batch/" + name}}
}
