package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// render writes the results as Markdown: keysync's figures, the baseline's,
// and keysync's as a ratio of the baseline's.
func render(results []caseResult, smoke bool, took time.Duration, svgName string) string {
	var b strings.Builder
	cmd := "make bench"
	if smoke {
		cmd = "make bench-smoke"
	}
	fmt.Fprintf(&b, "# keysync benchmarks\n\nProduced by `%s` on %s: %d CPUs, %s, %s. The whole run took %s.\n\n",
		cmd, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), kernel(), took.Round(time.Second))
	b.WriteString("Each case runs keysync (`--run-now`, the built binary) and the naive baseline " +
		"(`bench/naive`: one token, then for each account in turn listKeys and an unconditional `vault kv put`) " +
		"one after the other against the same ARM emulator and Vault dev server. Ratios are keysync / baseline; " +
		"below 1 is better. Vault reads (LISTs included) and writes come from Vault's audit log, 429s from the emulator, peak RSS from the child's own high-water mark (VmHWM in /proc, polled every 10 ms; getrusage's maxrss would also count the benchmark process itself).\n")
	for _, r := range results {
		renderCase(&b, r)
	}
	if svgName == "." {
		svgName = ""
	}
	renderScale(&b, results, svgName)
	b.WriteString(notes)
	return b.String()
}

// renderCase writes one case: its heading, then its table.
func renderCase(b *strings.Builder, r caseResult) {
	c := r.c
	fmt.Fprintf(b, "\n## %s: %d accounts in %d subscriptions, latency %s, concurrency %d", c.name, c.accounts, c.subs, c.latency, c.concurrency)
	if c.bucket != nil {
		fmt.Fprintf(b, ", ARM bucket %d + %g/s per subscription", c.bucket.Burst, c.bucket.Refill)
	}
	if c.cycles > 0 {
		fmt.Fprintf(b, ", %d unchanged cycles after a first sync", c.cycles)
	}
	switch {
	case c.derived:
		renderDerived(b, r)
		return
	case c.events:
		renderEvents(b, r)
		return
	case c.probe:
		renderProbe(b, r)
		return
	case c.daemon:
		renderDaemon(b, r)
		return
	case c.discover:
		renderDiscover(b, r)
		return
	}
	fmt.Fprintf(b, "\n\nTarget: %s.\n\n| metric | keysync | baseline | ratio |\n|---|---|---|---|\n", c.target)
	row(b, "wall time", r.keysync.wall.Round(time.Millisecond).String(), r.naive.wall.Round(time.Millisecond).String(), ratio(float64(r.keysync.wall), float64(r.naive.wall)))
	if c.cycles == 0 && c.bound() > 0 {
		row(b, "first cycle (creates) / bound ("+c.bound().Round(time.Millisecond).String()+")",
			fmt.Sprintf("%.2f", r.keysync.wall.Seconds()/c.bound().Seconds()), fmt.Sprintf("%.2f", r.naive.wall.Seconds()/c.bound().Seconds()), "")
	}
	if c.steady {
		row(b, "wall time, second cycle (unchanged)", r.ksSteady.wall.Round(time.Millisecond).String(), r.naiveSteady.wall.Round(time.Millisecond).String(), ratio(float64(r.ksSteady.wall), float64(r.naiveSteady.wall)))
		row(b, "second cycle / bound", fmt.Sprintf("%.2f", r.ksSteady.wall.Seconds()/c.bound().Seconds()), fmt.Sprintf("%.2f", r.naiveSteady.wall.Seconds()/c.bound().Seconds()), "")
		row(b, "Vault reads, writes in the second cycle", fmt.Sprintf("%d, %d", r.ksSteady.reads, r.ksSteady.writes), fmt.Sprintf("%d, %d", r.naiveSteady.reads, r.naiveSteady.writes), "")
	}
	row(b, "429 answers", fmt.Sprint(r.keysync.throttle), fmt.Sprint(r.naive.throttle), ratio(float64(r.keysync.throttle), float64(r.naive.throttle)))
	row(b, "Vault reads", fmt.Sprint(r.keysync.reads), fmt.Sprint(r.naive.reads), ratio(float64(r.keysync.reads), float64(r.naive.reads)))
	row(b, "Vault writes", fmt.Sprint(r.keysync.writes), fmt.Sprint(r.naive.writes), ratio(float64(r.keysync.writes), float64(r.naive.writes)))
	if c.cycles > 0 {
		row(b, "new KV versions", fmt.Sprint(r.ksVersions), fmt.Sprint(r.naiveVersns), ratio(float64(r.ksVersions), float64(r.naiveVersns)))
	}
	row(b, "CPU (user + system): the process, Vault, the emulator", cpuSplit(r.keysync), cpuSplit(r.naive), ratio(float64(r.keysync.allCPU()), float64(r.naive.allCPU())))
	row(b, "peak RSS", mib(r.keysync.rssKiB), mib(r.naive.rssKiB), ratio(float64(r.keysync.rssKiB), float64(r.naive.rssKiB)))
}

