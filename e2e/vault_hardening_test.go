package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/testenv"
)

// exitStartup is keysync's exit code when it could not start.
const exitStartup = 3

// mountOnce is one mount of ensureMount's, made once.
type mountOnce struct {
	once sync.Once
	err  error
}

// mounts are ensureMount's, by path.
var mounts sync.Map

// ensureMount mounts a secrets engine of type typ at path once per run;
// a test that asks while another mounts it waits until it is there.
func ensureMount(t *testing.T, path, typ string) {
	t.Helper()
	m, _ := mounts.LoadOrStore(path, &mountOnce{})
	mo := m.(*mountOnce)
	mo.once.Do(func() { mo.err = vault.Client.Sys().Mount(path, &api.MountInput{Type: typ}) })
	if mo.err != nil {
		t.Fatal(mo.err)
	}
}

// entitiesNaming lists the identity entities Vault holds whose name holds
// part (a test's own path): what the test's keysync may have created,
// whatever other tests do meanwhile.
func entitiesNaming(t *testing.T, part string) []string {
	t.Helper()
	s, err := vault.Client.Logical().List("identity/entity/name")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if s != nil {
		for _, k := range s.Data["keys"].([]any) {
			if name := k.(string); strings.Contains(name, part) {
				out = append(out, name)
			}
		}
	}
	return out
}

// startOnly runs the daemon (no --run-now) and expects it to exit by
// itself within a minute, as it must when it cannot start; a daemon still
// running then is killed and reported with code -1.
func startOnly(t *testing.T, cfg string, env ...string) result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFloor)
	defer cancel()
	cmd := exec.CommandContext(ctx, keysyncBin, "--config", path)
	cmd.Env = append(append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, vault.Env()...), emu.Env()...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	var ee *exec.ExitError
	if ctx.Err() != nil {
		res.code = -1
	} else if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	assertNoKeys(t, res.stdout+res.stderr)
	return res
}

// TestVaultMountNotKVRefused: issue 10's config, mount =
// "identity/entity/name" with kv_version = 1, is refused by --validate's
// rules (exit 2, before any login); a transit engine, under its own name
// or one that looks like a KV mount, is refused at start by --run-now and
// by the daemon (exit 3, the engine named). No identity entity is
// created under the account's path and ARM is never asked.
func TestVaultMountNotKVRefused(t *testing.T) {
	shared(t)
	ensureMount(t, "transit", "transit")
	ensureMount(t, "kvsecrets", "transit")
	a := newAccount(t)
	a.path = fmt.Sprintf("keysyncpwn%d", seq.Add(1))
	tests := []struct {
		name, vault string
		code        int
		msg         string // as the text log quotes it
	}{
		{"identity", "mount = \"identity/entity/name\"\nkv_version = 1\n", 2, `is Vault's own mount, not a KV secrets engine`},
		{"transit", "mount = \"transit\"\nkv_version = 2\n", exitStartup, `\"transit\" secrets engine`},
		{"transit named like KV", "mount = \"kvsecrets\"\nkv_version = 1\n", exitStartup, `\"transit\" secrets engine`},
	}
	for _, tt := range tests {
		for _, mode := range []string{"run-now", "daemon"} {
			t.Run(tt.name+" "+mode, func(t *testing.T) {
				t.Parallel()
				var r result
				if mode == "run-now" {
					r = run(t, config(tt.vault, a), "--run-now")
				} else {
					r = startOnly(t, "schedule = \"@every 1s\"\n"+config(tt.vault, a))
				}
				r.expect(t, tt.code)
				if !strings.Contains(r.stderr, tt.msg) || !strings.Contains(r.stderr, "not") {
					t.Errorf("message does not say the mount is not KV:\n%s", r.stderr)
				}
				if made := entitiesNaming(t, a.path); len(made) != 0 {
					t.Errorf("identity entities created: %v", made)
				}
				if a.requests() != 0 {
					t.Errorf("%d listKeys requests for a run that must not start", a.requests())
				}
			})
		}
	}
}

