package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// daemonRSS is what a running daemon held: its resident set once two full
// cycles are done (the second unchanged), and its high-water mark.
type daemonRSS struct {
	first, second time.Duration // wall time of each cycle
	// firstCPU, secondCPU: the daemon's user + system CPU in each cycle
	// (the first from start, discovery and start-up included).
	firstCPU, secondCPU time.Duration
	steadyKiB           int64 // median VmRSS over the sampling window
	maxKiB              int64 // largest VmRSS sample in the window
	hwmKiB              int64 // VmHWM at the end: the peak since start
	samples             int
	// Go's own view at the end, from /metrics: live heap spans and all
	// memory the runtime holds from the OS (heap, stacks, metadata).
	heapInuseKiB, goSysKiB int64
	// Vault requests of the second cycle (audit log), and the syncs that
	// ended "unchanged" over both cycles.
	reads2, writes2, unchanged int
	poll                       time.Duration
	load                       string // /proc/loadavg when the cycles were done
	// large: the memsink cases' discovery, scrape, /status and turns.
	large large
}

// rssWindow is how long the steady resident set is sampled, and how often.
const (
	rssWindow   = 5 * time.Second
	rssInterval = 100 * time.Millisecond
)

// runDaemon starts keysync as a daemon (no --run-now) on the case's
// accounts, waits for the first full cycle (which creates every secret),
// asks for a second one with SIGUSR1 (POST /sync is off without an API
// token, and a benchmark needs none) and waits for every account to
// come back, then samples VmRSS from /proc for rssWindow. This is the
// figure a MemoryMax= or a container memory limit is set from.
func (e *env) runDaemon(c benchCase, cfgPath string) (daemonRSS, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return daemonRSS{}, err
	}
	if err := prependTop(cfgPath, fmt.Sprintf("schedule = \"@every 24h\"\nlisten = %q\n", addr)); err != nil {
		return daemonRSS{}, err
	}
	bin := e.keysync
	if c.memsink {
		bin = e.keysyncMem
		if err := e.appendAPI(cfgPath); err != nil {
			return daemonRSS{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute+time.Duration(c.accounts)*20*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", cfgPath, "--log-level", "error")
	cmd.Env = e.childEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	pages := e.emu.GraphRequests()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return daemonRSS{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	r := daemonRSS{poll: pollEvery(c.accounts)}
	if c.memsink {
		if r.large.discWall, r.large.discCPU, err = waitDiscovery(ctx, cmd.Process.Pid, addr, start); err != nil {
			return r, err
		}
		r.large.pages = e.emu.GraphRequests() - pages
	}
	if err := e.daemonCycles(ctx, cmd.Process.Pid, addr, c.accounts, start, &r); err != nil {
		return r, err
	}
	if err := sampleRSS(cmd.Process.Pid, &r); err != nil {
		return r, err
	}
	if r.heapInuseKiB, r.goSysKiB, err = goMemory(ctx, addr); err != nil {
		return r, err
	}
	if _, r.unchanged, err = syncCounts(ctx, addr); err != nil || !c.memsink {
		return r, err
	}
	return r, measureLarge(ctx, addr, &r.large)
}

// daemonCycles waits for the first cycle, asks for the second and waits
// for it, reading the daemon's CPU after each and the second's Vault
// requests from the audit log.
func (e *env) daemonCycles(ctx context.Context, pid int, addr string, n int, start time.Time, r *daemonRSS) error {
	if err := waitSyncs(ctx, addr, n, r.poll); err != nil {
		return fmt.Errorf("first cycle: %w", err)
	}
	r.first = time.Since(start)
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	off, err := fileSize(e.auditFile)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return fmt.Errorf("asking for a second cycle: %w", err)
	}
	if err := waitSyncs(ctx, addr, 2*n, r.poll); err != nil {
		return fmt.Errorf("second cycle: %w", err)
	}
	r.second = time.Since(start)
	cpu2, err := procCPU(pid)
	if err != nil {
		return err
	}
	r.firstCPU, r.secondCPU, r.load = cpu1, cpu2-cpu1, loadAvg()
	r.reads2, r.writes2, err = countAudit(e.auditFile, off)
	return err
}

// pollEvery is how often the daemon's /metrics is read while a cycle
// runs: each second up to 20,000 accounts, less often above (at most
// every 5 s, so that a first cycle of minutes is timed to a few percent),
// as each poll gathers the daemon's registry and would weigh on the
// daemon measured.
func pollEvery(accounts int) time.Duration {
	return min(max(time.Second, time.Duration(accounts/10_000)*time.Second/2), 5*time.Second)
}

// prependTop puts top-level keys before the file's first table.
func prependTop(path, top string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(top), b...), 0o600) //nolint:gosec // G703: a path the benchmark made (os.MkdirTemp), not input
}

