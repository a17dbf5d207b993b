package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/metrics"
	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sources/azure"
)

// operatorFiles reads the [api] token and builds the [events] webhook
// with its secret, before anything touches Azure or Vault: running with
// either endpoint open or silently off would both surprise.
func operatorFiles(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (*server.Token, *server.EventsHandler, error) {
	tok, err := apiToken(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	ev, err := eventsHandler(cfg, m, log)
	return tok, ev, err
}

// eventsHandler builds the [events] webhook, nil when it is off; its
// Targets are set once the scheduler exists. Like [api], it is read at
// start only: a reload warns that it changed.
func eventsHandler(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (*server.EventsHandler, error) {
	ev := cfg.Events
	if !ev.Enabled {
		return nil, nil
	}
	h := &server.EventsHandler{Path: ev.Path, SecretHeader: ev.SecretHeader, SecretQuery: ev.SecretQuery,
		MaxBody: ev.MaxBodyBytes, MaxEvents: ev.MaxEvents, Dedupe: ev.Dedupe, Logger: log, Observer: m}
	var err error
	if h.Secret, err = loadSecret("secret_file", ev.SecretFile, log); err != nil {
		return nil, err
	}
	if h.NextSecret, err = loadSecret("next_secret_file", ev.NextSecretFile, log); err != nil {
		return nil, err
	}
	if ev.Entra.On() {
		opts, err := entraOptions(ev.Entra, cfg.Azure.Cloud)
		if err != nil {
			return nil, err
		}
		h.Entra = opts
	}
	return h, nil
}

// loadSecret reads the shared secret in path, the value of [events] key;
// nil when path is empty.
func loadSecret(key, path string, log *slog.Logger) (*server.Token, error) {
	if path == "" {
		return nil, nil
	}
	tok, err := server.LoadToken(path, log)
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", key, err)
	}
	return tok, nil
}

// entraOptions fills the issuers and keys URL the file leaves out, and
// the application: the tenant's issuers in the cloud (both token
// versions: an application without accessTokenAcceptedVersion 2 gets v1.0
// tokens) and the v2.0 issuer at the authority keysync signs in at
// (AZURE_AUTHORITY_HOST's, when set); the keys at that authority
// (learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens),
// which keysync's credential reaches already; Event Grid's application in
// the cloud.
func entraOptions(e config.EventsEntra, cloudName string) (*server.EntraOptions, error) {
	authority, err := azure.AuthorityHost(cloudName)
	if err != nil {
		return nil, fmt.Errorf("events.entra: %w", err)
	}
	authority = strings.TrimSuffix(authority, "/") + "/"
	opts := &server.EntraOptions{Audience: e.Audience, Issuers: e.Issuers, KeysURL: e.KeysURL, Role: e.Role, AppID: e.EventGridAppID(cloudName)}
	if len(opts.Issuers) == 0 {
		opts.Issuers = e.CloudIssuers(cloudName)
		if own := authority + e.Tenant + "/v2.0"; !slices.Contains(opts.Issuers, own) {
			opts.Issuers = append(opts.Issuers, own)
		}
	}
	if opts.KeysURL == "" {
		opts.KeysURL = authority + e.Tenant + "/discovery/v2.0/keys"
	}
	return opts, nil
}
