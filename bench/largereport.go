package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// renderLarge adds the memsink case's rows to the daemon table: discovery,
// the first cycle against its bound, the scrape, /status and the turns.
func renderLarge(b *strings.Builder, r caseResult) {
	c, d, l := r.c, r.daemon, r.daemon.large
	floor := quotaFloor(l.pages)
	row(b, "discovery, start to its first run counted: wall, CPU", dur(l.discWall)+", "+dur(l.discCPU))
	row(b, "Resource Graph queries, their quota floor", fmt.Sprintf("%d, %s", l.pages, dur(floor)))
	row(b, "first cycle's bound: N x latency / concurrency + quota floor", dur(c.bound()+floor))
	row(b, "first cycle / bound", perBound(d.first, c.bound()+floor))
	row(b, "CPU per account: first cycle (discovery included), second", perAccount(d.firstCPU, c.accounts)+", "+perAccount(d.secondCPU, c.accounts))
	row(b, "full GET /metrics: time, bytes", fmt.Sprintf("%s, %s", dur(l.scrape.took), size(l.scrape.plain)))
	row(b, "full GET /metrics, gzip (as Prometheus asks): time, bytes sent", fmt.Sprintf("%s, %s", dur(l.scrapeGz.took), size(l.scrapeGz.wire)))
	row(b, "GET /status (every account): time, bytes", fmt.Sprintf("%s, %s (HTTP %d)", dur(l.status.took), size(l.status.plain), l.status.code))
	row(b, "scheduler turns: count, mean", fmt.Sprintf("%d, %s", l.turns, l.turnMean.Round(time.Microsecond)))
	row(b, "scheduler turns: 99 % and all under (bucket bounds)", bucketBound(l.turnP99)+", "+bucketBound(l.turnMax))
	fmt.Fprintf(b, "\nThis case runs keysync built with `-tags keysync_memsink`: its secrets are kept in the daemon's own memory "+
		"(sinks/memsink), not in Vault, whose dev server would be the machine's bottleneck at this size. Steady RSS and VmHWM "+
		"therefore include every secret's data and metadata, which Vault would hold instead, and Vault requests read 0. "+
		"Latency %s: the first cycle is bound by CPU, so CPU per account is its measure.\n", c.latency)
}

func perAccount(d time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return (d / time.Duration(n)).Round(100 * time.Nanosecond).String()
}

func bucketBound(s float64) string {
	if math.IsInf(s, 1) {
		return "> 2.6 s"
	}
	return "≤ " + time.Duration(s*float64(time.Second)).String()
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
