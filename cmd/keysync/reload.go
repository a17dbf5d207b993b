package main

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/metrics"
)

// reload validates the file and, only if it is good, its parts build and
// any new Vault login succeeds, hands the new accounts and runner to the
// scheduler. On any error the daemon keeps running on what it had.
func (d *keysyncd) reload(ctx context.Context) {
	d.notify.Reloading()
	defer d.notify.Ready()
	cfg, err := loadConfig(d.opts.configPath, d.opts.shard, io.Discard)
	if err != nil {
		d.log.Error("reload rejected: keeping the running configuration", "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	p, err := build(ctx, cfg, d.log, d.metrics, d.session)
	if err != nil {
		d.log.Error("reload failed: keeping the running configuration", "err", err)
		return
	}
	d.daemonRunner(p.runner)
	listed := p.accounts
	p.accounts, cfg.Accounts = nil, nil // the scheduler holds them now
	if err := d.estate.Reload(ctx, estateConfig(cfg), estateParts(p), listed); err != nil {
		return
	}
	d.probe.SetCheck(p.sink.Check)
	d.useSession(ctx, p.vault)
	d.metrics.SetAccountSeries(metrics.ParseAccountSeries(cfg.AccountMetrics))
	warnRestartOnly(d.log, d.cfg, cfg)
	logWarnings(d.log, cfg)
}

// warnRestartOnly names settings a reload read but cannot apply.
func warnRestartOnly(log *slog.Logger, old, cfg *config.Config) {
	changed := map[string]bool{
		"concurrency":    old.Concurrency != cfg.Concurrency,
		"splay":          old.Splay != cfg.Splay,
		"backoff_base":   old.BackoffBase != cfg.BackoffBase,
		"backoff_max":    old.BackoffMax != cfg.BackoffMax,
		"shutdown_grace": old.ShutdownGrace != cfg.ShutdownGrace,
		"listen":         old.Listen != cfg.Listen,
		"api":            old.API != cfg.API,
		"events":         !reflect.DeepEqual(old.Events, cfg.Events),
	}
	for key, diff := range changed {
		if diff {
			log.Warn("setting changed but takes effect only after a restart", "key", key)
		}
	}
}
