package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// regenerations counts regenerateKeys calls that reached an account.
func regenerations(a account) int {
	n := 0
	for _, r := range emu.RequestsOf(a.res()) {
		if strings.HasSuffix(r.Path, "/batchAccounts/"+a.name+"/regenerateKeys") {
			n++
		}
	}
	return n
}

func rotationConfig(every, grace string, a account) string {
	return strings.Replace(config("", a), "path =", "rotate_every = \""+every+"\"\nrotate_grace = \""+grace+"\"\npath =", 1)
}

// rotationDue waits until a dry run of cfg plans to regenerate key: the
// period (and the grace since active last moved) has passed by keysync's
// own reading of what Vault records.
func rotationDue(t *testing.T, cfg, key string) {
	t.Helper()
	eventually(t, waitFloor, func() (bool, string) {
		r := run(t, cfg, "--dry-run")
		return strings.Contains(r.stdout, "rotate: regenerate "+key), "a dry run planning to regenerate " + key + ":\n" + r.stdout
	})
}

// rotatedAt is when Vault records the account's last rotation.
func rotatedAt(t *testing.T, a account) time.Time {
	t.Helper()
	s, _ := readV2(t, a.path).meta["rotated-at"].(string)
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("rotated-at %q: %v", s, err)
	}
	return at
}

func activeOf(t *testing.T, a account) string {
	t.Helper()
	v, _ := readV2(t, a.path).data["active"].(string)
	return v
}

// TestRotationFullCycle: across two periods keysync regenerates the
// inactive key each time, writes both keys with active naming the new one,
// and leaves the other key as it was; a dry run only shows the rotation.
func TestRotationFullCycle(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := rotationConfig("2s", "1s", a)
	run(t, cfg, "--run-now").expect(t, 0)
	got := readV2(t, a.path)
	if activeOf(t, a) != "primary" || got.meta["rotated-at"] == nil || regenerations(a) != 0 {
		t.Fatalf("baseline: active %q, rotated-at %v, %d regenerations", activeOf(t, a), got.meta["rotated-at"], regenerations(a))
	}
	rotationDue(t, cfg, "secondary")
	if regenerations(a) != 0 || readV2(t, a.path).version != 1 {
		t.Fatal("dry runs did more than show the rotation")
	}

	before := readV2(t, a.path)
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	p, s := a.keys(t)
	after := readV2(t, a.path)
	if regenerations(a) != 1 || activeOf(t, a) != "secondary" || after.version != 2 {
		t.Fatalf("first rotation: %d regenerations, active %q, version %d\n%s", regenerations(a), activeOf(t, a), after.version, r.stdout)
	}
	if after.data["primary"] != before.data["primary"] || after.data["primary"] != p || after.data["secondary"] != s || s == before.data["secondary"] {
		t.Fatal("the first rotation did not replace exactly the secondary key")
	}
	if after.meta["rotated-secondary-at"] == nil {
		t.Error("no record of the secondary's regeneration")
	}
	rotationDue(t, cfg, "primary")
	run(t, cfg, "--run-now").expect(t, 0)
	p2, s2 := a.keys(t)
	last := readV2(t, a.path)
	if regenerations(a) != 2 || activeOf(t, a) != "primary" || p2 == p || s2 != s || last.data["primary"] != p2 || last.data["secondary"] != s {
		t.Fatalf("second rotation: %d regenerations, active %q", regenerations(a), activeOf(t, a))
	}
	assertNoWrongWrites(t, a)
}

// TestRotationNoDoubleWithinGrace: a key is never regenerated twice inside
// its grace, even when the period says rotate, and one cycle never
// regenerates both keys.
func TestRotationNoDoubleWithinGrace(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := rotationConfig("1s", "2s", a)
	run(t, cfg, "--run-now").expect(t, 0)
	// secondary, then primary, one per cycle.
	for i, key := range []string{"secondary", "primary"} {
		rotationDue(t, cfg, key)
		run(t, cfg, "--run-now").expect(t, 0)
		if n := regenerations(a); n != i+1 {
			t.Fatalf("%d regenerations after %d rotation cycles: one cycle regenerated more than one key", n, i+1)
		}
	}
	// Then, with a grace of an hour, both keys are within it however slow
	// the machine. Once the period has passed again by Vault's record (its
	// stamps are whole seconds: one more), a cycle the period alone would
	// rotate must not.
	withinGrace := rotationConfig("1s", "1h", a)
	again := rotatedAt(t, a).Add(time.Second + time.Second)
	eventually(t, 0, func() (bool, string) { return time.Now().After(again), "the period to pass again" })
	run(t, withinGrace, "--run-now").expect(t, 0)
	if n := regenerations(a); n != 2 {
		t.Fatalf("%d regenerations with both keys within a 1 h grace, want 2", n)
	}
}

// TestRotationPermanentErrorOnRegenerate: a refused regenerate fails the
// account and leaves Vault as it was.
func TestRotationPermanentErrorOnRegenerate(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := rotationConfig("1s", "1s", a)
	run(t, cfg, "--run-now").expect(t, 0)
	rotationDue(t, cfg, "secondary")
	refused := faultAuthz
	refused.Action = "regenerateKeys"
	a.inject(refused)
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "regenerating secondary key") || !strings.Contains(r.stdout, "AuthorizationFailed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	if got := readV2(t, a.path); got.version != 1 || activeOf(t, a) != "primary" {
		t.Fatalf("Vault changed after a failed regenerate: version %d", got.version)
	}
}

// TestRotationVaultFailureAfterRegenerate: Vault fails right after a
// regenerate succeeded: from the baseline on, a proxy answers every data
// write of the secret 503, as a sealed Vault does, and lets the rotation
// record through. The daemon says so loudly, /readyz reports it, and it
// retries the write, without regenerating again, until Vault holds the
// new key.
func TestRotationVaultFailureAfterRegenerate(t *testing.T) {
	shared(t)
	a := newAccount(t)
	top, tok := apiToken(t)
	p := newVaultProxy(t, a.path)
	d := startDaemon(t, func(addr string) string {
		return strings.Replace(daemonConfig(addr, top, a), "path =", "rotate_every = \"2s\"\nrotate_grace = \"1s\"\npath =", 1)
	}, p.env()...)
	d.waitFor("the baseline", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	p.mode.Store(proxyFail)
	d.waitFor("a regenerate request", 10*time.Second, func() bool { return regenerations(a) == 1 })
	d.waitFor("the loud log line", 10*time.Second, func() bool { return d.logLines("ROTATED KEY NOT IN VAULT") >= 1 })
	d.waitFor("/readyz to name the pending rotation", 5*time.Second, func() bool {
		code, _, body := d.call("GET", "/readyz", tok)
		return code == http.StatusServiceUnavailable && strings.Contains(body, a.path)
	})
	p.mode.Store(proxyPass)
	acct, _ := emu.Get(a.res())
	firstNew := acct.History[2] // the keys at creation, then the first regenerate's
	d.waitFor("the rotated key in Vault", 10*time.Second, func() bool {
		got := readV2(t, a.path)
		return got != nil && got.data["secondary"] == firstNew && activeOf(t, a) == "secondary"
	})
	d.waitFor("readiness", 20*time.Second, func() bool {
		code, _, body := d.call("GET", "/readyz", tok)
		return code == http.StatusOK && strings.Contains(body, `"rotation_pending":[]`)
	})
	assertNoWrongWrites(t, a)
}
