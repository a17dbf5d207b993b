package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
)

// Issue #22: configurations where real Azure answers otherwise than the
// emulator used to, and keysync found fewer accounts, or took a partial
// answer for a whole one.

// TestDiscoverRecasedTagIsNoRemoval: ARM's tag names compare without case,
// and a resource keeps the case its author typed. An account whose tag
// is re-cased (keysync=true to Keysync=TRUE) is still found, by either
// engine, and a block that marks what it no longer finds marks nothing.
func TestDiscoverRecasedTagIsNoRemoval(t *testing.T) {
	shared(t)
	for _, engine := range []string{"resource-graph", "arm-list"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEstate(t, 2, 0)
			// The guard is not what saves the account: it allows any removal here.
			cfg := withClientID("max_removed_fraction = 1.0\n"+config("")+e.block(engine)+"on_removed = \"mark\"\n", e.identity)
			run(t, cfg, "--run-now").expect(t, 0)
			recased := armemu.Resource{Subscription: e.sub, ResourceGroup: "rg-disc", Name: e.names[0]}
			must(t, emu.SetTags(recased, map[string]string{"Keysync": "TRUE", "Owner": "team-" + e.names[0]}))
			r := run(t, cfg, "--run-now")
			r.expect(t, 0)
			s := readV2(t, e.path(e.names[0]))
			if !strings.Contains(r.stdout, "discovery: 2 accounts, 0 added, 0 removed") || s == nil || s.meta["source-gone-at"] != nil {
				t.Fatalf("a re-cased tag was taken for a removal:\n%s", r.stdout)
			}
		})
	}
}

// TestDiscoverCappedManagementGroupRemovesNothing: Resource Graph answers
// a management group for its first subscriptions only, and says so. When
// keysync's identity may not list the group's subscriptions, the answer
// is partial: the run reports it (exit 1) and marks nothing, though the
// account beyond the cut is missing from it. When the identity may, keysync
// lists them, queries them in groups and finds every account.
func TestDiscoverCappedManagementGroupRemovesNothing(t *testing.T) {
	shared(t)
	identity, group := ownIdentity(), fmt.Sprintf("mg-cap-%d", seq.Add(1))
	subs := []string{freshSubscription(), freshSubscription(), freshSubscription()}
	emu.AddManagementGroup(group, subs...)
	var names []string
	for _, sub := range subs {
		names = append(names, tagged(t, sub, "rg-mg", "", "true").Name)
	}
	prefix := fmt.Sprintf("mgcap%d", seq.Add(1))
	path := func(i int) string { return prefix + "/" + subs[i] + "/" + names[i] }
	cfg := withClientID("max_removed_fraction = 1.0\n"+config("")+fmt.Sprintf(`
[[discover]]
name = "group"
management_group = %q
tags = { keysync = "true" }
path = "%s/{subscription}/{name}"
on_removed = "mark"
`, group, prefix), identity)
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "discovery: 3 accounts, 3 added, 0 removed") {
		t.Fatalf("first run:\n%s", r.stdout)
	}

	emu.SetGraphSubscriptionLimitFor(identity, 2)
	emu.InjectDescendantsFaultFor(identity, armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed",
		Message: "The client does not have authorization to perform action 'Microsoft.Management/managementGroups/descendants/read'.", Times: 1})
	r = run(t, cfg, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "0 removed") || !strings.Contains(r.stdout, "1 answers covered part of their scope") ||
		!strings.Contains(r.stdout, "x-ms-tenant-subscription-limit-hit") || !strings.Contains(r.stdout, "AuthorizationFailed") {
		t.Fatalf("a capped answer was not reported as partial:\n%s", r.stdout)
	}
	if s := readV2(t, path(2)); s == nil || s.meta["source-gone-at"] != nil {
		t.Fatalf("the account beyond the cut was marked: %+v\n%s", s, r.stdout)
	}

	before := len(emu.GraphQueries())
	r = run(t, cfg, "--run-now")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "discovery: 3 accounts, 0 added, 0 removed") {
		t.Fatalf("with the group's subscriptions listed:\n%s", r.stdout)
	}
	queried := slices.ContainsFunc(emu.GraphQueries()[before:], func(q armemu.GraphQuery) bool {
		return slices.Equal(q.Subscriptions, subs)
	})
	if !queried {
		t.Fatal("the group's subscriptions were not queried by name")
	}
}

// TestDiscoverThrottledQueryStillFinds: a 429 on a discovery request (the
// identity's Resource Graph quota spent by another client, or ARM's
// list throttled) is asked again after its wait, and the run finds every
// account, by either engine, where it used to fail the block.
func TestDiscoverThrottledQueryStillFinds(t *testing.T) {
	shared(t)
	for _, engine := range []string{"resource-graph", "arm-list"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEstate(t, 3, 1)
			emu.InjectGraphFaultFor(e.identity, armemu.Fault{Kind: armemu.FaultQuota, RetryAfter: 1, Times: 1})
			emu.InjectListFault(e.sub, "batch", armemu.Fault{Kind: armemu.FaultStatus, Status: 429, Code: "TooManyRequests", RetryAfter: 1, Times: 1})
			r := run(t, e.config(engine), "--run-now")
			r.expect(t, 0)
			if !strings.Contains(r.stdout, "discovery: 3 accounts, 3 added, 0 removed") {
				t.Fatalf("report:\n%s", r.stdout)
			}
			for _, n := range e.names {
				if readV2(t, e.path(n)) == nil {
					t.Fatalf("%s not written", n)
				}
			}
		})
	}
}
