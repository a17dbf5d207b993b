package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/armemu"
)

// tagged creates, in subscription sub and resource group rg, a Batch
// account with the block's tag value, named name ("" for a fresh name).
func tagged(t *testing.T, sub, rg, name, value string) armemu.Resource {
	t.Helper()
	if name == "" {
		name = fmt.Sprintf("disc%d", seq.Add(1))
	}
	r := armemu.Resource{Subscription: sub, ResourceGroup: rg, Name: name}
	emu.Add(r)
	must(t, emu.SetTags(r, map[string]string{"keysync": value}))
	return r
}

func freshSubscription() string { return fmt.Sprintf("eeeeeeee-0000-0000-0000-%012d", seq.Add(1)) }

// block is a [[discover]] block of Batch accounts tagged keysync = value
// in sub, written under path.
func block(name, sub, value, path, onRemoved string) string {
	return fmt.Sprintf("\n[[discover]]\nname = %q\nsubscriptions = [%q]\ntags = { keysync = %q }\npath = %q\non_removed = %q\n",
		name, sub, value, path, onRemoved)
}

// deleting creates count tagged accounts in a subscription of their own,
// and returns it, their names, their paths and a block that deletes.
func deleting(t *testing.T, count int) (sub string, names []string, path func(string) string, blk string) {
	t.Helper()
	sub = freshSubscription()
	for range count {
		names = append(names, tagged(t, sub, "rg-d", "", "true").Name)
	}
	prefix := fmt.Sprintf("del%d", seq.Add(1))
	path = func(n string) string { return prefix + "/batch/rg-d/" + n }
	return sub, names, path, block("tagged", sub, "true", prefix+"/{type}/{resource_group}/{name}", "delete")
}

// ageMark moves the time a pending deletion recorded in the secret's data
// (keysync-source-gone-at) back by age, as the root token can: time
// passing, without a delete_after too short to be allowed. A "mark"
// block's mark lives in the metadata only, and moves there.
func ageMark(t *testing.T, path string, age time.Duration) {
	t.Helper()
	s := readV2(t, path)
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(s.data["keysync-source-gone-at"])); err == nil {
		old := at.Add(-age).UTC().Format(time.RFC3339)
		_, err := vault.Client.KVv2("secret").Patch(context.Background(), path, map[string]any{"keysync-source-gone-at": old})
		must(t, err)
		return
	}
	at, err := time.Parse(time.RFC3339, fmt.Sprint(s.meta["source-gone-at"]))
	if err != nil {
		t.Fatalf("%s has no mark: %v", path, s.meta)
	}
	old := at.Add(-age).UTC().Format(time.RFC3339)
	must(t, vault.Client.KVv2("secret").PatchMetadata(context.Background(), path, api.KVMetadataPatchInput{CustomMetadata: map[string]any{"source-gone-at": old}}))
}

// TestDiscoverCollisionKeepsTheAccountFoundBefore: a block whose template
// has no {resource_group} syncs rg-a's account; a contributor of rg-b creates an account of the same name with
// the block's tags. The next runs, each a process of its own, report the
// conflict and fail (exit 1), and rg-a's secret is neither deleted nor
// marked: it keeps syncing rg-a's keys, never rg-b's — whether the block
// deletes what it no longer finds or keeps it.
func TestDiscoverCollisionKeepsTheAccountFoundBefore(t *testing.T) {
	shared(t)
	for _, policy := range []string{"delete", "keep"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			collide(t, policy)
		})
	}
}

// TestDiscoverValidateWarnsOfCollidingTemplates: --validate warns (exit 0)
// of a template that two same-named resources would share.
func TestDiscoverValidateWarnsOfCollidingTemplates(t *testing.T) {
	shared(t)
	cfg := config("") + block("tagged", freshSubscription(), "true", "azure/{type}/{name}", "delete")
	v := run(t, cfg, "--validate")
	v.expect(t, 0)
	if !strings.Contains(v.stderr, "keysync: warning: discover[0].path: batch names are unique only within a region") {
		t.Fatalf("--validate does not warn of the template:\n%s", v.stderr)
	}
}

func collide(t *testing.T, policy string) {
	sub := freshSubscription()
	victim := tagged(t, sub, "rg-a", "", "true")
	prefix := fmt.Sprintf("coll%d", seq.Add(1))
	path := prefix + "/batch/" + victim.Name
	// The guard is not what saves the victim: it allows any removal here.
	cfg := withClientID("max_removed_fraction = 1.0\n"+config("")+block("tagged", sub, "true", prefix+"/{type}/{name}", policy), ownIdentity())
	run(t, cfg, "--run-now").expect(t, 0)
	neighbour := tagged(t, sub, "rg-b", victim.Name, "true")
	va := account{sub: sub, rg: "rg-a", name: victim.Name}
	nb := account{sub: sub, rg: "rg-b", name: neighbour.Name}
	for i := range 2 {
		va.regenerate(t, "primary")
		r := run(t, cfg, "--run-now")
		s := readV2(t, path)
		if s == nil {
			t.Fatalf("run %d: the account found before was deleted:\n%s", i, r.stdout)
		}
		want, _ := va.keys(t)
		theirs, _ := nb.keys(t)
		if s.meta["source-gone-at"] != nil || s.data["primary"] != want || s.data["primary"] == theirs {
			t.Fatalf("run %d: marked %v, or not rg-a's current key:\n%s", i, s.meta["source-gone-at"], r.stdout)
		}
		if !strings.Contains(fmt.Sprint(s.meta["resource-id"]), "/resourceGroups/rg-a/") {
			t.Fatalf("run %d: written for %v", i, s.meta["resource-id"])
		}
		r.expect(t, 1)
		if !strings.Contains(r.stdout, "conflict: path "+path) || !strings.Contains(r.stdout, "found there before, keeps syncing") {
			t.Fatalf("run %d: the conflict is not reported:\n%s", i, r.stdout)
		}
	}
}

