package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/metrics"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// parts is what one configuration builds: the runner, the sink it writes
// to (for the readiness probe) and the accounts to schedule.
type parts struct {
	runner   *runner.Runner
	sink     *vault.Sink
	accounts []scheduler.Account
}

// build wires a configuration's source, sink and runner. m, when not nil,
// counts the requests to ARM and Vault.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*parts, error) {
	srcOpts := azure.Options{
		Cloud: cfg.Azure.Cloud, Endpoint: cfg.Azure.Endpoint, Audience: cfg.Azure.Audience,
		APIVersion: cfg.Azure.APIVersion, Credential: cfg.Azure.Credential, ClientID: cfg.Azure.ClientID,
		Timeout: cfg.Azure.Timeout.Duration,
	}
	vaultOpts := vault.ClientOptions{
		Address: cfg.Vault.Address, Namespace: cfg.Vault.Namespace,
		TokenFile: cfg.Vault.Auth.TokenFile, Timeout: cfg.Vault.Timeout.Duration,
	}
	if m != nil {
		srcOpts.Observe, vaultOpts.Observe = m.ARMResponse, m.VaultRequest
	}
	src, err := azure.New(srcOpts)
	if err != nil {
		return nil, err
	}
	client, err := vault.NewClient(vaultOpts)
	if err != nil {
		return nil, err
	}
	sink, err := vault.New(ctx, client, cfg.Vault.Mount, cfg.Vault.KVVersion)
	if err != nil {
		return nil, err
	}
	r := &runner.Runner{Source: src, Sink: sink, Logger: log, Concurrency: cfg.Concurrency, Retry: runner.DefaultRetry}
	r.Retry.Attempts = cfg.Retries + 1
	return &parts{runner: r, sink: sink, accounts: accounts(cfg)}, nil
}

// accounts turns the config's accounts into jobs with parsed schedules;
// the config has validated every schedule already.
func accounts(cfg *config.Config) []scheduler.Account {
	out := make([]scheduler.Account, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		spec := a.EffectiveSchedule(cfg.Schedule)
		sched, err := config.ScheduleParser.Parse(spec)
		if err != nil {
			panic("config validated an unparsable schedule: " + spec)
		}
		out = append(out, scheduler.Account{
			Job: runner.Job{
				Account:    sources.Account{SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name},
				Path:       strings.Trim(a.Path, "/"),
				Adopt:      a.Adopt,
				APIVersion: cfg.Azure.APIVersion,
			},
			Label: a.Label, Spec: spec, Schedule: sched,
		})
	}
	return out
}

// jobs lists the accounts' jobs, for a one-shot run.
func jobs(accts []scheduler.Account) []runner.Job {
	out := make([]runner.Job, len(accts))
	for i, a := range accts {
		out[i] = a.Job
	}
	return out
}
