// Package scripts tests the project's scripts. TestDemo runs demo.sh end
// to end, as `make demo` does, with freshly built binaries, the real Vault
// server and the ARM emulator's own command, so that the demo cannot rot.
package scripts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// demoTimeout bounds one run of the demo: it takes seconds, a few
// minutes on a busy machine with a -race build.
const demoTimeout = 5 * time.Minute

// demoEnv is the environment demo.sh runs with: the binaries and a state
// folder of the test's; the ports are left to the script, which picks free
// ones.
type demoEnv struct {
	keysync, armemu, vault, state string
}

// setup builds keysync (with -race under -race) and the emulator's command
// into a temporary folder and finds the Vault server.
func setup(t *testing.T) demoEnv {
	t.Helper()
	dir := t.TempDir()
	vault, err := testenv.VaultBinary()
	if err != nil {
		t.Fatal(err)
	}
	keysync, err := testenv.BuildKeysync(dir)
	if err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	armemu := filepath.Join(dir, "armemu")
	ctx, cancel := context.WithTimeout(t.Context(), demoTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", armemu, "./cmd/armemu")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/armemu: %v\n%s", err, out)
	}
	return demoEnv{keysync: keysync, armemu: armemu, vault: vault, state: filepath.Join(dir, "state")}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs demo.sh in its own process group and returns its combined
// output and exit code once every process of the group is gone: the
// script must stop all it started.
func (e demoEnv) run(t *testing.T) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), demoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "scripts", "demo.sh"))
	cmd.Env = append(withoutDemoVars(os.Environ()), "HOME="+t.TempDir(), "DEMO_STATE="+e.state,
		"DEMO_KEYSYNC="+e.keysync, "DEMO_ARMEMU="+e.armemu, "KEYSYNC_VAULT_BIN="+e.vault)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// On the timeout, the whole group: Vault, the emulator, the daemon.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running demo.sh: %v\n%s", err, e.shown(string(out)))
	}
	if ctx.Err() != nil {
		t.Fatalf("demo.sh ran longer than %v:\n%s", demoTimeout, e.shown(string(out)))
	}
	assertGroupGone(t, cmd.Process.Pid)
	return string(out), code
}

// withoutDemoVars drops the caller's DEMO_* settings, so the test runs
// the same wherever it runs.
func withoutDemoVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "DEMO_") {
			out = append(out, kv)
		}
	}
	return out
}

// assertGroupGone fails when a process of the demo's group outlives it,
// and kills what is left.
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Fatal("demo.sh exited and left processes running")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	// base64Run is a run of base64 longer than any word of the demo's
	// output but ARM's operation names
	// (Batch/batchAccounts/regenerateKeys/action); resource ids and
	// paths break at '-' and '.'. Every key the emulator issues is one
	// (Batch keys: 88 characters), and so is the events secret (48 hex
	// digits).
	base64Run    = regexp.MustCompile(`[A-Za-z0-9+/]{40,}`)
	eventLatency = regexp.MustCompile(`(?m)^event to Vault: (\d+) ms`)
	spaces       = regexp.MustCompile(` {2,}`)
	sameKey      = regexp.MustCompile(`(?m)^primary in Azure: (sha256:[0-9a-f]{12}), in Vault: (sha256:[0-9a-f]{12})$`)
)

// demoStory is what the demo must show, in this order, with runs of
// spaces read as one (the report's columns are as wide as their longest
// cell).
var demoStory = []string{
	"summary: 0 created, 1 updated, 2 unchanged",
	"discovery: 3 accounts, 3 added, 0 removed",
	"discovery: 3 accounts, 1 added, 1 removed",
	"mark reports", // columns, whatever their width
	`"source-gone-at": "20`,
	"rotate: regenerate secondary",
	"active in Vault: primary -> secondary",
	"subscribed: keysync answered the handshake",
	"event to Vault: ",
	"daemon stopped with exit code 0 on SIGTERM",
	"== done",
}

