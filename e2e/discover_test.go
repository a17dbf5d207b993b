package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// estate is a discovery test's own world: Batch accounts in a
// subscription of their own, tagged (names) and not (others), written
// under a prefix of their own (what a block recalls is the test's alone)
// and found by a managed identity of their own (its Resource Graph quota
// and faults are the test's alone).
type estate struct {
	sub, prefix, identity string
	names, others         []string
}

// newEstate creates an estate of tagged and untagged accounts.
func newEstate(t *testing.T, tagged, untagged int) estate {
	t.Helper()
	e := estate{sub: fmt.Sprintf("dddddddd-0000-0000-0000-%012d", seq.Add(1)), prefix: fmt.Sprintf("disc%d", seq.Add(1)), identity: ownIdentity()}
	for i := range tagged + untagged {
		r := armemu.Resource{Subscription: e.sub, ResourceGroup: "rg-disc", Name: fmt.Sprintf("disc%d", seq.Add(1))}
		emu.Add(r)
		tags := map[string]string{"owner": "team-" + r.Name}
		if i < tagged {
			tags["keysync"] = "true"
			e.names = append(e.names, r.Name)
		} else {
			e.others = append(e.others, r.Name)
		}
		must(t, emu.SetTags(r, tags))
	}
	return e
}

// path is where the block writes the account named n.
func (e estate) path(n string) string { return e.prefix + "/batch/rg-disc/" + n }

// block is the estate's [[discover]] block, "tagged", with engine.
func (e estate) block(engine string) string {
	return fmt.Sprintf(`
[[discover]]
name = "tagged"
discovery = %q
subscriptions = [%q]
tags = { keysync = "true" }
copy_tags = ["owner"]
path = "%s/{type}/{resource_group}/{name}"
`, engine, e.sub, e.prefix)
}

// config is a one-shot config of the block, with the estate's identity.
func (e estate) config(engine string) string {
	return withClientID(config("")+e.block(engine), e.identity)
}

// daemon is a daemon config of the block, top going at the top and extra
// into the block, with the estate's identity.
func (e estate) daemon(addr, top, extra string) string {
	return withClientID(daemonConfig(addr, top)+e.block("resource-graph")+extra, e.identity)
}

// TestDiscoverRunNow: --run-now finds the tagged accounts, with either
// engine, and writes each at its templated path with its tag recorded;
// untagged ones are not touched.
func TestDiscoverRunNow(t *testing.T) {
	shared(t)
	for _, engine := range []string{"resource-graph", "arm-list"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEstate(t, 3, 2)
			r := run(t, e.config(engine), "--run-now")
			r.expect(t, 0)
			if !strings.Contains(r.stdout, "discovery: 3 accounts, 3 added, 0 removed") {
				t.Fatalf("report:\n%s", r.stdout)
			}
			for _, n := range e.names {
				s := readV2(t, e.path(n))
				if s == nil || s.version != 1 || s.meta["azure-tag-owner"] != "team-"+n || s.meta["managed-by"] != "keysync" || s.meta["discovered-by"] != "tagged" {
					t.Fatalf("%s not written as found: %+v", n, s)
				}
			}
			for _, n := range e.others {
				if readV2(t, e.path(n)) != nil {
					t.Fatalf("untagged %s was written", n)
				}
			}
		})
	}
}

// TestDiscoverRunNowKeepBlock: a block that keeps what it no longer
// finds (the default) is recalled from Vault by each --run-now, like one
// that marks or deletes: a second run, and a --dry-run, report nothing
// added; an account no longer tagged counts as removed, and its secret is
// left as it was.
func TestDiscoverRunNowKeepBlock(t *testing.T) {
	shared(t)
	e := newEstate(t, 3, 0)
	cfg := "max_removed_fraction = 1.0\n" + e.config("resource-graph")
	run(t, cfg, "--run-now").expect(t, 0)
	for _, mode := range []string{"--run-now", "--dry-run"} {
		r := run(t, cfg, mode)
		r.expect(t, 0)
		if !strings.Contains(r.stdout, "discovery: 3 accounts, 0 added, 0 removed") {
			t.Fatalf("%s after a first run:\n%s", mode, r.stdout)
		}
	}
	gone := armemu.Resource{Subscription: e.sub, ResourceGroup: "rg-disc", Name: e.names[0]}
	must(t, emu.SetTags(gone, map[string]string{"owner": "team-" + gone.Name}))
	before := readV2(t, e.path(gone.Name))
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "discovery: 2 accounts, 0 added, 1 removed") {
		t.Fatalf("after an account lost its tag:\n%s", r.stdout)
	}
	if after := readV2(t, e.path(gone.Name)); after == nil || after.version != before.version || after.meta["source-gone-at"] != nil {
		t.Fatalf("a keep block changed the secret of an account it no longer finds: %+v", after)
	}
}

