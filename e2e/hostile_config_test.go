package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileConfigValidate: --validate of each config bomb exits 2 within
// 2 s of CPU time (user and system: what the bomb costs keysync, however
// busy the machine), under 100 MiB peak RSS, with a short report.
func TestHostileConfigValidate(t *testing.T) {
	shared(t)
	unknown := func() string {
		var b strings.Builder
		for i := 0; b.Len() < 16<<20-32; i++ {
			b.WriteString("unknown_key_number_" + strings.Repeat("x", 8) + "_" + strconv.Itoa(i) + " = 1\n")
		}
		return b.String()
	}
	cases := map[string]struct {
		create func(path string)
		want   string
	}{
		"nested inline tables, depth 100,000": {writer(deepBomb), "line 1: nesting deeper than 16 levels"},
		"10^7 opening brackets":               {writer(strings.Repeat("[", 10_000_000)), "line 1: "},
		"16 MiB of unknown keys":              {writer(unknown()), ": more than "},
		"one byte over 16 MiB":                {writer(strings.Repeat("#", 16<<20) + "\n"), "file: is larger than 16 MiB"},
		"a FIFO": {func(path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "file: is not a regular file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			c.create(path)
			v := validateFile(t, path)
			if v.code != 2 || !strings.Contains(v.stderr, c.want) {
				t.Fatalf("exit code %d, want 2 and %q\nstderr:\n%.2000s", v.code, c.want, v.stderr)
			}
			if len(v.stderr) > 8<<10 {
				t.Errorf("stderr of %d bytes:\n%.2000s", len(v.stderr), v.stderr)
			}
			if v.cpu > 2*time.Second {
				t.Errorf("took %v of CPU time (%v wall)", v.cpu, v.took)
			}
			if v.rssKiB > 100<<10 {
				t.Errorf("peak RSS %d KiB", v.rssKiB)
			}
			t.Logf("exit 2 in %v of CPU time (%v wall), peak RSS %d KiB, %d bytes of stderr: %.200s", v.cpu, v.took, v.rssKiB, len(v.stderr), v.stderr)
		})
	}
}

// deepBomb is a 400 KB file of inline tables nested 100,000 deep.
var deepBomb = "x = " + strings.Repeat("{a=", 100_000) + "1" + strings.Repeat("}", 100_000) + "\n"

// TestHostileConfigReload: SIGHUP with a nested bomb logs one short error,
// the daemon keeps syncing on its old config, and SIGTERM still exits 0.
func TestHostileConfigReload(t *testing.T) {
	shared(t)
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) })
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })

	d.writeConfig(deepBomb)
	d.signal(syscall.SIGHUP)
	d.waitFor("the rejected reload", 2*time.Second, func() bool { return d.logLines("reload rejected") == 1 })
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(line, "reload rejected") && len(line) > 1024 {
			t.Errorf("reload error logged in %d bytes: %.300s", len(line), line)
		}
	}
	if code, _ := d.get("/healthz"); code != 200 {
		t.Errorf("/healthz answered %d after the rejected reload", code)
	}
	a.regenerate(t, "secondary")
	_, s := a.keys(t)
	d.signal(syscall.SIGUSR1)
	d.waitFor("a sync on the old config", 5*time.Second, func() bool { return fieldOf(t, a.path, "secondary") == s })
	if code, took := d.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after %v\n%s", code, took, d.stderr.String())
	}
}

func writer(text string) func(string) {
	return func(path string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			panic(err)
		}
	}
}

// rssShimEnv makes this test binary a shim that runs its arguments as a
// command and writes the command's peak RSS (KiB) and CPU time (user and
// system, in microseconds) to fd 3. getrusage's
// maxrss of a child counts its parent's RSS at exec too (see
// bench/measure.go), and this test process holds 16 MiB files and more: the
// small shim in between makes the figure the child's own.
const rssShimEnv = "KEYSYNC_E2E_RSS_SHIM"

func init() {
	if os.Getenv(rssShimEnv) == "1" {
		os.Exit(rssShim(os.Args[1:]))
	}
}

func rssShim(args []string) int {
	// The shim is a child process with no test, so no context: the test
	// kills the shim, and Pdeathsig the command with it.
	cmd := exec.Command(args[0], args[1:]...) //nolint:noctx // ends with the shim (Pdeathsig), which the test's context kills
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The command dies with the shim, which the test kills at its timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		fmt.Fprint(os.NewFile(3, "rss"), ru.Maxrss, " ", cpu.Microseconds())
	}
	return code
}

// validation is what validateFile saw of one keysync --validate.
type validation struct {
	stderr    string
	code      int
	took, cpu time.Duration
	rssKiB    int64
}

// validateFile runs keysync --validate on path through the RSS shim, with
// a hard timeout, and returns its output, exit code, wall and CPU time and
// peak RSS.
func validateFile(t *testing.T, path string) validation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFloor)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, os.Args[0], keysyncBin, "--config", path, "--validate")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), rssShimEnv + "=1"}
	cmd.ExtraFiles = []*os.File{w}
	cmd.WaitDelay = 2 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	v := validation{took: time.Since(start)}
	w.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		v.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running keysync: %v", err)
	}
	b, _ := io.ReadAll(r)
	var cpuMicros int64
	if _, err := fmt.Sscan(string(b), &v.rssKiB, &cpuMicros); err != nil {
		t.Fatalf("no peak RSS and CPU time from the shim (%q): %v\n%s", b, err, out.String())
	}
	v.cpu, v.stderr = time.Duration(cpuMicros)*time.Microsecond, out.String()
	return v
}
