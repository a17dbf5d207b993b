package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// rotated syncs accts once, then regenerates each one's primary key, so the
// next run has something to write.
func rotated(t *testing.T, cfg string, accts ...account) {
	t.Helper()
	run(t, cfg, "--run-now").expect(t, 0)
	for _, a := range accts {
		a.regenerate(t, "primary")
	}
}

// TestFaultVaultSealed: a sealed Vault (503) is transient for every
// account: nothing is written, the run exits 1; once unsealed the next run
// converges.
func TestFaultVaultSealed(t *testing.T) {
	exclusive(t) // it seals the one Vault
	a, b := newAccount(t), newAccount(t)
	cfg := matrixConfig("", a, b)
	rotated(t, cfg, a, b)
	if err := vault.Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vault.Unseal() })
	r := run(t, cfg, "--run-now", "--log-format", "json")
	r.expect(t, 1)
	for _, acct := range []account{a, b} {
		lines := failureLines(t, r.stderr, acct.name)
		if len(lines) != 1 || !lines[0].Transient || !strings.Contains(lines[0].Err, "503") {
			t.Errorf("%s: want one transient 503 failure, got %+v", acct.name, lines)
		}
	}
	if err := vault.Unseal(); err != nil {
		t.Fatal(err)
	}
	run(t, cfg, "--run-now").expect(t, 0)
	assertTruth(t, a, b)
	assertNoWrongWrites(t, a, b)
}

// TestFaultVaultUnreachable: a Vault that takes connections and answers
// nothing times out (after the paused run's 1 s), transiently; when it is
// back, the next run converges.
func TestFaultVaultUnreachable(t *testing.T) {
	exclusive(t) // it stops the one Vault
	a := newAccount(t)
	cfg := matrixConfig("kv_version = 2\n", a)
	paused := strings.Replace(cfg, "[vault]\ntimeout = \""+vaultTimeout+"\"", "[vault]\ntimeout = \"1s\"", 1)
	if paused == cfg {
		t.Fatal("no [vault] timeout to shorten")
	}
	rotated(t, cfg, a)
	if err := vault.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = vault.Resume()
		}
	})
	r := run(t, paused, "--run-now", "--log-format", "json")
	_ = vault.Resume()
	resumed = true
	r.expect(t, 1)
	if lines := failureLines(t, r.stderr, a.name); len(lines) != 1 || !lines[0].Transient {
		t.Errorf("want one transient failure, got %+v", lines)
	}
	run(t, cfg, "--run-now").expect(t, 0)
	assertTruth(t, a)
	assertNoWrongWrites(t, a)
}

// TestFaultVaultPolicyDenied: a policy that denies one account's path fails
// that account, permanently and once, while the others sync.
func TestFaultVaultPolicyDenied(t *testing.T) {
	shared(t)
	denied, ok := newAccount(t), newAccount(t)
	policy := fmt.Sprintf("deny-one-%d", seq.Add(1))
	err := vault.Client.Sys().PutPolicy(policy, fmt.Sprintf(`
path "secret/data/azure/batch/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/azure/batch/*" { capabilities = ["create", "read", "update"] }
path "secret/data/%[1]s"     { capabilities = ["deny"] }
path "secret/metadata/%[1]s" { capabilities = ["deny"] }`, denied.path))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := matrixConfig("kv_version = 2\n", denied, ok)
	r := runEnv(t, cfg, []string{"VAULT_TOKEN=" + tok.Auth.ClientToken}, "--run-now", "--log-format", "json")
	r.expect(t, 1)
	lines := failureLines(t, r.stderr, denied.name)
	if len(lines) != 1 || lines[0].Transient || !strings.Contains(lines[0].Err, "403") {
		t.Errorf("want one permanent 403 failure, got %+v", lines)
	}
	if denied.requests() != 1 {
		t.Errorf("%d attempts on a permanent 403", denied.requests())
	}
	assertTruth(t, ok)
	if readV2(t, denied.path) != nil {
		t.Error("the denied path was written")
	}
}

// TestFaultVaultConcurrentWriter: another writer patches the secret again
// and again while keysync syncs it: between keysync's read and its
// check-and-set write, twice in each run (an attempt re-plans up to three
// conflicts), and three times in the last (the attempt gives up and the
// run retries it after a backoff). The conflicts are re-planned, the other
// writer's field is never lost, and no wrong key is ever written.
func TestFaultVaultConcurrentWriter(t *testing.T) {
	shared(t)
	races := []int64{2, 2, 2, 2, 2, 2, 2, 2, 2, 3}
	a := newAccount(t)
	cfg := config("", a)
	run(t, cfg, "--run-now").expect(t, 0)
	var writes, raced, due atomic.Int64
	data := "/v1/secret/data/" + a.path
	addr := vaultTap(t, func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == data && changesVault(r) && raced.Add(1) <= due.Load() {
			// The other writer gets in first: keysync's write now
			// names a version that is no longer the latest.
			if _, err := vault.Client.KVv2("secret").Patch(r.Context(), a.path, map[string]any{"writer": fmt.Sprint(writes.Load())}); err == nil {
				writes.Add(1)
			}
		}
		return false
	})
	var last result
	want := int64(0)
	for _, n := range races {
		a.regenerate(t, "secondary")
		raced.Store(0)
		due.Store(n)
		want += n
		last = runEnv(t, cfg, []string{"VAULT_ADDR=" + addr}, "--run-now")
		last.expect(t, 0)
	}
	if n := writes.Load(); n != want {
		t.Fatalf("the other writer got in %d times, want %d: no contention", n, want)
	}
	if !strings.Contains(last.stderr, "transient failure, retrying") {
		t.Errorf("three conflicts in one attempt were not retried:\n%s", last.stderr)
	}
	got := readV2(t, a.path)
	if got.data["writer"] == nil {
		t.Error("the other writer's field was lost")
	}
	assertTruth(t, a)
	assertNoWrongWrites(t, a)
}

// TestFaultVaultTokenRevokedMidRun: the daemon's token, revoked from
// outside, is replaced by one new login, and syncing goes on.
func TestFaultVaultTokenRevokedMidRun(t *testing.T) {
	shared(t)
	a := newAccount(t)
	mount, auth := appRole(t, "approle-revoked", "1h", "2h")
	before := accessors(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) + "\n" + auth })
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	for acc := range loginsSince(t, before, mount) {
		if err := vault.Client.Auth().Token().RevokeAccessor(acc); err != nil {
			t.Fatal(err)
		}
	}
	a.regenerate(t, "primary")
	p, _ := a.keys(t)
	d.waitFor("a sync after the revocation", 10*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
	_, m := d.get("/metrics")
	if !strings.Contains(m, `keysync_vault_logins_total{method="approle",result="success"} 2`) {
		t.Errorf("want exactly one new login:\n%s", grep(m, "logins"))
	}
	assertNoWrongWrites(t, a)
}
