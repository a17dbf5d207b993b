package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/secret"
)

// ownTemplate is the path template, under a prefix, of the blocks these
// tests run.
const ownTemplate = "/{type}/{subscription}/{resource_group}/{name}"

// forger is a Vault client whose token may write only secret/metadata/
// under prefix/: the custom_metadata of any secret there, never its data.
// It fails the test unless Vault refuses it a data write.
func forger(t *testing.T, prefix string) *api.Client {
	t.Helper()
	name := fmt.Sprintf("metadata-only-%d", seq.Add(1))
	must(t, vault.Client.Sys().PutPolicy(name, fmt.Sprintf(`
path "secret/metadata/%s/*" { capabilities = ["create", "update", "read", "list"] }`, prefix)))
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	must(t, err)
	c, err := vault.Client.Clone()
	must(t, err)
	c.SetToken(tok.Auth.ClientToken)
	if _, err := c.Logical().Write("secret/data/"+prefix+"/forger-probe", map[string]any{"data": map[string]any{"x": "y"}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("the metadata-only token wrote data (err %v): the test would prove nothing", err)
	}
	return c
}

// forge sets a secret's custom_metadata with the forger's token.
func forge(t *testing.T, c *api.Client, path string, meta map[string]string) {
	t.Helper()
	if _, err := c.Logical().Write("secret/metadata/"+path, map[string]any{"custom_metadata": meta}); err != nil {
		t.Fatalf("forging secret/metadata/%s: %v", path, err)
	}
}

// victim writes another team's secret, two versions, with the root token.
func victim(t *testing.T, path string) {
	t.Helper()
	writeV2(t, path, map[string]any{"password": "team-b-1"})
	writeV2(t, path, map[string]any{"password": "team-b-2"})
}

// assertIntact fails unless the victim at path still holds both its
// versions, as written, and nothing of keysync's.
func assertIntact(t *testing.T, path, report string) {
	t.Helper()
	kv := vault.Client.KVv2("secret")
	for v, want := range map[int]string{1: "team-b-1", 2: "team-b-2"} {
		s, err := kv.GetVersion(context.Background(), path, v)
		if err != nil || s.Data["password"] != want || len(s.Data) != 1 {
			t.Fatalf("%s version %d: err %v, fields %v\nreport:\n%s", path, v, err, dataNames(s), report)
		}
	}
	if v := versionOf(t, path); v != 2 {
		t.Fatalf("%s at version %d, want 2\nreport:\n%s", path, v, report)
	}
}

// createdAt is when the secret at path was first written, as its
// metadata says: a delete and a new write change it.
func createdAt(t *testing.T, path string) string {
	t.Helper()
	m, err := vault.Client.KVv2("secret").GetMetadata(context.Background(), path)
	if err != nil {
		t.Fatalf("metadata of %s: %v", path, err)
	}
	return m.CreatedTime.String()
}

func dataNames(s *api.KVSecret) []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.Data))
}