// TestDiscoverDryRun: the plan shows what discovery found and writes
// nothing.
func TestDiscoverDryRun(t *testing.T) {
	shared(t)
	e := newEstate(t, 2, 1)
	r := run(t, e.config("resource-graph"), "--dry-run")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "discovery: 2 accounts") || !strings.Contains(r.stdout, e.names[0]) || !strings.Contains(r.stdout, "create") {
		t.Fatalf("plan:\n%s", r.stdout)
	}
	for _, n := range e.names {
		if readV2(t, e.path(n)) != nil {
			t.Fatalf("dry run wrote %s", n)
		}
	}
}

// TestDiscoverFailureIsLoud: a Resource Graph failure (the identity may
// not read the scope) fails the run (exit 1) and names the block, while
// the listed accounts still sync.
func TestDiscoverFailureIsLoud(t *testing.T) {
	shared(t)
	e := newEstate(t, 2, 0)
	listed := newAccount(t)
	emu.InjectGraphFaultFor(e.identity, armemu.Fault{Kind: armemu.FaultStatus, Status: http.StatusForbidden, Code: "AuthorizationFailed",
		Message: "The client does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read'.", Times: 1})
	r := run(t, e.config("resource-graph")+listed.toml(), "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "tagged failed") || !strings.Contains(r.stdout, "AuthorizationFailed") {
		t.Fatalf("report:\n%s", r.stdout)
	}
	if readV2(t, listed.path) == nil {
		t.Fatal("a failed discovery stopped the listed account")
	}
	if readV2(t, e.path(e.names[0])) != nil {
		t.Fatal("a failed discovery wrote")
	}
}

// TestDiscoverListedWins: an account both listed and found syncs once, at
// its listed path.
func TestDiscoverListedWins(t *testing.T) {
	shared(t)
	e := newEstate(t, 2, 0)
	listed := account{sub: e.sub, rg: "rg-disc", name: e.names[0], path: "mine/" + e.names[0]}
	r := run(t, e.config("resource-graph")+listed.toml(), "--run-now")
	r.expect(t, 0)
	if readV2(t, listed.path) == nil || readV2(t, e.path(e.names[0])) != nil || readV2(t, e.path(e.names[1])) == nil {
		t.Fatalf("listed account not preferred:\n%s", r.stdout)
	}
}

// TestDiscoverDaemon: the daemon discovers at start, picks up a new
// account when asked to look again (SIGHUP), marks the secret of one that
// lost its tag, and shows it all in /status and /metrics.
func TestDiscoverDaemon(t *testing.T) {
	shared(t)
	e := newEstate(t, 3, 0)
	sub, names := e.sub, e.names
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string {
		return e.daemon(addr, top+"\nmax_removed_fraction = 0.5\n", "on_removed = \"mark\"\n")
	})
	path := e.path
	d.waitFor("the found accounts in Vault", 20*time.Second, func() bool {
		return readV2(t, path(names[0])) != nil && readV2(t, path(names[2])) != nil
	})
	// a new tagged account, and one that loses its tag
	extra := armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: fmt.Sprintf("disc%d", seq.Add(1))}
	emu.Add(extra)
	must(t, emu.SetTags(extra, map[string]string{"keysync": "true", "owner": "team-x"}))
	must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: names[1]}, map[string]string{"owner": "gone"}))
	d.signal(syscall.SIGHUP)
	d.waitFor("the new account in Vault and the untagged one marked", 20*time.Second, func() bool {
		s := readV2(t, path(names[1]))
		return readV2(t, path(extra.Name)) != nil && s != nil && s.meta["source-gone-at"] != nil
	})
	d.waitFor("the discovery gauge", 10*time.Second, func() bool {
		return d.metric(`keysync_discovered_accounts{type="batch"}`) == 3
	})
	if d.metric(`keysync_discovery_runs_total{block="tagged",result="ok"}`) < 2 {
		t.Fatal("discovery runs not counted")
	}
	code, _, body := d.call(http.MethodGet, "/status", tok)
	if code != http.StatusOK || !strings.Contains(body, `"discovery":{`) || !strings.Contains(body, `"removed":1`) {
		t.Fatalf("status %d: %s", code, body)
	}
}

