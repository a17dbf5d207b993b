package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// appRole mounts AppRole at a mount of its own, named after name, with a
// role whose tokens live ttl, at most maxTTL, and may write secret/, and
// returns the mount and the [vault.auth] lines.
func appRole(t *testing.T, name, ttl, maxTTL string) (mount, auth string) {
	t.Helper()
	mount = fmt.Sprintf("%s-%d", name, seq.Add(1))
	c := vault.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Sys().PutPolicy("keysync-e2e", `
path "secret/*" { capabilities = ["create", "read", "update"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`))
	must(c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}))
	_, err := c.Logical().Write("auth/"+mount+"/role/keysync", map[string]any{"token_ttl": ttl, "token_max_ttl": maxTTL, "token_policies": "keysync-e2e"})
	must(err)
	rid, err := c.Logical().Read("auth/" + mount + "/role/keysync/role-id")
	must(err)
	sid, err := c.Logical().Write("auth/"+mount+"/role/keysync/secret-id", nil)
	must(err)
	f := filepath.Join(t.TempDir(), "secret-id")
	must(os.WriteFile(f, []byte(sid.Data["secret_id"].(string)), 0o600))
	return mount, fmt.Sprintf("[vault.auth]\nmethod = \"approle\"\nmount_path = %q\nrole_id = %q\nsecret_id_file = %q\n", mount, rid.Data["role_id"], f)
}

// accessors lists the token accessors Vault knows now.
func accessors(t *testing.T) map[string]bool {
	t.Helper()
	s, err := vault.Client.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range s.Data["keys"].([]any) {
		out[k.(string)] = true
	}
	return out
}

// loginsSince are the accessors of the tokens Vault issued since before
// through a login at mount, and still valid: the test's own, whatever
// other tests log in meanwhile.
func loginsSince(t *testing.T, before map[string]bool, mount string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for acc := range accessors(t) {
		if before[acc] {
			continue
		}
		s, err := vault.Client.Auth().Token().LookupAccessor(acc)
		if err != nil {
			continue // expired or revoked since it was listed
		}
		if p, _ := s.Data["path"].(string); strings.HasPrefix(p, "auth/"+mount+"/") {
			out[acc] = true
		}
	}
	return out
}

// TestDaemonAppRoleTokenLifecycle: with a short-lived AppRole token the
// daemon renews it across several TTLs, logs in again at the max TTL, keeps
// syncing, shows the counts in /metrics, and revokes its own token on
// SIGTERM. VAULT_TOKEN in its environment is ignored for method approle.
func TestDaemonAppRoleTokenLifecycle(t *testing.T) {
	shared(t)
	a := newAccount(t)
	// Tokens of 5 s, at most 15 s: the watcher renews with seconds to
	// spare on a loaded machine, and logs in again three times in ~30 s.
	mount, auth := appRole(t, "approle-e2e", "5s", "15s")
	before := accessors(t)
	d := startDaemon(t, func(addr string) string {
		return daemonConfig(addr, "", a) + "\n" + auth
	})
	d.waitFor("renewals and a second login", 90*time.Second, func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, `keysync_vault_logins_total{method="approle",result="success"} 3`) &&
			strings.Contains(m, `keysync_vault_token_renewals_total{result="success"}`)
	})
	a.regenerate(t, "primary")
	p, _ := a.keys(t)
	d.waitFor("a sync with the newest token", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
	if _, m := d.get("/metrics"); strings.Contains(m, `result="failed"`) {
		t.Errorf("a sync failed across re-logins:\n%s", grep(m, "keysync_sync_total"))
	}
	mine := loginsSince(t, before, mount)
	if code, _ := d.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for acc := range mine {
		if _, err := vault.Client.Auth().Token().LookupAccessor(acc); err == nil {
			t.Errorf("token %s that keysync logged in for is still valid after SIGTERM", acc)
		}
	}
	if d.logLines("vault token revoked") != 1 {
		t.Errorf("revocation not logged:\n%s", d.stderr.String())
	}
}

// TestDaemonHandedTokenNotRevoked: a token given through token_file is
// the user's: keysync uses it and leaves it valid when it stops.
func TestDaemonHandedTokenNotRevoked(t *testing.T) {
	shared(t)
	a := newAccount(t)
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(f, []byte(tok.Auth.ClientToken+"\n"), 0o600))
	d := startDaemon(t, func(addr string) string {
		return daemonConfig(addr, "", a) + fmt.Sprintf("\n[vault.auth]\nmethod = \"token\"\ntoken_file = %q\n", f)
	}, "VAULT_TOKEN=")
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	if code, _ := d.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := vault.Client.Auth().Token().Lookup(tok.Auth.ClientToken); err != nil {
		t.Fatalf("the handed token was revoked: %v", err)
	}
}

// TestDaemonTokenFileRotation: a new token written to token_file, with the
// old one revoked, is picked up and the next sync succeeds.
func TestDaemonTokenFileRotation(t *testing.T) {
	shared(t)
	a := newAccount(t)
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
		return daemonConfig(addr, "", a) + fmt.Sprintf("\n[vault.auth]\nmethod = \"token\"\ntoken_file = %q\n", f)
	}, "VAULT_TOKEN=")
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	replaceFile(t, f, create())
	if err := vault.Client.Auth().Token().RevokeTree(old); err != nil {
		t.Fatal(err)
	}
	a.regenerate(t, "secondary")
	_, s := a.keys(t)
	d.waitFor("a sync with the new token", 10*time.Second, func() bool { return fieldOf(t, a.path, "secondary") == s })
}

// TestDaemonLogsInOnce: over many cycles keysync creates one token, not one
// per cycle or per account.
func TestDaemonLogsInOnce(t *testing.T) {
	shared(t)
	a, b := newAccount(t), newAccount(t)
	mount, auth := appRole(t, "approle-once", "1h", "2h")
	before := accessors(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a, b) + "\n" + auth })
	d.waitFor("five cycles", 15*time.Second, func() bool { return a.requests() >= 5 && b.requests() >= 5 })
	if created := len(loginsSince(t, before, mount)); created != 1 {
		t.Fatalf("%d tokens created over %d cycles of 2 accounts, want 1", created, a.requests())
	}
}