// waitSyncs polls /metrics every poll until keysync_sync_total adds up to
// at least total, or ctx ends. It reads the count of the sync duration
// histogram, which every sync adds to as it adds to keysync_sync_total,
// and asks for that family alone (name[]), so that a poll does not write
// one line per account.
func waitSyncs(ctx context.Context, addr string, total int, poll time.Duration) error {
	for {
		n, err := syncsDone(ctx, addr)
		if err == nil && n >= total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d syncs of %d when the time ran out: %w", n, total, cmp.Or(err, ctx.Err()))
		case <-time.After(poll):
		}
	}
}

// syncsDone is keysync_sync_duration_seconds_count.
func syncsDone(ctx context.Context, addr string) (int, error) {
	n := 0
	err := scrapeURL(ctx, "http://"+addr+"/metrics?name[]=keysync_sync_duration_seconds", func(name string, v float64) {
		if name == "keysync_sync_duration_seconds_count" {
			n = int(v)
		}
	})
	return n, err
}

// scrape calls sample with each sample line of the daemon's /metrics.
func scrape(ctx context.Context, addr string, sample func(name string, value float64)) error {
	return scrapeURL(ctx, "http://"+addr+"/metrics", sample)
}

// scrapeURL is scrape of a /metrics URL.
func scrapeURL(ctx context.Context, url string, sample func(name string, value float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			return fmt.Errorf("metric line %q: %w", line, err)
		}
		sample(line[:sp], v)
	}
	return sc.Err()
}

// syncCounts reads keysync_syncs_total (keysync_sync_total summed over
// every account, which /metrics has at any size): every result, and
// result="unchanged" alone.
func syncCounts(ctx context.Context, addr string) (all, unchanged int, err error) {
	err = scrape(ctx, addr, func(name string, v float64) {
		if strings.HasPrefix(name, "keysync_syncs_total{") { // exported at any size
			all += int(v)
			if strings.Contains(name, `result="unchanged"`) {
				unchanged += int(v)
			}
		}
	})
	return all, unchanged, err
}

// goMemory reads the Go runtime's heap in use and total from /metrics.
func goMemory(ctx context.Context, addr string) (heapInuseKiB, sysKiB int64, err error) {
	err = scrape(ctx, addr, func(name string, v float64) {
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heapInuseKiB = int64(v) / 1024
		case "go_memstats_sys_bytes":
			sysKiB = int64(v) / 1024
		}
	})
	return heapInuseKiB, sysKiB, err
}

// sampleRSS reads VmRSS every rssInterval for rssWindow, then VmHWM.
func sampleRSS(pid int, r *daemonRSS) error {
	var rss []int64
	for end := time.Now().Add(rssWindow); time.Now().Before(end); time.Sleep(rssInterval) {
		v, err := procStatus(pid, "VmRSS:")
		if err != nil {
			return err
		}
		rss = append(rss, v)
	}
	slices.Sort(rss)
	r.steadyKiB, r.maxKiB, r.samples = rss[len(rss)/2], rss[len(rss)-1], len(rss)
	var err error
	r.hwmKiB, err = procStatus(pid, "VmHWM:")
	return err
}

// procStatus reads one "Name: N kB" field of /proc/<pid>/status, in KiB.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