// TestDiscoverDeleteWaitsForDeleteAfter: on_removed = "delete" marks an
// account that is gone, leaves the secret while the mark is younger than
// delete_after, and deletes it at the first run after — each run a
// process of its own, that knows the mark only from Vault.
func TestDiscoverDeleteWaitsForDeleteAfter(t *testing.T) {
	shared(t)
	sub, names, path, blk := deleting(t, 5)
	cfg := withClientID(config("")+blk, ownIdentity())
	run(t, cfg, "--run-now").expect(t, 0)
	must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-d", Name: names[2]}, map[string]string{}))

	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	s := readV2(t, path(names[2]))
	if s == nil || s.meta["source-gone-at"] == nil || !strings.Contains(r.stdout, "1 marked gone, 0 deleted") {
		t.Fatalf("a removed account's secret was not marked first:\n%s", r.stdout)
	}
	r = run(t, cfg, "--run-now")
	r.expect(t, 0)
	if readV2(t, path(names[2])) == nil || !strings.Contains(r.stdout, "delete_after 168h0m0s") {
		t.Fatalf("deleted before delete_after:\n%s", r.stdout)
	}
	ageMark(t, path(names[2]), 7*24*time.Hour)
	r = run(t, cfg, "--run-now")
	r.expect(t, 0)
	if readV2(t, path(names[2])) != nil || !strings.Contains(r.stdout, "0 marked gone, 1 deleted") {
		t.Fatalf("not deleted after delete_after:\n%s", r.stdout)
	}
	for i, n := range names {
		if s := readV2(t, path(n)); i != 2 && (s == nil || s.meta["source-gone-at"] != nil) {
			t.Fatalf("%s was touched", n)
		}
	}
}

// TestDiscoverDaemonDeletesAfterDeleteAfter: the daemon marks a removed
// account's secret and deletes it at a later discovery once the mark is
// delete_after old: it finds the marked secret again in Vault, not in
// its memory (the account is long out of its schedule).
func TestDiscoverDaemonDeletesAfterDeleteAfter(t *testing.T) {
	shared(t)
	sub, names, path, blk := deleting(t, 4)
	identity := ownIdentity()
	d := startDaemon(t, func(addr string) string {
		return withClientID(daemonConfig(addr, "max_removed_fraction = 0.5\n")+blk, identity)
	})
	d.waitFor("the found accounts in Vault", 20*time.Second, func() bool { return readV2(t, path(names[3])) != nil })
	must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-d", Name: names[1]}, map[string]string{}))
	d.signal(syscall.SIGHUP)
	d.waitFor("the untagged account marked", 20*time.Second, func() bool {
		s := readV2(t, path(names[1]))
		return s != nil && s.meta["source-gone-at"] != nil
	})
	d.signal(syscall.SIGHUP)
	d.waitFor("another discovery's removal job for the marked secret, waiting", 20*time.Second, func() bool {
		return d.logLines("msg=unchanged", "path="+path(names[1]), "delete_after") > 0
	})
	if readV2(t, path(names[1])) == nil {
		t.Fatal("deleted before delete_after")
	}
	ageMark(t, path(names[1]), 8*24*time.Hour)
	d.signal(syscall.SIGHUP)
	d.waitFor("the marked secret deleted", 20*time.Second, func() bool { return readV2(t, path(names[1])) == nil })
	for i, n := range names {
		if s := readV2(t, path(n)); i != 1 && (s == nil || s.meta["source-gone-at"] != nil) {
			t.Fatalf("%s was touched", n)
		}
	}
}

// TestDiscoverGuardPerBlock: a block of 3 accounts beside one of 17 goes
// empty (its tag renamed): 3 of 20 is within max_removed_fraction for
// the whole file, but all of the block's own, so nothing of it is marked
// or deleted, and the run says why; the other block syncs as before.
func TestDiscoverGuardPerBlock(t *testing.T) {
	shared(t)
	sub := freshSubscription()
	var small, large []string
	for range 3 {
		small = append(small, tagged(t, sub, "rg-s", "", "small").Name)
	}
	for range 17 {
		large = append(large, tagged(t, sub, "rg-l", "", "large").Name)
	}
	prefix := fmt.Sprintf("blk%d", seq.Add(1))
	cfg := withClientID(config("")+block("small", sub, "small", prefix+"/s/{resource_group}/{name}", "delete")+
		block("large", sub, "large", prefix+"/l/{resource_group}/{name}", "delete"), ownIdentity())
	run(t, cfg, "--run-now").expect(t, 0)
	for _, n := range small {
		must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-s", Name: n}, map[string]string{"keysync": "renamed"}))
	}
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "small: would remove 3 of 3 accounts (100%)") || !strings.Contains(r.stdout, "0 removed") {
		t.Fatalf("the small block's drop not held, or not said:\n%s", r.stdout)
	}
	for _, n := range small {
		if s := readV2(t, prefix+"/s/rg-s/"+n); s == nil || s.meta["source-gone-at"] != nil {
			t.Fatalf("%s was removed:\n%s", n, r.stdout)
		}
	}
	if readV2(t, prefix+"/l/rg-l/"+large[16]) == nil {
		t.Fatal("the large block stopped")
	}
}
