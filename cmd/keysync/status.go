package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sync/scheduler"
)

// exitUnreachable is keysync status's code when the daemon did not answer.
const exitUnreachable = 3

// defaultStatusAddr is where keysync status looks without --addr or
// --config: the default listen address.
const defaultStatusAddr = "127.0.0.1:10719"

// maxStatusBody bounds the daemon's answer (10,000 accounts are ~5 MB).
const maxStatusBody = 64 << 20

// statusClient carries the bearer token straight to the daemon: never
// through an HTTP_PROXY, never on to where a redirect points.
var statusClient = &http.Client{
	Transport: &http.Transport{Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

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

// fetchStatus asks the daemon; on error it also returns the exit code:
// exitUnreachable when no answer came, exitFailed for a refusal.
func fetchStatus(o statusOptions, tok []byte) (server.StatusReply, int, error) {
	var reply server.StatusReply
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.addr+"/status", nil)
	if err != nil {
		return reply, exitUsage, err
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return reply, exitUnreachable, fmt.Errorf("cannot reach the daemon at %s: %w", o.addr, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxStatusBody)
	if resp.StatusCode != http.StatusOK {
		return reply, exitFailed, fmt.Errorf("the daemon at %s answered %s%s", o.addr, resp.Status, refusalHint(resp.StatusCode, tok != nil))
	}
	if err := json.NewDecoder(body).Decode(&reply); err != nil {
		return reply, exitFailed, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return reply, exitOK, nil
}

func refusalHint(status int, withToken bool) string {
	switch {
	case status == http.StatusNotFound:
		return ": GET /status is off (the daemon has no [api] token_file)"
	case status == http.StatusUnauthorized && !withToken:
		return ": pass --token-file"
	case status == http.StatusUnauthorized:
		return ": the token does not match the daemon's"
	}
	return ""
}

// printStatus writes the accounts as an aligned table.
func printStatus(w io.Writer, r server.StatusReply) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tTYPE\tPATH\tLAST RESULT\tLAST RUN\tLAST SUCCESS\tNEXT RUN\tFAILURES\tERROR\tROTATION")
	for _, a := range r.Accounts {
		last := a.LastResult
		if a.Running {
			last = strings.TrimSpace(last + " (running)")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", cell(a.Account), cell(a.Type), cell(a.Path), cell(last),
			when(a.LastRun), when(a.LastSuccess), when(a.NextRun), a.ConsecutiveFailures, cell(a.ErrorCode), rotationCell(a.Rotation))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d accounts at %s\n", len(r.Accounts), when(r.Time))
	if d := r.Discovery; d != nil {
		fmt.Fprintf(w, "discovery at %s: %d accounts, %d added, %d removed\n", when(d.At), d.Accounts, d.Added, d.Removed)
		for _, name := range slices.Sorted(maps.Keys(d.Failed)) {
			fmt.Fprintf(w, "  %s failed: %s\n", cell(name), cell(d.Failed[name]))
		}
		for _, c := range d.Conflicts {
			fmt.Fprintf(w, "  conflict: %s\n", cell(c))
		}
		if d.Held != "" {
			fmt.Fprintf(w, "  held: %s\n", cell(d.Held))
		}
	}
	printDerived(w, r)
}

// printDerived lists the derived SAS in Vault, when each expires and
// from when keysync renews it; a renewal past due is flagged.
func printDerived(w io.Writer, r server.StatusReply) {
	if len(r.Derived) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DERIVED PATH\tFIELD\tEXPIRES\tRENEWS FROM\t")
	for _, d := range r.Derived {
		late := ""
		if r.Time.After(d.RenewAt) {
			late = "renewal due"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(d.Path), cell(d.Name), when(d.Expires), when(d.RenewAt), late)
	}
	_ = tw.Flush()
}

func rotationCell(r scheduler.RotationStatus) string {
	switch {
	case !r.Enabled:
		return "-"
	case r.Pending:
		return "pending (every " + cell(r.Every) + ")"
	}
	out := "every " + cell(r.Every) + ", last " + when(r.LastRotation)
	if len(r.Problems) > 0 {
		out += ", untrusted metadata found " + when(r.ProblemsAt)
	}
	return out
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cell keeps a value from the daemon printable and one cell wide.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
