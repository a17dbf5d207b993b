package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/daemon"
	"github.com/keysync/keysync/metrics"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// vaultProbeInterval is how often readiness asks Vault about the token.
const vaultProbeInterval = 15 * time.Second

// runDaemon runs until SIGTERM or SIGINT: the scheduler, the HTTP
// endpoints, the Vault probe and systemd notifications. SIGHUP reloads the
// config file, SIGUSR1 syncs every account now.
func runDaemon(path string, cfg *config.Config, log *slog.Logger) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	m := metrics.New(version)
	p, err := build(ctx, cfg, log, m)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	sched := scheduler.New(schedulerOptions(cfg, log, m), daemonRunner(p.runner), p.accounts)
	probe := daemon.NewVaultProbe(p.sink.Check, vaultProbeInterval, log)
	notify := daemon.Notify{Logger: log}
	srv := &daemon.Server{Scheduler: sched, Vault: probe, Metrics: m.Handler(), Logger: log}
	if cfg.Listen != "" {
		addr, err := srv.Start(cfg.Listen)
		if err != nil {
			log.Error("cannot listen", "addr", cfg.Listen, "err", err)
			return exitFailed
		}
		log.Info("serving /healthz, /readyz, /metrics and POST /sync", "addr", addr.String())
	}
	go probe.Run(ctx)
	go notify.Watchdog(ctx, sched.Alive)
	schedDone := make(chan struct{})
	go func() { _ = sched.Run(ctx); close(schedDone) }()
	notify.Ready()
	log.Info("keysync daemon started", "version", version, "accounts", len(p.accounts))

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reload(ctx, path, cfg, log, m, sched, probe, notify)
		case syscall.SIGUSR1:
			sched.TriggerAll()
		default:
			notify.Stopping()
			log.Info("stopping", "signal", sig.String(), "grace", cfg.ShutdownGrace.Duration)
			stop()
			<-schedDone
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(shutdownCtx)
			cancel()
			log.Info("stopped")
			return exitOK
		}
	}
	return exitOK
}

// daemonRunner makes the runner try each sync once: across cycles the
// scheduler owns backoff, so in-run retries would only stack on it.
func daemonRunner(r *runner.Runner) *runner.Runner {
	r.Retry.Attempts = 1
	return r
}

func schedulerOptions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) scheduler.Options {
	return scheduler.Options{
		Concurrency: cfg.Concurrency, SyncOnStart: cfg.SyncOnStart, Splay: cfg.Splay.Duration,
		Backoff:       runner.RetryPolicy{Base: cfg.BackoffBase.Duration, Max: cfg.BackoffMax.Duration},
		ShutdownGrace: cfg.ShutdownGrace.Duration, Logger: log, Observer: m,
	}
}

// reload validates the file and, only if it is good and its parts build,
// hands the new accounts and runner to the scheduler. On any error the
// daemon keeps running on what it had.
func reload(ctx context.Context, path string, running *config.Config, log *slog.Logger, m *metrics.Metrics,
	sched *scheduler.Scheduler, probe *daemon.VaultProbe, notify daemon.Notify) {
	notify.Reloading()
	defer notify.Ready()
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("reload rejected: keeping the running configuration", "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	p, err := build(ctx, cfg, log, m)
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "err", err)
		return
	}
	if err := sched.Reload(ctx, daemonRunner(p.runner), p.accounts); err != nil {
		return
	}
	probe.SetCheck(p.sink.Check)
	warnRestartOnly(log, running, cfg)
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
	}
	for key, diff := range changed {
		if diff {
			log.Warn("setting changed but takes effect only after a restart", "key", key)
		}
	}
}
