package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// renderDiscover writes a side-by-side case: keysync with [[discover]]
// against keysync with the same accounts listed.
func renderDiscover(b *strings.Builder, r caseResult) {
	c := r.c
	d, l := r.keysync, r.naive
	dBound, lBound := c.bound()+quotaFloor(d.pages), c.bound()
	fmt.Fprintf(b, ", %d accounts tagged and found by one [[discover]] block (Resource Graph, quota %d queries / %s) "+
		"against the same accounts listed as [[account]] entries\n\nTarget: %s. Load average at the end: %s.\n\n"+
		"| metric | keysync, [[discover]] | keysync, listed | ratio |\n|---|---|---|---|\n",
		c.accounts, graphQuota, graphWindow, c.target, r.load)
	row(b, "first cycle (creates every secret)", dur(d.wall), dur(l.wall), ratio(float64(d.wall), float64(l.wall)))
	row(b, "bound: N x latency / concurrency, or the bucket; + quota floor for discovery", dur(dBound), dur(lBound), "")
	row(b, "first cycle / bound", perBound(d.wall, dBound), perBound(l.wall, lBound), "")
	row(b, "of which discovery (start to its report): wall, CPU", dur(d.disc.wall)+", "+dur(d.disc.cpu), "—", "")
	row(b, "Resource Graph queries, their quota floor", fmt.Sprintf("%d, %s", d.pages, dur(quotaFloor(d.pages))), "0", "")
	row(b, "Vault reads, writes in the first cycle", fmt.Sprintf("%d, %d", d.reads, d.writes), fmt.Sprintf("%d, %d", l.reads, l.writes), "")
	row(b, "second cycle (unchanged)", dur(r.ksSteady.wall), dur(r.naiveSteady.wall), ratio(float64(r.ksSteady.wall), float64(r.naiveSteady.wall)))
	row(b, "second cycle / bound", perBound(r.ksSteady.wall, c.bound()+quotaFloor(r.ksSteady.pages)), perBound(r.naiveSteady.wall, lBound), "")
	row(b, "Vault reads, writes in the second cycle (target: 0 writes)", fmt.Sprintf("%d, %d", r.ksSteady.reads, r.ksSteady.writes),
		fmt.Sprintf("%d, %d", r.naiveSteady.reads, r.naiveSteady.writes), "")
	row(b, "CPU (user + system), first / second cycle", dur(d.cpu)+" / "+dur(r.ksSteady.cpu), dur(l.cpu)+" / "+dur(r.naiveSteady.cpu), ratio(float64(d.cpu), float64(l.cpu)))
	row(b, "peak RSS, first / second cycle", mib(d.rssKiB)+" / "+mib(r.ksSteady.rssKiB), mib(l.rssKiB)+" / "+mib(r.naiveSteady.rssKiB), ratio(float64(d.rssKiB), float64(l.rssKiB)))
	row(b, "429 answers", fmt.Sprint(d.throttle+r.ksSteady.throttle), fmt.Sprint(l.throttle+r.naiveSteady.throttle), "")
	row(b, "runs with a failed account", failures(d, r.ksSteady), failures(l, r.naiveSteady), "")
}

// renderProbe writes a discovery-only case.
func renderProbe(b *strings.Builder, r caseResult) {
	c := r.c
	p, z, v := r.keysync, r.control, r.validate
	fmt.Fprintf(b, ", discovery alone\n\nTarget: %s. keysync `--run-now` runs until it prints what discovery found, "+
		"before any account syncs, and is ended there; CPU (user + system, /proc/<pid>/stat) and VmHWM are read at that line. "+
		"The control's block finds no account (start-up, the subscription listing, one query). "+
		"`--validate` loads today's config of the same accounts listed. Load average at the end: %s.\n\n"+
		"| metric | [[discover]], %d accounts | control, 0 accounts | listed config, `--validate` |\n|---|---|---|---|\n",
		c.target, r.load, c.accounts)
	row(b, "wall time to the discovery report (validate: whole run)", dur(p.disc.wall), dur(z.disc.wall), dur(v.wall))
	row(b, "CPU to the discovery report (validate: whole run)", dur(p.disc.cpu), dur(z.disc.cpu), dur(v.cpu))
	row(b, "VmHWM then (validate: peak RSS)", mib(p.disc.hwmKiB), mib(z.disc.hwmKiB), mib(v.rssKiB))
	row(b, "Resource Graph queries, their quota floor", fmt.Sprintf("%d, %s", p.pages, dur(quotaFloor(p.pages))), fmt.Sprint(z.pages), "0")
	if v.refused != "" {
		row(b, "outcome", "found "+fmt.Sprint(c.accounts), "found 0", "**refused**: "+v.refused)
	}
	fmt.Fprintf(b, "\nDiscovering %d accounts cost %s of CPU beyond the control (%s wall, of which %s is the quota floor), "+
		"and %s of VmHWM beyond it.\n", c.accounts, dur(p.disc.cpu-z.disc.cpu), dur(p.disc.wall-z.disc.wall),
		dur(quotaFloor(p.pages)), mib(p.disc.hwmKiB-z.disc.hwmKiB))
}

