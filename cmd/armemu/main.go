// Command armemu runs the ARM emulator (package armemu) as a process, for the
// demo and benchmarks. It writes what a client needs into --state-dir:
//
//	ca.pem   the CA to trust (SSL_CERT_FILE)
//	env      IDENTITY_ENDPOINT, IDENTITY_HEADER, SSL_CERT_FILE and ARM_ENDPOINT
//	         as shell assignments
//
// and serves until SIGINT or SIGTERM. Resources of any type the emulator
// serves, with their tags, come from --account flags; more, tags, key
// rotation, faults, and Event Grid subscriptions to a webhook (with a
// shared secret in a header or the query, and tokens of the emulator's
// own Entra tenant) come through the admin API under /_emulator/
// (armemu/admin.go, armemu/eventgrid_admin.go; scripts/demo.sh uses it).
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/keysync/keysync/internal/armemu"
)

type accountList []string

func (a *accountList) String() string     { return strings.Join(*a, ",") }
func (a *accountList) Set(v string) error { *a = append(*a, v); return nil }

func main() { os.Exit(run()) }

func run() int {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	stateDir := flag.String("state-dir", "", "folder for ca.pem and env (required)")
	var accounts accountList
	flag.Var(&accounts, "account", "a resource as [TYPE:]SUBSCRIPTION/RESOURCEGROUP/NAME[/RULE][?TAG=VALUE&...], TYPE one of "+
		strings.Join(armemu.TypeNames(), ", ")+" (default "+armemu.DefaultType+"; repeatable)")
	flag.Parse()
	if *stateDir == "" {
		fmt.Fprintln(os.Stderr, "armemu: --state-dir is required")
		return 2
	}
	emu := armemu.New()
	for _, a := range accounts {
		if err := addAccount(emu, a); err != nil {
			fmt.Fprintf(os.Stderr, "armemu: --account %q: %v\n", a, err)
			return 2
		}
	}
	if err := emu.Start(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "armemu:", err)
		return 1
	}
	defer func() {
		if err := emu.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "armemu: closing:", err)
		}
	}()
	if err := writeState(*stateDir, emu); err != nil {
		fmt.Fprintln(os.Stderr, "armemu:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "armemu: serving %s with %d accounts\n", emu.URL(), len(accounts))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return 0
}

// addAccount adds the resource an --account flag names, with its tags:
// the resource, then optionally "?" and tags as a URL query.
func addAccount(emu *armemu.Emulator, s string) error {
	path, query, tagged := strings.Cut(s, "?")
	r, err := parseResource(path)
	if err != nil {
		return err
	}
	tags := map[string]string{}
	q, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	for k, v := range q {
		tags[k] = v[len(v)-1]
	}
	emu.Add(r)
	if !tagged {
		return nil
	}
	return emu.SetTags(r, tags)
}

// parseResource reads [TYPE:]SUBSCRIPTION/RESOURCEGROUP/NAME[/RULE].
func parseResource(s string) (armemu.Resource, error) {
	typ, path, ok := strings.Cut(s, ":")
	if !ok {
		typ, path = armemu.DefaultType, s
	}
	if _, known := armemu.Types[typ]; !known {
		return armemu.Resource{}, fmt.Errorf("no resource type %q", typ)
	}
	p := strings.Split(path, "/")
	if len(p) != 3 && len(p) != 4 {
		return armemu.Resource{}, fmt.Errorf("want [TYPE:]SUBSCRIPTION/RESOURCEGROUP/NAME[/RULE]")
	}
	r := armemu.Resource{Type: typ, Subscription: p[0], ResourceGroup: p[1], Name: p[2]}
	if len(p) == 4 {
		r.Rule = p[3]
	}
	return r, nil
}

func writeState(dir string, emu *armemu.Emulator) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, emu.CACertPEM(), 0o600); err != nil {
		return err
	}
	env := fmt.Sprintf("IDENTITY_ENDPOINT=%s\nIDENTITY_HEADER=%s\nSSL_CERT_FILE=%s\nARM_ENDPOINT=%s\n",
		emu.IdentityEndpoint(), emu.IdentityHeader, ca, emu.URL())
	// Written last and renamed into place: its presence means "ready".
	tmp := filepath.Join(dir, "env.tmp")
	if err := os.WriteFile(tmp, []byte(env), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "env"))
}