// TestDiscoverDaemonNeverRemovesOnBadAnswers: a discovery that suddenly
// finds almost nothing, or fails, removes nothing: the accounts keep
// syncing and no secret is marked.
func TestDiscoverDaemonNeverRemovesOnBadAnswers(t *testing.T) {
	shared(t)
	e := newEstate(t, 5, 0)
	sub, names := e.sub, e.names
	d := startDaemon(t, func(addr string) string { return e.daemon(addr, "", "on_removed = \"delete\"\n") })
	path := e.path
	d.waitFor("the found accounts in Vault", 20*time.Second, func() bool { return readV2(t, path(names[4])) != nil })
	// Four of five lose their tag: an 80% drop, above the default 20%.
	for _, n := range names[1:] {
		must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: n}, map[string]string{}))
	}
	d.signal(syscall.SIGHUP)
	d.waitFor("a held discovery", 20*time.Second, func() bool {
		return d.metric(`keysync_discovery_runs_total{block="tagged",result="held"}`) >= 1
	})
	// Then Resource Graph fails outright, for the daemon's identity: its
	// own, so no other test meets the fault.
	emu.InjectGraphFaultFor(e.identity, armemu.Fault{Kind: armemu.FaultStatus, Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "boom"})
	d.signal(syscall.SIGHUP)
	d.waitFor("a failed discovery", 20*time.Second, func() bool {
		return d.metric(`keysync_discovery_runs_total{block="tagged",result="failed"}`) >= 1
	})
	// Every account is still synced: a key regenerated now reaches Vault.
	acct := account{sub: sub, rg: "rg-disc", name: names[3], path: path(names[3])}
	acct.regenerate(t, "primary")
	p, _ := acct.keys(t)
	d.waitFor("the untagged account still syncing", 20*time.Second, func() bool { return fieldOf(t, acct.path, "primary") == p })
	for _, n := range names {
		if s := readV2(t, path(n)); s == nil || s.meta["source-gone-at"] != nil {
			t.Fatalf("%s was removed or marked on a bad discovery", n)
		}
	}
	if d.logLines("discovery held back its removals") == 0 || d.logLines("discovery failed") == 0 {
		t.Fatalf("held and failed discoveries not logged:\n%s", d.stderr.String())
	}
}

// TestDiscoverRunNowRemoves: a --run-now remembers no earlier run, so it
// recalls from Vault what the block wrote before: an account that lost its
// tag is marked, and the others, a listed account and a foreign secret
// under the same prefix are left alone.
func TestDiscoverRunNowRemoves(t *testing.T) {
	shared(t)
	e := newEstate(t, 5, 0)
	sub, names, path := e.sub, e.names, e.path
	writeV2(t, path("theirs"+names[0]), map[string]any{"k": "v"})
	cfg := e.config("resource-graph") + "on_removed = \"mark\"\n"
	run(t, cfg, "--run-now").expect(t, 0)
	must(t, emu.SetTags(armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: names[2]}, map[string]string{}))
	r := run(t, cfg, "--dry-run")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "discovery: 4 accounts, 0 added, 1 removed") || !strings.Contains(r.stdout, "mark") {
		t.Fatalf("plan:\n%s", r.stdout)
	}
	if s := readV2(t, path(names[2])); s.meta["source-gone-at"] != nil {
		t.Fatal("the dry run marked")
	}
	r = run(t, cfg, "--run-now")
	r.expect(t, 0)
	for i, n := range names {
		s := readV2(t, path(n))
		if marked := s.meta["source-gone-at"] != nil; marked != (i == 2) {
			t.Fatalf("%s marked %t:\n%s", n, marked, r.stdout)
		}
	}
	if s := readV2(t, path("theirs"+names[0])); s == nil || s.meta["source-gone-at"] != nil {
		t.Fatal("a foreign secret under the prefix was touched")
	}
}

