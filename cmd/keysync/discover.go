package main

import (
	"log/slog"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/estate"
	"github.com/keysync/keysync/sync/scheduler"
)

// blocks turns the file's [[discover]] blocks into discovery's.
func blocks(cfg *config.Config) []discovery.Block {
	out := make([]discovery.Block, len(cfg.Discover))
	for i, d := range cfg.Discover {
		out[i] = discovery.Block{Name: d.BlockName(i), Selector: d.Selector(), Engine: d.Engine(cfg.Discovery), Path: d.Path,
			OnRemoved: d.OnRemoved, MaxRemovedFraction: d.MaxRemovedFraction,
			Job: job(sources.Account{Type: d.Type, Rule: d.Rule, APIVersion: d.APIVersion}, "", d.Settings)}
	}
	return out
}

// estateConfig is what cfg says about discovery, for the estate; the
// config has validated its shard and schedules.
func estateConfig(cfg *config.Config) estate.Config {
	shard, _ := config.ParseShard(cfg.Shard)
	parsed := scheduleCache{}
	// The closures hold these, not cfg: cfg would keep the whole file.
	apiVersion, mount := cfg.Azure.APIVersion, cfg.Vault.Mount
	out := estate.Config{
		Blocks: blocks(cfg), Schedule: parsed.parse(cfg.Schedule), Schedules: map[string]*scheduler.Schedule{},
		APIVersion:         func(a sources.Account) string { return sources.APIVersionFor(a, apiVersion) },
		Every:              cfg.DiscoverEvery.Duration,
		MaxRemovedFraction: cfg.MaxRemovedFraction, Window: cfg.RemovalWindow.Duration,
		CheckPath: func(p string) error { return config.CheckVaultPath(mount, p) },
		Owns:      shard.Owns,
	}
	for i, d := range cfg.Discover {
		if d.Schedule != "" {
			out.Schedules[d.BlockName(i)] = parsed.parse(d.Schedule)
		}
	}
	return out
}

// estateParts is what the estate needs of p.
func estateParts(p *parts) estate.Parts {
	return estate.Parts{Runner: p.runner, Finder: p.source, Store: p.sink}
}

// logWarnings logs what config.Warnings finds in cfg (--validate prints it).
func logWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn("config: a path template may give two resources one path", "key", w.Key, "reason", w.Msg)
	}
}