// renderScale writes the daemon cases of the estate as one table, the
// growth of steady RSS per account, and the chart.
func renderScale(b *strings.Builder, results []caseResult, svgName string) {
	var rs []caseResult
	for _, r := range results {
		if r.c.daemon && (r.c.discover || r.c.listed) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return
	}
	slices.SortStableFunc(rs, func(a, b caseResult) int { return a.c.accounts - b.c.accounts })
	b.WriteString("\n## Scale: the daemon against account count\n\n" +
		"The daemon cases above in one table. Targets: steady RSS at most 64 MiB at 10,000 accounts and 256 MiB at 100,000; " +
		"growth under 1 KiB per account beyond the base.\n\n" +
		"| accounts | config | first cycle | second cycle | CPU first / second | second cycle Vault writes | steady RSS | VmHWM | Go heap in use | load |\n" +
		"|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		d := r.daemon
		row(b, fmt.Sprint(r.c.accounts), kind(r.c), dur(d.first), dur(d.second), dur(d.firstCPU)+" / "+dur(d.secondCPU),
			fmt.Sprint(d.writes2), mib(d.steadyKiB)+rssVerdict(r.c.accounts, d.steadyKiB), mib(d.hwmKiB), mib(d.heapInuseKiB), d.load)
	}
	b.WriteString("\n")
	for _, k := range []string{"[[discover]]", "listed"} {
		x, y := scalePoints(rs, k, func(d daemonRSS) float64 { return float64(d.steadyKiB) * 1024 })
		if s, a := slope(x, y); len(x) >= 2 {
			fmt.Fprintf(b, "- %s: steady RSS grows %.0f bytes per account (least squares over %d sizes; target < 1024) beyond a base of %.1f MiB.\n",
				k, s, len(x), a/(1<<20))
		}
	}
	if svgName != "" {
		fmt.Fprintf(b, "\n![Steady RSS and cycle time against account count](%s)\n", svgName)
	}
}

// rssVerdict says whether steady RSS meets the target at a size
// that has one.
func rssVerdict(accounts int, kib int64) string {
	limit := map[int]int64{10_000: 64 << 10, 100_000: 256 << 10}[accounts]
	switch {
	case limit == 0:
		return ""
	case kib <= limit:
		return fmt.Sprintf(" (≤ %s: met)", mib(limit))
	}
	return fmt.Sprintf(" (≤ %s: **not met**)", mib(limit))
}

// scaleChart is the SVG of the daemon cases: steady RSS and cycle times
// against account count.
func scaleChart(results []caseResult) string {
	var rs []caseResult
	for _, r := range results {
		if r.c.daemon && (r.c.discover || r.c.listed) {
			rs = append(rs, r)
		}
	}
	slices.SortStableFunc(rs, func(a, b caseResult) int { return a.c.accounts - b.c.accounts })
	mibOf := func(d daemonRSS) float64 { return float64(d.steadyKiB) / 1024 }
	first := func(d daemonRSS) float64 { return d.first.Seconds() }
	second := func(d daemonRSS) float64 { return d.second.Seconds() }
	line := func(name, k, color string, dashed bool, f func(daemonRSS) float64) series {
		x, y := scalePoints(rs, k, f)
		return series{name: name, color: color, dashed: dashed, x: x, y: y}
	}
	rss := chart{title: "Daemon steady RSS", xLabel: "accounts", yLabel: "MiB",
		series:  []series{line("[[discover]]", "[[discover]]", "#1f77b4", false, mibOf), line("listed [[account]]", "listed", "#d62728", true, mibOf)},
		targets: []target{{64, "target at 10k: 64 MiB"}, {256, "target at 100k: 256 MiB"}}}
	cycle := chart{title: "Daemon cycle time", xLabel: "accounts", yLabel: "seconds",
		series: []series{line("first (creates), [[discover]]", "[[discover]]", "#1f77b4", false, first),
			line("second (unchanged), [[discover]]", "[[discover]]", "#2ca02c", false, second),
			line("first (creates), listed", "listed", "#d62728", true, first),
			line("second (unchanged), listed", "listed", "#ff7f0e", true, second)}}
	return svgDoc(rss, cycle)
}

// scalePoints are (accounts, f(daemon)) of the cases of one config kind.
func scalePoints(rs []caseResult, k string, f func(daemonRSS) float64) (x, y []float64) {
	for _, r := range rs {
		if kind(r.c) == k {
			x, y = append(x, float64(r.c.accounts)), append(y, f(r.daemon))
		}
	}
	return x, y
}

func kind(c benchCase) string {
	if c.listed {
		return "listed"
	}
	return "[[discover]]"
}

func failures(ms ...measurement) string {
	n := 0
	for _, m := range ms {
		if m.failed {
			n++
		}
	}
	return fmt.Sprint(n)
}

func perBound(d, bound time.Duration) string {
	if bound <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", d.Seconds()/bound.Seconds())
}

func dur(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
