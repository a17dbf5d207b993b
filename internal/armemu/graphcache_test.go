package armemu

import (
	"testing"
	"time"
)

// TestGraphCacheFollowsTheEstate: the same query answers from the cache
// while the estate is unchanged, and anew once a tag, a resource or a
// subscription's state changes it; a scope of its own is a query of its own.
func TestGraphCacheFollowsTheEstate(t *testing.T) {
	c := start(t)
	c.emu.SetGraphQuota(1000, time.Minute)
	a, b := Resource{Subscription: subA, ResourceGroup: "rg", Name: "accta"}, Resource{Subscription: subB, ResourceGroup: "rg", Name: "acctb"}
	c.emu.Add(a)
	c.emu.Add(b)
	for _, r := range []Resource{a, b} {
		if err := c.emu.SetTags(r, map[string]string{"keysync": "true"}); err != nil {
			t.Fatal(err)
		}
	}
	q := "Resources | where tostring(tags['keysync']) =~ 'true' | project id, name | order by id asc"
	ask := func(subs ...string) string {
		body := map[string]any{"query": q}
		if len(subs) > 0 {
			body["subscriptions"] = subs
		}
		ans := c.graph(body)
		if ans.status != 200 {
			t.Fatalf("query: %d %+v", ans.status, ans.Error)
		}
		return ans.names()
	}
	steps := []struct {
		name   string
		change func()
		subs   []string
		want   string
	}{
		{"first answer", func() {}, nil, "accta,acctb"},
		{"unchanged", func() {}, nil, "accta,acctb"},
		{"another scope", func() {}, []string{subB}, "acctb"},
		{"a tag removed", func() { _ = c.emu.SetTags(a, nil) }, nil, "acctb"},
		{"a resource added", func() {
			r := Resource{Subscription: subA, ResourceGroup: "rg", Name: "acctc"}
			c.emu.Add(r)
			_ = c.emu.SetTags(r, map[string]string{"keysync": "true"})
		}, nil, "acctc,acctb"},
		{"a subscription deleted", func() { _ = c.emu.SetSubscriptionState(subB, StateDeleted) }, nil, "acctc"},
	}
	for _, s := range steps {
		s.change()
		if got := ask(s.subs...); got != s.want {
			t.Fatalf("%s: %s, want %s", s.name, got, s.want)
		}
	}
}