// TestForgedMarksDeleteNothing: a principal that may write only metadata
// copies a real keysync secret's discovery marks (managed-by, discovered-by,
// discovery-scope) onto other teams' secrets under the template's prefix,
// with the resource-id of a plausible Batch account: at the very path the
// template makes for it, at a path the template never makes, and at the
// template's path in a subscription the block does not search. The
// template's prefix is the test's own: a block recalls all of it. A
// --run-now with on_removed = "delete" recalls what its block wrote before: it marks,
// then (delete_after later) deletes, the secret of its own account that
// lost its tag; the forged secret at the template's path it refuses, and of the
// victims it deletes no version; its report says why it left each.
func TestForgedMarksDeleteNothing(t *testing.T) {
	shared(t)
	sub := fmt.Sprintf("eeeeeeee-0000-0000-0000-%012d", seq.Add(1))
	n := seq.Add(1)
	prefix := fmt.Sprintf("forged%d", n)
	res := func(s, name string) armemu.Resource {
		return armemu.Resource{Type: "batch", Subscription: s, ResourceGroup: "rg-own", Name: name}
	}
	path := func(r armemu.Resource) string {
		return fmt.Sprintf("%s/batch/%s/%s/%s", prefix, r.Subscription, r.ResourceGroup, r.Name)
	}
	kept, gone, plausible := res(sub, fmt.Sprintf("own%dkept", n)), res(sub, fmt.Sprintf("own%dgone", n)), res(sub, fmt.Sprintf("own%dteamb", n))
	listed := res(sub, fmt.Sprintf("own%dlisted", n))
	for _, r := range []armemu.Resource{kept, gone, plausible, listed} {
		emu.Add(r)
	}
	must(t, emu.SetTags(kept, map[string]string{"keysync": "true"}))
	must(t, emu.SetTags(gone, map[string]string{"keysync": "true"}))
	block := fmt.Sprintf("own%d", n)
	cfg := strings.Replace(config(""), "concurrency = 4\n", "concurrency = 4\nmax_removed_fraction = 1.0\n", 1) + fmt.Sprintf(`
[[discover]]
name = %q
subscriptions = [%q]
tags = { keysync = "true" }
path = %q
on_removed = "delete"
`, block, sub, prefix+ownTemplate) + resourceConfig(listed, path(listed), "")
	cfg = withClientID(cfg, ownIdentity())
	run(t, cfg, "--run-now").expect(t, 0)
	written := readV2(t, path(kept))
	if written == nil || written.meta["discovered-by"] != block {
		t.Fatalf("keysync did not write the found account: %+v", written)
	}

	elsewhere := res("99999999-0000-0000-0000-000000000001", plausible.Name)
	victims := map[string]armemu.Resource{ // path -> the resource its forged mark names
		path(plausible): plausible,
		prefix + "/team-b/" + block + "/database": plausible,
		path(elsewhere): elsewhere,
	}
	f := forger(t, prefix)
	for p, r := range victims {
		victim(t, p)
		forge(t, f, p, map[string]string{"managed-by": "keysync", "discovered-by": block,
			"discovery-scope": written.meta["discovery-scope"].(string), "resource-id": r.ID(), "team": "b"})
	}
	// The listed account's secret, keysync's own, made to look found by
	// the block: the listed account wins its path, so it is no removal.
	listedMeta := map[string]string{"discovered-by": block, "discovery-scope": written.meta["discovery-scope"].(string)}
	for k, v := range readV2(t, path(listed)).meta {
		listedMeta[k] = v.(string)
	}
	forge(t, f, path(listed), listedMeta)
	born := createdAt(t, path(listed))

	must(t, emu.SetTags(gone, map[string]string{}))
	// The forged secret at the template's path is refused (exit 1): its
	// metadata mark comes without keysync's data mark or fingerprints
	// that match its data.
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	if s := readV2(t, path(gone)); s == nil || s.meta["source-gone-at"] == nil {
		t.Fatalf("keysync's own secret of the untagged account was not marked first:\n%s", r.stdout)
	}
	for p := range victims {
		assertIntact(t, p, r.stdout+r.stderr)
	}
	// The forger moves the metadata mark of keysync's own pending deletion
	// a year back: the deletion waits on the time in the data, which it
	// cannot write, so nothing is deleted early.
	meta := map[string]string{}
	for k, v := range readV2(t, path(gone)).meta {
		meta[k] = fmt.Sprint(v)
	}
	meta["source-gone-at"] = time.Now().Add(-365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	forge(t, f, path(gone), meta)
	r = run(t, cfg, "--run-now")
	r.expect(t, 1)
	if readV2(t, path(gone)) == nil {
		t.Fatalf("a backdated metadata mark had keysync's secret deleted before delete_after:\n%s", r.stdout)
	}
	// delete_after passes (the root token moves the data's time back).
	ageMark(t, path(gone), 8*24*time.Hour)
	r = run(t, cfg, "--run-now")
	r.expect(t, 1)
	if readV2(t, path(gone)) != nil {
		t.Fatalf("keysync's own secret of the untagged account was not deleted after delete_after:\n%s", r.stdout)
	}
	for p := range victims {
		assertIntact(t, p, r.stdout+r.stderr)
	}
	if createdAt(t, path(listed)) != born {
		t.Fatalf("the listed account's secret was deleted and written anew:\n%s", r.stdout)
	}
	for _, want := range []string{
		"refused", path(plausible), "not marked", "neither keysync's data mark", // the template's path: refused
		fmt.Sprintf("%s left %q: its path is not the one the block's template makes", block, prefix+"/team-b/"+block+"/database"),
		fmt.Sprintf("%s left %q: its resource-id names a subscription the block does not search", block, path(elsewhere)),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "left a secret that carries a block's marks") {
		t.Errorf("the log does not say what was left:\n%s", r.stderr)
	}
}

// TestForgedMarkOverwrite: managed-by=keysync forged onto another team's
// secret at a path an [[account]] targets. A writer of the metadata alone
// cannot fingerprint data it cannot read, so keysync refuses the secret as
// not its own. A principal that can also read the data can make the
// fingerprints match, and the secret then looks like one keysync wrote
// before data marks: legacy_ownership = false refuses that, the default
// writes keysync's fields and its data mark there, keeping the team's
// other fields (the residual docs/vault.md states). Once the data mark
// names an account, no other account writes that path, adopt or not.
func TestForgedMarkOverwrite(t *testing.T) {
	shared(t)
	a := newAccount(t)
	a.path = fmt.Sprintf("azure/batch/%s/%s/%s", a.sub, a.rg, a.name)
	const theirs, theirs2 = "team-b-value-as-long-as-a-key", "team-b-other-value-as-long"
	writeV2(t, a.path, map[string]any{"primary": theirs, "secondary": theirs2, "note": "theirs"})
	f := forger(t, "azure")
	forge(t, f, a.path, map[string]string{"managed-by": "keysync"})
	intact := func(r result, why string) {
		t.Helper()
		if got := readV2(t, a.path); got.version != 1 || got.data["primary"] != theirs || len(got.data) != 3 {
			t.Fatalf("%s wrote: version %d, fields %v", why, got.version, slices.Sorted(maps.Keys(got.data)))
		}
	}

	r := run(t, config("", a), "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "neither keysync's data mark") {
		t.Fatalf("refusal not explained:\n%s", r.stdout)
	}
	intact(r, "a metadata-only forgery")

	forge(t, f, a.path, map[string]string{"managed-by": "keysync",
		"fingerprint-primary": secret.New(theirs).Fingerprint(), "fingerprint-secondary": secret.New(theirs2).Fingerprint()})
	strict := run(t, config("legacy_ownership = false", a), "--run-now")
	strict.expect(t, 1)
	if !strings.Contains(strict.stdout, "refused") || !strings.Contains(strict.stdout, "legacy_ownership = false") {
		t.Fatalf("refusal not explained:\n%s", strict.stdout)
	}
	intact(strict, "legacy_ownership = false")

	run(t, config("", a), "--run-now").expect(t, 0)
	got := readV2(t, a.path)
	p, _ := a.keys(t)
	id := strings.ToLower(a.res().ID())
	if got.version != 2 || got.data["primary"] != p || got.data["note"] != "theirs" || got.data["keysync-resource-id"] != id {
		t.Fatalf("legacy write: version %d, primary is the key %t, note %v, mark %v", got.version, got.data["primary"] == p, got.data["note"], got.data["keysync-resource-id"])
	}

	other := newAccount(t)
	other.path = a.path
	adopt := strings.Replace(config("", other), "path =", "adopt = true\npath =", 1)
	r = run(t, adopt, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "names another resource") {
		t.Fatalf("refusal not explained:\n%s", r.stdout)
	}
	if after := readV2(t, a.path); after.version != 2 || after.data["primary"] != p {
		t.Fatalf("another account wrote over the marked secret: version %d", after.version)
	}
}

// TestDeletedVersionIsNotOverwritten: a principal that may write only
// metadata sets delete_version_after and max_versions = 1 on another
// team's secret at a path a listed [[account]] (adopt = false) targets;
// the team's next write expires. keysync reads no data, and must not take
// that for "no secret": a version there, deleted or expired, shows nothing
// of whose it is, and a write would make Vault destroy it for good. It is
// refused, and the team's version stays to be undeleted.
func TestDeletedVersionIsNotOverwritten(t *testing.T) {
	shared(t)
	a := newAccount(t)
	a.path = fmt.Sprintf("azure/team-b/%s/db", a.name)
	writeV2(t, a.path, map[string]any{"password": "team-b-1"})
	if _, err := forger(t, "azure").Logical().Write("secret/metadata/"+a.path, map[string]any{"max_versions": 1, "delete_version_after": "1s"}); err != nil {
		t.Fatalf("the metadata-only writer could not set the versions' settings: %v", err)
	}
	writeV2(t, a.path, map[string]any{"password": "team-b-2"}) // the team's routine write
	deadline := time.Now().Add(60 * time.Second)
	for s := readV2(t, a.path); s != nil && s.data != nil; s = readV2(t, a.path) {
		if time.Now().After(deadline) {
			t.Fatal("the team's version never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}

	r := run(t, config("", a), "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "deleted or expired") {
		t.Fatalf("the refusal is not explained:\n%s", r.stdout)
	}
	m, err := vault.Client.KVv2("secret").GetMetadata(context.Background(), a.path)
	must(t, err)
	if m.CurrentVersion != 2 {
		t.Fatalf("keysync wrote version %d over another team's expired secret", m.CurrentVersion)
	}
	if v, ok := m.Versions["2"]; !ok || v.Destroyed {
		t.Fatalf("the team's version 2 is gone for good: it can no longer be undeleted (versions %v)", m.Versions)
	}
}

// TestGuessedFingerprintIsNoProof: another team keeps a field anyone can
// guess (enabled = "true") in its secret at a path a listed [[account]]
// targets. A principal that may write only metadata writes managed-by =
// keysync and the public fingerprint of "true". A legacy proof needs a
// matching fingerprint of every key field keysync writes, each as long as
// a key: the forged mark is refused and the team's secret is untouched.
func TestGuessedFingerprintIsNoProof(t *testing.T) {
	shared(t)
	a := newAccount(t)
	a.path = fmt.Sprintf("azure/team-b/%s/service", a.name)
	writeV2(t, a.path, map[string]any{"primary": "team-b-password", "enabled": "true"})
	forge(t, forger(t, "azure"), a.path, map[string]string{"managed-by": "keysync", "fingerprint-enabled": secret.New("true").Fingerprint()})

	r := run(t, config("", a), "--run-now")
	r.expect(t, 1)
	got := readV2(t, a.path)
	if got.version != 1 || got.data["primary"] != "team-b-password" || got.data["keysync-resource-id"] != nil {
		t.Fatalf("keysync wrote over another team's secret on a guessed fingerprint: version %d\n%s", got.version, r.stdout)
	}
}
