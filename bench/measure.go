package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// buildTimeout bounds one go build: minutes on a busy machine, not ten.
const buildTimeout = 10 * time.Minute

// build compiles a command of the module the way the release does.
func build(dir, name, pkg string, flags ...string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := dir + "/" + name
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build", "-trimpath", "-o", bin}, flags...), pkg)...)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	// A killed go command may leave a compiler holding the output pipe.
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// measurement is what one process run cost.
type measurement struct {
	wall time.Duration
	cpu  time.Duration // user + system CPU of the whole run
	// vaultCPU and benchCPU are what Vault and this process (the ARM
	// emulator and the audit log's reader) spent while it ran.
	vaultCPU, benchCPU time.Duration
	rssKiB             int64
	throttle           int
	reads              int
	writes             int
	pages              int    // Resource Graph requests
	failed             bool   // exit status 1: some accounts failed
	refused            string // why keysync refused the config (runOpts.refusal)
	// disc is the discovery phase of a run with [[discover]] blocks.
	disc phase
}

// allCPU is the run's CPU on the machine: keysync's or the baseline's,
// Vault's and the emulator's.
func (m measurement) allCPU() time.Duration { return m.cpu + m.vaultCPU + m.benchCPU }

// measure runs bin with args, counting 429s at the emulator and requests
// in Vault's audit log while it runs.
func (e *env) measure(bin string, args ...string) (measurement, error) {
	return e.measureRun(runOpts{}, bin, args...)
}

// runOpts changes what measureRun accepts as the end of a run.
type runOpts struct {
	// stopAtDiscovery ends the process as soon as keysync reports its
	// discovery (a discovery-only measurement).
	stopAtDiscovery bool
	// refusal accepts exit status 2 (an invalid config) and keeps the
	// last line of stderr as measurement.refused.
	refusal bool
}

// measureRun is measure, with opts.
func (e *env) measureRun(opts runOpts, bin string, args ...string) (measurement, error) {
	off, err := fileSize(e.auditFile)
	if err != nil {
		return measurement{}, err
	}
	throttled, pages := e.emu.Throttled(), e.emu.GraphRequests()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.childEnv()
	var stderr bytes.Buffer
	watch := &discoveryWatch{stop: opts.stopAtDiscovery}
	cmd.Stdout, cmd.Stderr = watch, &stderr
	if os.Getenv("BENCH_STDERR") != "" {
		cmd.Stderr = os.Stderr
	}
	vault0, bench0 := procCPUOrZero(e.vault.Pid()), procCPUOrZero(os.Getpid())
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, err
	}
	watch.started(cmd.Process, start)
	// getrusage's maxrss for a child also counts this (the parent's)
	// memory, which Linux carries over at exec after Go's vfork-style
	// clone; the child's own high-water mark is VmHWM in /proc.
	peak := make(chan int64, 1)
	stop := make(chan struct{})
	go func() { peak <- watchHWM(cmd.Process.Pid, stop) }()
	err = cmd.Wait()
	close(stop)
	m := measurement{wall: time.Since(start), throttle: e.emu.Throttled() - throttled, rssKiB: <-peak,
		pages: e.emu.GraphRequests() - pages, disc: watch.result()}
	if m.disc.wall > 0 && m.disc.hwmKiB == 0 {
		m.disc.hwmKiB = m.rssKiB // it had exited when it printed the line
	}
	m.vaultCPU, m.benchCPU = procCPUOrZero(e.vault.Pid())-vault0, procCPUOrZero(os.Getpid())-bench0
	if cmd.ProcessState != nil {
		m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err = opts.accept(&m, err, stderr.String()); err != nil {
		return m, fmt.Errorf("%s: %w\n%s", bin, err, tail(stderr.String()))
	}
	m.reads, m.writes, err = countAudit(e.auditFile, off)
	return m, err
}

// accept is err, the end of a run, unless opts take it as a result: some
// accounts failed (the baseline under throttling: counted, not fatal),
// the process was ended at discovery on purpose, or a refusal was asked
// for.
func (opts runOpts) accept(m *measurement, err error, stderr string) error {
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		m.failed = true
		return nil
	case opts.stopAtDiscovery && m.disc.wall > 0:
		return nil
	case opts.refusal && errors.As(err, &ee) && ee.ExitCode() == 2:
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		m.refused = strings.TrimSpace(lines[len(lines)-1])
		return nil
	}
	return err
}

// runTimeout bounds one keysync run: a first cycle of 100,000 accounts
// at 50 ms of ARM latency takes minutes.
const runTimeout = 40 * time.Minute

// childEnv is a keysync process's environment: Vault, the emulator, and
// BENCH_CHILD_ENV's space-separated NAME=value pairs (GOGC=50, say).
func (e *env) childEnv() []string {
	env := append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir}, e.vault.Env()...), e.emu.Env()...)
	return append(env, strings.Fields(os.Getenv("BENCH_CHILD_ENV"))...)
}

// watchHWM polls a process's VmHWM every 10 ms until stop, and returns the
// largest value seen, in KiB.
func watchHWM(pid int, stop <-chan struct{}) int64 {
	var peak int64
	for {
		if kb, err := procStatus(pid, "VmHWM:"); err == nil {
			peak = max(peak, kb)
		}
		select {
		case <-stop:
			return peak
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// countAudit counts KV requests in the audit log after offset: reads (a
// LIST counts as one), and writes (create, update, patch) of data or
// metadata.
func countAudit(path string, off int64) (reads, writes int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var entry struct {
			Type    string
			Request struct{ Operation, Path string }
		}
		if json.Unmarshal(sc.Bytes(), &entry) != nil || entry.Type != "request" || !strings.HasPrefix(entry.Request.Path, "secret/") {
			continue
		}
		switch entry.Request.Operation {
		case "read", "list":
			reads++
		case "create", "update", "patch":
			writes++
		}
	}
	return reads, writes, sc.Err()
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// versions sums the current KV v2 version of every path.
func (e *env) versions(paths []string) (int, error) {
	total := 0
	for _, p := range paths {
		md, err := e.vault.Client.KVv2("secret").GetMetadata(context.Background(), p)
		if err != nil {
			return 0, fmt.Errorf("metadata of %s: %w", p, err)
		}
		total += md.CurrentVersion
	}
	return total, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}
