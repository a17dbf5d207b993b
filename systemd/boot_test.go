package systemd_test

import (
	"context"
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

// bootDeadline bounds the whole boot: install, sync, reload, stop, the
// waits for a restart (a bad config, a taken port), the timer, poweroff.
// It takes about 20 s; the driver's own waits give up within a minute
// each, so the deadline only ends a boot that hangs.
const bootDeadline = 10 * time.Minute

// TestBootRealSystemd boots this machine's own OS under systemd-nspawn (a
// read-only /usr, a tmpfs root, the host's network, so the test's Vault
// and ARM emulator on 127.0.0.1 are reachable) and installs keysync in it
// with systemd/install.sh, as the README does. The driver
// (testdata/boot-driver.sh) exercises the units under the real systemd and
// prints "KT key=value" markers; this test judges them and Vault's state.
func TestBootRealSystemd(t *testing.T) {
	nspawn := requireNspawn(t)
	dir := t.TempDir()
	bin, err := testenv.BuildKeysync(dir)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := testenv.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vault.Stop)
	emu, err := testenv.StartEmulator(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	kt := filepath.Join(dir, "kt")
	writeInputs(t, kt, vault, emu)

	console, exited := boot(t, nspawn, bin, kt)
	m := waitMarkers(t, console, exited)
	t.Logf("driver markers: %v", m)
	checkMarkers(t, m, console)
	checkVault(t, vault, map[string]bool{"acctA": true, "acctB": true, "acctC": true, "acctMissing": false, "acctSlow": false})
	for _, k := range emu.AllKeys() {
		if strings.Contains(console.String(), k) {
			t.Fatal("the console shows an account key")
		}
	}
}

func requireNspawn(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test boots systemd-nspawn and needs root (.ci/run runs as root)")
	}
	p, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		t.Fatal("systemd-nspawn not found: apt-get install systemd-container (.ci/run does)")
	}
	return p
}

// writeInputs writes what the driver reads from /kt: four configs, a
// broken one, the environment file and the emulator's CA.
func writeInputs(t *testing.T, kt string, vault *testenv.Vault, emu *testenv.Emulator) {
	t.Helper()
	const sub = "11111111-2222-3333-4444-555555555555"
	for _, n := range []string{"acctA", "acctB", "acctC", "acctSlow"} {
		emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: "rg-boot", Name: n})
	}
	// acctSlow's listKeys never answers: its sync is in flight at the stop.
	emu.InjectFault(armemu.Resource{Subscription: sub, ResourceGroup: "rg-boot", Name: "acctSlow"}, armemu.Fault{Kind: armemu.FaultHang})
	listen, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(names ...string) string { return bootConfig(listen, emu.URL(), sub, names...) }
	env := append(vault.Env(), emu.Env()...)
	for i, e := range env {
		if strings.HasPrefix(e, "SSL_CERT_FILE=") {
			env[i] = "SSL_CERT_FILE=/etc/keysync/armemu-ca.pem"
		}
	}
	files := map[string]string{
		"config-1.toml": cfg("acctA", "acctMissing"),
		"config-2.toml": cfg("acctA", "acctB", "acctMissing", "acctSlow"),
		// The token from the credential the README says to uncomment.
		"config-3.toml": strings.Replace(cfg("acctA", "acctC"), "[vault]\n",
			"[vault.auth]\nmethod = \"token\"\ntoken_file = \"/run/credentials/keysync-once.service/vault-token\"\n", 1),
		"bad.toml": "concurrency = \"many\"\n[[account]\n",
		// Vault holds this port: keysync cannot listen and exits 3.
		"config-busy.toml": strings.Replace(cfg("acctA"), listen, strings.TrimPrefix(vault.Addr, "http://"), 1),
		"keysync.env":      strings.Join(env, "\n") + "\n",
		"armemu-ca.pem":    string(emu.CACertPEM()),
	}
	if err := os.MkdirAll(kt, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(kt, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// bootConfig renders a config for the named accounts of sub.
func bootConfig(listen, endpoint, sub string, names ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen = %q\nshutdown_grace = \"2s\"\n\n[azure]\nendpoint = %q\ncredential = \"managed-identity\"\ntimeout = \"10m\"\n\n[vault]\n", listen, endpoint)
	for _, n := range names {
		fmt.Fprintf(&b, "\n[[account]]\nsubscription_id = %q\nresource_group = \"rg-boot\"\nname = %q\npath = \"azure/batch/%s\"\n", sub, n, n)
	}
	return b.String()
}

// boot starts the container and returns its console output so far, live.
// Cleanup stops it: SIGTERM to nspawn (a clean poweroff), then SIGKILL to
// the container's init and nspawn if either lingers.
func boot(t *testing.T, nspawn, bin, kt string) (*testenv.LockedBuffer, <-chan struct{}) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binds := map[string]string{
		bin:                              "/src/bin/keysync",
		filepath.Join(root, "systemd"):   "/src/systemd",
		filepath.Join(root, "README.md"): "/src/README.md",
		filepath.Join(root, "config.example.toml"): "/src/config.example.toml",
		kt: "/kt",
		filepath.Join(root, "systemd", "testdata", "keysync-test.service"): "/etc/systemd/system/keysync-test.service",
	}
	args := []string{"--volatile=yes", "-D", "/", "--boot", "--register=no", "--keep-unit", "-q",
		// /usr is the host's, read-only: install.sh writes /usr/local.
		"--tmpfs=/usr/local"}
	for host, ctr := range binds {
		args = append(args, "--bind-ro="+host+":"+ctr)
	}
	// basic.target, not multi-user: the host's own services (databases,
	// container engines) stay off the shared network.
	args = append(args, "--", "systemd.firstboot=off", "systemd.unit=basic.target", "systemd.wants=keysync-test.service", "systemd.journald.forward_to_console=1")
	// No context: stopContainer stops it, SIGTERM first so the container
	// shuts down; a cancelled context would SIGKILL nspawn at once.
	cmd := exec.Command(nspawn, args...) //nolint:noctx // see above
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { stopContainer(t, cmd.Process, done) })
	return out, done
}

