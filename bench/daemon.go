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
	steadyKiB     int64         // median VmRSS over the sampling window
	maxKiB        int64         // largest VmRSS sample in the window
	hwmKiB        int64         // VmHWM at the end: the peak since start
	samples       int
	// Go's own view at the end, from /metrics: live heap spans and all
	// memory the runtime holds from the OS (heap, stacks, metadata).
	heapInuseKiB, goSysKiB int64
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
// come back unchanged, then samples VmRSS from /proc for rssWindow. This is
// the figure a MemoryMax= or a container memory limit is set from.
func (e *env) runDaemon(c benchCase, cfgPath string) (daemonRSS, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return daemonRSS{}, err
	}
	if err := prependTop(cfgPath, fmt.Sprintf("schedule = \"@every 24h\"\nlisten = %q\n", addr)); err != nil {
		return daemonRSS{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.keysync, "--config", cfgPath, "--log-level", "error")
	cmd.Env = e.childEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return daemonRSS{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var r daemonRSS
	if err := waitSyncs(ctx, addr, c.accounts, 0); err != nil {
		return r, fmt.Errorf("first cycle: %w", err)
	}
	r.first = time.Since(start)
	start = time.Now()
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return r, fmt.Errorf("asking for a second cycle: %w", err)
	}
	if err := waitSyncs(ctx, addr, 2*c.accounts, c.accounts); err != nil {
		return r, fmt.Errorf("second cycle: %w", err)
	}
	r.second = time.Since(start)
	if err := sampleRSS(cmd.Process.Pid, &r); err != nil {
		return r, err
	}
	r.heapInuseKiB, r.goSysKiB, err = goMemory(ctx, addr)
	return r, err
}

// prependTop puts top-level keys before the file's first table.
func prependTop(path, top string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(top), b...), 0o600) //nolint:gosec // G703: a path the benchmark made (os.MkdirTemp), not input
}

// waitSyncs polls /metrics until keysync_sync_total adds up to at least
// total, with at least unchanged of them "unchanged", or ctx ends.
func waitSyncs(ctx context.Context, addr string, total, unchanged int) error {
	for {
		all, same, err := syncCounts(ctx, addr)
		if err == nil && all >= total && same >= unchanged {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d syncs (%d unchanged) of %d (%d) when the time ran out: %w", all, same, total, unchanged, cmp.Or(err, ctx.Err()))
		case <-time.After(time.Second):
		}
	}
}

// scrape calls sample with each sample line of the daemon's /metrics.
func scrape(ctx context.Context, addr string, sample func(name string, value float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
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

// syncCounts sums keysync_sync_total over every account and result, and
// over result="unchanged" alone.
func syncCounts(ctx context.Context, addr string) (all, unchanged int, err error) {
	err = scrape(ctx, addr, func(name string, v float64) {
		if strings.HasPrefix(name, "keysync_sync_total{") {
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
