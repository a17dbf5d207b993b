package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// Discovery where Azure answers in part (issue #22): a management group
// Resource Graph cuts, and throttled requests.

// TestDiscoverLargeManagementGroup: Resource Graph answers a management
// group for its first subscriptions only and says so
// (x-ms-tenant-subscription-limit-hit); keysync then lists the group's
// subscriptions and queries them in groups, and finds every account.
// When it may not list them, or the list is not one of subscriptions, it
// keeps what the capped answer found and reports the answer as partial,
// so that the block removes nothing; so does an answer that says it is
// truncated.
func TestDiscoverLargeManagementGroup(t *testing.T) {
	s := discoverSource(t)
	emu.SetListPageSize(1)
	subs := []string{newSub(), newSub(), newSub()}
	group := "keysync-big-" + subs[0][:8]
	emu.AddManagementGroup(group, subs...)
	for i, sub := range subs {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("big%d", i), nil)
	}
	emu.SetGraphSubscriptionLimitFor("", 2)
	sel := sources.Selector{Type: "batch", ManagementGroup: group}
	before := len(emu.GraphQueries())
	found, skipped, err := s.Discover(context.Background(), sel, config.DiscoveryResourceGraph)
	if err != nil || len(skipped) != 0 || names(found) != "big0,big1,big2" {
		t.Fatalf("found %q, skipped %v (%v)", names(found), skipped, err)
	}
	q := emu.GraphQueries()[before:]
	if len(q) != 2 || len(q[0].ManagementGroups) != 1 || q[0].Options.AllowPartialScopes == nil || !*q[0].Options.AllowPartialScopes ||
		!slices.Equal(q[1].Subscriptions, subs) || q[1].Options.AllowPartialScopes != nil {
		t.Fatalf("queries %+v", q)
	}
	for name, f := range map[string]armemu.Fault{
		"refused":   {Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "no descendants/read", Times: 1},
		"malformed": {Kind: armemu.FaultRaw, Body: `{"value":[{"id":"/subscriptions/../x","type":"Microsoft.Management/managementGroups/subscriptions"}]}`, Times: 1},
	} {
		emu.InjectDescendantsFaultFor("", f)
		found, skipped, err := s.Discover(context.Background(), sel, config.DiscoveryResourceGraph)
		if err != nil || names(found) != "big0,big1" || len(skipped) != 1 || !skipped[0].Partial ||
			!strings.Contains(skipped[0].Row, group) || !strings.Contains(skipped[0].Reason, "x-ms-tenant-subscription-limit-hit") {
			t.Fatalf("%s: found %q, skipped %+v (%v)", name, names(found), skipped, err)
		}
	}
	emu.InjectGraphFault(armemu.Fault{Kind: armemu.FaultRaw, Times: 1,
		Body: `{"totalRecords":2,"count":1,"resultTruncated":"true","data":[{"id":"/subscriptions/` + subs[0] + `/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/big0"}]}`})
	found, skipped, err = s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: subs}, config.DiscoveryResourceGraph)
	if err != nil || names(found) != "big0" || len(skipped) != 1 || !skipped[0].Partial || !strings.Contains(skipped[0].Reason, "truncated") {
		t.Fatalf("truncated: found %q, skipped %+v (%v)", names(found), skipped, err)
	}
}

// TestDiscoverThrottled: a throttled page (429, its quota used up by
// another client of the identity) is asked again after the wait its
// answer gives (Retry-After, else the quota's reset), and the discovery
// goes on and finds everything, with either engine. A request still
// throttled after three tries, or asked to wait longer than keysync
// waits for a quota, fails the discovery, transient, with the wait, and
// nothing is returned.
func TestDiscoverThrottled(t *testing.T) {
	s := discoverSource(t)
	emu.SetGraphPageSize(1)
	emu.SetListPageSize(1)
	sub := newSub()
	for i := range 3 {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("thr%d", i), nil)
	}
	sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}}
	for name, f := range map[string]armemu.Fault{
		"Retry-After":    {Kind: armemu.FaultQuota, RetryAfter: 1, Skip: 1, Times: 1},
		"quota reset":    {Kind: armemu.FaultQuota, Skip: 1, Times: 1},
		"ARM's throttle": {Kind: armemu.FaultStatus, Status: 429, Code: "TooManyRequests", RetryAfter: 1, Skip: 1, Times: 1},
	} {
		for _, engine := range engines {
			emu.InjectGraphFault(f)
			emu.InjectListFault(sub, "batch", f)
			before := len(emu.RequestLog())
			found, skipped, err := s.Discover(context.Background(), sel, engine)
			if err != nil || len(skipped) != 0 || names(found) != "thr0,thr1,thr2" {
				t.Fatalf("%s %s: found %q (%v)", name, engine, names(found), err)
			}
			log := emu.RequestLog()[before:]
			if len(log) != 4 || log[2].Time.Sub(log[1].Time) < time.Second {
				t.Fatalf("%s %s: %d requests for 3 pages and a retry, the retry %v after the 429", name, engine, len(log), log[min(2, len(log)-1)].Time.Sub(log[1].Time))
			}
			emu.ClearDiscoveryFaults()
		}
	}
	for name, f := range map[string]armemu.Fault{
		"three times": {Kind: armemu.FaultStatus, Status: 429, Code: "RateLimiting", Message: "throttled", RetryAfter: 1},
		"too long":    {Kind: armemu.FaultStatus, Status: 429, Code: "RateLimiting", Message: "throttled", RetryAfter: 120},
	} {
		emu.InjectGraphFault(f)
		before := len(emu.RequestLog())
		found, _, err := s.Discover(context.Background(), sel, config.DiscoveryResourceGraph)
		want := map[string]int{"three times": 3, "too long": 1}[name]
		if c, _ := fault.Of(err); found != nil || !c.Transient || c.RetryAfter != time.Duration(f.RetryAfter)*time.Second || c.Code != "RateLimiting" ||
			len(emu.RequestLog())-before != want {
			t.Fatalf("%s: %+v, %d found after %d requests, want %d (%v)", name, c, len(found), len(emu.RequestLog())-before, want, err)
		}
		emu.ClearDiscoveryFaults()
	}
}
