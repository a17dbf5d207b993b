package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/runner"
)

// loadConfig loads the file and prints every problem in it.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "keysync: invalid config %s:\n", path)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return nil, err
	}
	return cfg, nil
}

// runOnce syncs every account once and prints the report.
func runOnce(ctx context.Context, cfg *config.Config, dryRun bool, log *slog.Logger, stdout io.Writer) int {
	r, err := newRunner(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	r.DryRun = dryRun
	results := r.Run(ctx, jobs(cfg))
	if err := runner.WriteReport(stdout, results, dryRun); err != nil {
		log.Error("writing report", "err", err)
	}
	if runner.Summarize(results).Failed > 0 {
		return exitFailed
	}
	return exitOK
}

func newRunner(ctx context.Context, cfg *config.Config, log *slog.Logger) (*runner.Runner, error) {
	src, err := azure.New(azure.Options{
		Cloud: cfg.Azure.Cloud, Endpoint: cfg.Azure.Endpoint, Audience: cfg.Azure.Audience,
		APIVersion: cfg.Azure.APIVersion, Credential: cfg.Azure.Credential, ClientID: cfg.Azure.ClientID,
		Timeout: cfg.Azure.Timeout.Duration,
	})
	if err != nil {
		return nil, err
	}
	client, err := vault.NewClient(vault.ClientOptions{
		Address: cfg.Vault.Address, Namespace: cfg.Vault.Namespace,
		TokenFile: cfg.Vault.Auth.TokenFile, Timeout: cfg.Vault.Timeout.Duration,
	})
	if err != nil {
		return nil, err
	}
	sink, err := vault.New(ctx, client, cfg.Vault.Mount, cfg.Vault.KVVersion)
	if err != nil {
		return nil, err
	}
	log.Debug("vault mount", "mount", cfg.Vault.Mount, "kv_version", sink.Version())
	retry := runner.DefaultRetry
	retry.Attempts = cfg.Retries + 1
	return &runner.Runner{Source: src, Sink: sink, Logger: log, Concurrency: cfg.Concurrency, Retry: retry}, nil
}

func jobs(cfg *config.Config) []runner.Job {
	out := make([]runner.Job, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		out = append(out, runner.Job{
			Account:    sources.Account{SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name},
			Path:       strings.Trim(a.Path, "/"),
			Adopt:      a.Adopt,
			APIVersion: cfg.Azure.APIVersion,
		})
	}
	return out
}
