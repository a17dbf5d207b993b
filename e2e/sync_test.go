package e2e

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
)

// TestFirstSyncCreatesAndSecondWritesNothing: the first run creates the
// secret with both keys and provenance; the second run leaves version 1.
func TestFirstSyncCreatesAndSecondWritesNothing(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := config("", a)
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	p, s := a.keys(t)
	got := readV2(t, a.path)
	if got == nil || got.version != 1 {
		t.Fatalf("after the first run: %+v, want version 1", got)
	}
	if got.data["primary"] != p || got.data["secondary"] != s {
		t.Fatal("Vault does not hold the emulator's keys")
	}
	wantMeta := map[string]string{
		"managed-by":            "keysync",
		"api-version":           "2026-08-01",
		"resource-id":           "/subscriptions/" + subscription + "/resourceGroups/" + a.rg + "/providers/Microsoft.Batch/batchAccounts/" + a.name,
		"fingerprint-primary":   armemu.Fingerprint(p),
		"fingerprint-secondary": armemu.Fingerprint(s),
	}
	for k, v := range wantMeta {
		if got.meta[k] != v {
			t.Errorf("custom_metadata[%s] = %v, want %v", k, got.meta[k], v)
		}
	}
	if got.meta["synced-at"] == nil {
		t.Error("custom_metadata lacks synced-at")
	}
	if !strings.Contains(r.stdout, "create") || !strings.Contains(r.stdout, "1 created") {
		t.Errorf("summary does not report the create:\n%s", r.stdout)
	}

	r = run(t, cfg, "--run-now", "--log-format", "json")
	r.expect(t, 0)
	if v := versionOf(t, a.path); v != 1 {
		t.Fatalf("second run moved the version to %d", v)
	}
	if !strings.Contains(r.stdout, "1 unchanged") {
		t.Errorf("summary does not report unchanged:\n%s", r.stdout)
	}
	if synced := readV2(t, a.path).meta["synced-at"]; synced != got.meta["synced-at"] {
		t.Error("an unchanged run rewrote the metadata")
	}
}

// TestRotatedKeyUpdatesOnlyThatField: after a regenerate of the secondary
// key, the next run writes version 2 with only that field changed.
func TestRotatedKeyUpdatesOnlyThatField(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := config("", a)
	run(t, cfg, "--run-now").expect(t, 0)
	before := readV2(t, a.path)
	if _, err := emu.Regenerate(a.res(), "secondary"); err != nil {
		t.Fatal(err)
	}
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	after := readV2(t, a.path)
	p, s := a.keys(t)
	if after.version != 2 {
		t.Fatalf("version %d, want 2", after.version)
	}
	if after.data["primary"] != before.data["primary"] || after.data["primary"] != p {
		t.Fatal("primary changed")
	}
	if after.data["secondary"] != s || after.data["secondary"] == before.data["secondary"] {
		t.Fatal("secondary not updated to the new key")
	}
	if !strings.Contains(r.stdout, "secondary: "+armemu.Fingerprint(before.data["secondary"].(string))+" -> "+armemu.Fingerprint(s)) {
		t.Errorf("report does not show the secondary's fingerprints:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "primary:") {
		t.Errorf("report lists primary as changed:\n%s", r.stdout)
	}
	if after.meta["fingerprint-secondary"] != armemu.Fingerprint(s) {
		t.Error("metadata fingerprint not updated")
	}
}

// TestForeignFieldsSurvive: fields someone else keeps at the same path, and
// their custom_metadata, survive a sync that changes a key.
func TestForeignFieldsSurvive(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := config("", a)
	run(t, cfg, "--run-now").expect(t, 0)
	cur := readV2(t, a.path)
	cur.data["connection-hint"] = "use westeurope"
	writeV2(t, a.path, cur.data)
	if _, err := emu.Regenerate(a.res(), "primary"); err != nil {
		t.Fatal(err)
	}
	run(t, cfg, "--run-now").expect(t, 0)
	got := readV2(t, a.path)
	p, _ := a.keys(t)
	if got.version != 3 || got.data["primary"] != p {
		t.Fatalf("version %d, primary updated: %t", got.version, got.data["primary"] == p)
	}
	if got.data["connection-hint"] != "use westeurope" {
		t.Fatalf("foreign field lost: %v", got.data["connection-hint"])
	}
}

// TestKVv1: a version 1 mount, detected, works the same way without versions.
func TestKVv1(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := config(`mount = "kv1"`, a)
	run(t, cfg, "--run-now").expect(t, 0)
	read := func() map[string]any {
		s, err := vault.Client.Logical().Read("kv1/" + a.path)
		if err != nil || s == nil {
			t.Fatalf("reading kv1/%s: %v", a.path, err)
		}
		return s.Data
	}
	p, s := a.keys(t)
	if d := read(); d["primary"] != p || d["secondary"] != s {
		t.Fatal("KV v1 does not hold the keys")
	}
	d := read()
	d["owner"] = "team-x"
	if _, err := vault.Client.Logical().Write("kv1/"+a.path, d); err != nil {
		t.Fatal(err)
	}
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "1 unchanged") {
		t.Errorf("second KV v1 run not unchanged:\n%s", r.stdout)
	}
	if _, err := emu.Regenerate(a.res(), "primary"); err != nil {
		t.Fatal(err)
	}
	run(t, cfg, "--run-now").expect(t, 0)
	p, _ = a.keys(t)
	if d := read(); d["primary"] != p || d["owner"] != "team-x" {
		t.Fatalf("after rotation: primary updated %t, owner %v", d["primary"] == p, d["owner"])
	}
}

