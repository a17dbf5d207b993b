package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// The derived case (issue #24): the same Storage accounts synced side by
// side in one run by three configs: keys only, keys and a 24h account SAS,
// and keys, the SAS and a connection string (which reads each account's
// endpoints once per process). After a first sync, unchanged cycles of
// each, interleaved, must create no KV version (no renewal is due within
// a day of the SAS's making), and the CPU a cycle spends signing (the SAS
// config less keys only) must stay within 10 % of the keys-only cycle.

const derivedTarget = "unchanged cycles write no version; CPU of a cycle with a 24h SAS per account <= 1.1 x keys only"

// derivedSide is one config of the case and what its cycles cost.
type derivedSide struct {
	name     string
	derived  string // the [[account.derived]] entries
	cfg      string
	paths    []string
	first    measurement
	cycle    measurement // summed over the unchanged cycles
	versions int         // KV versions the unchanged cycles created
}

// derivedResult is the derived case's sides.
type derivedResult struct{ sides []*derivedSide }

const (
	derivedSAS  = "\n[[account.derived]]\nname = \"sas\"\nkind = \"storage-account-sas\"\npermissions = \"rl\"\nresource_types = \"sco\"\nexpiry = \"24h\"\n"
	derivedConn = "\n[[account.derived]]\nname = \"connection-string\"\nkind = \"storage-connection-string\"\n"
)

// runDerived runs the derived case.
func (e *env) runDerived(c benchCase) (derivedResult, error) {
	r := derivedResult{sides: []*derivedSide{{name: "keys only"}, {name: "keys + 24h SAS", derived: derivedSAS},
		{name: "keys + SAS + connection string", derived: derivedSAS + derivedConn}}}
	if err := e.derivedConfigs(c, r.sides); err != nil {
		return r, err
	}
	args := func(s *derivedSide) []string { return []string{"--config", s.cfg, "--run-now", "--log-level", "error"} }
	before := map[*derivedSide]int{}
	for _, s := range r.sides {
		var err error
		if s.first, err = e.measure(e.keysync, args(s)...); err != nil {
			return r, err
		}
		if before[s], err = e.versions(s.paths); err != nil {
			return r, err
		}
	}
	// Interleaved, so that a busy moment of the shared machine falls on
	// every side alike.
	for range c.cycles {
		for _, s := range r.sides {
			m, err := e.measure(e.keysync, args(s)...)
			if err != nil {
				return r, err
			}
			s.cycle.wall += m.wall
			s.cycle.cpu += m.cpu
			s.cycle.writes += m.writes
		}
	}
	for _, s := range r.sides {
		after, err := e.versions(s.paths)
		if err != nil {
			return r, err
		}
		s.versions = after - before[s]
	}
	return r, nil
}

// derivedConfigs creates the case's Storage accounts and a config for each
// side, with its own Vault paths.
func (e *env) derivedConfigs(c benchCase, sides []*derivedSide) error {
	header := fmt.Sprintf("concurrency = %d\n\n[azure]\nendpoint = %q\ncredential = \"managed-identity\"\n\n[vault]\nmount = \"secret\"\nkv_version = 2\n",
		c.concurrency, e.emu.URL())
	bs := make([]strings.Builder, len(sides))
	for i := range bs {
		bs[i].WriteString(header)
	}
	for i := range c.accounts {
		sub := fmt.Sprintf("%08d-0000-4000-8000-%012d", caseSeq, i%c.subs)
		name := fmt.Sprintf("c%dst%d", caseSeq, i)
		e.emu.Add(armemu.Resource{Type: "storage", Subscription: sub, ResourceGroup: "bench", Name: name})
		for j, s := range sides {
			path := fmt.Sprintf("bench/derived%d/%s", j, name)
			s.paths = append(s.paths, path)
			fmt.Fprintf(&bs[j], "\n[[account]]\ntype = \"storage\"\nsubscription_id = %q\nresource_group = \"bench\"\nname = %q\npath = %q\n%s",
				sub, name, path, s.derived)
		}
	}
	for j, s := range sides {
		s.cfg = filepath.Join(e.dir, fmt.Sprintf("derived-%d-%d.toml", caseSeq, j))
		if err := os.WriteFile(s.cfg, []byte(bs[j].String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// renderDerived writes the derived case.
func renderDerived(b *strings.Builder, r caseResult) {
	fmt.Fprintf(b, "\n\nTarget: %s. Each side is keysync itself; ratios are against keys only.\n\n", r.c.target)
	b.WriteString("| config | first sync | CPU, unchanged cycles | ratio | wall, unchanged cycles | Vault writes, unchanged | new KV versions, unchanged |\n|---|---|---|---|---|---|---|\n")
	base := r.derived.sides[0]
	for _, s := range r.derived.sides {
		row(b, s.name, s.first.wall.Round(time.Millisecond).String(), s.cycle.cpu.Round(time.Millisecond).String(),
			ratio(float64(s.cycle.cpu), float64(base.cycle.cpu)), s.cycle.wall.Round(time.Millisecond).String(),
			fmt.Sprint(s.cycle.writes), fmt.Sprint(s.versions))
	}
}
