package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// blocks turns the file's [[discover]] blocks into discovery's.
func blocks(cfg *config.Config) []discovery.Block {
	out := make([]discovery.Block, len(cfg.Discover))
	for i, d := range cfg.Discover {
		tpl := d.Template()
		out[i] = discovery.Block{Name: d.BlockName(i), Selector: d.Selector(), Engine: d.Engine(cfg.Discovery), Path: d.Path,
			OnRemoved: d.OnRemoved,
			Job:       runner.Job{Account: sources.Account{Rule: d.Rule, APIVersion: d.APIVersion}, Adopt: d.Adopt, Fields: d.Fields, Rotate: rotation(tpl)}}
	}
	return out
}

// discovered runs the blocks and returns the accounts of this shard they
// found, ready to schedule, and the removals of accounts gone since prev.
func discovered(ctx context.Context, cfg *config.Config, f discovery.Finder, listed []scheduler.Account, prev *discovery.State) ([]scheduler.Account, []runner.Job, discovery.Outcome, *discovery.State) {
	out, next := discovery.Run(ctx, f, blocks(cfg), jobs(listed), prev, discovery.Options{
		MaxRemovedFraction: cfg.MaxRemovedFraction,
		CheckPath:          func(p string) error { return config.CheckVaultPath(cfg.Vault.Mount, p) },
	})
	shard, _ := config.ParseShard(cfg.Shard)
	schedules := map[string]string{}
	for i, d := range cfg.Discover {
		schedules[d.BlockName(i)] = d.Schedule
	}
	accts := make([]scheduler.Account, 0, len(out.Jobs))
	parsed := scheduleCache{}
	for _, f := range out.Jobs {
		j := f.Job
		if !shard.Owns(j.Account.ResourceID()) {
			continue
		}
		j.Account.APIVersion = sources.APIVersionFor(j.Account, cfg.Azure.APIVersion)
		j.APIVersion = j.Account.APIVersion
		spec := cfg.Schedule
		if s := schedules[f.Block]; s != "" {
			spec = s
		}
		accts = append(accts, scheduler.Account{Job: j, Label: j.Account.Name, Spec: spec, Schedule: parsed.parse(spec)})
	}
	var removals []runner.Job
	for _, j := range out.Removals {
		if shard.Owns(j.Account.ResourceID()) {
			removals = append(removals, j)
		}
	}
	return accts, removals, out, next
}

// writeDiscovery prints what discovery found, and why a block failed or
// an account was left out, for --run-now and --dry-run.
func writeDiscovery(w io.Writer, out discovery.Outcome) {
	fmt.Fprintln(w, out.Summary())
	for name, err := range out.Failed {
		fmt.Fprintf(w, "  %s failed: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	for _, c := range out.Decision.Conflicts {
		fmt.Fprintf(w, "  conflict: %s\n", c.Error())
	}
}
