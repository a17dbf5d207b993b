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
// 2 s, under 100 MiB peak RSS, with a short report.
func TestHostileConfigValidate(t *testing.T) {
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
			stderr, code, took, rssKiB := validateFile(t, path)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit code %d, want 2 and %q\nstderr:\n%.2000s", code, c.want, stderr)
			}
			if len(stderr) > 8<<10 {
				t.Errorf("stderr of %d bytes:\n%.2000s", len(stderr), stderr)
			}
			if took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if rssKiB > 100<<10 {
				t.Errorf("peak RSS %d KiB", rssKiB)
			}
			t.Logf("exit 2 in %v, peak RSS %d KiB, %d bytes of stderr: %.200s", took, rssKiB, len(stderr), stderr)
		})
	}
}

// deepBomb is a 400 KB file of inline tables nested 100,000 deep.
var deepBomb = "x = " + strings.Repeat("{a=", 100_000) + "1" + strings.Repeat("}", 100_000) + "\n"

// TestHostileConfigReload: SIGHUP with a nested bomb logs one short error,
// the daemon keeps syncing on its old config, and SIGTERM still exits 0
// within 2 s.
func TestHostileConfigReload(t *testing.T) {
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
	if code, took := d.stop(2 * time.Second); code != 0 {
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
// command and writes the command's peak RSS (KiB) to fd 3. getrusage's
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
		fmt.Fprint(os.NewFile(3, "rss"), ru.Maxrss)
	}
	return code
}

// validateFile runs keysync --validate on path through the RSS shim, with
// a hard timeout, and returns its output, exit code, wall time and peak RSS.
func validateFile(t *testing.T, path string) (stderr string, code int, took time.Duration, rssKiB int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
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
	took = time.Since(start)
	w.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running keysync: %v", err)
	}
	b, _ := io.ReadAll(r)
	if rssKiB, err = strconv.ParseInt(string(b), 10, 64); err != nil {
		t.Fatalf("no peak RSS from the shim (%q): %v\n%s", b, err, out.String())
	}
	return out.String(), code, took, rssKiB
}
