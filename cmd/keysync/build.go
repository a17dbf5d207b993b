package main

import (
	"context"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/metrics"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/derive"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// parts is what one configuration builds: the runner, the sink it writes
// to (for the readiness probe), keysync's Vault login and the accounts to
// schedule.
type parts struct {
	runner   *runner.Runner
	source   *azure.Source
	sink     store
	vault    *vaultSession
	accounts []scheduler.Account
}

// store is what the daemon asks of its sink: the runner's reads and
// writes, discovery's recall (List) and the readiness Check.
type store interface {
	sinks.Sink
	sinks.Lister
	Check(ctx context.Context) error
}

// swapStore, when set, replaces the Vault sink once the login and the
// mount check have passed. Only a binary built with the keysync_memsink
// tag sets it (store_memsink.go), for the benchmark at sizes where Vault
// would be the machine's bottleneck; the shipped binary has no such file
// (TestShippedBuildHasNoMemsink) and no setting reaches it.
var swapStore func(*vault.Sink, *slog.Logger) store

// vaultSession is a Vault client and the login that feeds it a token; the
// daemon keeps one across reloads that leave [vault] as it was.
type vaultSession struct {
	cfg    config.Vault
	client *api.Client
	auth   *vault.Auth
}

// build wires a configuration's source, sink and runner. m, when not nil,
// counts requests and logins. reuse, when its [vault] matches cfg's, is the
// Vault session to keep using; else build logs in anew. In order, before
// anything is read or written: log in, then make sure the mount is a KV
// engine. A login or mount that is refused is an error and no parts; a
// login that failed for now (Vault sealed or unreachable) is returned with
// the parts, whose sink checks the mount before its first read.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Metrics, reuse *vaultSession) (*parts, error) {
	src, err := newSource(cfg, m)
	if err != nil {
		return nil, err
	}
	vs := reuse
	var loginErr error
	if vs == nil || vs.cfg != cfg.Vault {
		if vs, err = newVaultSession(cfg, src.Credential(), log, m); err != nil {
			return nil, err
		}
		if loginErr = vs.auth.Login(ctx); loginErr != nil && !fault.Transient(loginErr) {
			return nil, loginErr
		}
	}
	accts := accounts(cfg)
	sink, err := vault.Open(ctx, vs.client, vault.Options{Mount: cfg.Vault.Mount, KVVersion: cfg.Vault.KVVersion, Auth: vs.auth,
		ProbePaths: probePaths(accts), Deferred: loginErr != nil})
	if err == nil {
		err = rotationMount(cfg, sink)
	}
	if err != nil {
		if vs != reuse {
			// Its token would otherwise outlive a refused start or reload.
			vs.auth.Revoke(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	r := &runner.Runner{Source: src, Sink: sink, Logger: log, Concurrency: cfg.Concurrency, Retry: runner.DefaultRetry,
		SubscriptionConcurrency: cfg.Azure.SubscriptionConcurrency, VaultConcurrency: cfg.Vault.Concurrency,
		RefuseLegacy: !cfg.Vault.LegacyOwnership, DeleteAfter: cfg.DeleteAfter.Duration,
		RegenerateTimeout: azure.RegenerateTimeout(cfg.Azure.Timeout.Duration), StorageSuffix: derive.StorageSuffix[cfg.Azure.Cloud]}
	r.Retry.Attempts = cfg.Retries + 1
	// A Retry-After past backoff_max is "not this cycle", in a run too.
	r.Retry.MaxRetryAfter = min(r.Retry.MaxRetryAfter, cfg.BackoffMax.Duration)
	var st store = sink
	if swapStore != nil {
		st = swapStore(sink, log)
		r.Sink = st
	}
	return &parts{runner: r, source: src, sink: st, vault: vs, accounts: accts}, loginErr
}

// probePaths are the accounts' paths, for the KV probe a token that may
// not read the mount's type needs.
func probePaths(accts []scheduler.Account) []string {
	out := make([]string, 0, min(len(accts), 3))
	for _, a := range accts[:min(len(accts), 3)] {
		out = append(out, a.Job.Path)
	}
	return out
}

func newSource(cfg *config.Config, m *metrics.Metrics) (*azure.Source, error) {
	o := azure.Options{Azure: cfg.Azure, Version: version, Connections: cfg.Concurrency}
	if m != nil {
		o.Observe = m.ARMResponse
	}
	return azure.New(o)
}

func newVaultSession(cfg *config.Config, cred azcore.TokenCredential, log *slog.Logger, m *metrics.Metrics) (*vaultSession, error) {
	v := cfg.Vault
	o := vault.ClientOptions{
		Address: v.Address, Namespace: v.Namespace, Timeout: v.Timeout.Duration, Logger: log,
		Connections: max(v.Concurrency, cfg.Concurrency),
		TLS: vault.TLSOptions{CACert: v.CACert, CAPath: v.CAPath, ClientCert: v.ClientCert,
			ClientKey: v.ClientKey, ServerName: v.ServerName, SkipVerify: v.SkipVerify},
	}
	if m != nil {
		o.Observe = m.VaultRequest
	}
	client, err := vault.NewClient(o)
	if err != nil {
		return nil, err
	}
	auth := vault.NewAuth(client, vault.AuthOptions{VaultAuth: v.Auth, Credential: cred}, log)
	if m != nil {
		auth.OnLogin, auth.OnRenew, auth.OnToken = m.VaultLogin, m.VaultRenewal, m.VaultToken
	}
	return &vaultSession{cfg: v, client: client, auth: auth}, nil
}
