// Package e2e runs the built keysync binary against a real Vault dev server
// and the ARM emulator over TLS, through the real azidentity managed-identity
// credential and azcore pipeline.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

var (
	keysyncBin string
	vault      *testenv.Vault
	emu        *testenv.Emulator
	seq        atomic.Int64
)

const subscription = "11111111-2222-3333-4444-555555555555"

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

// parallel is how many shared tests run at once when -parallel is not
// given. They spend their time waiting on keysync processes, Vault and the
// emulator, not on this process's CPU, so go test's default (GOMAXPROCS)
// would leave a 2-core machine waiting one test after another.
const parallel = 8

// world guards what every test sees: the one Vault (sealed or not,
// reachable or not) and the emulator's settings for every account.
// Tests that change it, or that read all of it, hold it alone
// (exclusive); the others share it (shared) and run in parallel.
var world sync.RWMutex

// shared marks a test that touches only its own accounts, paths, tokens,
// mounts and identities: it runs in parallel with the other shared tests,
// never with an exclusive one.
func shared(t *testing.T) {
	t.Helper()
	t.Parallel() // first: a paused test must not hold the lock
	world.RLock()
	t.Cleanup(world.RUnlock)
}

// exclusive marks a test that changes what every test sees (it seals or
// pauses Vault, or changes every ARM answer): it runs alone. Its subtests
// must not be parallel.
func exclusive(t *testing.T) {
	t.Helper()
	world.Lock()
	t.Cleanup(world.Unlock)
}

func setup(m *testing.M) int {
	flag.Parse()
	if !flagGiven("test.parallel") {
		if err := flag.Set("test.parallel", strconv.Itoa(parallel)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "keysync-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if keysyncBin, err = testenv.BuildKeysync(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if vault, err = testenv.StartVault(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer vault.Stop()
	if emu, err = testenv.StartEmulator(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer emu.Close()
	return m.Run()
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// account is one emulated Batch account and the Vault path keysync gives it.
type account struct {
	sub, rg, name, path string
}

// newAccount creates an emulator account with a name unique to this run.
func newAccount(t *testing.T) account {
	t.Helper()
	return newAccountIn(t, subscription)
}

// newAccountIn creates an account in subscription sub.
func newAccountIn(t *testing.T, sub string) account {
	t.Helper()
	n := seq.Add(1)
	a := account{sub: sub, rg: "rg-e2e", name: fmt.Sprintf("acct%d", n), path: fmt.Sprintf("azure/batch/acct%d", n)}
	emu.Add(a.res())
	return a
}

// res is the account as the emulator names it.
func (a account) res() armemu.Resource {
	return armemu.Resource{Type: "batch", Subscription: a.sub, ResourceGroup: a.rg, Name: a.name}
}

// requests is how many listKeys requests reached the account.
func (a account) requests() int { return emu.Requests(a.res()) }

func (a account) keys(t *testing.T) (primary, secondary string) {
	t.Helper()
	got, ok := emu.Get(a.res())
	if !ok {
		t.Fatalf("no emulator account %s", a.name)
	}
	return got.Keys["primary"], got.Keys["secondary"]
}

func (a account) toml() string {
	return fmt.Sprintf("\n[[account]]\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n", a.sub, a.rg, a.name, a.path)
}

// azureTimeout is the Azure request timeout of every config: a bound that
// only a hang reaches, on a loaded machine too. Tests where a hang's
// duration is the point set a short one (withAzureTimeout).
const azureTimeout = "15s"

// config renders a config file for accounts; extra goes into [vault].
func config(vaultExtra string, accounts ...account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "concurrency = 4\n\n[azure]\nendpoint = %q\ncredential = \"managed-identity\"\ntimeout = %q\n\n[vault]\n%s\n", emu.URL(), azureTimeout, vaultExtra)
	for _, a := range accounts {
		b.WriteString(a.toml())
	}
	return b.String()
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// run writes cfg to a file and runs keysync with args. Every run's output
// is checked for key material.
func run(t *testing.T, cfg string, args ...string) result {
	t.Helper()
	return runEnv(t, cfg, nil, args...)
}

// runEnv is run with extra environment variables, which win over the
// defaults.
func runEnv(t *testing.T, cfg string, env []string, args ...string) result {
	t.Helper()
	return runWatched(t, cfg, env, nil, args...)
}

// runWatched is runEnv; watch, when set, is called with the running
// process and returns when the process has exited (done is closed).
func runWatched(t *testing.T, cfg string, env []string, watch func(pid int, done <-chan struct{}), args ...string) result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, keysyncBin, append([]string{"--config", path}, args...)...)
	cmd.Env = append(append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, vaultOf(t).Env()...), emu.Env()...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		done := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			if watch != nil {
				watch(cmd.Process.Pid, done)
			}
		}()
		err = cmd.Wait()
		close(done)
		<-watched
	}
	res := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running keysync: %v", err)
	}
	assertNoKeys(t, res.stdout+res.stderr)
	return res
}

// assertNoKeys fails when any key the emulator ever issued, or any
// 16-character piece of one, appears in out. The message never quotes it.
func assertNoKeys(t *testing.T, out string) {
	t.Helper()
	for _, k := range emu.AllKeys() {
		for i := 0; i+16 <= len(k); i++ {
			if strings.Contains(out, k[i:i+16]) {
				t.Fatalf("output contains key material (a 16-character piece of an emulator key at offset %d)", i)
			}
		}
	}
}

// withAzureTimeout gives cfg's [azure] a request timeout of d, for tests
// whose faults hang until it.
func withAzureTimeout(cfg, d string) string {
	return strings.Replace(cfg, fmt.Sprintf("timeout = %q", azureTimeout), fmt.Sprintf("timeout = %q", d), 1)
}

func (r result) expect(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (a account) inject(f armemu.Fault) { emu.InjectFault(a.res(), f) }

func (a account) regenerate(t *testing.T, which string) {
	t.Helper()
	if _, err := emu.Regenerate(a.res(), which); err != nil {
		t.Fatal(err)
	}
}