// TestDemo: the demo runs to its end and shows each part of its story:
// the Batch sync, one account found and one removed and marked by
// discovery, a rotation moving active, and an Event Grid event bringing
// the regenerated key to Vault (the latency printed; under a generous
// bound, since the machine may be busy). It prints no key and leaves no
// process behind.
func TestDemo(t *testing.T) {
	e := setup(t)
	out, code := e.run(t)
	if code != 0 {
		t.Fatalf("demo.sh exited %d:\n%s", code, e.shown(out+logs(e.state)))
	}
	rest := spaces.ReplaceAllString(out, " ")
	for _, want := range demoStory {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("the demo's output lacks %q (after the lines before it):\n%s", want, e.shown(out))
		}
		rest = rest[i+len(want):]
	}
	if m := eventLatency.FindStringSubmatch(out); m == nil {
		t.Error("no event latency printed")
	} else if ms, err := strconv.Atoi(m[1]); err != nil || ms >= 30000 {
		t.Errorf("event to Vault: %s ms, want under 30 s", m[1])
	}
	if k := sameKey.FindStringSubmatch(out); len(k) != 3 || k[1] != k[2] {
		t.Errorf("the event did not bring Azure's new primary key to Vault: %q", k)
	}
	daemonLog, _ := os.ReadFile(filepath.Join(e.state, "daemon.log"))
	for name, text := range map[string]string{"the demo's output": out, "daemon.log": string(daemonLog)} {
		if n := e.keyShaped(text); n > 0 {
			t.Errorf("%s holds a key-shaped string (%d characters of base64)", name, n)
		}
		if strings.Contains(text, "DATA RACE") {
			t.Errorf("%s reports a data race:\n%s", name, e.shown(text))
		}
	}
}

// keyShaped is keyShaped of text without the test's own folder, whose
// name is a digit-laden run of its own in every path the demo prints.
func (e demoEnv) keyShaped(text string) int {
	return keyShaped(strings.ReplaceAll(text, filepath.Dir(e.state), "TMP"))
}

// shown is text for a failure message, or withheld when it holds what
// may be a key.
func (e demoEnv) shown(text string) string {
	if n := e.keyShaped(text); n > 0 {
		return fmt.Sprintf("(withheld: it holds a key-shaped string of %d characters)", n)
	}
	return text
}

// keyShaped returns the length of the first run of base64 in text that
// holds a digit or a '+', as 40 random base64 characters all but
// certainly do and operation names do not; 0 when there is none. It
// never returns the run itself: that may be a key.
func keyShaped(text string) int {
	for _, run := range base64Run.FindAllString(text, -1) {
		if strings.ContainsAny(run, "0123456789+") {
			return len(run)
		}
	}
	return 0
}

// logs is the demo's log files, for a failure message.
func logs(state string) string {
	var b strings.Builder
	for _, f := range []string{"daemon.log", "armemu.log"} {
		text, err := os.ReadFile(filepath.Join(state, f))
		if err == nil {
			b.WriteString("\n--- " + f + ":\n" + string(text))
		}
	}
	return b.String()
}

// TestDemoFailsLoudly: a step that fails stops the demo with a non-zero
// exit that names the step and the logs, and every process it started
// (Vault, the emulator) is stopped.
func TestDemoFailsLoudly(t *testing.T) {
	e := setup(t)
	failing, err := exec.LookPath("false")
	if err != nil {
		t.Fatal(err)
	}
	e.keysync = failing
	out, code := e.run(t)
	if code == 0 || !strings.Contains(out, `demo failed in "validate the config`) || !strings.Contains(out, "logs: "+e.state+"/vault.log") {
		t.Fatalf("demo.sh with a failing keysync exited %d:\n%s", code, e.shown(out))
	}
}

// TestDemoKeepsForeignState: DEMO_STATE naming a folder that holds files
// the demo did not make is refused, not cleared.
func TestDemoKeepsForeignState(t *testing.T) {
	e := demoEnv{keysync: "/nonexistent/keysync", armemu: "/nonexistent/armemu", vault: "/nonexistent/vault", state: t.TempDir()}
	mine := filepath.Join(e.state, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := e.run(t)
	if code == 0 || !strings.Contains(out, "refusing to clear") {
		t.Fatalf("demo.sh with a foreign state folder exited %d:\n%s", code, e.shown(out))
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("the foreign folder was cleared: %v", err)
	}
}

// TestKeyShaped: the output check finds a key the emulator issues, whole
// or in a line, and the events secret's shape, and passes the demo's
// longest words.
func TestKeyShaped(t *testing.T) {
	key := armemu.New().Add(armemu.Resource{Subscription: "sub", ResourceGroup: "rg", Name: "a"}).Keys["primary"]
	tests := []struct {
		name, text string
		found      bool
	}{
		{"a key", key, true},
		{"a key in a log line", `level=INFO msg=synced primary="` + key + `"`, true},
		{"the events secret's shape", "3f9a0c1b2d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f506", true},
		{"an operation name", "operation=Microsoft.Batch/batchAccounts/regenerateKeys/action", false},
		{"a resource id", "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/apps-rg/providers/microsoft.batch/batchaccounts/forecast", false},
		{"a fingerprint", "primary: sha256:2511a85d4426 -> sha256:49b56d951d08", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyShaped(tt.text) > 0; got != tt.found {
				t.Errorf("keyShaped found %v, want %v", got, tt.found)
			}
		})
	}
}
