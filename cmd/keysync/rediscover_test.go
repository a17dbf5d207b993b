package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/memsource"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// TestReloadListedWinsOverFound: an account discovery found, then listed
// by an [[account]] table at the same path and the config reloaded, is
// the listed one, as discovery decides (it leaves listed accounts out).
// The reload hands the scheduler both; were the found copy to stay, the
// next discovery, which reads the listed accounts back from the
// scheduler, would not see it listed and would keep it as found: the
// table's label and settings would never apply.
func TestReloadListedWinsOverFound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec, err := cron.ParseStandard("@hourly")
	if err != nil {
		t.Fatal(err)
	}
	sched := &scheduler.Schedule{Spec: "@hourly", Schedule: spec}
	acct := sources.Account{SubscriptionID: "s1", ResourceGroup: "rg", Name: "alpha", Type: "storage"}
	found := scheduler.Account{Label: "alpha", Schedule: sched,
		Job: runner.Job{Account: acct, Path: "azure/alpha", Origin: &runner.Origin{Block: "all"}}}
	listed := scheduler.Account{Label: "alpha-listed", Schedule: sched, Job: runner.Job{Account: acct, Path: "azure/alpha"}}

	r := &runner.Runner{Source: memsource.New(), Sink: memsink.New()}
	s := scheduler.New(scheduler.Options{Concurrency: 1}, r, []scheduler.Account{found})
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	cfg := &config.Config{Discover: []config.Discover{{}}, DiscoverEvery: config.Duration{Duration: time.Hour}}
	e := newEstate(cfg, &parts{}, r)
	e.discovered = true
	if err := e.reload(ctx, s, cfg, &parts{accounts: []scheduler.Account{listed}}, r); err != nil {
		t.Fatal(err)
	}
	got := kept(s, isListed)
	if len(got) != 1 || got[0].Label != "alpha-listed" {
		t.Fatalf("listed after the reload: %+v, want alpha-listed", got)
	}
	if f := kept(s, isDiscovered); len(f) != 0 {
		t.Fatalf("found after the reload: %d, want none", len(f))
	}
}

// TestDiscoveryResultPerBlock: keysync_discovery_runs_total counts a run
// held for the block whose removals were held, ok for the others; a hold
// of every block counts held for each.
func TestDiscoveryResultPerBlock(t *testing.T) {
	out := discovery.Outcome{Failed: map[string]error{"broken": errors.New("HTTP 500")},
		Decision: inventory.Decision{Holds: []inventory.Hold{{Block: "small", Reason: "small: would remove 3 of 3"}}}}
	for block, want := range map[string]string{"small": "held", "large": "ok", "broken": "failed"} {
		if got := discoveryResult(out, block); got != want {
			t.Errorf("%s: %s, want %s", block, got, want)
		}
	}
	out.Decision.Holds = append(out.Decision.Holds, inventory.Hold{Reason: "discovery would remove"})
	if got := discoveryResult(out, "large"); got != "held" {
		t.Errorf("large under a hold of all: %s", got)
	}
}
