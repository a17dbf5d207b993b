package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// The derived case (issue #24): the same Storage accounts, found by a
// [[discover]] block through Resource Graph, synced side by side in one
// run by three daemons: keys only, keys and a 24h account SAS, and keys,
// the SAS and a connection string. After each daemon's first (creating)
// cycle, unchanged cycles of each, interleaved so that a busy moment of
// the shared machine falls on every side alike, must write nothing to
// Vault (no renewal is due within a day of the SAS's making), and the CPU
// a cycle spends on derived values must stay within 10 % of the keys-only
// cycle.

const derivedTarget = "unchanged cycles write nothing to Vault; CPU of a cycle with a 24h SAS and a connection string per account <= 1.1 x keys only"

// derivedSide is one daemon of the case and what its cycles cost.
type derivedSide struct {
	name    string
	derived string // the [[discover.derived]] entries
	cfg     string
	addr    string
	cmd     *exec.Cmd
	paths   []string
	first   time.Duration // the first cycle's CPU, start-up and discovery included
	cycle   measurement   // summed over the unchanged cycles: wall, CPU, Vault reads and writes
	// versions are the KV versions the unchanged cycles created.
	versions int
}

// derivedResult is the derived case's sides.
type derivedResult struct {
	sides  []*derivedSide
	cycles int
}

const (
	derivedSAS  = "\n[[discover.derived]]\nname = \"sas\"\nkind = \"storage-account-sas\"\npermissions = \"rl\"\nresource_types = \"sco\"\nexpiry = \"24h\"\n"
	derivedConn = "\n[[discover.derived]]\nname = \"connection-string\"\nkind = \"storage-connection-string\"\n"
)

// runDerived runs the derived case: each daemon's first cycle, one after
// another, then c.cycles rounds of one unchanged cycle each.
func (e *env) runDerived(c benchCase) (r derivedResult, err error) {
	r = derivedResult{cycles: c.cycles, sides: []*derivedSide{{name: "keys only"}, {name: "keys + 24h SAS", derived: derivedSAS},
		{name: "keys + SAS + connection string", derived: derivedSAS + derivedConn}}}
	if err := e.derivedConfigs(c, r.sides); err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute+time.Duration(c.accounts)*60*time.Millisecond)
	defer cancel()
	defer func() {
		for _, s := range r.sides {
			if s.cmd != nil {
				_ = s.cmd.Process.Kill()
				_ = s.cmd.Wait()
			}
		}
	}()
	for _, s := range r.sides {
		if s.first, err = e.startDerived(ctx, c, s); err != nil {
			return r, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	before := map[*derivedSide]int{}
	for _, s := range r.sides {
		if before[s], err = e.versions(s.paths); err != nil {
			return r, err
		}
	}
	for i := range c.cycles {
		for _, s := range r.sides {
			if err := e.derivedCycle(ctx, c, s, i+2); err != nil {
				return r, fmt.Errorf("%s, unchanged cycle %d: %w", s.name, i+1, err)
			}
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

// startDerived starts a side's daemon and waits for its first cycle,
// returning the CPU it took.
func (e *env) startDerived(ctx context.Context, c benchCase, s *derivedSide) (time.Duration, error) {
	s.cmd = exec.CommandContext(ctx, e.keysync, "--config", s.cfg, "--log-level", "error")
	s.cmd.Env = e.childEnv()
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	if err := waitSyncs(ctx, s.addr, c.accounts, derivedPoll(c)); err != nil {
		return 0, fmt.Errorf("first cycle: %w", err)
	}
	return procCPU(s.cmd.Process.Pid)
}

// derivedCycle asks a side's daemon for its n-th cycle (SIGUSR1) and adds
// its wall time, CPU and Vault requests to the side's.
func (e *env) derivedCycle(ctx context.Context, c benchCase, s *derivedSide, n int) error {
	pid := s.cmd.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	off, err := fileSize(e.auditFile)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return err
	}
	if err := waitSyncs(ctx, s.addr, n*c.accounts, derivedPoll(c)); err != nil {
		return err
	}
	wall := time.Since(start)
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	reads, writes, err := countAudit(e.auditFile, off)
	s.cycle.wall, s.cycle.cpu = s.cycle.wall+wall, s.cycle.cpu+cpu1-cpu0
	s.cycle.reads, s.cycle.writes = s.cycle.reads+reads, s.cycle.writes+writes
	return err
}

// derivedPoll is how often a side's /metrics is read while it cycles:
// as the daemon cases do, but every 100 ms for a small (smoke) case, which
// would otherwise spend most of its time waiting for the next poll.
func derivedPoll(c benchCase) time.Duration {
	if c.accounts <= 1000 {
		return 100 * time.Millisecond
	}
	return pollEvery(c.accounts)
}

// derivedConfigs creates the case's tagged Storage accounts and a daemon
// config for each side: one [[discover]] block finding them all, with its
// own Vault paths and listen address.
func (e *env) derivedConfigs(c benchCase, sides []*derivedSide) error {
	tag := fmt.Sprintf("derived-%d", caseSeq)
	for i := range c.accounts {
		r := armemu.Resource{Type: "storage", Subscription: fmt.Sprintf("%08d-0000-4000-8000-%012d", caseSeq, i%c.subs),
			ResourceGroup: "bench", Name: fmt.Sprintf("c%dst%d", caseSeq, i)}
		e.emu.Add(r)
		if err := e.emu.SetTags(r, map[string]string{tag: "yes"}); err != nil {
			return err
		}
		for j, s := range sides {
			s.paths = append(s.paths, fmt.Sprintf("bench/derived%d-%d/%s", caseSeq, j, r.Name))
		}
	}
	for j, s := range sides {
		addr, err := testenv.FreeAddr()
		if err != nil {
			return err
		}
		s.addr = addr
		var b strings.Builder
		fmt.Fprintf(&b, "schedule = \"@every 24h\"\nlisten = %q\n", addr)
		b.WriteString(e.header(c))
		fmt.Fprintf(&b, "\n[[discover]]\nname = \"derived\"\ntype = \"storage\"\ndiscovery = \"resource-graph\"\ntags = { %q = \"yes\" }\npath = \"bench/derived%d-%d/{name}\"\n%s",
			tag, caseSeq, j, s.derived)
		if s.cfg, err = e.writeConfig(fmt.Sprintf("derived-%d-%d.toml", caseSeq, j), b.String()); err != nil {
			return err
		}
	}
	return nil
}

// renderDerived writes the derived case.
func renderDerived(b *strings.Builder, r caseResult) {
	fmt.Fprintf(b, "\n\nTarget: %s. Each side is a keysync daemon finding the accounts with one [[discover]] block; "+
		"figures are per unchanged cycle (the mean of %d, interleaved), ratios against keys only.\n\n", r.c.target, r.derived.cycles)
	b.WriteString("| config | first cycle CPU | CPU, unchanged cycle | ratio | wall, unchanged cycle | Vault reads, unchanged | Vault writes, unchanged | new KV versions, unchanged |\n|---|---|---|---|---|---|---|---|\n")
	base := r.derived.sides[0]
	n := time.Duration(max(r.derived.cycles, 1))
	for _, s := range r.derived.sides {
		row(b, s.name, s.first.Round(time.Millisecond).String(), (s.cycle.cpu / n).Round(time.Millisecond).String(),
			ratio(float64(s.cycle.cpu), float64(base.cycle.cpu)), (s.cycle.wall / n).Round(time.Millisecond).String(),
			fmt.Sprint(s.cycle.reads/int(n)), fmt.Sprint(s.cycle.writes/int(n)), fmt.Sprint(s.versions))
	}
}
