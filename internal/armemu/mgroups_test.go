package armemu

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestGraphSubscriptionLimit: a management group or tenant query answers
// for the first subscriptions up to the caller's limit, with
// x-ms-tenant-subscription-limit-hit: true on every page; a query naming
// its subscriptions is never cut, nor is a scope within the limit.
func TestGraphSubscriptionLimit(t *testing.T) {
	c := start(t)
	c.emu.SetGraphQuota(1000, time.Minute)
	subs := []string{subA, subB, subC}
	c.emu.AddManagementGroup("mg-cap", subs...)
	for i, s := range subs {
		c.emu.Add(Resource{Subscription: s, ResourceGroup: "rg", Name: fmt.Sprintf("cap%d", i)})
	}
	q := "Resources | project id, name | order by id asc"
	partial := true
	mg := map[string]any{"managementGroups": []string{"mg-cap"}, "query": q, "options": map[string]any{"$top": 1, "allowPartialScopes": partial}}
	tests := []struct {
		name  string
		limit int
		body  map[string]any
		want  string
		hit   bool
	}{
		{"group within the limit", 0, mg, "cap0 cap1 cap2", false},
		{"group over the limit", 2, mg, "cap0 cap1", true},
		{"tenant over the limit", 2, map[string]any{"query": q, "options": map[string]any{"$top": 1}}, "cap0 cap1", true},
		{"subscriptions named", 2, map[string]any{"subscriptions": subs, "query": q, "options": map[string]any{"$top": 1}}, "cap0 cap1 cap2", false},
		{"group at the limit", 3, mg, "cap0 cap1 cap2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.emu.SetGraphSubscriptionLimitFor("", tt.limit)
			c.emu.SetGraphSubscriptionLimitFor("someone-else", 1)
			var got []string
			body := tt.body
			for page := 0; ; page++ {
				a := c.graph(body)
				if a.status != http.StatusOK || (a.header.Get(limitHitHeader) == "true") != tt.hit || page > 3 {
					t.Fatalf("page %d: %d %+v, limit header %q", page, a.status, a.Error, a.header.Get(limitHitHeader))
				}
				got = append(got, a.names())
				if a.SkipToken == "" {
					break
				}
				body = map[string]any{"managementGroups": body["managementGroups"], "subscriptions": body["subscriptions"], "query": q,
					"options": map[string]any{"$top": 1, "$skipToken": a.SkipToken}}
			}
			if fmt.Sprint(got) != "["+tt.want+"]" {
				t.Fatalf("rows %v, want %s", got, tt.want)
			}
		})
	}
	log := c.emu.GraphQueries()
	if o := log[0].Options.AllowPartialScopes; o == nil || !*o {
		t.Fatalf("allowPartialScopes not recorded: %+v", log[0].Options)
	}
}

// TestManagementGroupDescendants: a group's subscriptions, in the shape
// of examples/GetDescendants.json, page by page; an unknown group, a
// wrong api-version and a refused identity are refused.
func TestManagementGroupDescendants(t *testing.T) {
	c := start(t)
	c.emu.SetListPageSize(2)
	c.emu.AddManagementGroup("mg-d", subC, subA, subB)
	base := c.emu.URL() + "/providers/Microsoft.Management/managementGroups/mg-d/descendants"
	got, pages := listAll[descendant](t, c, base+"?api-version="+descendantsAPIVersion)
	if len(got) != 3 || pages != 2 {
		t.Fatalf("%d descendants in %d pages", len(got), pages)
	}
	var ids []string
	for _, d := range got {
		if d.Type != "Microsoft.Management/managementGroups/subscriptions" || d.ID != "/subscriptions/"+d.Name ||
			d.Properties.Parent.ID != "/providers/Microsoft.Management/managementGroups/mg-d" || d.Properties.DisplayName == "" {
			t.Errorf("descendant %+v", d)
		}
		ids = append(ids, d.Name)
	}
	if !slices.Equal(ids, []string{subA, subB, subC}) {
		t.Fatalf("descendants %v", ids)
	}
	for name, tt := range map[string]struct {
		url    string
		status int
	}{
		"unknown group":     {c.emu.URL() + "/providers/Microsoft.Management/managementGroups/nosuch/descendants?api-version=" + descendantsAPIVersion, 404},
		"wrong api-version": {base + "?api-version=2020-02-01", 400},
	} {
		if status, _, _ := c.send(http.MethodGet, tt.url, nil, ""); status != tt.status {
			t.Errorf("%s: %d, want %d", name, status, tt.status)
		}
	}
	c.emu.InjectDescendantsFaultFor("", Fault{Kind: FaultStatus, Status: 403, Code: "AuthorizationFailed", Times: 1})
	if status, _, _ := c.send(http.MethodGet, base+"?api-version="+descendantsAPIVersion, nil, ""); status != http.StatusForbidden {
		t.Fatalf("refused identity: %d", status)
	}
	if status, _, _ := c.send(http.MethodGet, base+"?api-version="+descendantsAPIVersion, nil, ""); status != http.StatusOK {
		t.Fatalf("after the fault: %d", status)
	}
}
