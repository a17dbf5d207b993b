package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// waitFloor is the least time a wait on an event gives it: a bound only a
// hang reaches, on a loaded machine (2 busy cores, -race, tests in
// parallel) too. A wait returns as soon as its condition holds, so the
// floor costs nothing; a caller's own figure, when larger, wins. One
// minute was reached beside a CPU hog and three builds (load 40), where
// one sync took a minute.
const waitFloor = 3 * time.Minute

// httpBound bounds one HTTP request a test sends a daemon.
const httpBound = 30 * time.Second

// pollEvery is how often a wait looks again.
const pollEvery = 100 * time.Millisecond

// daemonProc is a keysync daemon under test.
type daemonProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	cfgPath string
	addr    string
	stdout  testenv.LockedBuffer
	stderr  testenv.LockedBuffer
	exited  chan struct{}
	code    int
}

// daemonConfig is config() with a one-second schedule and a listen address.
func daemonConfig(addr, top string, accounts ...account) string {
	return fmt.Sprintf("schedule = \"@every 1s\"\nlisten = %q\nbackoff_base = \"1s\"\nbackoff_max = \"4s\"\nshutdown_grace = \"10s\"\n%s\n", addr, top) + config("", accounts...)
}

// startDaemon starts keysync without --run-now. env is added to the
// environment. The daemon is stopped when the test ends.
func startDaemon(t *testing.T, cfg func(addr string) string, env ...string) *daemonProc {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{t: t, addr: addr, exited: make(chan struct{}), cfgPath: filepath.Join(t.TempDir(), "config.toml")}
	d.writeConfig(cfg(addr))
	// Not CommandContext: a test stops the daemon with SIGTERM (stop) to
	// see its graceful exit; the cleanup below kills it if still running.
	d.cmd = exec.Command(keysyncBin, "--config", d.cfgPath, "--log-level", "debug") //nolint:noctx // stopped with SIGTERM by stop, killed by the cleanup
	d.cmd.Env = append(append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, vaultOf(t).Env()...), emu.Env()...), env...)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := d.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			d.code = ee.ExitCode()
		}
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exited
		assertNoKeys(t, d.stdout.String()+d.stderr.String())
		if strings.Contains(d.stderr.String(), "DATA RACE") {
			t.Errorf("the daemon has a data race:\n%s", d.stderr.String())
		}
	})
	d.waitFor("the endpoints to answer", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), httpBound)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return d
}

// replaceFile writes text next to path and renames it over path, as Vault
// Agent's file sink does.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, []byte(text), 0o600))
	must(t, os.Rename(tmp, path))
}

func (d *daemonProc) writeConfig(text string) {
	if err := os.WriteFile(d.cfgPath, []byte(text), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemonProc) signal(sig syscall.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// waitFor polls cond until it holds, or fails the test once timeout (at
// least waitFloor) has passed.
func (d *daemonProc) waitFor(what string, timeout time.Duration, cond func() bool) {
	d.t.Helper()
	timeout = max(timeout, waitFloor)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %v waiting for %s\nstderr:\n%s", timeout, what, d.stderr.String())
		}
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited (code %d) while waiting for %s\nstderr:\n%s", d.code, what, d.stderr.String())
		case <-time.After(pollEvery):
		}
	}
}

// eventually polls cond until it holds, and fails the test with cond's
// last word on what it saw when timeout (at least waitFloor) passes
// first. It is how tests wait: on something they can observe, never on a
// guessed duration.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	timeout = max(timeout, waitFloor)
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, saw)
		}
		<-time.After(pollEvery)
	}
}

// runFor lets the daemon run for d (a soak's phase, not a wait for an
// event), failing the test at once if it exits meanwhile.
func (d *daemonProc) runFor(dur time.Duration) {
	d.t.Helper()
	select {
	case <-d.exited:
		d.t.Fatalf("daemon exited (code %d) during the run\nstderr:\n%s", d.code, d.stderr.String())
	case <-time.After(dur):
	}
}

// metric is the value of one series of /metrics, such as
// `keysync_vault_up` or `keysync_sync_total{account="a",result="failed"}`;
// 0 when the daemon exports no such series yet.
func (d *daemonProc) metric(series string) float64 {
	d.t.Helper()
	_, text := d.get("/metrics")
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// syncs counts an account's finished syncs of every outcome, from
// keysync_sync_total: the daemon's own count of cycles done.
func (d *daemonProc) syncs(name string) float64 {
	d.t.Helper()
	_, text := d.get("/metrics")
	prefix := `keysync_sync_total{account="` + name + `",`
	var n float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += f
		}
	}
	return n
}

// waitCycles waits until every account has finished n more syncs than it
// had when called (within at least waitFloor): the event that proves time
// passed with the daemon at work, for checks that something did not
// happen.
func (d *daemonProc) waitCycles(n float64, within time.Duration, accts ...account) {
	d.t.Helper()
	base := map[string]float64{}
	for _, a := range accts {
		base[a.name] = d.syncs(a.name)
	}
	d.waitFor(fmt.Sprintf("%v more finished syncs of each account", n), within, func() bool {
		for _, a := range accts {
			if d.syncs(a.name) < base[a.name]+n {
				return false
			}
		}
		return true
	})
}

// get fetches a path from the daemon's listen address.
func (d *daemonProc) get(path string) (int, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpBound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logLines counts stderr lines that contain every one of parts.
func (d *daemonProc) logLines(parts ...string) int {
	n := 0
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		match := true
		for _, p := range parts {
			match = match && strings.Contains(line, p)
		}
		if match {
			n++
		}
	}
	return n
}

// stop sends SIGTERM and waits for the exit code (at least waitFloor).
func (d *daemonProc) stop(within time.Duration) (int, time.Duration) {
	d.t.Helper()
	start := time.Now()
	d.signal(syscall.SIGTERM)
	return d.exit(within), time.Since(start)
}

// exit waits for the daemon to exit (at least waitFloor) and returns its
// code.
func (d *daemonProc) exit(within time.Duration) int {
	d.t.Helper()
	within = max(within, waitFloor)
	select {
	case <-d.exited:
		return d.code
	case <-time.After(within):
		d.t.Fatalf("daemon did not exit within %v\nstderr:\n%s", within, d.stderr.String())
	}
	return 0
}
