package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sync/estate"
	"github.com/keysync/keysync/sync/runner"
)

// loadConfig loads the file, applies --shard, and prints every problem.
func loadConfig(path, shard string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil && shard != "" {
		if _, err = config.ParseShard(shard); err != nil {
			err = config.Problems{{Key: "--shard", Msg: err.Error()}}
		} else {
			cfg.Shard = shard
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "keysync: invalid config %s:\n", path)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return nil, err
	}
	return cfg, nil
}

// runOnce syncs every account once and prints the report. started is
// called once the jobs are made (see startingUp).
func runOnce(ctx context.Context, cfg *config.Config, dryRun bool, log *slog.Logger, stdout io.Writer, started func()) int {
	p, err := build(ctx, cfg, log, nil, nil)
	if err != nil {
		log.Error("cannot start", "err", err)
		return startExit(err)
	}
	// A token keysync logged in for is revoked when the run ends.
	defer p.vault.auth.Revoke(context.WithoutCancel(ctx))
	p.runner.DryRun = dryRun
	all, failed := estate.Jobs(p.accounts), false
	// The jobs now hold all the run needs of the [[account]] tables, which
	// would hold every listed account a second time.
	cfg.Accounts = nil
	if len(cfg.Discover) > 0 {
		// What the blocks found before is recalled from Vault: a one-shot
		// run remembers no earlier one.
		r := estate.Find(ctx, estateConfig(cfg), estateParts(p), all, estate.Memory{Now: time.Now()}, log)
		out := r.Outcome
		estate.WriteOutcome(stdout, out)
		all = append(append(all, estate.Jobs(r.Found)...), r.Removals...)
		failed = len(out.Failed) > 0 || len(out.Decision.Conflicts) > 0 || len(out.Skipped) > 0
	}
	p.accounts = nil // a third copy of each listed account, in all's jobs now
	// Which paths hold nothing yet, so that their creates need not read
	// first; its answer is garbage that start-up hands back.
	p.runner.Survey(ctx, all)
	started()
	debug.FreeOSMemory()
	// Each line is written as its account finishes, and the result is
	// dropped: a run holds counters, not ten thousand results.
	report := runner.NewReport(stdout, all, dryRun)
	p.runner.RunEach(ctx, all, func(_ int, r runner.Result) { report.Add(r) })
	sum, err := report.Close()
	if err != nil {
		log.Error("writing report", "err", err)
	}
	// A rotation left pending (a regenerate that has not landed) is not
	// done: exit 1, so that a pipeline looks.
	if failed || sum.Failed > 0 || sum.Pending > 0 {
		return exitFailed
	}
	return exitOK
}