// TestDiscoverDaemonRecallsAfterStart: a daemon that starts after an
// account lost its tag still marks the account's secret: its first
// discovery recalls from Vault what the block wrote before.
func TestDiscoverDaemonRecallsAfterStart(t *testing.T) {
	shared(t)
	e := newEstate(t, 5, 0)
	names := e.names
	run(t, e.config("resource-graph")+"on_removed = \"mark\"\n", "--run-now").expect(t, 0)
	must(t, emu.SetTags(armemu.Resource{Subscription: e.sub, ResourceGroup: "rg-disc", Name: names[4]}, map[string]string{}))
	d := startDaemon(t, func(addr string) string { return e.daemon(addr, "", "on_removed = \"mark\"\n") })
	d.waitFor("the untagged account marked", 20*time.Second, func() bool {
		s := readV2(t, e.path(names[4]))
		return s != nil && s.meta["source-gone-at"] != nil
	})
	if s := readV2(t, e.path(names[0])); s.meta["source-gone-at"] != nil {
		t.Fatal("a found account was marked")
	}
}

// TestDiscoverSkipsHostileRows: hostile rows in a block's answer (an
// account found before whose copied tag now holds a control character, a
// new one whose resource group holds an escaped '/') are skipped and
// reported, and the run exits 1; the block still syncs its other
// accounts, a new one included, and removes nothing: with on_removed =
// "delete" and any drop allowed, the account found before keeps its
// secret, and nothing is written one level deeper.
func TestDiscoverSkipsHostileRows(t *testing.T) {
	shared(t)
	e := newEstate(t, 3, 0)
	sub, names, path := e.sub, e.names, e.path
	cfg := "max_removed_fraction = 1.0\n" + e.config("resource-graph") + "on_removed = \"delete\"\n"
	run(t, cfg, "--run-now").expect(t, 0)
	hostile := armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: names[2]}
	must(t, emu.SetTags(hostile, map[string]string{"keysync": "true", "owner": "team\x07evil"}))
	deeper := armemu.Resource{Subscription: sub, ResourceGroup: "team-b/prod", Name: fmt.Sprintf("disc%d", seq.Add(1))}
	fresh := armemu.Resource{Subscription: sub, ResourceGroup: "rg-disc", Name: fmt.Sprintf("disc%d", seq.Add(1))}
	for _, r := range []armemu.Resource{deeper, fresh} {
		emu.Add(r)
		must(t, emu.SetTags(r, map[string]string{"keysync": "true", "owner": "team-x"}))
	}
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "2 rows skipped") || !strings.Contains(r.stdout, "tagged skipped 2 rows and removed nothing") ||
		!strings.Contains(r.stdout, "not a valid resource group name") || !strings.Contains(r.stdout, "control character") {
		t.Fatalf("report:\n%s", r.stdout)
	}
	if readV2(t, path(fresh.Name)) == nil || readV2(t, path(names[0])) == nil {
		t.Fatalf("the block's good accounts were not synced:\n%s", r.stdout)
	}
	if s := readV2(t, path(names[2])); s == nil || s.meta["source-gone-at"] != nil {
		t.Fatalf("the account behind the skipped row was removed:\n%s", r.stdout)
	}
	if readV2(t, e.prefix+"/batch/team-b/prod/"+deeper.Name) != nil || readV2(t, e.prefix+"/batch/team-b%2Fprod/"+deeper.Name) != nil {
		t.Fatal("a row's resource group moved a secret one level deeper")
	}
}