// TestUnownedSecretRefusedWithoutAdopt: an existing secret keysync did not
// create is left alone, the account fails with a clear message; with
// adopt = true it is taken over and its other fields kept.
func TestUnownedSecretRefusedWithoutAdopt(t *testing.T) {
	shared(t)
	a := newAccount(t)
	writeV2(t, a.path, map[string]any{"primary": "hand-copied-old-key", "note": "kept by hand"})
	r := run(t, config("", a), "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "adopt = true") || !strings.Contains(r.stderr, "refused") {
		t.Errorf("refusal not explained:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if got := readV2(t, a.path); got.version != 1 || got.data["primary"] != "hand-copied-old-key" || got.meta != nil {
		t.Fatalf("refused secret was changed: version %d", got.version)
	}
	adopt := strings.Replace(config("", a), "path =", "adopt = true\npath =", 1)
	run(t, adopt, "--run-now").expect(t, 0)
	got := readV2(t, a.path)
	p, _ := a.keys(t)
	if got.version != 2 || got.data["primary"] != p || got.data["note"] != "kept by hand" || got.meta["managed-by"] != "keysync" {
		t.Fatalf("adopt: version %d, primary updated %t, note %v, managed-by %v", got.version, got.data["primary"] == p, got.data["note"], got.meta["managed-by"])
	}
	// Once adopted, the account no longer needs the flag.
	run(t, config("", a), "--run-now").expect(t, 0)
}

// TestDryRunWritesNothing: the plan is printed, masked, and Vault is untouched.
func TestDryRunWritesNothing(t *testing.T) {
	shared(t)
	a := newAccount(t)
	r := run(t, config("", a), "--dry-run")
	r.expect(t, 0)
	if readV2(t, a.path) != nil {
		t.Fatal("dry run wrote a secret")
	}
	p, s := a.keys(t)
	for _, want := range []string{"dry run", "create", a.path, "primary: (none) -> " + armemu.Fingerprint(p), "secondary: (none) -> " + armemu.Fingerprint(s)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	run(t, config("", a), "--run-now").expect(t, 0)
	a.regenerate(t, "primary")
	run(t, config("", a), "--dry-run").expect(t, 0)
	if v := versionOf(t, a.path); v != 1 {
		t.Fatalf("dry run of an update moved the version to %d", v)
	}
}