func stopContainer(t *testing.T, p *os.Process, done chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(15 * time.Second):
	}
	t.Log("container did not stop on SIGTERM: killing its init")
	for _, pid := range children(p.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = p.Kill()
	<-done
}

// children lists pid's child processes (the container's init is one).
func children(pid int) []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

var markerRE = regexp.MustCompile(`(?m)\bKT ([a-z0-9-]+)=(.*?)\r?$`)

// waitMarkers waits for the driver's "KT done=yes" and returns every
// marker it printed.
func waitMarkers(t *testing.T, console *testenv.LockedBuffer, exited <-chan struct{}) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	for {
		m := markers(console.String())
		if m["done"] == "yes" {
			return m
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the driver did not finish within %v; markers %v\nconsole:\n%s", bootDeadline, m, tail(console.String(), 200))
		case <-exited:
			if m = markers(console.String()); m["done"] != "yes" {
				t.Fatalf("the container stopped before the driver finished; markers %v\nconsole:\n%s", m, tail(console.String(), 200))
			}
			return m
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// markers parses the driver's "KT key=value" lines.
func markers(console string) map[string]string {
	m := map[string]string{}
	for _, g := range markerRE.FindAllStringSubmatch(console, -1) {
		m[g[1]] = strings.TrimSpace(g[2])
	}
	return m
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkMarkers holds the driver's results to what the README promises.
func checkMarkers(t *testing.T, m map[string]string, console *testenv.LockedBuffer) {
	t.Helper()
	want := []struct{ key, value, why string }{
		{"install", "ok", "systemd/install.sh succeeds"},
		{"modes", "/etc/keysync=root:keysync:750 /etc/keysync/config.toml=root:keysync:640 /etc/keysync/keysync.env=root:root:600", "the config is readable by group keysync only"},
		{"enable", "ok", "install.sh daemon validates as user keysync and starts the service"},
		{"active", "active", "Type=notify reaches active"},
		{"user", "keysync", "the daemon runs as user keysync"},
		{"synced-a", "yes", "the daemon syncs account A"},
		{"reload", "0", "systemctl reload succeeds"},
		{"synced-b", "yes", "the reload applies config-2: account B syncs"},
		{"active-after-reload", "active", "the daemon runs on after a reload"},
		{"stop-result", "success", "stop ends the daemon cleanly, not by timeout or kill"},
		{"stop-status", "0", "the daemon exits 0 on SIGTERM"},
		{"stop-logged", "yes", "the daemon logged its clean stop"},
		{"stop-waited", "yes", "the stop waited for the in-flight sync"},
		{"json-grace-seconds", "yes", "JSON logs give durations in seconds"},
		{"bad-state", "failed", "a bad config fails the start"},
		{"bad-status", "2", "a bad config exits 2"},
		{"bad-restarts", "0", "RestartPreventExitStatus=2: no restart loop on a bad config"},
		{"busy-status", "3", "a taken listen address fails the start with exit 3 (could not start)"},
		{"err-invalid-config", "yes", "journalctl -p err shows the bad config"},
		{"err-sync-failed", "yes", "journalctl -p err shows the failed account"},
		{"err-has-info", "", "routine 'synced' lines are not errors"},
		{"info-synced", "yes", "'synced' lines are in the journal at info"},
		{"enable-timer", "ok", "install.sh timer validates and enables the timer (a re-run of install.sh)"},
		{"modes-after-rerun", "/etc/keysync=root:keysync:750 /etc/keysync/config.toml=root:keysync:640", "a re-run of install.sh fixes an old install's root:root config"},
		{"daemon-after-timer", "disabled", "install.sh timer disables the daemon: one or the other"},
		{"env-token", "0", "the one run has no VAULT_TOKEN in its environment file"},
		{"once-ran", "yes", "the timer started keysync-once.service"},
		{"once-result", "success", "the timer fired keysync-once.service, which succeeded"},
		{"once-status", "0", "the one run synced every account, with the token from LoadCredential="},
		{"timer-active", "active", "the timer waits for the next hour"},
	}
	if step := m["failed"]; step != "" {
		t.Fatalf("step %q failed, the driver stopped there\nconsole:\n%s", step, tail(console.String(), 300))
	}
	failed := false
	for _, w := range want {
		if got := m[w.key]; got != w.value {
			t.Errorf("%s: %s = %q, want %q", w.why, w.key, got, w.value)
			failed = true
		}
	}
	// At least shutdown_grace (2 s): the stop waited for the hung sync.
	// At most 30 s, under TimeoutStopSec (45 s): it did not wait for
	// systemd to give up (stop-result "success" says so too).
	if ms, err := strconv.Atoi(m["stop-ms"]); err != nil || ms < 1500 || ms > 30000 {
		t.Errorf("stop took %q ms, want shutdown_grace (2 s) for the hung sync and well under TimeoutStopSec", m["stop-ms"])
		failed = true
	}
	if n, err := strconv.Atoi(m["busy-restarts"]); err != nil || n < 1 {
		t.Errorf("a start failure other than the config's restarted %q times in a minute, want at least once (Restart=on-failure, RestartSec=5s)", m["busy-restarts"])
		failed = true
	}
	if bad := m["bad-start"]; bad == "0" || bad == "" {
		t.Errorf("systemctl start with a bad config returned %q, want a failure", bad)
		failed = true
	}
	if failed {
		t.Logf("console:\n%s", tail(console.String(), 300))
	}
}

// checkVault: each account is in Vault exactly when it should be.
func checkVault(t *testing.T, vault *testenv.Vault, want map[string]bool) {
	t.Helper()
	for name, present := range want {
		s, err := vault.Client.KVv2("secret").Get(context.Background(), "azure/batch/"+name)
		if got := err == nil && s != nil && len(s.Data) > 0; got != present {
			t.Errorf("azure/batch/%s in Vault: %v, want %v (err %v)", name, got, present, err)
		}
	}
}