// renderDaemon writes a daemon case: keysync alone, no baseline.
func renderDaemon(b *strings.Builder, r caseResult) {
	d := r.daemon
	config := "listed [[account]] entries"
	if r.c.discover && !r.c.listed {
		config = "one [[discover]] block (Resource Graph)"
	}
	fmt.Fprintf(b, ", as a daemon on %s\n\nTarget: %s. The daemon starts (no `--run-now`), its first cycle creates every secret, "+
		"SIGUSR1 runs a second, unchanged one (cycles polled on /metrics every %s); then VmRSS is read from /proc every %s for %s. "+
		"Load average at the end of the cycles: %s.\n\n"+
		"| metric | keysync daemon |\n|---|---|\n", config, r.c.target, d.poll, rssInterval, rssWindow, d.load)
	row(b, "first cycle (creates), from start", dur(d.first))
	row(b, "second cycle (unchanged)", dur(d.second))
	row(b, "CPU (user + system): first cycle from start, second cycle", dur(d.firstCPU)+", "+dur(d.secondCPU))
	row(b, "Vault reads, writes in the second cycle", fmt.Sprintf("%d, %d", d.reads2, d.writes2))
	row(b, "syncs ending unchanged, both cycles", fmt.Sprint(d.unchanged))
	row(b, fmt.Sprintf("steady RSS (median of %d samples)", d.samples), mib(d.steadyKiB))
	row(b, "largest RSS sample", mib(d.maxKiB))
	row(b, "VmHWM (peak since start)", mib(d.hwmKiB))
	row(b, "Go heap in use (go_memstats_heap_inuse_bytes)", mib(d.heapInuseKiB))
	row(b, "Go runtime from the OS (go_memstats_sys_bytes)", mib(d.goSysKiB))
	if r.c.memsink {
		renderLarge(b, r)
	}
}

