package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/metrics"
	"github.com/keysync/keysync/internal/server"
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
	estate *estate
}

// runDaemon runs until SIGTERM or SIGINT: the scheduler, the HTTP
// endpoints, the Vault probe, token renewal and systemd notifications.
// SIGHUP reloads the config file, SIGUSR1 syncs every account now.
func runDaemon(o options, cfg *config.Config, log *slog.Logger) int {
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
	d.estate = newEstate(cfg, p, d.daemonRunner(p.runner))
	d.sched = scheduler.New(schedulerOptions(cfg, log, d.metrics), d.estate.runner, p.accounts)
	listed := len(p.accounts)
	p.accounts = nil // the scheduler holds them now
	d.metrics.SetEstate(d.sched)
	d.observeShared()
	d.sched.SetTargeting(cfg.Events.Window.Duration, cfg.Events.Queue)
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
	go d.rediscover(ctx)
	d.notify.Ready()
	return schedDone
}

// apiToken reads the [api] token file, nil when none is set. One that
// cannot be used stops the start before anything touches Azure or Vault:
// running with the endpoints open or silently off would both surprise.
func apiToken(cfg *config.Config, log *slog.Logger) (*server.Token, error) {
	if cfg.API.TokenFile == "" {
		return nil, nil
	}
	return server.LoadToken(cfg.API.TokenFile, log)
}

// server builds the HTTP endpoints and, when the config has a listen
// address, starts them; tok, when set, protects the operator endpoints,
// and ev, when set, is the Event Grid webhook.
func (d *keysyncd) server(cfg *config.Config, tok *server.Token, ev *server.EventsHandler) (*server.Server, error) {
	srv := &server.Server{Scheduler: d.sched, Vault: d.probe, Metrics: d.metrics.Handler(), Logger: d.log, Token: tok,
		Observer: d.metrics, PendingRotations: d.pending.Paths,
		RotationProblems: d.problems.Reports, DerivedExpiries: d.expiries.Report, Discovery: d.estate.status, SyncMinInterval: cfg.API.SyncMinInterval.Duration,
		Targets: d.sched, Events: ev}
	if ev != nil {
		ev.Targets = d.sched
	}
	if cfg.Listen == "" {
		return srv, nil
	}
	addr, err := srv.Start(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if ev != nil {
		d.log.Info("serving the Event Grid webhook", "addr", addr.String(), "path", ev.Path)
	}
	if srv.Token != nil {
		d.log.Info("serving /healthz, /readyz, /metrics; POST /sync and GET /status with the api token", "addr", addr.String())
	} else {
		d.log.Info("serving /healthz, /readyz, /metrics; POST /sync and GET /status are off (no [api] token_file)", "addr", addr.String())
	}
	return srv, nil
}

// useSession makes vs the Vault session in use: its token renewal runs,
// and the previous session, if another, stops and revokes its token.
func (d *keysyncd) useSession(ctx context.Context, vs *vaultSession) {
	if vs == d.session {
		return
	}
	d.endSession()
	sctx, cancel := context.WithCancel(ctx)
	go vs.auth.Run(sctx)
	d.session, d.stopSession = vs, cancel
}

// endSession stops renewing the session's token and revokes it if keysync
// logged in for it.
func (d *keysyncd) endSession() {
	if d.session == nil {
		return
	}
	d.stopSession()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.session.auth.Revoke(ctx)
	d.session = nil
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
	}
}

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
	if err := d.estate.reload(ctx, d.sched, cfg, p, d.daemonRunner(p.runner)); err != nil {
		return
	}
	d.probe.SetCheck(p.sink.Check)
	d.useSession(ctx, p.vault)
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

// observeShared makes what every runner of the daemon shares (rotation
// problems, derived expiries) the metrics' sources.
func (d *keysyncd) observeShared() {
	d.metrics.SetRotationProblems(d.problems)
	d.metrics.SetDerivedExpiries(d.expiries)
}
