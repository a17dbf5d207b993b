// Command keysync keeps Azure account keys in HashiCorp Vault: it reads the
// accounts (of the ten types in sources.Types) from a TOML file, calls each
// one's ARM keys action (listKeys; listAdminKeys for Search), compares with
// Vault KV and writes only what changed.
//
// This file only wires: flags, config, logger, source, sink, runner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/keysync/keysync/secret"
)

// Exit codes. A supervisor tells them apart: 1 is worth a look at the
// report, 2 will not heal by restarting, 3 may (Vault or the port may come
// back).
const (
	exitOK      = 0 // every account is in sync
	exitFailed  = 1 // at least one account failed or was refused
	exitUsage   = 2 // bad flags, a bad config file or a secret file refused for its mode; nothing was done
	exitStartup = 3 // could not start: no Vault login, a mount that is not KV (or KV 1 with rotate_every), cannot listen; nothing was done
)

// version is set at build time with -ldflags "-X main.version=...";
// without it, the module version Go recorded in the binary (go install
// module@version, or a VCS build), else "dev". It is printed by --version,
// logged at start, exported as a metric and sent in ARM's User-Agent.
var version = "dev"

// init completes version here, since -X can set only a variable whose
// initial value is a constant.
func init() { version = buildVersion(version) }

// buildVersion is set when -ldflags set it, else the main module's version
// from the build info when Go recorded one.
func buildVersion(set string) string {
	if set != "dev" {
		return set
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return set
}

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

func parseFlags(args []string) (options, *flag.FlagSet, error) {
	var o options
	fs := flag.NewFlagSet("keysync", flag.ContinueOnError)
	// run reports errors itself, once; the flag package would print
	// them a second time.
	fs.SetOutput(io.Discard)
	// Usage is printed by run, to stdout, only when asked for.
	fs.Usage = func() {}
	fs.StringVar(&o.configPath, "config", "/etc/keysync/config.toml", "path of the TOML config `FILE`")
	fs.BoolVar(&o.runNow, "run-now", false, "sync every account once, print a summary and exit (without it keysync runs as a daemon)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "plan and print the masked plan; write nothing")
	fs.BoolVar(&o.validate, "validate", false, "check the config file and exit (0 valid, 2 invalid); touches neither Azure nor Vault")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.StringVar(&o.shard, "shard", "", "sync only shard `i/n` of the accounts (0 <= i < n), overriding the file's shard")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, fs, err
	}
	if fs.NArg() > 0 {
		return o, fs, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, fs, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	errOut := errorStream(stderr)
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], stdout, stderr)
	}
	o, fs, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		// Asked for, so it goes to stdout and is no error.
		writeUsage(stdout, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(errOut, "keysync:", err)
		fmt.Fprintln(errOut, "Run 'keysync --help' for usage.")
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
	started := startingUp()
	cfg, err := loadConfig(o.configPath, o.shard, errOut)
	if err != nil {
		return exitUsage
	}
	if o.validate {
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(errOut, "keysync: warning: %s: %s\n", w.Key, w.Msg)
		}
		fmt.Fprintf(stdout, "%s: valid, %d accounts\n", o.configPath, len(cfg.Accounts))
		return exitOK
	}
	logWarnings(logger, cfg)
	if !o.runNow && !o.dryRun {
		return runDaemon(o, cfg, logger, started)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runOnce(ctx, cfg, o.dryRun, logger, stdout, started)
}

// startExit is the exit code for a failed start: a secret file refused for
// its owner or mode is a configuration error like a bad config file, which
// a restart does not heal (systemd's RestartPreventExitStatus=2 stops the
// loop); anything else may heal when Vault or the port comes back.
func startExit(err error) int {
	var fm *secret.FileModeError
	if errors.As(err, &fm) {
		return exitUsage
	}
	return exitStartup
}