// notes explains what the tables cannot.
const notes = `
## Reading the results

- The bound counts ARM only: N x latency / concurrency, or the
  subscription bucket. A first cycle also creates every secret, and a
  create costs three Vault requests (a data read, whose 404 says no
  version exists, the metadata write that records keysync's ownership
  before any data, then the check-and-set data write) while holding its
  worker slot; that is why the first cycle of the latency case lands
  above the bound. Three is the fewest that keep every foreign field and
  leave no secret without keysync's mark: KV v2's data write takes only
  data and options.cas, so the mark cannot ride on it, and its metadata
  write takes no check-and-set and replaces custom_metadata whole, so it
  must follow a read (vault-plugin-secrets-kv v0.21.0, Vault 1.19.0's:
  path_data.go, path_metadata.go pathMetadataWrite). Every later cycle
  costs one listKeys and one Vault read per account, and is the cycle the
  daemon repeats.
- CPU is user + system time from /proc: the child's own at its exit,
  Vault's and the benchmark process's (the emulator's) read before and
  after the run. At zero ARM latency a creating cycle's time goes to
  Vault, which works about 2.4 ms of CPU a create (three requests, each
  written twice to the audit log) against about 1.5 ms for the
  baseline's one write; on a machine where other work takes the cores,
  keysync's concurrency cannot make up that difference.
- The baseline is faster in the throttle case only because it ignores the
  bucket: most of its requests end in 429 and those accounts are never
  written.
- The daemon cases size a memory limit (systemd MemoryMax=, a container's
  resources.limits.memory): steady RSS is what the daemon holds between
  cycles, VmHWM the most it ever held. Go returns freed heap to the OS
  only slowly, so RSS stays near the first cycle's peak.
- The baseline writes every account on every cycle, so each cycle adds a KV
  version per account and moves every consumer's cache; keysync writes
  nothing when nothing changed.
- The discovery cases share one emulated estate of tagged Batch accounts
  over 500 subscriptions (account i carries upto-N=yes for every size N
  above i, so one [[discover]] block selects exactly the first N). The
  block searches every subscription the identity sees, with Resource
  Graph under the emulator's quota of 15 queries per 5 s; keysync asks
  1,000 rows a page in groups of 250 subscriptions. Their baseline is
  keysync itself with the same accounts listed, today's config. Their
  bound adds the quota floor to the ARM bound: (ceil(pages / 15) - 1) x
  5 s, the first window's 15 queries going at once.
- Discovery's CPU is read from /proc/<pid>/stat (user + system, 10 ms
  ticks) at the moment keysync prints "discovery: N accounts, ...", which
  it does once discovery is done and before any account syncs; the probe
  ends the process there, so nothing else is counted but start-up, which
  the control (a block that finds nothing) measures on its own.
- Daemon cycles are polled on /metrics, for the sync duration histogram
  alone (name[]): each second up to 20,000 accounts, every N / 20,000 s
  above, at most every 5 s, so a cycle time is up to one poll late.
- scale-discover-1m (1,000,000 accounts over 5,000 subscriptions) runs
  only when named: ` + "`go run ./bench -only scale-discover-1m`" + `, about
  an hour on the 2-core machine, most of it the first cycle and the
  emulator growing the estate; ` + "`-accounts 100000`" + ` (or 200000)
  runs the same case smaller. It and its smoke sibling
  scale-discover-2k-memsink run keysync built with ` + "`-tags keysync_memsink`" + `:
  secrets go to the daemon's own memory (sinks/memsink) instead of
  Vault, whose dev server would be the machine's bottleneck at that
  size. Its RSS therefore includes every secret, which Vault would hold
  instead, and its Vault request counts read 0; the shipped binary
  cannot be built that way (cmd/keysync TestShippedBuildHasNoMemsink).
  Its first cycle's bound is the quota floor alone at latency 0 (1,000
  pages: 5 min 30 s); past it the cycle is bound by CPU, so CPU per
  account is the figure to read. keysync's own ARM pacing (10 requests/s,
  burst 200 per subscription, the defaults) holds 200 accounts per
  subscription within the burst. Discovery is timed to the first
  keysync_discovery_runs_total (polled every 250 ms); the full
  GET /metrics is timed plain and gzipped, GET /status with the API
  token; the scheduler's turns come from keysync_scheduler_turn_seconds.
`

// cpuSplit is a run's CPU: the process's own, Vault's and this
// process's (the emulator's) while it ran.
func cpuSplit(m measurement) string {
	return fmt.Sprintf("%s, %s, %s", dur(m.cpu), dur(m.vaultCPU), dur(m.benchCPU))
}

func row(b *strings.Builder, cells ...string) {
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "—"
		}
		return "∞"
	}
	return fmt.Sprintf("%.3f", a/b)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func kernel() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "uname", "-sr").Output()
	if err != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(out))
}