// TestVaultMountTypeUnreadable: a token that cannot read the mount's type
// is refused with kv_version = 0 and told what to grant; with kv_version
// = 2 it syncs once secret/config answered as KV v2.
func TestVaultMountTypeUnreadable(t *testing.T) {
	shared(t)
	a := newAccount(t)
	if err := vault.Client.Sys().PutPolicy("keysync-probe", `
path "secret/data/azure/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/azure/*" { capabilities = ["create", "read", "update"] }
path "secret/config"           { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"keysync-probe"}})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"VAULT_ADDR=" + testenv.DenyMountType(t, vault.Addr), "VAULT_TOKEN=" + tok.Auth.ClientToken}
	r := runEnv(t, config("", a), env, "--run-now")
	r.expect(t, exitStartup)
	if !strings.Contains(r.stderr, "grant the token read on sys/internal/ui/mounts/secret, or set kv_version") {
		t.Errorf("the refusal does not say what to grant:\n%s", r.stderr)
	}
	if readV2(t, a.path) != nil {
		t.Fatal("written despite the refusal")
	}
	runEnv(t, config("kv_version = 2\n", a), env, "--run-now").expect(t, 0)
	assertTruth(t, a)
}

// TestVaultBadSecretID: a wrong AppRole secret id with kv_version = 0 is
// reported as the login failing, with Vault's reason; exit 3, nothing
// written.
func TestVaultBadSecretID(t *testing.T) {
	shared(t)
	a := newAccount(t)
	mount, auth := appRole(t, "approle-badsid", "1h", "2h")
	f := between(auth, "secret_id_file = \"", "\"")
	if err := os.WriteFile(f, []byte("00000000-0000-0000-0000-000000000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"run-now", "daemon"} {
		var r result
		if mode == "run-now" {
			r = run(t, config("", a)+"\n"+auth, "--run-now")
		} else {
			r = startOnly(t, "schedule = \"@every 1s\"\n"+config("", a)+"\n"+auth)
		}
		r.expect(t, exitStartup)
		if !strings.Contains(r.stderr, "vault login (approle at auth/"+mount+")") || !strings.Contains(r.stderr, "invalid role or secret ID") {
			t.Errorf("%s: the login failure is not reported as one:\n%s", mode, r.stderr)
		}
		if strings.Contains(r.stderr, "detect") || strings.Contains(r.stderr, "check-mount") {
			t.Errorf("%s: a mount error hides the login failure:\n%s", mode, r.stderr)
		}
	}
	if readV2(t, a.path) != nil {
		t.Fatal("written without a login")
	}
}

// TestVaultSecretIDFileReadable: a secret_id_file others can read is
// refused at login, naming the file and its mode: exit 2 (the file is
// checked when read, at every login, not by --validate).
func TestVaultSecretIDFileReadable(t *testing.T) {
	shared(t)
	a := newAccount(t)
	_, auth := appRole(t, "approle-mode", "1h", "2h")
	f := between(auth, "secret_id_file = \"", "\"")
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, config("", a)+"\n"+auth, "--run-now")
	r.expect(t, 2) // a refused secret file is a configuration error
	if !strings.Contains(r.stderr, f) || !strings.Contains(r.stderr, "mode 0644") {
		t.Errorf("the refusal does not name the file and its mode:\n%s", r.stderr)
	}
	if readV2(t, a.path) != nil {
		t.Fatal("written with a refused secret id file")
	}
	must(t, os.Chmod(f, 0o600))
	run(t, config("", a)+"\n"+auth, "--run-now").expect(t, 0)
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// TestDaemonRevokedTokenLoggedOnce: a revoked VAULT_TOKEN, met by three
// accounts on one-second schedules over several ticks, is logged once, not
// once per account per tick; metrics count every occurrence.
func TestDaemonRevokedTokenLoggedOnce(t *testing.T) {
	shared(t)
	accts := []account{newAccount(t), newAccount(t), newAccount(t)}
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", accts...) }, "VAULT_TOKEN="+tok.Auth.ClientToken)
	d.waitFor("the first syncs", 15*time.Second, func() bool {
		for _, a := range accts {
			if readV2(t, a.path) == nil {
				return false
			}
		}
		return true
	})
	if err := vault.Client.Auth().Token().RevokeTree(tok.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	// Every account meets the invalid token on two more ticks: the metric
	// counts each meeting, the log says it once.
	d.waitCycles(2, 20*time.Second, accts...)
	if n := d.metric(`keysync_vault_token_events_total{event="invalid"}`); n < float64(len(accts)) {
		t.Errorf("%v invalid-token events counted over two ticks of %d accounts", n, len(accts))
	}
	if n := d.logLines("no longer valid"); n != 1 {
		t.Errorf("the invalid token was logged %d times, want 1:\n%s", n, grep(d.stderr.String(), "vault"))
	}
}

// TestDaemonTokenFileRecoveryLoggedOnce: a revoked token_file token is
// logged once; a new token written to the file is logged once as the
// recovery, and the accounts sync again.
func TestDaemonTokenFileRecoveryLoggedOnce(t *testing.T) {
	shared(t)
	accts := []account{newAccount(t), newAccount(t), newAccount(t)}
	create := func() string {
		tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Auth.ClientToken
	}
	old := create()
	f := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(f, []byte(old), 0o600))
	d := startDaemon(t, func(addr string) string {
		return daemonConfig(addr, "", accts...) + fmt.Sprintf("\n[vault.auth]\nmethod = \"token\"\ntoken_file = %q\n", f)
	}, "VAULT_TOKEN=")
	d.waitFor("the first syncs", 15*time.Second, func() bool {
		return readV2(t, accts[0].path) != nil && readV2(t, accts[1].path) != nil && readV2(t, accts[2].path) != nil
	})
	if err := vault.Client.Auth().Token().RevokeTree(old); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the invalid token to be noticed", 10*time.Second, func() bool { return d.logLines("no longer valid") > 0 })
	d.waitCycles(2, 20*time.Second, accts...) // the token stays invalid over ticks
	fresh := create()
	replaceFile(t, f, fresh)
	accts[0].regenerate(t, "primary")
	p, _ := accts[0].keys(t)
	d.waitFor("a sync with the new token", 20*time.Second, func() bool {
		s := readV2(t, accts[0].path)
		return s != nil && s.data["primary"] == p
	})
	d.waitCycles(2, 20*time.Second, accts...) // ticks after the recovery
	if n := d.logLines("no longer valid"); n != 1 {
		t.Errorf("the invalid token was logged %d times, want 1:\n%s", n, grep(d.stderr.String(), "vault"))
	}
	if n := d.logLines("vault token valid again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want 1:\n%s", n, grep(d.stderr.String(), "vault"))
	}
	// A second revocation is a new condition: logged once more.
	if err := vault.Client.Auth().Token().RevokeTree(fresh); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the second invalid token to be noticed", 10*time.Second, func() bool { return d.logLines("no longer valid") == 2 })
	d.waitCycles(2, 20*time.Second, accts...)
	if n := d.logLines("no longer valid"); n != 2 {
		t.Errorf("two revocations logged %d times, want 2:\n%s", n, grep(d.stderr.String(), "vault"))
	}
}

// TestDaemonSealedAtStartChecksMountLater: a daemon that starts while
// Vault is sealed cannot check the mount yet; it keeps running, and once
// Vault is unsealed it still refuses a transit mount named like a KV one
// before any write: every sync fails with the reason, none is a create.
func TestDaemonSealedAtStartChecksMountLater(t *testing.T) {
	exclusive(t) // it seals the one Vault
	ensureMount(t, "kvsecrets", "transit")
	a := newAccount(t)
	a.path = fmt.Sprintf("keysyncpwn%d", seq.Add(1))
	if err := vault.Seal(); err != nil {
		t.Fatal(err)
	}
	sealed := true
	t.Cleanup(func() {
		if sealed {
			_ = vault.Unseal()
		}
	})
	d := startDaemon(t, func(addr string) string {
		return strings.Replace(daemonConfig(addr, "", a), "[vault]\n", "[vault]\nmount = \"kvsecrets\"\nkv_version = 1\n", 1)
	})
	d.waitCycles(1, 10*time.Second, a) // a tick with Vault sealed
	if err := vault.Unseal(); err != nil {
		t.Fatal(err)
	}
	sealed = false
	d.waitFor("the mount to be refused after unseal", 15*time.Second, func() bool { return d.logLines("not KV") > 0 })
	d.waitCycles(2, 15*time.Second, a) // ticks after the refusal
	if _, m := d.get("/metrics"); strings.Contains(m, `result="create"`) {
		t.Errorf("a sync reported a create on a refused mount:\n%s", grep(m, "keysync_sync_total"))
	}
}

// TestVaultTokenFileMode: a token_file others can read is refused (exit
// 2, file and mode named, nothing written); one only its owner and its
// group, which keysync runs in, can read is used.
func TestVaultTokenFileMode(t *testing.T) {
	shared(t)
	a := newAccount(t)
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(testenv.RootToken), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config("", a) + fmt.Sprintf("\n[vault.auth]\nmethod = \"token\"\ntoken_file = %q\n", f)
	r := runEnv(t, cfg, []string{"VAULT_TOKEN="}, "--run-now")
	r.expect(t, 2) // a refused secret file is a configuration error
	if !strings.Contains(r.stderr, f) || !strings.Contains(r.stderr, "mode 0644") {
		t.Errorf("the refusal does not name the file and its mode:\n%s", r.stderr)
	}
	if readV2(t, a.path) != nil {
		t.Fatal("written with a refused token file")
	}
	must(t, os.Chmod(f, 0o640))
	r = runEnv(t, cfg, []string{"VAULT_TOKEN="}, "--run-now")
	r.expect(t, 0)
}

// TestRefusedMountRevokesTheLogin: an AppRole login made for a start that
// the mount check then refuses is revoked, not left to live out its TTL.
func TestRefusedMountRevokesTheLogin(t *testing.T) {
	shared(t)
	ensureMount(t, "kvsecrets", "transit")
	a := newAccount(t)
	mount, auth := appRole(t, "approle-refused", "1h", "2h")
	before := accessors(t)
	r := run(t, config("mount = \"kvsecrets\"\nkv_version = 1\n", a)+"\n"+auth, "--run-now")
	r.expect(t, exitStartup)
	for acc := range loginsSince(t, before, mount) {
		t.Errorf("token %s from the refused start is still valid", acc)
	}
}
