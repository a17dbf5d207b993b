// Command keysync keeps Azure account keys in HashiCorp Vault: it reads the
// accounts from a TOML file, calls ARM listKeys for each, compares with Vault
// KV and writes only what changed.
//
// This file only wires: flags, config, logger, source, sink, runner.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0 // every account is in sync
	exitFailed = 1 // at least one account failed or was refused
	exitUsage  = 2 // bad flags or a bad config file; nothing was done
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	configPath string
	runNow     bool
	dryRun     bool
	validate   bool
	logFormat  string
	logLevel   string
	shard      string
	version    bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("keysync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configPath, "config", "/etc/keysync/config.toml", "path of the TOML config file")
	fs.BoolVar(&o.runNow, "run-now", false, "sync every account once, print a summary and exit (without it keysync runs as a daemon)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "plan and print the masked plan; write nothing")
	fs.BoolVar(&o.validate, "validate", false, "check the config file and exit (0 valid, 2 invalid); touches neither Azure nor Vault")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.shard, "shard", "", "sync only shard i/n of the accounts (0 <= i < n), overriding the file's shard")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "keysync:", err)
		}
		return exitUsage
	}
	if o.version {
		fmt.Fprintln(stdout, "keysync", version)
		return exitOK
	}
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "keysync:", err)
		return exitUsage
	}
	cfg, err := loadConfig(o.configPath, o.shard, stderr)
	if err != nil {
		return exitUsage
	}
	if o.validate {
		fmt.Fprintf(stdout, "%s: valid, %d accounts\n", o.configPath, len(cfg.Accounts))
		return exitOK
	}
	if !o.runNow && !o.dryRun {
		return runDaemon(o, cfg, logger)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runOnce(ctx, cfg, o.dryRun, logger, stdout)
}
