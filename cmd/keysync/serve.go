package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/metrics"
	"github.com/keysync/keysync/internal/server"
)

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
		RotationProblems: d.problems.Reports, DerivedExpiries: d.expiries.Report, Discovery: d.estate.Status, SyncMinInterval: cfg.API.SyncMinInterval.Duration,
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

// observeShared makes what every runner of the daemon shares (rotation
// problems, derived expiries) the metrics' sources.
func (d *keysyncd) observeShared() {
	d.metrics.SetRotationProblems(d.problems)
	d.metrics.SetDerivedExpiries(d.expiries)
}

// observeEstate makes the scheduler the source of the per-account
// metrics, exported as account_metrics says.
func (d *keysyncd) observeEstate(cfg *config.Config) {
	d.metrics.SetEstate(d.sched)
	d.metrics.SetAccountSeries(metrics.ParseAccountSeries(cfg.AccountMetrics))
}
