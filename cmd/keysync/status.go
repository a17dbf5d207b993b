package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/server"
)

// exitUnreachable is keysync status's code when the daemon did not answer.
const exitUnreachable = 3

// defaultStatusAddr is where keysync status looks without --addr or
// --config: the default listen address.
const defaultStatusAddr = "127.0.0.1:10719"

type statusOptions struct {
	addr, tokenFile, configPath string
	timeout                     time.Duration
}

// runStatus is `keysync status`: it asks a running daemon for GET /status
// and prints every account as a table.
func runStatus(args []string, stdout, stderr io.Writer) int {
	o, err := parseStatusFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK // asked for: the flag package printed the usage
	}
	if err != nil {
		fmt.Fprintln(stderr, "keysync status:", err)
		return exitUsage
	}
	var tok []byte
	if o.tokenFile != "" {
		if tok, err = server.ReadTokenFile(o.tokenFile); err != nil {
			fmt.Fprintln(stderr, "keysync status:", err)
			return exitUsage
		}
	}
	reply, code, err := fetchStatus(o, tok)
	if err != nil {
		fmt.Fprintln(stderr, "keysync status:", err)
		return code
	}
	printStatus(stdout, reply)
	return exitOK
}

func parseStatusFlags(args []string, stderr io.Writer) (statusOptions, error) {
	var o statusOptions
	fs := flag.NewFlagSet("keysync status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "", "the daemon's listen address, host:port (default: the config's listen with --config, else "+defaultStatusAddr+")")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the api bearer token (default: the config's [api] token_file with --config)")
	fs.StringVar(&o.configPath, "config", "", "the daemon's config file, for its listen address and token file")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the daemon's answer")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.timeout <= 0 {
		return o, errors.New("--timeout must be positive")
	}
	if err := o.fromConfig(); err != nil {
		return o, err
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return o, fmt.Errorf("--addr %q: want host:port", o.addr)
	}
	return o, nil
}

// fromConfig fills what the flags left unset from --config, then the
// default address.
func (o *statusOptions) fromConfig() error {
	if o.configPath != "" {
		cfg, err := config.Load(o.configPath)
		if err != nil {
			return fmt.Errorf("%s: %s", o.configPath, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		if o.addr == "" {
			if cfg.Listen == "" {
				return fmt.Errorf("%s: listen is empty, so the daemon serves no endpoints", o.configPath)
			}
			o.addr = dialable(cfg.Listen)
		}
		if o.tokenFile == "" {
			o.tokenFile = cfg.API.TokenFile
		}
	}
	if o.addr == "" {
		o.addr = defaultStatusAddr
	}
	return nil
}

// dialable turns a listen address on every interface into loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
