package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/metrics"
	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sync/estate"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// vaultProbeInterval is how often readiness asks Vault about the token.
const vaultProbeInterval = 15 * time.Second

// keysyncd is the running daemon's state that reloads change.
type keysyncd struct {
	opts    options
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	sched   *scheduler.Scheduler
	probe   *server.VaultProbe
	notify  server.Notify
	// session is the Vault login in use; stopSession ends its renewals.
	session     *vaultSession
	stopSession context.CancelFunc
	// pending outlives reloads: a rotated key must reach Vault whatever
	// the config becomes. problems too: what a sync found is reported
	// after the repair.
	pending  *runner.Pending
	problems *runner.Problems
	// expiries are the derived SAS in Vault, kept across reloads too.
	expiries *runner.Expiries
	// estate holds the listed and the discovered accounts.
	estate *estate.Estate
}

// runDaemon runs until SIGTERM or SIGINT: the scheduler, the HTTP
// endpoints, the Vault probe, token renewal and systemd notifications.
// SIGHUP reloads the config file, SIGUSR1 syncs every account now.
// started is called once the first discovery is handed to the scheduler
// (see startingUp): until then the collector keeps start-up's target.
func runDaemon(o options, cfg *config.Config, log *slog.Logger, started func()) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	d := &keysyncd{opts: o, cfg: cfg, log: log, metrics: metrics.New(version), notify: server.Notify{Logger: log},
		pending: runner.NewPending(), problems: runner.NewProblems(), expiries: runner.NewExpiries()}
	tok, ev, err := operatorFiles(cfg, d.metrics, log)
	if err != nil {
		// An unusable token or secret file is a configuration error, as
		// a bad config file is: restarting does not fix it.
		log.Error("cannot start", "err", err)
		return exitUsage
	}
	p, err := build(ctx, cfg, log, d.metrics, nil)
	if p == nil || (err != nil && !fault.Transient(err)) {
		log.Error("cannot start", "err", err)
		return startExit(err)
	}
	if err != nil {
		log.Warn("vault login failed; retrying in the background", "err", err)
	}
	d.sched = scheduler.New(schedulerOptions(cfg, log, d.metrics), d.daemonRunner(p.runner), p.accounts)
	d.estate = estate.New(d.sched, estateConfig(cfg), estateParts(p), estate.Options{Logger: log, Observer: d.metrics, Started: started})
	listed := len(p.accounts)
	// The scheduler holds them now, and the estate what it needs of cfg.
	p.accounts, cfg.Accounts = nil, nil
	d.observeEstate(cfg)
	d.observeShared()
	d.probe = server.NewVaultProbe(p.sink.Check, vaultProbeInterval, log)
	d.probe.Observe = d.metrics.VaultUp
	srv, err := d.server(cfg, tok, ev)
	if err != nil {
		log.Error("cannot start", "err", err)
		// The token build logged in for would otherwise outlive the process.
		p.vault.auth.Revoke(context.WithoutCancel(ctx))
		return exitStartup
	}
	schedDone := d.start(ctx, p)
	log.Info("keysync daemon started", "version", version, "accounts", listed)

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			d.reload(ctx)
		case syscall.SIGUSR1:
			if !d.sched.TriggerAll() {
				log.Info("SIGUSR1: a full sync is already pending or running; it covers this request")
			}
		default:
			d.notify.Stopping()
			log.Info("stopping", "signal", sig.String(), "grace", cfg.ShutdownGrace.Duration)
			stop()
			<-schedDone
			d.endSession()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(shutdownCtx)
			cancel()
			log.Info("stopped")
			return exitOK
		}
	}
	return exitOK
}

// start runs the daemon's goroutines: token renewal, the Vault probe, the
// watchdog, the scheduler (its end closes the channel returned) and
// discovery; then it tells systemd the daemon is ready.
func (d *keysyncd) start(ctx context.Context, p *parts) <-chan struct{} {
	d.useSession(ctx, p.vault)
	go d.probe.Run(ctx)
	go d.notify.Watchdog(ctx, d.sched.Alive)
	schedDone := make(chan struct{})
	go func() { _ = d.sched.Run(ctx); close(schedDone) }()
	go d.estate.Run(ctx)
	d.notify.Ready()
	return schedDone
}

// daemonRunner makes the runner try each sync once (across cycles the
// scheduler owns backoff, so in-run retries would only stack on it) and
// share the daemon's pending rotations and rotation problems.
func (d *keysyncd) daemonRunner(r *runner.Runner) *runner.Runner {
	r.Retry.Attempts = 1
	r.Pending, r.Problems, r.Expiries = d.pending, d.problems, d.expiries
	return r
}

func schedulerOptions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) scheduler.Options {
	return scheduler.Options{
		Concurrency: cfg.Concurrency, SyncOnStart: cfg.SyncOnStart, Splay: cfg.Splay.Duration,
		Backoff:       runner.RetryPolicy{Base: cfg.BackoffBase.Duration, Max: cfg.BackoffMax.Duration},
		ShutdownGrace: cfg.ShutdownGrace.Duration, Logger: log, Observer: m,
		TargetWindow: cfg.Events.Window.Duration, TargetQueue: cfg.Events.Queue,
	}
}
